/**
 * The teacher's embeddings, computed once per image. The teacher is frozen and embeds in inference
 * mode, where an image's embedding does not depend on the other images of its batch, so a
 * distillation run of thousands of episodes over the same training images embeds each image once
 * instead of once per episode (test/teacher-cache.test.ts holds the rows bit-identical).
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageRef } from '../data/dataset.js';
import { embedInference } from '../models/conv4.js';

/** Images per class a key can tell apart (more than any dataset here holds per class). */
const PER_CLASS = 2 ** 24;
/** Floats kept at most (1 GiB): all of miniImageNet's training split at 1600-d takes 245 MB. */
const MAX_FLOATS = 2 ** 28;

export class TeacherCache {
  private readonly rows = new Map<number, Float32Array>();
  private floats = 0;

  constructor(private readonly teacher: tf.LayersModel) {}

  /** Images embedded so far. */
  get size(): number {
    return this.rows.size;
  }

  /**
   * The teacher's embeddings [N, D] of `images`, whose i-th row is the image `refs[i]`; only the
   * images not seen before are embedded. Without one ref per image, all of them are embedded.
   */
  embed(images: tf.Tensor4D, refs: readonly ImageRef[]): tf.Tensor2D {
    if (refs.length !== images.shape[0]) return embedInference(this.teacher, images);
    const keys = refs.map((r) => r.classIndex * PER_CLASS + r.imageIndex);
    const firstAt = new Map<number, number>();
    keys.forEach((k, i) => this.rows.has(k) || firstAt.has(k) || firstAt.set(k, i));
    const missing = [...firstAt.keys()];
    const fresh = new Map<number, Float32Array>();
    if (missing.length > 0) {
      const at = [...firstAt.values()];
      const embedded = tf.tidy(() => {
        const x = at.length === keys.length ? images : tf.gather(images, tf.tensor1d(at, 'int32'));
        return embedInference(this.teacher, x as tf.Tensor4D);
      });
      const dim = embedded.shape[1];
      const values = embedded.dataSync() as Float32Array;
      embedded.dispose();
      missing.forEach((k, i) => fresh.set(k, values.subarray(i * dim, (i + 1) * dim)));
    }
    const row = (k: number) => this.rows.get(k) ?? fresh.get(k)!;
    const dim = row(keys[0]).length;
    const out = new Float32Array(keys.length * dim);
    keys.forEach((k, i) => out.set(row(k), i * dim));
    // Kept while the budget lasts; past it, the images not kept are embedded again when they recur.
    for (const [k, v] of fresh) {
      if (this.floats + dim > MAX_FLOATS) break;
      this.rows.set(k, v.slice());
      this.floats += dim;
    }
    return tf.tensor2d(out, [keys.length, dim]);
  }
}
