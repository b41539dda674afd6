/**
 * The first Conv-4 block with the native kernels, its convolution recomputed in every pass: a
 * block fed with images has few input channels, so its convolution costs less than reading a
 * stored output back.
 */
import * as tf from '@tensorflow/tfjs';
import { BLOCK_KERNELS } from '../../kernels/native.js';
import { GradientsOf, customGradient } from '../../ops/custom-gradient.js';
import { BlockInputs, BlockOptions, BlockOutput, BlockParams, gradScales, zeroBiasGrad } from './block.js';

/** Multiply-adds per conv output up to which a block fed with images recomputes its convolution. */
const RECOMPUTE_TAPS = 27;

/**
 * Whether the block runs as recomputingBlock: with the native kernels, for the first block (no
 * input gradient) when its convolution is that cheap (3x3 over grey or colour images).
 */
export function recomputesConv(kernel: tf.Tensor4D, inputGrad: boolean, native: boolean): boolean {
  const [kh, kw, cin, cout] = kernel.shape;
  return !inputGrad && native && kh * kw * cin <= RECOMPUTE_TAPS && cout % 8 === 0;
}

/**
 * The first block with the native kernels: every pass (statistics, forward, both backward passes)
 * recomputes the convolution from the images instead of storing the conv output, so the block
 * reads its images and writes its pooled output, and holds nothing of the episode's size for
 * backward: the largest activations of the network never reach memory.
 */
export function recomputingBlock(x: tf.Tensor4D, params: BlockParams, options: BlockOptions): BlockOutput {
  let stats: { mean: tf.Tensor1D; variance: tf.Tensor1D } | undefined;
  const run = (name: string, inputs: tf.NamedTensorMap) => tf.engine().runKernel(name, inputs);
  const op = customGradient(
    (
      [xIn, kernel, bias, gamma, beta]: BlockInputs,
      save: (saved: [...BlockInputs, tf.Tensor1D, tf.Tensor1D]) => void,
    ) => {
      const n = xIn.shape[0] * xIn.shape[1] * xIn.shape[2];
      const conv = { x: xIn, kernel, bias };
      // The batch mean and variance in one pass (sums in double).
      const [mean, variance] = run(BLOCK_KERNELS.inputMoments, conv) as tf.Tensor1D[];
      const invStd = tf.rsqrt(tf.add(variance, options.epsilon)) as tf.Tensor1D;
      const y = run(BLOCK_KERNELS.inputForward, { ...conv, mean, invStd, gamma, beta }) as tf.Tensor4D;
      save([xIn, kernel, bias, gamma, beta, mean, invStd]);
      stats = { mean: tf.keep(mean), variance: tf.keep(variance) };
      return {
        value: y,
        gradFunc: (dy, [xs, w, bs, g, b, mu, inv]) =>
          tf.tidy((): GradientsOf<BlockInputs> => {
            const inputs = { x: xs, kernel: w, bias: bs, mean: mu, invStd: inv, gamma: g, beta: b, dy };
            const [dBeta, dGamma] = run(BLOCK_KERNELS.inputGradSums, inputs) as tf.Tensor1D[];
            const m = gradScales(dBeta, dGamma, g, inv, n);
            const dKernel = run(BLOCK_KERNELS.inputGrad, {
              ...inputs,
              mBeta: m.beta,
              mGamma: m.gamma,
              scale: m.scale,
            }) as tf.Tensor4D;
            return [tf.zerosLike(xs), dKernel, zeroBiasGrad(w), dGamma, dBeta];
          }),
      };
    },
  );
  const y = op(x, params.kernel, params.bias, params.gamma, params.beta);
  return { y, mean: stats!.mean, variance: stats!.variance };
}
