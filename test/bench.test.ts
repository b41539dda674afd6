/** `fewshot bench`'s measurements on a tiny shape: every figure is there and plausible. */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { benchShape } from '../src/bench/bench.js';

describe('bench', () => {
  it('times a training step, a distillation step and embedding, and reports memory', async () => {
    const backend = await initBackend('cpu');
    const tensorsBefore = tf.memory().numTensors;
    const r = await benchShape({ name: 'tiny', way: 3, shot: 1, query: 2, inputShape: [16, 16, 1] }, backend, 1);
    expect(r.images).to.equal(9);
    for (const ms of [r.trainStepMs, r.distillStepMs, r.distillStepUncachedMs, r.embed1000Ms])
      expect(ms).to.be.a('number').above(0);
    expect(r.peakRssMB).to.be.above(0);
    expect(r.distillPeakRssMB).to.be.at.least(r.peakRssMB);
    expect(r.backend).to.equal('cpu');
    // (Adam's zero moments once leaked their initial tensors: 2 per trained variable.)
    expect(tf.memory().numTensors - tensorsBefore, 'tensors left behind').to.equal(0);
  });
});
