/**
 * Relational Knowledge Distillation (Park et al. 2019, section 3): the student learns the relations
 * among the teacher's embeddings of the same N images rather than the embeddings themselves.
 * The teacher is constant: no gradient flows into it. Both losses are averaged over their tuples.
 *
 *   RKD-D: psi_D(t_i, t_j) = |t_i - t_j| / mu, mu the mean distance over the N(N-1) pairs;
 *          L = mean over (i, j) of huber(psi_D(s_i, s_j) - psi_D(t_i, t_j)).
 *   RKD-A: psi_A(t_i, t_j, t_k) = cos of the angle at t_j = <e_ij, e_kj>, e_ij = (t_i - t_j) / |t_i - t_j|;
 *          L = mean over (i, j, k) of huber(psi_A(s_i, s_j, s_k) - psi_A(t_i, t_j, t_k)).
 *
 * Each is given by its definition (rkdDistanceByDefinition; rkdAngleByDefinition, N^2 (N + D)
 * memory) and trained by `rkdDistance` / `rkdAngle`, the same loss from Gram matrices (rkd-gram.ts):
 * one native pass where the kernels are registered, else the definition (RKD-D) or bounded-memory
 * tfjs ops (RKD-A); tests hold them equal.
 */
import * as tf from '@tensorflow/tfjs';
import { stopGradient } from '../ops/custom-gradient.js';
import { huber } from './huber.js';
import { hasNativeRkdDistance } from '../kernels/native.js';
import { RkdAngleOptions, rkdAngleGram, rkdDistanceNative, runsNative } from './rkd-gram.js';

export interface RkdDistanceOptions {
  /** `auto` (the default): the native kernel where it is registered, else the definition. */
  readonly path?: 'auto' | 'native' | 'definition';
}

/** RKD-D as trained: rkdDistanceByDefinition's value and gradient, natively where the kernel is registered. */
export function rkdDistance(student: tf.Tensor2D, teacher: tf.Tensor2D, options: RkdDistanceOptions = {}): tf.Scalar {
  return runsNative('RKD-D', options.path ?? 'auto', hasNativeRkdDistance())
    ? rkdDistanceNative(student, teacher)
    : rkdDistanceByDefinition(student, teacher);
}

/** RKD-D by the definition: huber(psi_D(student) - psi_D(teacher)), averaged over all N * N entries. [N, Ds], [N, Dt]. */
export function rkdDistanceByDefinition(student: tf.Tensor2D, teacher: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const t = stopGradient(distancePotential(teacher));
    return tf.mean(tf.mean(huber(tf.sub(distancePotential(student), t)), 1)) as tf.Scalar;
  });
}

/** RKD-A by the definition: every [N, N, D] difference and [N, N, N] cosine at once. The reference. */
export function rkdAngleByDefinition(student: tf.Tensor2D, teacher: tf.Tensor2D): tf.Scalar {
  return tf.tidy(
    () => tf.mean(huber(tf.sub(anglePotential(student), stopGradient(anglePotential(teacher))))) as tf.Scalar,
  );
}

/** RKD-A as trained: rkdAngleByDefinition's value and gradient from Gram matrices (rkd-gram.ts). */
export function rkdAngle(student: tf.Tensor2D, teacher: tf.Tensor2D, options?: RkdAngleOptions): tf.Scalar {
  return rkdAngleGram(student, teacher, options);
}

/** psi_D: the pairwise distances divided by their mean over the N(N-1) off-diagonal pairs. */
function distancePotential(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const n = x.shape[0];
    const d = pairwiseDistances(x);
    // Summed by rows first: wasm's one-pass float32 sum of N^2 values drifts.
    return tf.div(d, tf.div(tf.sum(tf.sum(d, 1)), n * (n - 1))) as tf.Tensor2D;
  });
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
    const offDiagonal = tf.sub(1, tf.eye(x.shape[0]));
    return tf.mul(tf.sqrt(tf.maximum(d2, 1e-12)), offDiagonal) as tf.Tensor2D;
  });
}

/**
 * psi_A for every triplet, [N, N, N]: cos[j, i, k] = e_ij . e_kj, the unit vectors from each vertex
 * x_j to every point (the zero vector from a point to itself or to a repeat of it).
 */
function anglePotential(x: tf.Tensor2D): tf.Tensor3D {
  const v = tf.sub(tf.expandDims(x, 0), tf.expandDims(x, 1)) as tf.Tensor3D; // v[j, i] = x_i - x_j
  const squared = tf.sum(tf.square(v), 2, true);
  // 1 / |v|, and 0 for a zero vector, as a constant: maximum() passes no gradient to squared there.
  const inverse = tf.mul(tf.rsqrt(tf.maximum(squared, 1e-30)), tf.sign(squared));
  const e = tf.mul(v, inverse) as tf.Tensor3D;
  return tf.matMul(e, e, false, true);
}
