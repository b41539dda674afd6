/**
 * Relational Knowledge Distillation losses (Park et al. 2019) between student embeddings S and
 * teacher embeddings T of the same N images. The teacher is constant: no gradient flows into it.
 */
import * as tf from '@tensorflow/tfjs';

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
    return tf.div(d, tf.div(tf.sum(d), n * (n - 1))) as tf.Tensor2D;
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
    return tf.mean(smoothL1(tf.sub(normalisedDistances(student), t))) as tf.Scalar;
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

/** Vertices per block so that a block's [B, N, N] and [B, N, D] tensors stay near `budget` floats. */
function blockSize(n: number, d: number, budget: number): number {
  return Math.max(1, Math.min(n, Math.floor(budget / (n * (n + d)))));
}

/**
 * RKD-A: Huber loss between student and teacher cosines of the angle at vertex i of
 * (x_j - x_i, x_k - x_i), averaged over all N*N*N triplets.
 *
 * Bounded memory: the triplets are taken a block of vertices at a time, forward and backward (the
 * gradient is written out and recomputed per block), so no N x N x N or N x N x D tensor exists.
 * @param budget floats per block tensor (about 4 bytes each)
 */
export function rkdAngle(student: tf.Tensor2D, teacher: tf.Tensor2D, budget = 1 << 22): tf.Scalar {
  const n = student.shape[0];
  const b = blockSize(n, Math.max(student.shape[1], teacher.shape[1]), budget);
  const scale = 1 / (n * n * n);
  const blocks = Array.from({ length: Math.ceil(n / b) }, (_, i) => [i * b, Math.min(b, n - i * b)] as const);
  const cosineGap = (s: tf.Tensor2D, t: tf.Tensor2D, start: number, size: number) => {
    const us = unitDifferences(s, start, size);
    return { ...us, gap: tf.sub(angleCosines(us.u), angleCosines(unitDifferences(t, start, size).u)) };
  };

  // The teacher is an input (with a zero gradient) so that the tape keeps it for the backward pass.
  const loss = tf.customGrad(((s: tf.Tensor, t: tf.Tensor, save: tf.GradSaveFunc) => {
    save([s, t]);
    const value = tf.tidy(() => {
      let sum: tf.Tensor = tf.scalar(0);
      for (const [start, size] of blocks) {
        const next = tf.tidy(() => tf.add(sum, tf.sum(smoothL1(cosineGap(s as tf.Tensor2D, t as tf.Tensor2D, start, size).gap))));
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
          let grad: tf.Tensor2D = tf.zerosLike(x);
          for (const [start, size] of blocks) {
            const next = tf.tidy(() => {
              const { u, norm, gap } = cosineGap(x, teacherSaved, start, size);
              // dL/dcos = huber'(gap); cos[i,j,k] is symmetric in j and k, hence the 2.
              const g = tf.mul(tf.clipByValue(gap, -1, 1), tf.mul(dy, 2 * scale));
              const du = tf.matMul(g, u) as tf.Tensor3D;
              // Through u = v / |v|: dv = (du - u (u . du)) / |v|, zero where v = 0.
              const dv = tf.divNoNan(tf.sub(du, tf.mul(u, tf.sum(tf.mul(u, du), 2, true))), norm);
              // v[i, j] = x_j - x_i: +dv to every x_j, -sum_j dv to each vertex x_i of the block.
              const toVertices = tf.pad(tf.neg(tf.sum(dv, 1)), [[start, n - start - size], [0, 0]]);
              return tf.add(grad, tf.add(tf.sum(dv, 0), toVertices)) as tf.Tensor2D;
            });
            grad.dispose();
            grad = next;
          }
          return [grad, tf.zerosLike(teacherSaved)];
        });
      },
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
