/**
 * What the training blocks share. A Conv-4 block [3x3 conv -> batch norm -> ReLU -> 2x2 max-pool]
 * trains as one op with a hand-written gradient over the episode's images in chunks.
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

/** A block op's inputs: x, kernel, bias, gamma, beta. */
export type BlockInputs = [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];

export interface BlockOptions {
  epsilon: number;
  /** Whether the native block kernels run (src/kernels/native.ts); else tfjs ops on any backend. */
  native: boolean;
  /** Images per chunk. */
  chunk: number;
  /** Whether the block's input needs a gradient (not for the first block, fed with images). */
  inputGrad: boolean;
}

/** A block's pooled output, and the batch mean and (biased) variance of its conv output. */
export interface BlockOutput {
  y: tf.Tensor4D;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
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

export const POOL = { filterSize: 2, strides: 2, pad: 'valid' } as const;
export const CONV = { strides: 1, pad: 'same', dataFormat: 'NHWC' } as const;

/** f over consecutive chunks of `size` images of x. */
export function chunks<T>(x: tf.Tensor4D, size: number, f: (part: tf.Tensor4D) => T): T[] {
  const out: T[] = [];
  for (let start = 0; start < x.shape[0]; start += size) {
    const part = rows(x, start, Math.min(size, x.shape[0] - start));
    out.push(f(part));
    if (part !== x) part.dispose();
  }
  return out;
}

/** Sums over every axis but the channels. */
export function channelSum(x: tf.Tensor): tf.Tensor1D {
  return tf.sum(tf.reshape(x, [-1, x.shape[x.rank - 1]]), 0);
}

/**
 * What follows a block's convolution, on one chunk: batch norm -> ReLU -> 2x2 max-pool and its
 * backward. `dy` is the gradient at the chunk's pooled output; `y()` slices that output, for the
 * path that needs it (the native one recomputes the pooling instead).
 */
export interface PostConv {
  /** Per-channel sum of (z - center) and, if asked, of its square. */
  moments(z: tf.Tensor4D, center: tf.Tensor1D, squares: boolean): tf.Tensor1D[];
  /** xhat = (z - mean) * invStd, and y = maxPool(relu(gamma * xhat + beta)). */
  forward(
    z: tf.Tensor4D,
    mean: tf.Tensor1D,
    invStd: tf.Tensor1D,
    gamma: tf.Tensor1D,
    beta: tf.Tensor1D,
  ): { xhat: tf.Tensor4D; y: tf.Tensor4D };
  /** With d the gradient at the batch-norm output: [sum d, sum d * xhat] per channel. */
  gradSums(
    xhat: tf.Tensor4D,
    gamma: tf.Tensor1D,
    beta: tf.Tensor1D,
    dy: tf.Tensor4D,
    y: () => tf.Tensor4D,
  ): tf.Tensor1D[];
  /** The conv output's gradient: scale * (d - xhat * mGamma - mBeta). */
  gradInput(
    xhat: tf.Tensor4D,
    gamma: tf.Tensor1D,
    beta: tf.Tensor1D,
    dy: tf.Tensor4D,
    y: () => tf.Tensor4D,
    m: { beta: tf.Tensor1D; gamma: tf.Tensor1D; scale: tf.Tensor1D },
  ): tf.Tensor4D;
}

/**
 * The batch mean, biased variance and 1 / sqrt(variance + epsilon) over n pixels, two-pass for
 * float32's sake; sum(center, squares) sums (z - center), or its square, per channel.
 */
export function batchStats(
  sum: (center: tf.Tensor1D, squares: boolean) => tf.Tensor,
  channels: number,
  n: number,
  epsilon: number,
) {
  const mean = tf.tidy(() => tf.div(sum(tf.zeros([channels]), false), n)) as tf.Tensor1D;
  const variance = tf.tidy(() => tf.div(sum(mean, true), n)) as tf.Tensor1D;
  return { mean, variance, invStd: tf.rsqrt(tf.add(variance, epsilon)) as tf.Tensor1D };
}

/** What the conv output's gradient needs of the batch-norm sums: their means, and gamma * invStd. */
export function gradScales(
  dBeta: tf.Tensor1D,
  dGamma: tf.Tensor1D,
  gamma: tf.Tensor1D,
  invStd: tf.Tensor1D,
  n: number,
) {
  return {
    beta: tf.div(dBeta, n) as tf.Tensor1D,
    gamma: tf.div(dGamma, n) as tf.Tensor1D,
    scale: tf.mul(gamma, invStd) as tf.Tensor1D,
  };
}

/**
 * The conv bias's gradient: exactly zero, since batch norm in training mode subtracts the batch
 * mean, which absorbs the bias (computed, it is float noise that Adam would scale up to steps).
 */
export function zeroBiasGrad(kernel: tf.Tensor4D): tf.Tensor1D {
  return tf.zeros([kernel.shape[3]]);
}

/** Rows [start, start + count) of x (x itself when that is all of it). */
export function rows(x: tf.Tensor4D, start: number, count: number): tf.Tensor4D {
  return count === x.shape[0] ? x : tf.slice(x, [start, 0, 0, 0], [count, -1, -1, -1]);
}
