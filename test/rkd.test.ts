import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { rkdAngle, rkdAngleByDefinition, rkdDistance, rkdDistanceByDefinition } from '../src/losses/rkd.js';
import { initBackend } from '../src/backend.js';
import {
  RKD_ANGLE_KERNEL,
  RKD_DISTANCE_KERNEL,
  hasNativeRkdAngle,
  hasNativeRkdDistance,
} from '../src/kernels/native.js';
import { flat, golden, relativeError, requireNative } from './helpers.js';

interface RkdCase {
  name: string;
  student: number[][];
  teacher: number[][];
  rkd_distance: number;
  rkd_angle: number;
  grad_rkd_distance: number[][];
  grad_rkd_angle: number[][];
}

const LOSSES = { rkd_distance: rkdDistance, rkd_angle: rkdAngle } as const;

type Loss = (s: tf.Tensor2D, t: tf.Tensor2D) => tf.Scalar;
/** Each loss's native path, the definition it must equal, its kernel and whether that is registered. */
const NATIVE: [string, Loss, Loss, string, () => boolean][] = [
  ['RKD-A', (s, t) => rkdAngle(s, t, { path: 'native' }), rkdAngleByDefinition, RKD_ANGLE_KERNEL, hasNativeRkdAngle],
  [
    'RKD-D',
    (s, t) => rkdDistance(s, t, { path: 'native' }),
    rkdDistanceByDefinition,
    RKD_DISTANCE_KERNEL,
    hasNativeRkdDistance,
  ],
];

describe('RKD losses', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  for (const c of golden<{ cases: RkdCase[] }>('rkd.json').cases) {
    for (const [key, fn] of Object.entries(LOSSES) as [
      keyof typeof LOSSES,
      (s: tf.Tensor2D, t: tf.Tensor2D) => tf.Scalar,
    ][]) {
      it(`${key} matches the float64 reference: ${c.name}`, () => {
        const s = tf.tensor2d(c.student);
        const t = tf.tensor2d(c.teacher);
        const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => fn(x as tf.Tensor2D, t))([s]);
        const expected = c[key];
        const gradExpected = flat(c[`grad_${key}`]);
        if (expected < 1e-20) {
          // The affine-copy case: 0 up to float32 rounding, and no gradient to speak of.
          expect(value.dataSync()[0]).to.be.below(1e-10);
          expect(Math.max(...Array.from(grads[0].dataSync(), Math.abs))).to.be.below(1e-5);
        } else {
          expect(relativeError([value.dataSync()[0]], [expected])).to.be.below(1e-4);
          expect(relativeError(grads[0].dataSync(), gradExpected)).to.be.below(1e-4);
        }
        tf.dispose([s, t, value, ...grads]);
      });
    }
  }

  it('bounded-memory RKD-A equals the direct formula, value and gradient, across block sizes', () => {
    const s = tf.randomNormal([37, 6], 0, 1, 'float32', 1) as tf.Tensor2D;
    const t = tf.randomNormal([37, 9], 0, 1, 'float32', 2) as tf.Tensor2D;
    const direct = tf.valueAndGrads((x: tf.Tensor) => rkdAngleByDefinition(x as tf.Tensor2D, t))([s]);
    for (const budget of [1, 37 * 46 * 5, 1 << 22]) {
      const bounded = tf.valueAndGrads((x: tf.Tensor) => rkdAngle(x as tf.Tensor2D, t, { path: 'bounded', budget }))([
        s,
      ]);
      expect(relativeError(bounded.value.dataSync(), direct.value.dataSync())).to.be.below(1e-5);
      expect(relativeError(bounded.grads[0].dataSync(), direct.grads[0].dataSync())).to.be.below(1e-4);
    }
  });

  it('bounded RKD-A stays accurate in float32 for points far from the origin', () => {
    // x_j - x_i is exact in float32 here, so the direct formula is the reference; an uncentred
    // Gram matrix (entries ~1e6 D) would lose the differences to cancellation.
    const s = tf.add(tf.randomNormal([30, 8], 0, 1, 'float32', 9), 1000) as tf.Tensor2D;
    const t = tf.add(tf.randomNormal([30, 5], 0, 1, 'float32', 10), -1000) as tf.Tensor2D;
    const direct = tf.valueAndGrads((x: tf.Tensor) => rkdAngleByDefinition(x as tf.Tensor2D, t))([s]);
    const bounded = tf.valueAndGrads((x: tf.Tensor) =>
      rkdAngle(x as tf.Tensor2D, t, { path: 'bounded', budget: 30 * 30 * 7 }),
    )([s]);
    expect(relativeError(bounded.value.dataSync(), direct.value.dataSync())).to.be.below(1e-4);
    expect(relativeError(bounded.grads[0].dataSync(), direct.grads[0].dataSync())).to.be.below(1e-4);
  });

  it('RKD-A takes a repeated point as a zero difference vector: same value, finite gradient', () => {
    const s = tf.randomNormal([12, 4], 0, 1, 'float32', 7) as tf.Tensor2D;
    const repeated = tf.concat([s, tf.slice(s, [3, 0], [1, -1])]) as tf.Tensor2D;
    const t = tf.randomNormal([13, 5], 0, 1, 'float32', 8) as tf.Tensor2D;
    const bounded = tf.valueAndGrads((x: tf.Tensor) => rkdAngle(x as tf.Tensor2D, t, { path: 'bounded', budget: 100 }))(
      [repeated],
    );
    expect(relativeError(bounded.value.dataSync(), rkdAngleByDefinition(repeated, t).dataSync())).to.be.below(1e-5);
    expect(Array.from(bounded.grads[0].dataSync()).every(Number.isFinite)).to.equal(true);
  });

  it('both are zero for a student that is a scaled, rotated, shifted copy of the teacher', () => {
    const t = tf.randomNormal([20, 2], 0, 1, 'float32', 3) as tf.Tensor2D;
    const rotation = tf.tensor2d([
      [0.6, -0.8],
      [0.8, 0.6],
    ]);
    const s = tf.add(tf.mul(tf.matMul(t, rotation), 3.5), tf.tensor1d([10, -4])) as tf.Tensor2D;
    expect(rkdDistance(s, t).dataSync()[0]).to.be.below(1e-6);
    expect(rkdAngle(s, t).dataSync()[0]).to.be.below(1e-6);
    // ...and not for an unrelated student.
    const other = tf.randomNormal([20, 2], 0, 1, 'float32', 4) as tf.Tensor2D;
    expect(rkdDistance(other, t).dataSync()[0]).to.be.above(1e-2);
    expect(rkdAngle(other, t).dataSync()[0]).to.be.above(1e-2);
  });

  it('on wasm, a 600-point episode gives the float64 values of both: no float32 drift in large sums', async () => {
    const [n, d] = [600, 4];
    const x = Array.from(
      { length: 2 },
      (_, m) => tf.randomNormal([n, d], 0, 1, 'float32', 11 + m).arraySync() as number[][],
    );
    // Float64 RKD-A by the definition, one vertex at a time.
    const units = (p: number[][], i: number) =>
      p.map((q) => {
        const v = q.map((c, k) => c - p[i][k]);
        const norm = Math.hypot(...v);
        return norm > 0 ? v.map((c) => c / norm) : v.map(() => 0);
      });
    let total = 0;
    for (let i = 0; i < n; i++) {
      const [us, ut] = [units(x[0], i), units(x[1], i)];
      for (let j = 0; j < n; j++) {
        for (let k = 0; k < n; k++) {
          let gap = 0;
          for (let c = 0; c < d; c++) gap += us[j][c] * us[k][c] - ut[j][c] * ut[k][c];
          const a = Math.abs(gap);
          total += a < 1 ? 0.5 * gap * gap : a - 0.5;
        }
      }
    }
    // Float64 RKD-D by the definition.
    const psi = (p: number[][]) => {
      const d = p.map((a) => p.map((b) => Math.hypot(...a.map((c, k) => c - b[k]))));
      const mean = d.flat().reduce((sum, v) => sum + v, 0) / (n * (n - 1));
      return d.map((row) => row.map((v) => v / mean));
    };
    const [ps, pt] = [psi(x[0]), psi(x[1])];
    let distanceTotal = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const a = Math.abs(ps[i][j] - pt[i][j]);
        distanceTotal += a < 1 ? 0.5 * a * a : a - 0.5;
      }
    }
    await initBackend('wasm');
    const [s, t] = [tf.tensor2d(x[0]), tf.tensor2d(x[1])];
    const [angle, distance] = [rkdAngle(s, t).dataSync()[0], rkdDistance(s, t).dataSync()[0]];
    await tf.setBackend('cpu');
    expect(relativeError([angle], [total / n ** 3])).to.be.below(1e-4);
    expect(relativeError([distance], [distanceTotal / n ** 2])).to.be.below(1e-4);
  });

  for (const [name, native, definition, kernel, registered] of NATIVE) {
    it(`native ${name} equals the definition on cpu: value and gradient, repeated and far-off points`, async function () {
      await initBackend('wasm');
      requireNative(this, registered());
      const cases: [string, () => [tf.Tensor2D, tf.Tensor2D]][] = [
        [
          'random',
          () => [
            tf.randomNormal([37, 6], 0, 1, 'float32', 1) as tf.Tensor2D,
            tf.randomNormal([37, 9], 0, 1, 'float32', 2) as tf.Tensor2D,
          ],
        ],
        [
          'a repeated point',
          () => {
            const s = tf.randomNormal([12, 4], 0, 1, 'float32', 7) as tf.Tensor2D;
            return [
              tf.concat([s, tf.slice(s, [3, 0], [1, -1])]) as tf.Tensor2D,
              tf.randomNormal([13, 5], 0, 1, 'float32', 8) as tf.Tensor2D,
            ];
          },
        ],
        [
          'far from the origin',
          () => [
            tf.add(tf.randomNormal([30, 8], 0, 1, 'float32', 9), 1000) as tf.Tensor2D,
            tf.add(tf.randomNormal([30, 5], 0, 1, 'float32', 10), -1000) as tf.Tensor2D,
          ],
        ],
      ];
      for (const [label, make] of cases) {
        await initBackend('cpu');
        const [s0, t0] = make();
        const reference = tf.valueAndGrads((x: tf.Tensor) => definition(x as tf.Tensor2D, t0))([s0]);
        const [expectedValue, expectedGrad] = [reference.value.dataSync(), reference.grads[0].dataSync()];
        await initBackend('wasm');
        const [s, t] = make();
        let result: { value: tf.Tensor; grads: tf.Tensor[] } | undefined;
        const profile = await tf.profile(() => {
          result = tf.valueAndGrads((x: tf.Tensor) => native(x as tf.Tensor2D, t))([s]);
        });
        expect(
          profile.kernels.some((k) => k.name === kernel),
          label,
        ).to.equal(true);
        expect(relativeError(result!.value.dataSync(), expectedValue), `${label}: value`).to.be.below(1e-4);
        expect(relativeError(result!.grads[0].dataSync(), expectedGrad), `${label}: gradient`).to.be.below(1e-4);
      }
      await tf.setBackend('cpu');
    });

    it(`native ${name} gives the same bits on every call, whatever the threads' timing`, async function () {
      await initBackend('wasm');
      requireNative(this, registered());
      const s = tf.randomNormal([240, 16], 0, 1, 'float32', 11) as tf.Tensor2D;
      const t = tf.randomNormal([240, 24], 0, 1, 'float32', 12) as tf.Tensor2D;
      const run = () => {
        const r = tf.valueAndGrads((x: tf.Tensor) => native(x as tf.Tensor2D, t))([s]);
        return Buffer.concat([Buffer.from(r.value.dataSync().buffer), Buffer.from(r.grads[0].dataSync().buffer)]);
      };
      // Vertices are split over the threads statically: a dynamic schedule made the sums depend on timing.
      const first = run();
      for (let i = 0; i < 12; i++) expect(run().equals(first), `call ${i + 2}`).to.equal(true);
      await tf.setBackend('cpu');
    });
  }

  it("refuses path 'native' where the kernel is not registered, naming the loss and the backend", () => {
    const [s, t] = [
      tf.randomNormal([6, 3], 0, 1, 'float32', 1),
      tf.randomNormal([6, 3], 0, 1, 'float32', 2),
    ] as tf.Tensor2D[];
    expect(() => rkdDistance(s, t, { path: 'native' })).to.throw(
      'RKD-D: the native kernel is not registered on the cpu backend',
    );
    expect(() => rkdAngle(s, t, { path: 'native' })).to.throw(
      'RKD-A: the native kernel is not registered on the cpu backend',
    );
  });

  it('passes no gradient into the teacher', () => {
    const s = tf.randomNormal([8, 3], 0, 1, 'float32', 5) as tf.Tensor2D;
    const t = tf.randomNormal([8, 4], 0, 1, 'float32', 6) as tf.Tensor2D;
    for (const fn of [rkdDistance, rkdAngle]) {
      // Either the tape finds no path from the teacher at all, or the gradient along it is zero.
      try {
        const g = tf.grad((x: tf.Tensor) => fn(s, x as tf.Tensor2D))(t);
        expect(Math.max(...Array.from(g.dataSync(), Math.abs))).to.equal(0);
      } catch (err) {
        expect((err as Error).message).to.match(/Cannot compute gradient of y=f\(x\) with respect to x/);
      }
    }
  });
});
