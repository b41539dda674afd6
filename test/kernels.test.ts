/**
 * The wasm fill-in kernels (src/kernels/wasm.ts), then the native kernels stacked on them
 * (src/kernels/native.ts), against the cpu backend: conv2d forward (with a bias too) and gradients
 * (Conv2DBackpropFilter / Conv2DBackpropInput), the Tile / Sum / Mean / MaxPoolGrad fast paths,
 * and one training step of a small Conv-4.
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { nativeAddon, nativeCalls } from '../src/kernels/native-addon.js';
import { registerWasmFillIns } from '../src/kernels/wasm.js';
import { requireNative } from './helpers.js';

const TOLERANCE = 1e-4;

/** max |a - b| / max |b|. */
function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).to.equal(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  expect(scale, 'reference is all zeros').to.be.greaterThan(0);
  return diff / scale;
}

/** Deterministic values in [-1, 1), the same on every backend. */
function seeded(size: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const size = (shape: number[]): number => shape.reduce((a, d) => a * d, 1);

/** Runs f on `backend` and returns its outputs' values. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const values = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(outs);
  return values;
}

/**
 * conv2d(x, w), the same plus a bias (FusedConv2D), and the gradients of sum(conv2d(x, w) * dy)
 * w.r.t. x and w (Conv2DBackpropInput and Conv2DBackpropFilter).
 */
function convGrads(xShape: number[], wShape: number[], stride: number, pad: 'same' | 'valid'): () => tf.Tensor[] {
  return () => {
    const x = tf.tensor4d(seeded(size(xShape), 1), xShape as [number, number, number, number]);
    const w = tf.tensor4d(seeded(size(wShape), 2), wShape as [number, number, number, number]);
    const bias = tf.tensor1d(seeded(wShape[3], 4));
    const y = tf.conv2d(x, w, stride, pad);
    const yBias = tf.fused.conv2d({ x, filter: w, bias, strides: stride, pad });
    const dy = tf.tensor(seeded(y.size, 3), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), dy)),
    )([x, w]);
    return [dx, dw, y, yBias];
  };
}

for (const native of [false, true])
  describe(native ? 'native kernels on wasm' : 'wasm fill-in kernels', function () {
    let previous: string | null = null;

    before(async function () {
      if (native) requireNative(this, nativeAddon() !== undefined);
      previous = tf.engine().backendName;
      await initBackend('wasm', { nativeKernels: native });
    });
    after(async () => {
      await initBackend('wasm');
      await tf.setBackend(previous ?? 'cpu');
    });

    it('are registered, and registering again changes nothing', () => {
      const filter = tf.getKernel('Conv2DBackpropFilter', 'wasm');
      const input = tf.getKernel('Conv2DBackpropInput', 'wasm');
      expect(filter, 'Conv2DBackpropFilter').to.not.equal(undefined);
      const [sum, mean] = [tf.getKernel('Sum', 'wasm').kernelFunc, tf.getKernel('Mean', 'wasm').kernelFunc];
      registerWasmFillIns();
      // (Sum and Mean were once wrapped again on every call.)
      expect(tf.getKernel('Sum', 'wasm').kernelFunc).to.equal(sum);
      expect(tf.getKernel('Mean', 'wasm').kernelFunc).to.equal(mean);
      expect(tf.getKernel('Conv2DBackpropFilter', 'wasm').kernelFunc).to.equal(filter.kernelFunc);
      expect(tf.getKernel('Conv2DBackpropInput', 'wasm').kernelFunc).to.equal(input.kernelFunc);
    });

    // [x shape, filter shape, stride, padding]. The 64x64 and 130x130 cases are large enough for
    // the filter gradient to be summed over batch chunks; stride 2 'valid' on even sizes leaves
    // the last row/column of x unread (cropped); stride 2 dx uses wasm's own kernel.
    const cases: [number[], number[], number, 'same' | 'valid'][] = [
      [[1, 5, 5, 1], [3, 3, 1, 1], 1, 'same'],
      [[2, 7, 9, 3], [3, 3, 3, 4], 1, 'same'],
      [[3, 9, 7, 2], [3, 3, 2, 5], 1, 'valid'],
      [[1, 6, 5, 4], [2, 4, 4, 3], 1, 'same'],
      [[2, 8, 8, 3], [3, 3, 3, 2], 2, 'valid'],
      [[3, 9, 11, 2], [3, 3, 2, 3], 2, 'same'],
      [[1, 10, 10, 1], [1, 1, 1, 2], 2, 'valid'],
      [[3, 64, 64, 2], [3, 3, 2, 3], 1, 'same'],
      [[5, 130, 130, 1], [3, 3, 1, 2], 2, 'valid'],
      // The native kernels' register tiles: 64, 32 and 16 output channels, and rows that end mid-tile;
      // the first two and the 'valid' one below go by Winograd (forward, dx and dW), odd sizes
      // leaving half-empty 2x2 tiles.
      [[2, 8, 7, 64], [3, 3, 64, 64], 1, 'same'],
      [[3, 6, 5, 16], [3, 3, 16, 32], 1, 'same'],
      [[2, 9, 10, 16], [3, 3, 16, 16], 1, 'valid'],
      [[2, 7, 11, 3], [3, 3, 3, 16], 1, 'same'],
    ];
    for (const [xShape, wShape, stride, pad] of cases) {
      it(`conv2d gradients match cpu: x [${xShape}], w [${wShape}], stride ${stride}, ${pad}`, async () => {
        const cpu = await on('cpu', convGrads(xShape, wShape, stride, pad));
        const before = nativeCalls();
        const wasm = await on('wasm', convGrads(xShape, wShape, stride, pad));
        ['dx', 'dW', 'y', 'y + bias'].forEach((name, i) =>
          expect(relErr(wasm[i], cpu[i]), name).to.be.lessThan(TOLERANCE),
        );
        // Stride 1 goes native (y, y + bias, y again under tf.grads, dx as a forward convolution; dW): a silent fallback fails here.
        const ran = (k: string) => (nativeCalls()[k] ?? 0) - (before[k] ?? 0);
        if (native && stride === 1)
          expect([ran('conv2d'), ran('filterGrad')], 'native calls (conv2d, filterGrad)').to.deep.equal([4, 1]);
        else expect(ran('conv2d') + ran('filterGrad'), 'native calls with native off').to.equal(0);
      });
    }

    it('leave no wasm buffers behind', async () => {
      await tf.setBackend('wasm');
      const before = tf.engine().backend.numDataIds();
      const outs = tf.tidy(convGrads([3, 64, 64, 2], [3, 3, 2, 3], 1, 'same'));
      expect(tf.engine().backend.numDataIds()).to.equal(before + 4);
      tf.dispose(outs);
      expect(tf.engine().backend.numDataIds()).to.equal(before);
    });

    it('reject NCHW', async () => {
      await tf.setBackend('wasm');
      const x = tf.zeros([1, 2, 5, 5]);
      const dy = tf.zeros([1, 3, 5, 5]);
      const attrs = { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] };
      expect(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs)).to.throw(/NHWC/);
      tf.dispose([x, dy]);
    });

    it('Tile, Sum and Mean over leading axes, and Slice, match cpu', async () => {
      const ops = (): tf.Tensor[] => {
        const x = tf.tensor4d(seeded(4 * 5 * 6 * 7, 4), [4, 5, 6, 7]);
        const v = tf.tensor4d(seeded(7, 5), [1, 1, 1, 7]);
        const m = tf.tensor3d(seeded(2 * 3 * 4, 6), [2, 3, 4]);
        return [
          tf.tile(v, [4, 5, 6, 1]),
          tf.tile(m, [3, 1, 2]),
          tf.tile(m, [1, 4, 1]),
          tf.sum(x, [0, 1, 2]),
          tf.sum(x, [0, 1], true),
          tf.mean(x, [0, 1, 2]),
          tf.mean(x, 0, true),
          tf.sum(x, [1, 2]), // not leading: wasm's own kernel
          tf.mean(x), // full reduction: wasm's own kernel
          tf.slice(x, [1, 0, 0, 0], [2, -1, -1, -1]), // rows: a heap copy
          tf.slice(x, [2, 3, 0, 0], [1, 2, -1, -1]), // contiguous within a row
          tf.slice(x, [0, 1, 2, 3], [2, 3, 2, 4]), // not contiguous: wasm's own kernel
        ];
      };
      const cpu = await on('cpu', ops);
      const wasm = await on('wasm', ops);
      cpu.forEach((expected, i) => expect(relErr(wasm[i], expected), `output ${i}`).to.be.lessThan(TOLERANCE));
    });

    it('Identity shares memory: a clone outlives its source and takes no new buffer', async () => {
      await tf.setBackend('wasm');
      const x = tf.tensor2d(seeded(64 * 100, 10), [64, 100]);
      const expected = await x.data();
      const buffers = tf.memory().numDataBuffers;
      const y = tf.clone(x);
      expect(tf.memory().numDataBuffers, 'buffers after clone').to.equal(buffers);
      x.dispose();
      tf.dispose(tf.range(0, 64 * 100)); // an allocation that would reuse freed memory
      expect(Array.from(await y.data())).to.deep.equal(Array.from(expected));
      y.dispose();
    });

    it('Sum over the leading axis of a wide tensor matches cpu and leaves the heap intact', async () => {
      // 19,200 columns: an RKD-A gradient block; the XNNPACK pool path once corrupted the heap here.
      const ops = (): tf.Tensor[] => {
        const x = tf.tensor3d(seeded(8 * 300 * 64, 9), [8, 300, 64]);
        const sums = [tf.sum(x, 0), tf.mean(x, 0)];
        for (let i = 0; i < 10; i++) tf.dispose(tf.add(x, i)); // allocations that a corrupt heap fails on
        return sums;
      };
      const cpu = await on('cpu', ops);
      const wasm = await on('wasm', ops);
      cpu.forEach((expected, i) => expect(relErr(wasm[i], expected), `output ${i}`).to.be.lessThan(TOLERANCE));
    });

    it('MaxPoolGrad matches cpu, ties and overlapping windows included', async () => {
      const grads = (): tf.Tensor[] => {
        // relu makes ties (zeros) common, as in a Conv-4.
        const x = tf.relu(tf.tensor4d(seeded(2 * 9 * 8 * 3, 7), [2, 9, 8, 3]));
        return [
          [2, 2, 'valid'],
          [3, 2, 'same'],
          [3, 1, 'same'],
        ].map(([k, s, pad]) => {
          const y = tf.maxPool(x, k as number, s as number, pad as 'same' | 'valid');
          const dy = tf.tensor(seeded(y.size, 8), y.shape);
          return tf.grad((a: tf.Tensor) =>
            tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, k as number, s as number, pad as 'same'), dy)),
          )(x);
        });
      };
      const cpu = await on('cpu', grads);
      const wasm = await on('wasm', grads);
      cpu.forEach((expected, i) => expect(relErr(wasm[i], expected), `case ${i}`).to.be.lessThan(TOLERANCE));
    });

    it('train a Conv-4 step on wasm with the gradients of cpu', async () => {
      const xShape = [6, 28, 28, 1];
      const init = (): tf.LayersModel => {
        const model = tf.sequential();
        for (let b = 0; b < 4; b++) {
          model.add(
            tf.layers.conv2d({
              ...(b === 0 ? { inputShape: xShape.slice(1) } : {}),
              filters: 8,
              kernelSize: 3,
              padding: 'same',
              useBias: false, // batch norm cancels a bias: its gradient is rounding noise
              kernelInitializer: tf.initializers.glorotUniform({ seed: b + 1 }),
            }),
          );
          model.add(tf.layers.batchNormalization({ epsilon: 1e-5 }));
          model.add(tf.layers.reLU());
          model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
        }
        model.add(tf.layers.flatten());
        return model;
      };
      const loss = (model: tf.LayersModel, x: tf.Tensor, target: tf.Tensor): tf.Scalar =>
        tf.losses.meanSquaredError(target, model.apply(x, { training: true }) as tf.Tensor);
      let weights: Float32Array[] | undefined;
      const step = async (
        backend: 'cpu' | 'wasm',
      ): Promise<{ grads: Float32Array[]; before: number; after: number }> => {
        await tf.setBackend(backend);
        const model = init();
        if (weights) model.setWeights(model.getWeights().map((w, i) => tf.tensor(weights![i], w.shape)));
        else weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
        const x = tf.tensor4d(seeded(size(xShape), 9), xShape as [number, number, number, number]);
        const target = tf.tensor2d(seeded(6 * 8, 10), [6, 8]);
        const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(() => loss(model, x, target), vars);
        const before = (await value.data())[0];
        const values = await Promise.all(vars.map((v) => grads[v.name].data() as Promise<Float32Array>));
        tf.train.sgd(0.1).applyGradients(grads);
        const after = tf.tidy(() => loss(model, x, target).dataSync()[0]);
        tf.dispose([x, target, value, ...Object.values(grads)]);
        model.dispose();
        return { grads: values, before, after };
      };
      const cpu = await step('cpu');
      const wasm = await step('wasm');
      expect(wasm.grads.length).to.equal(12); // 4 x (kernel, gamma, beta)
      cpu.grads.forEach((expected, i) =>
        expect(relErr(wasm.grads[i], expected), `gradient ${i}`).to.be.lessThan(TOLERANCE),
      );
      expect(Math.abs(wasm.before - cpu.before) / cpu.before).to.be.lessThan(TOLERANCE);
      expect(wasm.after).to.be.lessThan(wasm.before);
    });
  });
