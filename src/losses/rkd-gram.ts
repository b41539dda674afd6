/**
 * RKD (rkd.ts) computed from Gram matrices: RKD-A without the [N, N, D] differences of its
 * definition, and RKD-D in one native pass.
 * RKD-A is translation invariant, so with c = x - mean(x) and G = c c^T, at vertex i:
 *
 *   dot[i, j, k] = (c_j - c_i) . (c_k - c_i) = G_jk - a_ij - a_ik,   a_ij = G_ij - G_ii / 2
 *   r[i, j] = 1 / |c_j - c_i| = (G_jj - 2 a_ij)^-1/2   (0 where j = i or x_j = x_i)
 *   cos[i, j, k] = dot[i, j, k] r[i, j] r[i, k]
 *
 * The gradient is written out with respect to G, then taken to x through G = c c^T (gramToInput
 * here, gram_to_input in src/native/rkd_gram.cc). Two paths compute it: `bounded`, tfjs ops over blocks of vertices ([B, N, N] tensors at most,
 * any backend), and `native`, every triplet in one pass of the native kernel (wasm with the addon).
 */
import * as tf from '@tensorflow/tfjs';
import { RKD_ANGLE_KERNEL, RKD_DISTANCE_KERNEL, hasNativeRkdAngle } from '../kernels/native.js';
import { customGradient } from '../ops/custom-gradient.js';
import { huber } from './huber.js';

export interface RkdAngleOptions {
  /** `auto` (the default): the native kernel where it is registered, else the bounded path. */
  readonly path?: 'auto' | 'native' | 'bounded';
  /** The bounded path's floats per [B, N, N] block tensor (about 4 bytes each). */
  readonly budget?: number;
}

/** RKD-A's value, with its gradient with respect to the student. [N, Ds], [N, Dt]. */
export function rkdAngleGram(student: tf.Tensor2D, teacher: tf.Tensor2D, options: RkdAngleOptions = {}): tf.Scalar {
  const { path = 'auto', budget = 1 << 22 } = options;
  return runsNative('RKD-A', path, hasNativeRkdAngle())
    ? rkdAngleNative(student, teacher)
    : rkdAngleBounded(student, teacher, budget);
}

/**
 * Whether a loss takes its native kernel: always for `native` (an error when it is not registered),
 * never for the tfjs paths, and for `auto` where it is registered.
 */
export function runsNative(loss: string, path: string, registered: boolean): boolean {
  if (path === 'native' && !registered)
    throw new Error(`${loss}: the native kernel is not registered on the ${tf.getBackend()} backend`);
  return path === 'native' || (path === 'auto' && registered);
}

/** The centred rows c = x - mean(x), G = c c^T and diag(G). */
function centredGram(x: tf.Tensor2D): { c: tf.Tensor2D; gram: tf.Tensor2D; diag: tf.Tensor1D } {
  const c = tf.sub(x, tf.mean(x, 0, true)) as tf.Tensor2D;
  const gram = tf.matMul(c, c, false, true) as tf.Tensor2D;
  return { c, gram, diag: tf.sum(tf.mul(gram, tf.eye(x.shape[0])), 1) as tf.Tensor1D };
}

type Gram = ReturnType<typeof centredGram>;

/**
 * Angle cosines at the vertices i in [start, start + size), elementwise from the Gram matrix.
 * Returns cos, rr[i, j, k] = r_ij r_ik and r, [size, N, N] and [size, N].
 */
function gramCosines(x: Gram, start: number, size: number) {
  return tf.tidy(() => {
    const n = x.gram.shape[0];
    const a = tf.sub(
      tf.slice(x.gram, [start, 0], [size, -1]),
      tf.mul(0.5, tf.expandDims(tf.slice(x.diag, [start], [size]), 1)),
    );
    // |x_j - x_i|^2 = G_jj - 2 a_ij: exactly 0 at j = i (and at exact repeats, whose G rows are equal).
    const n2 = tf.sub(tf.expandDims(x.diag, 0), tf.mul(2, a));
    const other = tf.notEqual(tf.oneHot(tf.range(start, start + size, 1, 'int32'), n), 1);
    const r = tf.where(tf.logicalAnd(tf.greater(n2, 0), other), tf.rsqrt(n2), tf.zerosLike(n2)) as tf.Tensor2D;
    const rr = tf.mul(tf.expandDims(r, 2), tf.expandDims(r, 1)) as tf.Tensor3D;
    const dot = tf.sub(tf.sub(tf.expandDims(x.gram, 0), tf.expandDims(a, 2)), tf.expandDims(a, 1));
    return { cos: tf.mul(dot, rr) as tf.Tensor3D, rr, r };
  });
}

/** The student's cosines at a block of vertices, and their gap to the teacher's. */
function cosineGap(s: Gram, t: Gram, start: number, size: number) {
  const cs = gramCosines(s, start, size);
  return { ...cs, gap: tf.tidy(() => tf.sub(cs.cos, gramCosines(t, start, size).cos)) as tf.Tensor3D };
}

/** Blocks [start, size) of vertices whose [B, N, N] tensors stay near `budget` floats. */
function vertexBlocks(n: number, budget: number): (readonly [number, number])[] {
  const b = Math.max(1, Math.min(n, Math.floor(budget / (n * n))));
  return Array.from({ length: Math.ceil(n / b) }, (_, i) => [i * b, Math.min(b, n - i * b)] as const);
}

/**
 * tfjs ops, a block of vertices at a time, forward and backward (the gradient is recomputed per
 * block): only [B, N, N] and N x N / N x D tensors exist.
 */
function rkdAngleBounded(student: tf.Tensor2D, teacher: tf.Tensor2D, budget: number): tf.Scalar {
  const n = student.shape[0];
  const blocks = vertexBlocks(n, budget);
  const scale = 1 / (n * n * n);
  // The teacher is an input (with a zero gradient) so that the tape keeps it for the backward pass.
  const loss = customGradient(
    ([s, t]: [tf.Tensor2D, tf.Tensor2D], save: (saved: [tf.Tensor2D, tf.Tensor2D]) => void) => {
      save([s, t]);
      const value = tf.tidy(() => {
        const [gs, gt] = [centredGram(s), centredGram(t)];
        let sum: tf.Tensor = tf.scalar(0);
        for (const [start, size] of blocks) {
          // Summed row by row, then over rows: wasm's one-pass float32 sum of a whole block drifts (0.4%).
          const next = tf.tidy(() => tf.add(sum, tf.sum(tf.sum(huber(cosineGap(gs, gt, start, size).gap), 2))));
          sum.dispose();
          sum = next;
        }
        return sum;
      });
      return {
        value: tf.mul(value, scale) as tf.Scalar,
        gradFunc: (dy, [x, teacherSaved]) => {
          const dx = tf.tidy(() => {
            const [gs, gt] = [centredGram(x), centredGram(teacherSaved)];
            // dL/dG (not symmetrised) as an N x N part plus a diagonal, without the factor dy / N^3.
            let dGram: tf.Tensor = tf.zeros([n, n]);
            let dDiag: tf.Tensor = tf.zeros([n]);
            for (const [start, size] of blocks) {
              const next = tf.tidy(() => {
                const { cos, rr, r, gap } = cosineGap(gs, gt, start, size);
                const g = tf.clipByValue(gap, -1, 1); // huber'(gap) = dL/dcos
                const h = tf.mul(g, rr); // dL/ddot
                // dL/dr_ij = 2 sum_k g dot r_ik (cos is symmetric in j, k); through r = n2^-1/2:
                // q_ij = dL/dn2_ij = -r_ij^3 sum_k g dot r_ik = -r_ij^2 sum_k g cos.
                const q = tf.neg(tf.mul(tf.square(r), tf.sum(tf.mul(g, cos), 2)));
                // dot = G_jk - G_ij - G_ik + G_ii and n2 = G_jj - 2 G_ij + G_ii, by symmetry in j, k:
                // dG_jk += sum_i h, dG_ij -= 2 (sum_k h + q), dG_ii += sum_j (sum_k h + q), dG_jj += sum_i q.
                const rows = tf.add(tf.sum(h, 2), q);
                const pad = [
                  [start, n - start - size],
                  [0, 0],
                ] as [number, number][];
                const dG = tf.add(dGram, tf.add(tf.sum(h, 0), tf.pad(tf.mul(-2, rows), pad)));
                const dD = tf.add(dDiag, tf.add(tf.pad(tf.sum(rows, 1), [pad[0]]), tf.sum(q, 0)));
                return [dG, dD];
              });
              tf.dispose([dGram, dDiag]);
              [dGram, dDiag] = next;
            }
            return gramToInput(dGram, dDiag, gs.c, tf.mul(dy, scale));
          });
          return [dx, tf.zerosLike(teacherSaved)];
        },
      };
    },
  );
  return loss(student, teacher);
}

/**
 * The native kernel (src/native/rkd_angle.cc): every triplet in one pass on all threads, the
 * forward computing the gradient too.
 */
function rkdAngleNative(student: tf.Tensor2D, teacher: tf.Tensor2D): tf.Scalar {
  const n = student.shape[0];
  return nativeGramLoss(RKD_ANGLE_KERNEL, n * n * n, student, teacher);
}

/**
 * RKD-D's value and gradient by the native kernel (src/native/rkd_distance.cc): the distances from
 * the centred Gram matrices, as rkd.ts's pairwiseDistances, in one pass instead of a dozen
 * single-threaded N x N ops each way.
 */
export function rkdDistanceNative(student: tf.Tensor2D, teacher: tf.Tensor2D): tf.Scalar {
  return nativeGramLoss(RKD_DISTANCE_KERNEL, 1, student, teacher);
}

/**
 * A native RKD kernel's loss, divided by `divisor`. The kernel computes the gradient with respect to
 * the student in the same pass (src/native/rkd_gram.cc); it is kept for the backward.
 */
function nativeGramLoss(kernel: string, divisor: number, student: tf.Tensor2D, teacher: tf.Tensor2D): tf.Scalar {
  const loss = customGradient(
    ([s, t]: [tf.Tensor2D, tf.Tensor2D], save: (saved: [tf.Tensor2D, tf.Tensor2D]) => void) => {
      const [value, ds] = tf.engine().runKernel(kernel, { s, t }) as tf.Tensor[];
      save([ds as tf.Tensor2D, t]);
      return {
        value: tf.div(value, divisor) as tf.Scalar,
        gradFunc: (dy, [dsSaved, teacherSaved]) => [tf.mul(dsSaved, tf.div(dy, divisor)), tf.zerosLike(teacherSaved)],
      };
    },
  );
  return loss(student, teacher);
}

/** G = c c^T: dc = (dG + dG^T + 2 diag(dDiag)) c * factor; then through the centring, dx = dc - mean(dc). */
function gramToInput(dGram: tf.Tensor, dDiag: tf.Tensor, c: tf.Tensor2D, factor: tf.Tensor): tf.Tensor {
  const symmetric = tf.add(tf.add(dGram, tf.transpose(dGram)), tf.mul(tf.diag(dDiag), 2));
  const dc = tf.mul(tf.matMul(symmetric, c), factor);
  return tf.sub(dc, tf.mean(dc, 0, true));
}
