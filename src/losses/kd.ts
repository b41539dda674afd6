/**
 * Hinton-style knowledge distillation on the query-vs-prototype distributions: KL(teacher || student)
 * of the temperature-softened softmaxes, scaled by T^2 so that its gradients keep their size as T
 * changes (Hinton et al. 2015). The teacher is constant.
 */
import * as tf from '@tensorflow/tfjs';
import { stopGradient } from '../ops/custom-gradient.js';

/**
 * @param studentLogits [Q, way]
 * @param teacherLogits [Q, way]
 * @param temperature T > 0
 * @returns mean over queries of T^2 * KL(softmax(t / T) || softmax(s / T))
 */
export function kdLoss(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, temperature: number): tf.Scalar {
  if (!(temperature > 0)) throw new Error(`KD temperature must be positive, got ${temperature}`);
  return tf.tidy(() => {
    const logPt = stopGradient(tf.logSoftmax(tf.div(teacherLogits, temperature)));
    const logPs = tf.logSoftmax(tf.div(studentLogits, temperature));
    const kl = tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), 1);
    return tf.mul(tf.mean(kl), temperature * temperature) as tf.Scalar;
  });
}
