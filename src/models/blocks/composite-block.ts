/** The part of a training block after its convolution, in tfjs ops: any backend. */
import * as tf from '@tensorflow/tfjs';
import { POOL, PostConv, channelSum } from './block.js';

/** The gradient at the batch-norm output: through the pooling (first maximum) and the ReLU. */
function bnOutputGrad(
  xhat: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  dy: tf.Tensor4D,
  y: tf.Tensor4D,
): tf.Tensor4D {
  return tf.tidy(() => {
    const a = tf.relu(tf.add(tf.mul(xhat, gamma), beta));
    const da = tf.engine().runKernel('MaxPoolGrad', { dy, input: a, output: y }, { ...POOL }) as tf.Tensor4D;
    return tf.mul(da, tf.step(a));
  });
}

/** Any backend: tfjs ops. */
export const compositePostConv: PostConv = {
  moments: (z, center, squares) =>
    tf.tidy(() => {
      const d = tf.sub(z, center);
      return squares ? [channelSum(d), channelSum(tf.square(d))] : [channelSum(d)];
    }),
  forward: (z, mean, invStd, gamma, beta) =>
    tf.tidy(() => {
      const xhat = tf.mul(tf.sub(z, mean), invStd) as tf.Tensor4D;
      return { xhat, y: tf.maxPool(tf.relu(tf.add(tf.mul(xhat, gamma), beta)) as tf.Tensor4D, 2, 2, 'valid') };
    }),
  gradSums: (xhat, gamma, beta, dy, y) =>
    tf.tidy(() => {
      const d = bnOutputGrad(xhat, gamma, beta, dy, y());
      return [channelSum(d), channelSum(tf.mul(d, xhat))];
    }),
  gradInput: (xhat, gamma, beta, dy, y, m) =>
    tf.tidy(
      () =>
        tf.mul(
          tf.sub(bnOutputGrad(xhat, gamma, beta, dy, y()), tf.add(tf.mul(xhat, m.gamma), m.beta)),
          m.scale,
        ) as tf.Tensor4D,
    ),
};
