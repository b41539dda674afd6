/** A Conv-4 block in inference mode on the native kernels. */
import * as tf from '@tensorflow/tfjs';
import { BLOCK_KERNELS } from '../../kernels/native.js';
import { BlockParams } from './block.js';
import { recomputesConv } from './recomputing-block.js';

/**
 * One block in inference mode (batch norm with the moving statistics), with the native kernels:
 * the first block in one pass from its images, the others as their convolution, then one pass
 * over the pooling windows.
 */
export function convBlockInference(
  x: tf.Tensor4D,
  params: BlockParams,
  moving: { mean: tf.Tensor1D; variance: tf.Tensor1D; epsilon: number },
): tf.Tensor4D {
  return tf.tidy(() => {
    const { kernel, bias, gamma, beta } = params;
    const bn = {
      mean: moving.mean,
      invStd: tf.rsqrt(tf.add(moving.variance, moving.epsilon)) as tf.Tensor1D,
      gamma,
      beta,
    };
    if (recomputesConv(kernel, false, true))
      return tf.engine().runKernel(BLOCK_KERNELS.inputForward, { x, kernel, bias, ...bn }) as tf.Tensor4D;
    const z = tf.fused.conv2d({ x, filter: kernel, bias, strides: 1, pad: 'same' });
    return tf.engine().runKernel(BLOCK_KERNELS.bnReluPool, { z, ...bn }, { inference: true }) as tf.Tensor4D;
  });
}
