/**
 * Training-mode Conv-4 blocks [3x3 conv -> batch norm -> ReLU -> 2x2 max-pool] as one op each,
 * with a hand-written gradient, computed over the episode's images in chunks.
 *
 * Why: through tf.layers, autodiff keeps every op's saved inputs and every intermediate gradient
 * until the backward pass ends, about 29 MiB per 84x84x3 image; wasm addresses 4 GB, so a 400-image
 * miniImageNet episode cannot train. A block here keeps only its normalised conv output (xhat) for
 * backward and recomputes the cheap ReLU and pooling from it, chunk by chunk; batch norm still uses
 * the statistics of the whole episode, so the result is the layers model's, to float rounding.
 */
import * as tf from '@tensorflow/tfjs';

/** Variables of one block, as tensors (reading a tf.Variable keeps the gradient path to it). */
export interface BlockParams {
  kernel: tf.Tensor4D;
  bias: tf.Tensor1D;
  gamma: tf.Tensor1D;
  beta: tf.Tensor1D;
}

export interface BlockOptions {
  epsilon: number;
  /** Images per chunk. */
  chunk: number;
  /** Whether the block's input needs a gradient (not for the first block, fed with images). */
  inputGrad: boolean;
}

/** An episode whose conv output has at most this many floats (256 MB) runs as one chunk... */
const WHOLE_EPISODE_ELEMENTS = 2 ** 26;
/** ...a larger one in chunks of this many (64 MB): a few chunk-sized temporaries live at once. */
const CHUNK_ELEMENTS = 2 ** 24;

/** Images per chunk for `images` whose conv output has `pixels` * `filters` floats each. */
export function chunkSize(images: number, pixels: number, filters: number): number {
  if (images * pixels * filters <= WHOLE_EPISODE_ELEMENTS) return images;
  return Math.max(1, Math.floor(CHUNK_ELEMENTS / (pixels * filters)));
}

const POOL = { filterSize: 2, strides: 2, pad: 'valid' } as const;
const CONV = { strides: 1, pad: 'same', dataFormat: 'NHWC' } as const;

function chunks<T>(x: tf.Tensor4D, size: number, f: (part: tf.Tensor4D, start: number) => T): T[] {
  const out: T[] = [];
  for (let start = 0; start < x.shape[0]; start += size) {
    const count = Math.min(size, x.shape[0] - start);
    const part = count === x.shape[0] ? x : tf.slice(x, [start, 0, 0, 0], [count, -1, -1, -1]);
    out.push(f(part, start));
    if (part !== x) part.dispose();
  }
  return out;
}

/** Sums over every axis but the channels. */
function channelSum(x: tf.Tensor): tf.Tensor1D {
  return tf.sum(tf.reshape(x, [-1, x.shape[x.rank - 1]]), 0);
}

/**
 * One block in training mode. Returns the pooled output and the batch mean and (biased)
 * variance of the conv output, for the moving averages (kept: the caller disposes them).
 */
export function convBlockTraining(x: tf.Tensor4D, params: BlockParams, options: BlockOptions) {
  let stats: { mean: tf.Tensor1D; variance: tf.Tensor1D } | undefined;
  const op = tf.customGrad(((xIn: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const n = xIn.shape[0] * xIn.shape[1] * xIn.shape[2];
    // Conv outputs chunk by chunk; then the episode's statistics, two-pass for float32's sake.
    const z = chunks(xIn, options.chunk, (part) => tf.fused.conv2d({ x: part, filter: kernel, bias, strides: 1, pad: 'same' }));
    const mean = tf.tidy(() => tf.div(tf.addN(z.map(channelSum)), n)) as tf.Tensor1D;
    const variance = tf.tidy(() => tf.div(tf.addN(z.map((zk) => channelSum(tf.square(tf.sub(zk, mean))))), n)) as tf.Tensor1D;
    const invStd = tf.rsqrt(tf.add(variance, options.epsilon));
    const xhat = z.map((zk) => {
      const xk = tf.tidy(() => tf.mul(tf.sub(zk, mean), invStd) as tf.Tensor4D);
      zk.dispose(); // at once: z and xhat of a whole episode need not be held together
      return xk;
    });
    const pooled = xhat.map((xk) => tf.tidy(() => tf.maxPool(tf.relu(tf.add(tf.mul(xk, gamma), beta)) as tf.Tensor4D, 2, 2, 'valid')));
    const y = pooled.length === 1 ? pooled[0] : tf.concat(pooled, 0);
    if (pooled.length > 1) tf.dispose(pooled);
    save([xIn, kernel, gamma, beta, invStd, y, ...xhat]);
    stats = { mean: tf.keep(mean), variance: tf.keep(variance) };

    return {
      value: y,
      // tfjs runs a custom gradient outside any tidy: without one, every chunk's temporaries would
      // live until the whole backward pass ends.
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => tf.tidy(() => {
        const [xs, w, g, b, inv, ys] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor4D];
        const xhats = saved.slice(6) as tf.Tensor4D[];
        // The gradient at the batch-norm output of chunk k: through the pooling and the ReLU.
        const bnGrad = (k: number): tf.Tensor4D => tf.tidy(() => {
          const start = k * options.chunk;
          const count = xhats[k].shape[0];
          const all = count === ys.shape[0];
          const dyk = all ? dy : tf.slice(dy, [start, 0, 0, 0], [count, -1, -1, -1]);
          const yk = all ? ys : tf.slice(ys, [start, 0, 0, 0], [count, -1, -1, -1]);
          const a = tf.relu(tf.add(tf.mul(xhats[k], g), b));
          const da = tf.engine().runKernel('MaxPoolGrad', { dy: dyk, input: a, output: yk }, { ...POOL }) as tf.Tensor4D;
          return tf.mul(da, tf.step(a));
        });
        // Pass 1: the batch-norm reductions over the whole episode. An episode in one chunk keeps
        // its gradient for pass 2; a chunked (large) one recomputes it there, trading a second
        // MaxPoolGrad (~15% of the block) for a whole-episode activation of memory.
        const whole = xhats.length === 1;
        const bnGrads: (tf.Tensor4D | undefined)[] = [];
        const sums = xhats.map((xk, k) => {
          const d = bnGrad(k);
          const out = tf.tidy(() => [channelSum(d), channelSum(tf.mul(d, xk))]);
          if (whole) bnGrads[k] = d;
          else d.dispose();
          return out;
        });
        const dBeta = tf.addN(sums.map(([db]) => db)) as tf.Tensor1D;
        const dGamma = tf.addN(sums.map(([, dg]) => dg)) as tf.Tensor1D;
        // Pass 2: the conv output's gradient, then the conv's, chunk by chunk.
        const mBeta = tf.div(dBeta, n);
        const mGamma = tf.div(dGamma, n);
        const scale = tf.mul(g, inv);
        let dKernel: tf.Tensor4D | undefined;
        let dBias: tf.Tensor1D | undefined;
        const dx = xhats.map((xk, k) => {
          const d = bnGrads[k] ?? bnGrad(k);
          const dz = tf.tidy(() => tf.mul(tf.sub(d, tf.add(tf.mul(xk, mGamma), mBeta)), scale)) as tf.Tensor4D;
          d.dispose();
          const start = k * options.chunk;
          const xsk = xhats.length === 1 ? xs : tf.slice(xs, [start, 0, 0, 0], [xk.shape[0], -1, -1, -1]);
          const dk = tf.engine().runKernel('Conv2DBackpropFilter', { x: xsk, dy: dz }, { ...CONV, filterShape: w.shape }) as tf.Tensor4D;
          const db = channelSum(dz);
          // (The replaced partial sums are small; the tidy takes them.)
          [dKernel, dBias] = dKernel && dBias ? [tf.add(dKernel, dk) as tf.Tensor4D, tf.add(dBias, db) as tf.Tensor1D] : [dk, db];
          const dxk = options.inputGrad
            ? (tf.engine().runKernel('Conv2DBackpropInput', { dy: dz, filter: w }, { ...CONV, inputShape: xsk.shape }) as tf.Tensor4D)
            : undefined;
          // This block's saved tensors are used up: free them now rather than when the whole
          // backward pass ends (the engine's later dispose of them is then a no-op).
          tf.dispose(xsk === xs ? [dz, xk] : [dz, xsk, xk]);
          return dxk;
        });
        const dxAll = !options.inputGrad ? tf.zerosLike(xs) : dx.length === 1 ? dx[0]! : tf.concat(dx as tf.Tensor4D[], 0);
        if (dx.length > 1) tf.dispose(dx as tf.Tensor[]);
        return [dxAll, dKernel!, dBias!, dGamma, dBeta];
      }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, params.kernel, params.bias, params.gamma, params.beta) as tf.Tensor4D;
  return { y, mean: stats!.mean, variance: stats!.variance };
}
