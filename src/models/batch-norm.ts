/**
 * Batch normalisation for training in bounded memory. tf.layers' BatchNormalization trains through
 * tf.moments and tfjs-core's generic batch-norm gradient, which hold about eight activation-sized
 * tensors per layer: an 84x84x3 Conv-4 step then outgrows wasm's 4 GB. This layer computes the
 * same function with the closed-form gradient, keeping only the normalised input for backward.
 *
 * It is a subclass that keeps the class name, config and weights of BatchNormalization, so a saved
 * model is an ordinary tfjs layers model; inference mode is the parent's.
 */
import * as tf from '@tensorflow/tfjs';
import { customGradient } from '../ops/custom-gradient.js';
import { BatchNormalizationBase, batchNormState } from '../tfjs-internals.js';

/**
 * y = gamma * (x - mean) / sqrt(var + eps) + beta over all axes but the last, with
 * dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat)).
 * Also returns the batch mean and (biased) variance, as tf.layers uses for its moving averages.
 */
export function batchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number) {
  const axes = x.shape.map((_, i) => i).slice(0, -1);
  let stats: { mean: tf.Tensor; variance: tf.Tensor } | undefined;
  const op = customGradient(
    ([xIn, g, b]: [tf.Tensor, tf.Tensor, tf.Tensor], save: (saved: [tf.Tensor, tf.Tensor]) => void) => {
      const { mean, variance } = tf.moments(xIn, axes);
      const invStd = tf.rsqrt(tf.add(variance, epsilon));
      const xhat = tf.mul(tf.sub(xIn, mean), invStd);
      save([xhat, tf.mul(g, invStd)]);
      stats = { mean: tf.keep(mean), variance: tf.keep(variance) };
      return {
        value: tf.add(tf.mul(xhat, g), b),
        gradFunc: (dy, [xhatSaved, scale]) => {
          const n = dy.size / dy.shape[dy.rank - 1];
          const dBeta = tf.sum(dy, axes);
          const dGamma = tf.sum(tf.mul(dy, xhatSaved), axes);
          const correction = tf.add(tf.mul(xhatSaved, tf.div(dGamma, n)), tf.div(dBeta, n));
          return [tf.mul(tf.sub(dy, correction), scale), dGamma, dBeta];
        },
      };
    },
  );
  const y = op(x, gamma, beta);
  return { y, mean: stats!.mean, variance: stats!.variance };
}

export class LeanBatchNormalization extends BatchNormalizationBase {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor | tf.Tensor[] {
    const state = batchNormState(this);
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!kwargs.training || (state.axis !== -1 && state.axis !== input.rank - 1)) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(input, state.gamma.read(), state.beta.read(), state.epsilon);
      this.updateMovingAverages(mean, variance);
      return y;
    });
  }

  /** The parent's moving averages: v <- v - (v - batch) * (1 - momentum); disposes the batch's. */
  updateMovingAverages(mean: tf.Tensor, variance: tf.Tensor): void {
    const state = batchNormState(this);
    tf.tidy(() => {
      for (const [moving, batch] of [
        [state.movingMean, mean],
        [state.movingVariance, variance],
      ] as const) {
        const old = moving.read();
        moving.write(tf.sub(old, tf.mul(tf.sub(old, batch), 1 - state.momentum)));
      }
    });
    tf.dispose([mean, variance]);
  }

  /** Training-mode parameters, for ops that fuse this layer with its neighbours. */
  trainingParams(): { gamma: tf.Tensor1D; beta: tf.Tensor1D; epsilon: number } {
    const state = batchNormState(this);
    return { gamma: state.gamma.read() as tf.Tensor1D, beta: state.beta.read() as tf.Tensor1D, epsilon: state.epsilon };
  }
}
