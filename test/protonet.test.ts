import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { prototypicalLoss } from '../src/losses/protonet.js';
import { flat, golden, relativeError } from './helpers.js';

interface ProtoCase {
  way: number;
  shot: number;
  query: number;
  support: number[][];
  query_embeddings: number[][];
  loss: number;
  accuracy: number;
  logits: number[][];
  grad_support: number[][];
  grad_query: number[][];
}

describe('prototypical loss', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  const cases = golden<{ cases: ProtoCase[] }>('protonet.json').cases;
  for (const c of cases) {
    it(`matches the float64 reference: ${c.way}-way ${c.shot}-shot ${c.query}-query, D=${c.support[0].length}`, () => {
      const support = tf.tensor2d(c.support);
      const query = tf.tensor2d(c.query_embeddings);
      const out = prototypicalLoss(support, query, c.way);
      expect(relativeError([out.loss.dataSync()[0]], [c.loss])).to.be.below(1e-4);
      expect(relativeError(out.logits.dataSync(), flat(c.logits))).to.be.below(1e-4);
      expect(out.accuracy.dataSync()[0]).to.be.closeTo(c.accuracy, 1e-6);

      const grads = tf.grads(
        (s: tf.Tensor, q: tf.Tensor) => prototypicalLoss(s as tf.Tensor2D, q as tf.Tensor2D, c.way).loss,
      )([support, query]);
      expect(relativeError(grads[0].dataSync(), flat(c.grad_support))).to.be.below(1e-4);
      expect(relativeError(grads[1].dataSync(), flat(c.grad_query))).to.be.below(1e-4);
      tf.dispose([support, query, out.loss, out.logits, out.accuracy, ...grads]);
    });
  }

  it('classifies queries that sit on their prototypes perfectly', () => {
    const support = tf.tensor2d([
      [0, 0],
      [0, 2],
      [10, 0],
      [10, 2],
    ]); // 2-way 2-shot
    const query = tf.tensor2d([
      [0, 1],
      [10, 1],
    ]);
    const out = prototypicalLoss(support, query, 2);
    expect(out.accuracy.dataSync()[0]).to.equal(1);
    expect(Array.from(out.logits.dataSync())).to.deep.equal([-0, -100, -100, -0]);
  });
});
