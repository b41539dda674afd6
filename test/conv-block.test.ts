/**
 * The fused training blocks (src/models/blocks/) against the tf.layers path of the same
 * Conv-4: embeddings, the gradient of every variable and the moving statistics, for chunks that
 * split the episode unevenly, on cpu and wasm.
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { hasNativeBlockKernels } from '../src/kernels/native.js';
import { nativeCalls } from '../src/kernels/native-addon.js';
import { saveCheckpoint, loadModel } from '../src/models/checkpoint.js';
import { conv4, embedInference, embedTraining, hasFusedTraining } from '../src/models/conv4.js';
import { relativeError, requireNative, tempDir } from './helpers.js';

/** Embeddings, gradients of sum(embedding * dy) for every trainable variable, moving statistics. */
function trainingStep(
  forward: (model: tf.LayersModel, x: tf.Tensor4D) => tf.Tensor2D,
  x: tf.Tensor4D,
  dy: tf.Tensor2D,
  width = 6,
) {
  const model = conv4({
    inputShape: [x.shape[1], x.shape[2], x.shape[3]] as [number, number, number],
    width,
    blocks: 3,
    seed: 3,
  });
  // Non-trivial gamma and beta, so that their gradients and the scale of the input gradients count.
  model.layers
    .filter((l) => l.getClassName() === 'BatchNormalization')
    .forEach((l, i) => {
      const [gamma, beta, mean, variance] = l.getWeights();
      l.setWeights([tf.linspace(0.5 + i, 1.5, gamma.size), tf.linspace(-0.2, 0.3 * i, beta.size), mean, variance]);
    });
  expect(hasFusedTraining(model)).to.equal(true);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(forward(model, x), dy)) as tf.Scalar, variables);
  const embedding = forward(model, x);
  const moving = model.layers
    .filter((l) => l.getClassName() === 'BatchNormalization')
    .flatMap((l) => l.getWeights().slice(2));
  return { value, embedding, grads: variables.map((v) => grads[v.name]), moving, model };
}

/** Embedding, all 12 gradients and the moving statistics of `fused` equal those of `reference`. */
function expectSameStep(
  fused: ReturnType<typeof trainingStep>,
  reference: ReturnType<typeof trainingStep>,
  label: string,
) {
  expect(relativeError(fused.embedding.dataSync(), reference.embedding.dataSync()), label).to.be.below(1e-5);
  expect(fused.grads).to.have.length(12);
  fused.grads.forEach((g, i) => {
    const name = fused.model.trainableWeights[i].name;
    // A conv bias before batch norm has a zero gradient, up to rounding: measure the error
    // against its kernel's gradient instead.
    const floor = name.endsWith('/bias') ? tf.max(tf.abs(reference.grads[i - 1])).dataSync()[0] : 0;
    expect(relativeError(g.dataSync(), reference.grads[i].dataSync(), floor), `${label}: ${name}`).to.be.below(1e-4);
  });
  fused.moving.forEach((m, i) =>
    expect(relativeError(m.dataSync(), reference.moving[i].dataSync()), `${label}: moving ${i}`).to.be.below(1e-5),
  );
}

describe('fused Conv-4 training blocks', () => {
  for (const [backend, native] of [
    ['cpu', false],
    ['wasm', false],
    ['wasm', true],
  ] as const) {
    const setting = native ? 'wasm with the native kernels' : backend;
    it(`equal the tf.layers path: embeddings, every gradient, moving statistics, any chunking (${setting})`, async function () {
      await initBackend(backend);
      if (native) requireNative(this, hasNativeBlockKernels());
      await initBackend(backend, { nativeKernels: false });
      const x = tf.add(tf.mul(tf.randomUniform([7, 13, 12, 3], 0, 1, 'float32', 1), 2), 0.5) as tf.Tensor4D;
      const dy = tf.randomNormal([7, 6], 0, 1, 'float32', 2) as tf.Tensor2D;
      // The reference: tf.layers on the backend's own kernels.
      const reference = trainingStep((m, input) => m.apply(input, { training: true }) as tf.Tensor2D, x, dy);
      await initBackend(backend, { nativeKernels: native });
      const before = nativeCalls();
      for (const chunk of [1, 3, 7, undefined]) {
        expectSameStep(
          trainingStep((m, input) => embedTraining(m, input, { chunk }), x, dy),
          reference,
          `chunk ${chunk ?? 'default'}`,
        );
      }
      const ran = Object.keys(nativeCalls()).filter((k) => nativeCalls()[k] !== before[k]);
      if (native)
        expect(ran, 'native entry points that ran').to.include.members([
          'conv2d',
          'filterGrad',
          'channelMoments',
          'bnReluPool',
          'bnGradSums',
          'bnGradInput',
        ]);
      else expect(ran, 'native entry points that ran with native off').to.deep.equal([]);
    });
  }

  // With 8 or 16 filters and the native kernels, the first block recomputes its convolution in
  // every pass; odd sizes leave pixels that no pooling window covers. Reference: the cpu backend.
  for (const [shape, width] of [
    [[5, 9, 11, 1], 8],
    [[4, 12, 10, 3], 16],
  ] as const) {
    it(`equal the tf.layers path with the first block recomputed (x [${shape}], ${width} filters, native)`, async function () {
      await initBackend('wasm');
      requireNative(this, hasNativeBlockKernels());
      const x = tf.add(tf.mul(tf.randomUniform([...shape], 0, 1, 'float32', 4), 2), 0.5) as tf.Tensor4D;
      const dy = tf.randomNormal([shape[0], width], 0, 1, 'float32', 5) as tf.Tensor2D;
      // The reference: tf.layers on the cpu backend.
      await initBackend('cpu');
      const reference = trainingStep((m, input) => m.apply(input, { training: true }) as tf.Tensor2D, x, dy, width);
      await initBackend('wasm');
      let fused: ReturnType<typeof trainingStep> | undefined;
      const profile = await tf.profile(() => {
        fused = trainingStep((m, input) => embedTraining(m, input), x, dy, width);
      });
      const kernels = new Set(profile.kernels.map((k) => k.name));
      expect([...kernels].filter((k) => k.startsWith('FewshotInputBlock')).sort()).to.deep.equal([
        'FewshotInputBlockForward',
        'FewshotInputBlockGrad',
        'FewshotInputBlockGradSums',
        'FewshotInputBlockMoments',
      ]);
      expectSameStep(fused!, reference, 'recomputed');
    });
  }

  // Inference with the native kernels against tf.layers on cpu: the first block recomputed (8
  // filters) or not (6), and a model loaded from a checkpoint (its batch norm is tf.layers' own).
  for (const [shape, width, loaded] of [
    [[5, 9, 11, 1], 8, false],
    [[4, 12, 10, 3], 6, false],
    [[3, 16, 14, 1], 16, true],
  ] as const) {
    it(`inference blocks equal model.apply (x [${shape}], ${width} filters${loaded ? ', loaded' : ''}, native)`, async function () {
      await initBackend('wasm');
      requireNative(this, hasNativeBlockKernels());
      const x = tf.randomUniform([...shape], 0, 1, 'float32', 6) as tf.Tensor4D;
      let model = conv4({ inputShape: [shape[1], shape[2], shape[3]], width, blocks: 3, seed: 4 });
      // Moving statistics, gamma and beta away from their initial values.
      model.layers
        .filter((l) => l.getClassName() === 'BatchNormalization')
        .forEach((l, i) => {
          const c = l.getWeights()[0].size;
          l.setWeights([
            tf.linspace(0.5, 1.5 + i, c),
            tf.linspace(-0.3, 0.2, c),
            tf.linspace(-0.1, 0.4, c),
            tf.linspace(0.2, 2, c),
          ]);
        });
      if (loaded) {
        const dir = tempDir();
        await saveCheckpoint(dir, model);
        model = await loadModel(dir);
        fs.rmSync(dir, { recursive: true });
        expect(hasFusedTraining(model), 'a loaded model trains through tf.layers').to.equal(false);
      }
      await initBackend('cpu');
      const reference = model.apply(x, { training: false }) as tf.Tensor2D;
      await initBackend('wasm');
      const profile = await tf.profile(() => embedInference(model, x));
      const fused = profile.result as tf.Tensor2D;
      expect(
        profile.kernels.some((k) => k.name === 'FewshotInputBlockForward' || k.name === 'FewshotBnReluPool'),
      ).to.equal(true);
      expect(relativeError(fused.dataSync(), reference.dataSync())).to.be.below(1e-5);
      tf.dispose([fused, reference]);
    });
  }

  it('leaves no tensor behind but the embedding', async () => {
    await initBackend('cpu');
    const model = conv4({ inputShape: [12, 12, 1], width: 4, blocks: 2 });
    const x = tf.randomUniform([5, 12, 12, 1]) as tf.Tensor4D;
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const step = () => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(embedTraining(model, x, { chunk: 2 })) as tf.Scalar,
        variables,
      );
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    step();
    step();
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('falls back to the layers path for another model', async () => {
    await initBackend('cpu');
    const model = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [2, 2, 1] }), tf.layers.dense({ units: 3 })],
    });
    const x = tf.ones([1, 2, 2, 1]) as tf.Tensor4D;
    expect(hasFusedTraining(model)).to.equal(false);
    expect(embedTraining(model, x).arraySync()).to.deep.equal((model.apply(x) as tf.Tensor).arraySync());
  });
});
