/**
 * Relational Knowledge Distillation losses (Park et al. 2019) between student embeddings S and
 * teacher embeddings T of the same N images. The teacher is constant: no gradient flows into it.
 */
import * as tf from '@tensorflow/tfjs';
import { RKD_ANGLE_KERNEL, nativeRkdAngle } from '../kernels/native.js';

type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

/** The identity with a zero gradient: tfjs 4.22 has no stopGradient op. */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy)],
})) as unknown as CustomGradientFunc) as <T extends tf.Tensor>(x: T) => T;

/**
 * Huber loss with beta 1 (PyTorch's smooth_l1_loss), elementwise: 0.5 m^2 + (|x| - m) with
 * m = min(|x|, 1), written without `where` so that every op on the path has a gradient.
 */
function smoothL1(diff: tf.Tensor): tf.Tensor {
  const a = tf.abs(diff);
  const m = tf.minimum(a, 1);
  return tf.add(tf.mul(0.5, tf.square(m)), tf.sub(a, m));
}

/**
 * Pairwise Euclidean distances [N, N], diagonal 0. From the Gram matrix of the centred rows:
 * N x N memory, and centring keeps the |a|^2 + |b|^2 - 2ab cancellation small.
 */
export function pairwiseDistances(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const c = tf.sub(x, tf.mean(x, 0, true));
    const sq = tf.sum(tf.square(c), 1);
    const d2 = tf.sub(tf.add(tf.expandDims(sq, 1), tf.expandDims(sq, 0)), tf.mul(2, tf.matMul(c, c, false, true)));
    const n = x.shape[0];
    const offDiagonal = tf.sub(1, tf.eye(n));
    return tf.mul(tf.sqrt(tf.maximum(d2, 1e-12)), offDiagonal) as tf.Tensor2D;
  });
}

/** Distances divided by their mean over the N(N-1) off-diagonal pairs. */
function normalisedDistances(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const n = x.shape[0];
    const d = pairwiseDistances(x);
    return tf.div(d, tf.div(tf.sum(tf.sum(d, 1)), n * (n - 1))) as tf.Tensor2D; // by rows first: see rkdAngle
  });
}

/**
 * RKD-D: Huber loss between the students' and the teacher's mean-normalised pairwise distances,
 * averaged over all N*N entries.
 * @param student [N, Ds]
 * @param teacher [N, Dt]
 */
export function rkdDistance(student: tf.Tensor2D, teacher: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const t = stopGradient(normalisedDistances(teacher));
    return tf.mean(tf.mean(smoothL1(tf.sub(normalisedDistances(student), t)), 1)) as tf.Scalar;
  });
}

/**
 * Unit difference vectors from each vertex i in [start, start + size) to every point j:
 * u[i, j] = (x_j - x_i) / |x_j - x_i|, the zero vector where x_j = x_i. Also returns the norms.
 */
function unitDifferences(x: tf.Tensor2D, start: number, size: number): { u: tf.Tensor3D; norm: tf.Tensor3D } {
  const n = x.shape[0];
  const v = tf.sub(tf.expandDims(x, 0), tf.expandDims(tf.slice(x, [start, 0], [size, -1]), 1)) as tf.Tensor3D;
  const squared = tf.sum(tf.square(v), 2, true);
  // 1 added where j = i keeps sqrt differentiable for rkdAngleDirect's autodiff; u is 0 there anyway.
  const self = tf.reshape(tf.oneHot(tf.range(start, start + size, 1, 'int32'), n), [size, n, 1]);
  const u = tf.div(v, tf.maximum(tf.sqrt(tf.add(squared, self)), 1e-30)) as tf.Tensor3D;
  return { u, norm: tf.sqrt(squared) as tf.Tensor3D };
}

/** cos[i, j, k] = u[i, j] . u[i, k] for a block of vertices: [size, N, N]. */
function angleCosines(u: tf.Tensor3D): tf.Tensor3D {
  return tf.matMul(u, u, false, true);
}

/** Vertices per block so that a block's [B, N, N] tensors stay near `budget` floats. */
function blockSize(n: number, budget: number): number {
  return Math.max(1, Math.min(n, Math.floor(budget / (n * n))));
}

/** The centred rows c = x - mean(x) (RKD-A is translation invariant), G = c c^T and diag(G). */
function centredGram(x: tf.Tensor2D): { c: tf.Tensor2D; gram: tf.Tensor2D; diag: tf.Tensor1D } {
  const c = tf.sub(x, tf.mean(x, 0, true)) as tf.Tensor2D;
  const gram = tf.matMul(c, c, false, true) as tf.Tensor2D;
  return { c, gram, diag: tf.sum(tf.mul(gram, tf.eye(x.shape[0])), 1) as tf.Tensor1D };
}

/**
 * Angle cosines at the vertices i in [start, start + size), from the Gram matrix alone:
 * dot[i, j, k] = (x_j - x_i) . (x_k - x_i) = G_jk - a_ij - a_ik with a_ij = G_ij - G_ii / 2, and
 * r[i, j] = 1 / |x_j - x_i| (0 where j = i or x_j = x_i), cos = dot r_ij r_ik. All [size, N, N]
 * work is elementwise. Returns cos, rr[i, j, k] = r_ij r_ik and r [size, N].
 */
function gramCosines(x: ReturnType<typeof centredGram>, start: number, size: number) {
  return tf.tidy(() => {
    const n = x.gram.shape[0];
    const a = tf.sub(tf.slice(x.gram, [start, 0], [size, -1]), tf.mul(0.5, tf.expandDims(tf.slice(x.diag, [start], [size]), 1)));
    // |x_j - x_i|^2 = G_jj - 2 a_ij: exactly 0 at j = i (and at exact repeats, whose G rows are equal).
    const n2 = tf.sub(tf.expandDims(x.diag, 0), tf.mul(2, a));
    const other = tf.notEqual(tf.oneHot(tf.range(start, start + size, 1, 'int32'), n), 1);
    const r = tf.where(tf.logicalAnd(tf.greater(n2, 0), other), tf.rsqrt(n2), tf.zerosLike(n2)) as tf.Tensor2D;
    const rr = tf.mul(tf.expandDims(r, 2), tf.expandDims(r, 1)) as tf.Tensor3D;
    const dot = tf.sub(tf.sub(tf.expandDims(x.gram, 0), tf.expandDims(a, 2)), tf.expandDims(a, 1));
    return { cos: tf.mul(dot, rr) as tf.Tensor3D, rr, r };
  });
}

/**
 * RKD-A: Huber loss between student and teacher cosines of the angle at vertex i of
 * (x_j - x_i, x_k - x_i), averaged over all N*N*N triplets.
 *
 * Bounded memory: the triplets are taken a block of vertices at a time from the Gram matrices,
 * forward and backward (the gradient is written out and recomputed per block), so only [B, N, N]
 * and N x N / N x D tensors exist, and no N^3 D product is formed.
 * @param budget floats per block tensor (about 4 bytes each)
 */
export function rkdAngle(student: tf.Tensor2D, teacher: tf.Tensor2D, budget = 1 << 22): tf.Scalar {
  const n = student.shape[0];
  const b = blockSize(n, budget);
  const scale = 1 / (n * n * n);
  const blocks = Array.from({ length: Math.ceil(n / b) }, (_, i) => [i * b, Math.min(b, n - i * b)] as const);
  const cosineGap = (s: ReturnType<typeof centredGram>, t: ReturnType<typeof centredGram>, start: number, size: number) => {
    const cs = gramCosines(s, start, size);
    return { ...cs, gap: tf.tidy(() => tf.sub(cs.cos, gramCosines(t, start, size).cos)) as tf.Tensor3D };
  };

  if (nativeRkdAngle()) return rkdAngleNative(student, teacher);
  // The teacher is an input (with a zero gradient) so that the tape keeps it for the backward pass.
  const loss = tf.customGrad(((s: tf.Tensor, t: tf.Tensor, save: tf.GradSaveFunc) => {
    save([s, t]);
    const value = tf.tidy(() => {
      const [gs, gt] = [centredGram(s as tf.Tensor2D), centredGram(t as tf.Tensor2D)];
      let sum: tf.Tensor = tf.scalar(0);
      for (const [start, size] of blocks) {
        // Summed row by row, then over rows: wasm's one-pass float32 sum of a whole block drifts (0.4%).
        const next = tf.tidy(() => tf.add(sum, tf.sum(tf.sum(smoothL1(cosineGap(gs, gt, start, size).gap), 2))));
        sum.dispose();
        sum = next;
      }
      return sum;
    });
    return {
      value: tf.mul(value, scale) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [x, teacherSaved] = saved as tf.Tensor2D[];
        return tf.tidy(() => {
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
              const pad = [[start, n - start - size], [0, 0]] as [number, number][];
              const dG = tf.add(dGram, tf.add(tf.sum(h, 0), tf.pad(tf.mul(-2, rows), pad)));
              const dD = tf.add(dDiag, tf.add(tf.pad(tf.sum(rows, 1), [pad[0]]), tf.sum(q, 0)));
              return [dG, dD];
            });
            tf.dispose([dGram, dDiag]);
            [dGram, dDiag] = next;
          }
          return [gramToInput(dGram, dDiag, gs.c, tf.mul(dy, scale)), tf.zerosLike(teacherSaved)];
        });
      },
    };
  }) as unknown as CustomGradientFunc);
  return loss(student, teacher) as tf.Scalar;
}

/** G = c c^T: dc = (dG + dG^T + 2 diag(dDiag)) c * factor; then through the centring, dx = dc - mean(dc). */
function gramToInput(dGram: tf.Tensor, dDiag: tf.Tensor, c: tf.Tensor2D, factor: tf.Tensor): tf.Tensor {
  const symmetric = tf.add(tf.add(dGram, tf.transpose(dGram)), tf.mul(tf.diag(dDiag), 2));
  const dc = tf.mul(tf.matMul(symmetric, c), factor);
  return tf.sub(dc, tf.mean(dc, 0, true));
}

/**
 * rkdAngle on the native kernel (src/native/conv.cc): every triplet in one pass on both cores,
 * forward and gradient together (the gradient is kept for the backward pass: N x N floats).
 */
function rkdAngleNative(student: tf.Tensor2D, teacher: tf.Tensor2D): tf.Scalar {
  const n = student.shape[0];
  const loss = tf.customGrad(((s: tf.Tensor, t: tf.Tensor, save: tf.GradSaveFunc) => {
    const gs = centredGram(s as tf.Tensor2D);
    const gt = centredGram(t as tf.Tensor2D);
    const [sum, dGram, dDiag] = tf.engine().runKernel(RKD_ANGLE_KERNEL, { gs: gs.gram, gt: gt.gram }) as tf.Tensor[];
    save([dGram, dDiag, gs.c, t]);
    return {
      value: tf.div(sum, n * n * n) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
        const [dG, dD, c, teacherSaved] = saved as tf.Tensor2D[];
        return [gramToInput(dG, dD, c, tf.div(dy, n * n * n)), tf.zerosLike(teacherSaved)];
      }),
    };
  }) as unknown as CustomGradientFunc);
  return loss(student, teacher) as tf.Scalar;
}

/**
 * RKD-A by the direct formula, with every N x N x D and N x N x N tensor at once: the reference
 * the bounded version is tested against. Memory grows as N^2 (N + D).
 */
export function rkdAngleDirect(student: tf.Tensor2D, teacher: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const n = student.shape[0];
    const cos = (x: tf.Tensor2D) => angleCosines(unitDifferences(x, 0, n).u);
    return tf.mean(smoothL1(tf.sub(cos(student), stopGradient(cos(teacher))))) as tf.Scalar;
  });
}
