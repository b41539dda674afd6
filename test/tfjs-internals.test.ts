/**
 * The private parts of TensorFlow.js that src/tfjs-internals.ts names are where it says, on the
 * installed tfjs: a tfjs release that moves them fails here, not silently in training.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { LeanBatchNormalization } from '../src/models/batch-norm.js';
import { conv4 } from '../src/models/conv4.js';
import { BatchNormalizationBase, TFJS_VERSION, batchNormState, convState } from '../src/tfjs-internals.js';

const require = createRequire(import.meta.url);
const pkg = require('../../package.json') as {
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

describe('tfjs internals', () => {
  it('the installed tfjs is the version package.json pins exactly', () => {
    for (const name of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm']) {
      expect(pkg.peerDependencies[name], `${name} in peerDependencies`).to.equal(TFJS_VERSION);
      expect(pkg.devDependencies[name], `${name} in devDependencies`).to.equal(TFJS_VERSION);
      expect((require(`${name}/package.json`) as { version: string }).version, `${name} installed`).to.equal(
        TFJS_VERSION,
      );
    }
    expect(tf.version.tfjs).to.equal(TFJS_VERSION);
  });

  it('batch norm: the parent class and the private state the lean layer uses', () => {
    const model = conv4({ inputShape: [8, 8, 1], width: 4, blocks: 1 });
    const bn = model.layers[1];
    expect(bn).to.be.instanceOf(LeanBatchNormalization).and.instanceOf(BatchNormalizationBase);
    expect(bn.getClassName()).to.equal('BatchNormalization');
    const state = batchNormState(bn);
    expect([state.axis, state.momentum, state.epsilon]).to.deep.equal([-1, 0.9, 1e-5]);
    for (const v of [state.gamma, state.beta, state.movingMean, state.movingVariance]) {
      expect(v.read().shape).to.deep.equal([4]);
    }
    expect(state.movingMean.write).to.be.a('function');
  });

  it('conv2d: the private fields the fused blocks read', () => {
    const conv = convState(conv4({ inputShape: [8, 8, 1], width: 4, blocks: 1 }).layers[0]);
    expect(conv.kernel.read().shape).to.deep.equal([3, 3, 1, 4]);
    expect(conv.bias?.read().shape).to.deep.equal([4]);
    expect([conv.kernelSize, conv.strides, conv.padding, conv.dilationRate]).to.deep.equal([
      [3, 3],
      [1, 1],
      'same',
      [1, 1],
    ]);
    expect(conv.activation.getClassName()).to.equal('linear');
  });

  it('wasm backend: the heap methods the fill-in and native kernels call', async () => {
    await initBackend('wasm');
    const backend = tf.backend() as unknown as Record<string, unknown>;
    for (const method of ['makeOutput', 'typedArrayFromHeap', 'disposeData', 'incRef']) {
      expect(backend[method], method).to.be.a('function');
    }
    await tf.setBackend('cpu');
  });

  it('cpu backend: the first-use flag behind its Node banner', () => {
    expect(tf.findBackend('cpu')).to.have.property('firstUse').that.is.a('boolean');
  });
});
