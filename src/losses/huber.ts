/** The Huber loss of the RKD paper, shared by RKD-D and both RKD-A paths. */
import * as tf from '@tensorflow/tfjs';

/**
 * Huber loss with delta 1 (PyTorch's smooth_l1_loss), elementwise: 0.5 m^2 + (|x| - m) with
 * m = min(|x|, 1), written without `where` so that every op on the path has a gradient.
 */
export function huber(diff: tf.Tensor): tf.Tensor {
  const a = tf.abs(diff);
  const m = tf.minimum(a, 1);
  return tf.add(tf.mul(0.5, tf.square(m)), tf.sub(a, m));
}
