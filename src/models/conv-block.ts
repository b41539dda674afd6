/**
 * Training-mode Conv-4 blocks [3x3 conv -> batch norm -> ReLU -> 2x2 max-pool] as one op each,
 * with a hand-written gradient, computed over the episode's images in chunks; and the same blocks
 * in inference mode on the native kernels.
 *
 * Why: through tf.layers, autodiff keeps every op's saved inputs and every intermediate gradient
 * until the backward pass ends, about 29 MiB per 84x84x3 image; wasm addresses 4 GB, so a 400-image
 * miniImageNet episode cannot train. A block here keeps only its normalised conv output (xhat) for
 * backward and recomputes the cheap ReLU and pooling from it, chunk by chunk; batch norm still uses
 * the statistics of the whole episode, so the result is the layers model's, to float rounding.
 * With the native kernels the first block keeps nothing: it recomputes its (cheap) convolution.
 */
import * as tf from '@tensorflow/tfjs';
import { BLOCK_KERNELS, blockKernels } from '../kernels/native.js';

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

/** f over consecutive chunks of `size` images of x. */
function chunks<T>(x: tf.Tensor4D, size: number, f: (part: tf.Tensor4D) => T): T[] {
  const out: T[] = [];
  for (let start = 0; start < x.shape[0]; start += size) {
    const part = rows(x, start, Math.min(size, x.shape[0] - start));
    out.push(f(part));
    if (part !== x) part.dispose();
  }
  return out;
}

/** Sums over every axis but the channels. */
function channelSum(x: tf.Tensor): tf.Tensor1D {
  return tf.sum(tf.reshape(x, [-1, x.shape[x.rank - 1]]), 0);
}

/**
 * What follows a block's convolution, on one chunk: batch norm -> ReLU -> 2x2 max-pool and its
 * backward. `dy` is the gradient at the chunk's pooled output; `y()` slices that output, for the
 * path that needs it (the native one recomputes the pooling instead).
 */
interface PostConv {
  /** Per-channel sum of (z - center) and, if asked, of its square. */
  moments(z: tf.Tensor4D, center: tf.Tensor1D, squares: boolean): tf.Tensor1D[];
  /** xhat = (z - mean) * invStd, and y = maxPool(relu(gamma * xhat + beta)). */
  forward(z: tf.Tensor4D, mean: tf.Tensor1D, invStd: tf.Tensor1D, gamma: tf.Tensor1D, beta: tf.Tensor1D): { xhat: tf.Tensor4D; y: tf.Tensor4D };
  /** With d the gradient at the batch-norm output: [sum d, sum d * xhat] per channel. */
  gradSums(xhat: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, dy: tf.Tensor4D, y: () => tf.Tensor4D): tf.Tensor1D[];
  /** The conv output's gradient: scale * (d - xhat * mGamma - mBeta). */
  gradInput(xhat: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, dy: tf.Tensor4D, y: () => tf.Tensor4D,
    m: { beta: tf.Tensor1D; gamma: tf.Tensor1D; scale: tf.Tensor1D }): tf.Tensor4D;
}

/** The gradient at the batch-norm output: through the pooling (first maximum) and the ReLU. */
function bnOutputGrad(xhat: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, dy: tf.Tensor4D, y: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const a = tf.relu(tf.add(tf.mul(xhat, gamma), beta));
    const da = tf.engine().runKernel('MaxPoolGrad', { dy, input: a, output: y }, { ...POOL }) as tf.Tensor4D;
    return tf.mul(da, tf.step(a));
  });
}

/** Any backend: tfjs ops. */
const compositePostConv: PostConv = {
  moments: (z, center, squares) => tf.tidy(() => {
    const d = tf.sub(z, center);
    return squares ? [channelSum(d), channelSum(tf.square(d))] : [channelSum(d)];
  }),
  forward: (z, mean, invStd, gamma, beta) => tf.tidy(() => {
    const xhat = tf.mul(tf.sub(z, mean), invStd) as tf.Tensor4D;
    return { xhat, y: tf.maxPool(tf.relu(tf.add(tf.mul(xhat, gamma), beta)) as tf.Tensor4D, 2, 2, 'valid') };
  }),
  gradSums: (xhat, gamma, beta, dy, y) => tf.tidy(() => {
    const d = bnOutputGrad(xhat, gamma, beta, dy, y());
    return [channelSum(d), channelSum(tf.mul(d, xhat))];
  }),
  gradInput: (xhat, gamma, beta, dy, y, m) => tf.tidy(() =>
    tf.mul(tf.sub(bnOutputGrad(xhat, gamma, beta, dy, y()), tf.add(tf.mul(xhat, m.gamma), m.beta)), m.scale) as tf.Tensor4D),
};

/** wasm with the native kernels (src/kernels/native.ts): one pass each, sums in double. */
const nativePostConv: PostConv = {
  moments: (z, center) => tf.engine().runKernel(BLOCK_KERNELS.moments, { z, center }) as tf.Tensor1D[],
  forward: (z, mean, invStd, gamma, beta) => {
    const [xhat, y] = tf.engine().runKernel(BLOCK_KERNELS.bnReluPool, { z, mean, invStd, gamma, beta }) as tf.Tensor4D[];
    return { xhat, y };
  },
  gradSums: (xhat, gamma, beta, dy) => tf.engine().runKernel(BLOCK_KERNELS.gradSums, { xhat, gamma, beta, dy }) as tf.Tensor1D[],
  gradInput: (xhat, gamma, beta, dy, _y, m) =>
    tf.engine().runKernel(BLOCK_KERNELS.gradInput, { xhat, gamma, beta, dy, mBeta: m.beta, mGamma: m.gamma, scale: m.scale }) as tf.Tensor4D,
};

/**
 * The batch mean, biased variance and 1 / sqrt(variance + epsilon) over n pixels, two-pass for
 * float32's sake; sum(center, squares) sums (z - center), or its square, per channel.
 */
function batchStats(sum: (center: tf.Tensor1D, squares: boolean) => tf.Tensor, channels: number, n: number, epsilon: number) {
  const mean = tf.tidy(() => tf.div(sum(tf.zeros([channels]), false), n)) as tf.Tensor1D;
  const variance = tf.tidy(() => tf.div(sum(mean, true), n)) as tf.Tensor1D;
  return { mean, variance, invStd: tf.rsqrt(tf.add(variance, epsilon)) as tf.Tensor1D };
}

/** What the conv output's gradient needs of the batch-norm sums: their means, and gamma * invStd. */
function gradScales(dBeta: tf.Tensor1D, dGamma: tf.Tensor1D, gamma: tf.Tensor1D, invStd: tf.Tensor1D, n: number) {
  return { beta: tf.div(dBeta, n) as tf.Tensor1D, gamma: tf.div(dGamma, n) as tf.Tensor1D, scale: tf.mul(gamma, invStd) as tf.Tensor1D };
}

/**
 * The conv bias's gradient: exactly zero, since batch norm in training mode subtracts the batch
 * mean, which absorbs the bias (computed, it is float noise that Adam would scale up to steps).
 */
function zeroBiasGrad(kernel: tf.Tensor4D): tf.Tensor1D {
  return tf.zeros([kernel.shape[3]]);
}

/** Rows [start, start + count) of x (x itself when that is all of it). */
function rows(x: tf.Tensor4D, start: number, count: number): tf.Tensor4D {
  return count === x.shape[0] ? x : tf.slice(x, [start, 0, 0, 0], [count, -1, -1, -1]);
}

/** A block's pooled output, and the batch mean and (biased) variance of its conv output. */
export interface BlockOutput {
  y: tf.Tensor4D;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/** Multiply-adds per conv output up to which a block fed with images recomputes its convolution. */
const RECOMPUTE_TAPS = 27;

/**
 * Whether the block runs as recomputingBlock: with the native kernels, for the first block (no
 * input gradient) when its convolution is that cheap (3x3 over grey or colour images).
 */
function recomputesConv(kernel: tf.Tensor4D, inputGrad: boolean): boolean {
  const [kh, kw, cin, cout] = kernel.shape;
  return !inputGrad && blockKernels() && kh * kw * cin <= RECOMPUTE_TAPS && cout % 8 === 0;
}

/**
 * The first block with the native kernels: every pass (statistics, forward, both backward passes)
 * recomputes the convolution from the images instead of storing the conv output, so the block
 * reads its images and writes its pooled output, and holds nothing of the episode's size for
 * backward: the largest activations of the network never reach memory.
 */
function recomputingBlock(x: tf.Tensor4D, params: BlockParams, options: BlockOptions): BlockOutput {
  let stats: { mean: tf.Tensor1D; variance: tf.Tensor1D } | undefined;
  const run = (name: string, inputs: tf.NamedTensorMap) => tf.engine().runKernel(name, inputs);
  const op = tf.customGrad(((xIn: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
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
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => tf.tidy(() => {
        const [xs, w, bs, g, b, mu, inv] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        const inputs = { x: xs, kernel: w, bias: bs, mean: mu, invStd: inv, gamma: g, beta: b, dy };
        const [dBeta, dGamma] = run(BLOCK_KERNELS.inputGradSums, inputs) as tf.Tensor1D[];
        const m = gradScales(dBeta, dGamma, g, inv, n);
        const dKernel = run(BLOCK_KERNELS.inputGrad, { ...inputs, mBeta: m.beta, mGamma: m.gamma, scale: m.scale }) as tf.Tensor4D;
        return [tf.zerosLike(xs), dKernel, zeroBiasGrad(w), dGamma, dBeta];
      }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, params.kernel, params.bias, params.gamma, params.beta) as tf.Tensor4D;
  return { y, mean: stats!.mean, variance: stats!.variance };
}

/**
 * One block in inference mode (batch norm with the moving statistics), with the native kernels:
 * the first block in one pass from its images, the others as their convolution, then one pass
 * over the pooling windows.
 */
export function convBlockInference(x: tf.Tensor4D, params: BlockParams, moving: { mean: tf.Tensor1D; variance: tf.Tensor1D; epsilon: number }): tf.Tensor4D {
  return tf.tidy(() => {
    const { kernel, bias, gamma, beta } = params;
    const bn = { mean: moving.mean, invStd: tf.rsqrt(tf.add(moving.variance, moving.epsilon)) as tf.Tensor1D, gamma, beta };
    if (recomputesConv(kernel, false)) return tf.engine().runKernel(BLOCK_KERNELS.inputForward, { x, kernel, bias, ...bn }) as tf.Tensor4D;
    const z = tf.fused.conv2d({ x, filter: kernel, bias, strides: 1, pad: 'same' });
    return tf.engine().runKernel(BLOCK_KERNELS.bnReluPool, { z, ...bn }, { inference: true }) as tf.Tensor4D;
  });
}

/**
 * One block in training mode. Returns the pooled output and the batch mean and (biased)
 * variance of the conv output, for the moving averages (kept: the caller disposes them).
 */
export function convBlockTraining(x: tf.Tensor4D, params: BlockParams, options: BlockOptions): BlockOutput {
  if (recomputesConv(params.kernel, options.inputGrad)) return recomputingBlock(x, params, options);
  let stats: { mean: tf.Tensor1D; variance: tf.Tensor1D } | undefined;
  const post = blockKernels() ? nativePostConv : compositePostConv;
  const op = tf.customGrad(((xIn: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const n = xIn.shape[0] * xIn.shape[1] * xIn.shape[2];
    // Conv outputs chunk by chunk; then the episode's statistics.
    const z = chunks(xIn, options.chunk, (part) => tf.fused.conv2d({ x: part, filter: kernel, bias, strides: 1, pad: 'same' }));
    const { mean, variance, invStd } = batchStats(
      (center, squares) => tf.addN(z.map((zk) => post.moments(zk, center, squares)[squares ? 1 : 0])), kernel.shape[3], n, options.epsilon);
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
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => tf.tidy(() => {
        const [xs, w, g, b, inv, ys] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor4D];
        const xhats = saved.slice(6) as tf.Tensor4D[];
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
          const dk = tf.engine().runKernel('Conv2DBackpropFilter', { x: xsk, dy: dz }, { ...CONV, filterShape: w.shape }) as tf.Tensor4D;
          // (The replaced partial sum is small; the tidy takes it.)
          dKernel = dKernel ? (tf.add(dKernel, dk) as tf.Tensor4D) : dk;
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
        return [dxAll, dKernel!, zeroBiasGrad(saved[1] as tf.Tensor4D), dGamma, dBeta];
      }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, params.kernel, params.bias, params.gamma, params.beta) as tf.Tensor4D;
  return { y, mean: stats!.mean, variance: stats!.variance };
}
