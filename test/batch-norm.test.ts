import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { LeanBatchNormalization } from '../src/models/batch-norm.js';
import { relativeError } from './helpers.js';

/** Output, gradients (x, gamma, beta) and moving statistics after one training call. */
function trainingCall(layer: tf.layers.Layer, x: tf.Tensor, dy: tf.Tensor) {
  layer.build(x.shape);
  // Non-trivial gamma and beta, so that their gradients and the scale of dx are exercised.
  const [gamma, beta, mean, variance] = layer.getWeights();
  layer.setWeights([
    tf.add(gamma, tf.linspace(0.5, 1.5, gamma.size)),
    tf.linspace(-0.2, 0.3, beta.size),
    mean,
    variance,
  ]);
  const weights = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const f = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, dy));
  const y = layer.apply(x, { training: true }) as tf.Tensor;
  const { grads } = tf.variableGrads(() => f(x) as tf.Scalar, weights);
  const dx = tf.grad(f)(x);
  return { y, dx, grads: weights.map((w) => grads[w.name]), moving: layer.getWeights().slice(2) };
}

describe('lean batch normalisation', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`trains like tf.layers.batchNormalization: output, gradients, moving statistics (${backend})`, async () => {
      await initBackend(backend);
      const x = tf.add(tf.mul(tf.randomNormal([3, 5, 4, 6], 0, 1, 'float32', 1), 2), 0.7);
      const dy = tf.randomNormal([3, 5, 4, 6], 0, 1, 'float32', 2);
      const config = { momentum: 0.9, epsilon: 1e-5 };
      const stock = trainingCall(tf.layers.batchNormalization(config), x, dy);
      const lean = trainingCall(new LeanBatchNormalization(config), x, dy);
      expect(relativeError(lean.y.dataSync(), stock.y.dataSync())).to.be.below(1e-5);
      expect(relativeError(lean.dx.dataSync(), stock.dx.dataSync())).to.be.below(1e-4);
      lean.grads.forEach((g, i) =>
        expect(relativeError(g.dataSync(), stock.grads[i].dataSync()), `weight ${i}`).to.be.below(1e-4),
      );
      // Three training calls each: the moving averages moved three times alike.
      lean.moving.forEach((m, i) =>
        expect(relativeError(m.dataSync(), stock.moving[i].dataSync()), `moving ${i}`).to.be.below(1e-5),
      );
      expect(Math.abs(lean.moving[0].dataSync()[0])).to.be.above(0.1);
    });
  }

  it('serialises as an ordinary BatchNormalization layer', () => {
    const layer = new LeanBatchNormalization({ momentum: 0.9 });
    expect(layer.getClassName()).to.equal('BatchNormalization');
    expect(layer.getConfig().momentum).to.equal(0.9);
  });
});
