/**
 * A Conv-4 block in training mode, chunked with a hand-written gradient (block.ts says why): the
 * first block recomputing its convolution where the native kernels run, the others with the
 * post-convolution part on the native kernels or in tfjs ops.
 */
import * as tf from '@tensorflow/tfjs';
import { GradientsOf, customGradient } from '../../ops/custom-gradient.js';
import {
  BlockInputs,
  BlockOptions,
  BlockOutput,
  BlockParams,
  CONV,
  batchStats,
  chunks,
  gradScales,
  rows,
  zeroBiasGrad,
} from './block.js';
import { compositePostConv } from './composite-block.js';
import { nativePostConv } from './native-block.js';
import { recomputesConv, recomputingBlock } from './recomputing-block.js';

/**
 * One block in training mode. Returns the pooled output and the batch mean and (biased)
 * variance of the conv output, for the moving averages (kept: the caller disposes them).
 */
export function convBlockTraining(x: tf.Tensor4D, params: BlockParams, options: BlockOptions): BlockOutput {
  if (recomputesConv(params.kernel, options.inputGrad, options.native)) return recomputingBlock(x, params, options);
  let stats: { mean: tf.Tensor1D; variance: tf.Tensor1D } | undefined;
  const post = options.native ? nativePostConv : compositePostConv;
  // Saved: x, kernel, gamma, beta, invStd, the pooled output, then each chunk's xhat.
  type Saved = [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor4D, ...tf.Tensor4D[]];
  const op = customGradient(([xIn, kernel, bias, gamma, beta]: BlockInputs, save: (saved: Saved) => void) => {
    const n = xIn.shape[0] * xIn.shape[1] * xIn.shape[2];
    // Conv outputs chunk by chunk; then the episode's statistics.
    const z = chunks(xIn, options.chunk, (part) =>
      tf.fused.conv2d({ x: part, filter: kernel, bias, strides: 1, pad: 'same' }),
    );
    const { mean, variance, invStd } = batchStats(
      (center, squares) => tf.addN(z.map((zk) => post.moments(zk, center, squares)[squares ? 1 : 0])),
      kernel.shape[3],
      n,
      options.epsilon,
    );
    const pooled: tf.Tensor4D[] = [];
    const xhat = z.map((zk) => {
      const out = post.forward(zk, mean, invStd, gamma, beta);
      zk.dispose(); // at once: z and xhat of a whole episode need not be held together
      pooled.push(out.y);
      return out.xhat;
    });
    const y = pooled.length === 1 ? pooled[0] : tf.concat(pooled, 0);
    if (pooled.length > 1) tf.dispose(pooled);
    save([xIn, kernel, gamma, beta, invStd, y, ...xhat]);
    stats = { mean: tf.keep(mean), variance: tf.keep(variance) };

    return {
      value: y,
      // tfjs runs a custom gradient outside any tidy: without one, every chunk's temporaries would
      // live until the whole backward pass ends.
      gradFunc: (dy, [xs, w, g, b, inv, ys, ...xhats]) =>
        tf.tidy((): GradientsOf<BlockInputs> => {
          const chunk = (t: tf.Tensor4D, k: number) => rows(t, k * options.chunk, xhats[k].shape[0]);
          // Pass 1: the batch-norm reductions over the whole episode; pass 2 recomputes the
          // pooling's routing rather than hold a whole-episode gradient in between.
          const sums = xhats.map((xk, k) => tf.tidy(() => post.gradSums(xk, g, b, chunk(dy, k), () => chunk(ys, k))));
          const dBeta = tf.addN(sums.map(([db]) => db)) as tf.Tensor1D;
          const dGamma = tf.addN(sums.map(([, dg]) => dg)) as tf.Tensor1D;
          const m = gradScales(dBeta, dGamma, g, inv, n);
          // Pass 2: the conv output's gradient, then the conv's, chunk by chunk.
          let dKernel: tf.Tensor4D | undefined;
          const dx = xhats.map((xk, k) => {
            const dz = tf.tidy(() => post.gradInput(xk, g, b, chunk(dy, k), () => chunk(ys, k), m));
            const xsk = chunk(xs, k);
            const dk = tf
              .engine()
              .runKernel('Conv2DBackpropFilter', { x: xsk, dy: dz }, { ...CONV, filterShape: w.shape }) as tf.Tensor4D;
            // (The replaced partial sum is small; the tidy takes it.)
            dKernel = dKernel ? (tf.add(dKernel, dk) as tf.Tensor4D) : dk;
            const dxk = options.inputGrad
              ? (tf
                  .engine()
                  .runKernel(
                    'Conv2DBackpropInput',
                    { dy: dz, filter: w },
                    { ...CONV, inputShape: xsk.shape },
                  ) as tf.Tensor4D)
              : undefined;
            // This block's saved tensors are used up: free them now rather than when the whole
            // backward pass ends (the engine's later dispose of them is then a no-op).
            tf.dispose(xsk === xs ? [dz, xk] : [dz, xsk, xk]);
            return dxk;
          });
          const dxAll = !options.inputGrad
            ? tf.zerosLike(xs)
            : dx.length === 1
              ? dx[0]!
              : tf.concat(dx as tf.Tensor4D[], 0);
          if (dx.length > 1) tf.dispose(dx as tf.Tensor[]);
          return [dxAll, dKernel!, zeroBiasGrad(w), dGamma, dBeta];
        }),
    };
  });
  const y = op(x, params.kernel, params.bias, params.gamma, params.beta);
  return { y, mean: stats!.mean, variance: stats!.variance };
}
