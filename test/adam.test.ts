import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { Adam } from '../src/train/adam.js';
import { relativeError } from './helpers.js';

/** A fixed, varied gradient for step t: deterministic, so two runs see the same sequence. */
const gradientAt = (t: number, n: number) =>
  tf.tensor1d(Array.from({ length: n }, (_, i) => Math.sin(0.7 * t + 1.3 * i) * (1 + (i % 3))));
const N = 7;

function run(steps: number, lr = 1e-3, from?: { adam: Adam; x: tf.Variable }) {
  const x = from?.x ?? tf.variable(tf.linspace(-1, 1, N));
  const adam = from?.adam ?? new Adam([x]);
  for (let t = adam.step; t < steps; t++) {
    const g = gradientAt(t, N);
    adam.apply([g], lr);
    g.dispose();
  }
  return { adam, x };
}

describe('Adam', () => {
  before(async () => {
    await initBackend('cpu');
  });

  it('follows the float64 definition (Kingma & Ba) over 50 steps', () => {
    const { adam, x } = run(50);
    let xs = Array.from(tf.linspace(-1, 1, N).dataSync(), Number);
    const m = new Array(N).fill(0),
      v = new Array(N).fill(0);
    for (let t = 1; t <= 50; t++) {
      const g = Array.from(gradientAt(t - 1, N).dataSync());
      xs = xs.map((xi, i) => {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.999 * v[i] + 0.001 * g[i] ** 2;
        return xi - (1e-3 * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-7);
      });
    }
    expect(relativeError(x.dataSync(), xs)).to.be.below(1e-5);
    adam.dispose();
    x.dispose();
  });

  it('restored from its weights and step at late steps, continues bit-identically', async () => {
    const whole = run(60);
    const expected = Array.from(whole.x.dataSync());
    for (const killAt of [18, 23, 37, 59]) {
      const part = run(killAt);
      // What a checkpoint keeps: the variable's values, the moments, the step.
      const saved = part.adam
        .weights()
        .map((w) => ({ name: w.name, tensor: tf.tensor(w.tensor.dataSync(), w.tensor.shape) }));
      const x = tf.variable(tf.tensor(part.x.dataSync(), part.x.shape));
      const fresh = new Adam([x]);
      fresh.restore(saved, part.adam.step);
      run(60, 1e-3, { adam: fresh, x });
      expect(Array.from(x.dataSync()), `resumed at step ${killAt}`).to.deep.equal(expected);
      tf.dispose([...saved.map((s) => s.tensor), x, part.x]);
      fresh.dispose();
      part.adam.dispose();
    }
    whole.adam.dispose();
  });

  it('refuses saved moments of another shape, naming the tensor', () => {
    const x = tf.variable(tf.zeros([3]));
    const adam = new Adam([x]);
    const wrong = [
      { name: 'a/m', tensor: tf.zeros([4]) },
      { name: 'a/v', tensor: tf.zeros([4]) },
    ];
    expect(() => adam.restore(wrong, 5)).to.throw(/a\/m has shape \[4\], the model needs \[3\]/);
    tf.dispose([x, ...wrong.map((w) => w.tensor)]);
    adam.dispose();
  });
});
