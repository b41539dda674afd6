/**
 * The teacher cache gives the embeddings a fresh inference of the whole episode gives, bit for bit,
 * while embedding each image once: on cpu and on wasm with the native kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { hasNativeBlockKernels } from '../src/kernels/native.js';
import { conv4, embedInference } from '../src/models/conv4.js';
import { TeacherCache } from '../src/train/teacher-cache.js';
import { requireNative } from './helpers.js';

describe('teacher cache', () => {
  const settings = [
    ['cpu', [28, 28, 1]],
    ['wasm', [28, 28, 1]],
    ['wasm', [84, 84, 3]],
  ] as const;
  for (const [backend, shape] of settings) {
    it(`equals embedding each episode afresh, bit for bit, and embeds each image once (${backend}, ${shape.join('x')})`, async function () {
      await initBackend(backend);
      if (backend === 'wasm') requireNative(this, hasNativeBlockKernels());
      const teacher = conv4({ inputShape: [...shape], width: 16, seed: 5 });
      // A pool of 30 images; episodes of 12 that overlap, with one image twice in the last.
      const pool = tf.randomUniform([30, ...shape], 0, 1, 'float32', 9) as tf.Tensor4D;
      const episodes = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        [5, 6, 7, 8, 20, 21, 22, 23, 24, 25, 26, 27],
        [27, 0, 29, 3, 28, 11, 1, 1, 14, 21, 13, 12],
      ];
      const cache = new TeacherCache(teacher);
      for (const indices of episodes) {
        const images = tf.gather(pool, tf.tensor1d(indices, 'int32')) as tf.Tensor4D;
        const refs = indices.map((i) => ({ classIndex: i % 3, imageIndex: Math.floor(i / 3) }));
        const fresh = embedInference(teacher, images);
        const cached = cache.embed(images, refs);
        expect(
          Buffer.from(cached.dataSync().buffer).equals(Buffer.from(fresh.dataSync().buffer)),
          `episode [${indices}]`,
        ).to.equal(true);
        tf.dispose([images, fresh, cached]);
      }
      expect(cache.size, 'images embedded').to.equal(new Set(episodes.flat()).size);
      tf.dispose([pool]);
      teacher.dispose();
    });
  }

  it('embeds every image when the episode names none (no refs)', async () => {
    await initBackend('cpu');
    const teacher = conv4({ inputShape: [28, 28, 1], width: 8, seed: 1 });
    const images = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
    const cache = new TeacherCache(teacher);
    expect(cache.embed(images, []).shape).to.deep.equal([4, 8]);
    expect(cache.size).to.equal(0);
  });
});
