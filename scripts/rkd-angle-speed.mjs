// Time of one RKD-A value + gradient (N points, D dims) on the default backend, with the native
// kernel and with the bounded tfjs path.
//   node scripts/rkd-angle-speed.mjs [N] [D]     -> one JSON line
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/src/backend.js';
import { rkdAngle } from '../dist/src/losses/rkd.js';

const [n, d] = [Number(process.argv[2] ?? 600), Number(process.argv[3] ?? 64)];
const backend = await initBackend('auto');
const student = tf.randomNormal([n, d], 0, 1, 'float32', 1);
const teacher = tf.randomNormal([n, d], 0, 1, 'float32', 2);
const ms = {};
for (const native of [true, false]) {
  const path = native ? 'native' : 'bounded';
  const step = async () => {
    const { value, grads } = tf.valueAndGrads((s) => rkdAngle(s, teacher, { path }))([student]);
    await grads[0].data();
    tf.dispose([value, ...grads]);
  };
  await step(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) await step();
  ms[native ? 'native' : 'tfjs'] = Math.round((performance.now() - t0) / 3);
}
console.log(
  JSON.stringify({ n, d, backend: backend.name, threads: backend.threads, msNative: ms.native, msTfjs: ms.tfjs }),
);
