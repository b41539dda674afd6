/**
 * The prototypical-network head (Snell et al. 2017): prototypes are class means of the support
 * embeddings; logits are minus squared Euclidean distances from queries to prototypes.
 * Rows are class-major: support row i is class floor(i / shot), query row j class floor(j / query).
 */
import * as tf from '@tensorflow/tfjs';
import { PROTO_LOGITS_KERNEL, hasNativeProtoLogits } from '../kernels/native.js';

/**
 * Class means of class-major support embeddings.
 * @param support [way * shot, D]
 * @returns [way, D]
 */
/** Throws unless `rows` holds a positive whole number of rows per class (labels would be fractional). */
function checkClassMajor(name: string, rows: tf.Tensor2D, way: number): void {
  if (!Number.isInteger(way) || way < 1) throw new Error(`way must be a positive integer, got ${way}`);
  const n = rows.shape[0];
  if (n === 0 || n % way !== 0)
    throw new Error(`${name}: ${n} rows for ${way} classes: each class needs the same positive number of rows`);
}

export function prototypes(support: tf.Tensor2D, way: number): tf.Tensor2D {
  checkClassMajor('support', support, way);
  return tf.tidy(() => tf.mean(tf.reshape(support, [way, -1, support.shape[1]]), 1) as tf.Tensor2D);
}

/**
 * Minus squared Euclidean distance from each query to each prototype.
 * @param query [Q, D]
 * @param protos [way, D]
 * @returns [Q, way]
 */
export function negativeSquaredDistances(query: tf.Tensor2D, protos: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    // Direct differences rather than |q|^2 - 2 q.p + |p|^2: no cancellation when q is near p.
    const diff = tf.sub(tf.expandDims(query, 1), tf.expandDims(protos, 0));
    return tf.neg(tf.sum(tf.square(diff), 2)) as tf.Tensor2D;
  });
}

/**
 * The logits of n episodes of one shape at once, from rows of an embedding table (class-major,
 * episode after episode): [n, way * query, way]. Each episode's are the same floats as
 * `negativeSquaredDistances(query, prototypes(support, way))` on it alone: the same kernels reduce
 * in the same order, or on wasm one native pass that does (src/native/protonet.cc).
 */
export function batchLogits(
  embeddings: tf.Tensor2D,
  supportRows: Int32Array,
  queryRows: Int32Array,
  shape: { way: number; shot: number; query: number },
): tf.Tensor3D {
  const { way, shot, query } = shape;
  const n = queryRows.length / (way * query);
  const dim = embeddings.shape[1];
  return tf.tidy(() => {
    const [s, q] = [tf.tensor1d(supportRows, 'int32'), tf.tensor1d(queryRows, 'int32')];
    if (hasNativeProtoLogits()) {
      return tf
        .engine()
        .runKernel(
          PROTO_LOGITS_KERNEL,
          { embeddings, supportRows: s, queryRows: q },
          { way, shot, query },
        ) as tf.Tensor3D;
    }
    const protos = tf.mean(tf.reshape(tf.gather(embeddings, s), [n, way, shot, dim]), 2);
    const queries = tf.reshape(tf.gather(embeddings, q), [n, way * query, dim]);
    const diff = tf.sub(tf.expandDims(queries, 2), tf.expandDims(protos, 1)); // [n, way * query, way, dim]
    return tf.neg(tf.sum(tf.square(diff), 3)) as tf.Tensor3D;
  });
}

/** Episode labels of class-major rows: [0 x per, 1 x per, ...]. */
export function classMajorLabels(way: number, perClass: number): tf.Tensor1D {
  return tf.tidy(() => tf.cast(tf.floorDiv(tf.range(0, way * perClass), perClass), 'int32') as tf.Tensor1D);
}

export interface ProtoOutput {
  /** Mean softmax cross-entropy over the queries. */
  readonly loss: tf.Scalar;
  /** [Q, way] */
  readonly logits: tf.Tensor2D;
  /** Fraction of queries whose nearest prototype is their own class. */
  readonly accuracy: tf.Scalar;
}

/**
 * The prototypical loss of one episode.
 * @param support [way * shot, D], class-major
 * @param query [way * query, D], class-major
 */
export function prototypicalLoss(support: tf.Tensor2D, query: tf.Tensor2D, way: number): ProtoOutput {
  checkClassMajor('query', query, way);
  return tf.tidy(() => {
    const logits = negativeSquaredDistances(query, prototypes(support, way));
    const labels = classMajorLabels(way, query.shape[0] / way);
    const logProbs = tf.logSoftmax(logits);
    const loss = tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(labels, way), logProbs), 1))) as tf.Scalar;
    const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')) as tf.Scalar;
    return { loss, logits, accuracy };
  });
}
