/** The part of a training block after its convolution, on the native kernels: one pass each, sums in double. */
import * as tf from '@tensorflow/tfjs';
import { BLOCK_KERNELS } from '../../kernels/native.js';
import { PostConv } from './block.js';

/** wasm with the native kernels (src/kernels/native.ts). */
export const nativePostConv: PostConv = {
  moments: (z, center) => tf.engine().runKernel(BLOCK_KERNELS.moments, { z, center }) as tf.Tensor1D[],
  forward: (z, mean, invStd, gamma, beta) => {
    const [xhat, y] = tf
      .engine()
      .runKernel(BLOCK_KERNELS.bnReluPool, { z, mean, invStd, gamma, beta }) as tf.Tensor4D[];
    return { xhat, y };
  },
  gradSums: (xhat, gamma, beta, dy) =>
    tf.engine().runKernel(BLOCK_KERNELS.gradSums, { xhat, gamma, beta, dy }) as tf.Tensor1D[],
  gradInput: (xhat, gamma, beta, dy, _y, m) =>
    tf.engine().runKernel(BLOCK_KERNELS.gradInput, {
      xhat,
      gamma,
      beta,
      dy,
      mBeta: m.beta,
      mGamma: m.gamma,
      scale: m.scale,
    }) as tf.Tensor4D,
};
