// Peak memory (process max RSS) of one RKD-A forward + backward, bounded vs direct formula.
// Each case runs in its own process: node scripts/rkd-memory.mjs N D bounded|direct [backend]
// All cases and a JSON summary: scripts/rkd-memory.sh
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/src/backend.js';
import { rkdAngle, rkdAngleByDefinition } from '../dist/src/losses/rkd.js';

const [n, d] = [Number(process.argv[2]), Number(process.argv[3])];
const method = process.argv[4];
const backend = await initBackend(process.argv[5] ?? 'wasm');
const student = tf.randomNormal([n, d], 0, 1, 'float32', 1);
const teacher = tf.randomNormal([n, d], 0, 1, 'float32', 2);
const loss = method === 'direct' ? rkdAngleByDefinition : rkdAngle;
const t0 = performance.now();
let result;
try {
  const { value, grads } = tf.valueAndGrads((s) => loss(s, teacher))([student]);
  await grads[0].data();
  result = { value: value.dataSync()[0] };
} catch (err) {
  result = { error: String(err.message ?? err).split('\n')[0] };
}
console.log(
  JSON.stringify({
    n,
    d,
    method,
    backend: backend.name,
    ...result,
    seconds: +((performance.now() - t0) / 1000).toFixed(2),
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
