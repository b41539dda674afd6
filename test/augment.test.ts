import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import seedrandom from 'seedrandom';
import { initBackend } from '../src/backend.js';
import { CROP_PADDING, augmentEpisode, checkAugmentation } from '../src/data/augment.js';
import type { ImageShape } from '../src/data/dataset.js';
import { loadModel } from '../src/models/checkpoint.js';
import * as tf from '@tensorflow/tfjs';
import { conv4 } from '../src/models/conv4.js';
import { distill, distillationObjective } from '../src/train/distill.js';
import { DEFAULT_PROTONET, ProtoNetConfig, trainProtoNet } from '../src/train/protonet.js';
import { runPaths } from '../src/train/run-folder.js';
import { savedWeights as weights, tempDir } from './helpers.js';
import { runCli } from './run-cli.js';
import { TINY } from './tiny-runs.js';

const SHAPE: ImageShape = [6, 5, 3];
const SIZE = 6 * 5 * 3;

function randomImages(count: number): Float32Array {
  const rng = seedrandom('pixels');
  return Float32Array.from({ length: count * SIZE }, () => 0.01 + rng());
}

/** The image `source` shifted by (dy, dx) into a zero border, mirrored after the crop when `flip`. */
function transformed(source: Float32Array, dy: number, dx: number, flip: boolean): Float32Array {
  const [h, w, c] = SHAPE;
  const out = new Float32Array(SIZE);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        const [sy, sx] = [y + dy, (flip ? w - 1 - x : x) + dx];
        out[(y * w + x) * c + ch] = sy < 0 || sy >= h || sx < 0 || sx >= w ? 0 : source[(sy * w + sx) * c + ch];
      }
  return out;
}

describe('augmentation', () => {
  it('crop-flip: each image is its own shift by up to 4 pixels into zeros, mirrored or not; seeded per episode', () => {
    const count = 40;
    const original = randomImages(count);
    const a = Float32Array.from(original);
    augmentEpisode('crop-flip', a, SHAPE, count, 7, 3);
    const seen = new Set<string>();
    for (let i = 0; i < count; i++) {
      const source = original.subarray(i * SIZE, (i + 1) * SIZE);
      const image = Array.from(a.subarray(i * SIZE, (i + 1) * SIZE));
      const matches: string[] = [];
      for (let dy = -CROP_PADDING; dy <= CROP_PADDING; dy++)
        for (let dx = -CROP_PADDING; dx <= CROP_PADDING; dx++)
          for (const flip of [false, true])
            if (Array.from(transformed(source, dy, dx, flip)).every((v, k) => v === image[k]))
              matches.push(`${dy},${dx},${flip}`);
      expect(matches, `image ${i}`).to.have.length.above(0);
      seen.add(matches[0]);
    }
    // The draws vary: 40 images do not all get one transform.
    expect(seen.size).to.be.above(10);
    const again = Float32Array.from(original);
    augmentEpisode('crop-flip', again, SHAPE, count, 7, 3);
    expect(again).to.deep.equal(a);
    const otherEpisode = Float32Array.from(original);
    augmentEpisode('crop-flip', otherEpisode, SHAPE, count, 7, 4);
    expect(otherEpisode).to.not.deep.equal(a);
    const none = Float32Array.from(original);
    augmentEpisode('none', none, SHAPE, count, 7, 3);
    expect(none).to.deep.equal(original);
    expect(() => checkAugmentation('jitter')).to.throw(
      "--augment: unknown augmentation 'jitter' (one of none, crop-flip)",
    );
  });

  describe('in training', function () {
    this.timeout(120_000);
    const config: ProtoNetConfig = {
      ...DEFAULT_PROTONET,
      ...TINY,
      episodes: 8,
      validateEvery: 4,
      seed: 5,
      augment: 'crop-flip',
    };
    const losses = (dir: string) =>
      fs
        .readFileSync(runPaths(dir).log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).loss);

    before(async () => {
      await initBackend('wasm');
    });

    it('augments the training episodes reproducibly, and a resumed run augments as an uninterrupted one', async () => {
      const [plain, a, b] = [tempDir(), tempDir(), tempDir()];
      await trainProtoNet({ ...config, augment: 'none' }, plain);
      await trainProtoNet(config, a);
      expect(losses(a)).to.not.deep.equal(losses(plain));
      await trainProtoNet(config, b, {
        onEpisode: (e) => {
          if (e === 6) throw new Error('killed');
        },
      }).catch((err: Error) => expect(err.message).to.equal('killed'));
      await trainProtoNet(config, b, { resume: true });
      expect(losses(b)).to.deep.equal(losses(a));
      expect(await weights(runPaths(b).checkpoint)).to.deep.equal(await weights(runPaths(a).checkpoint));
    });

    it('`fewshot train --augment crop-flip` trains as the library does with it', async () => {
      const [cli, lib] = [tempDir(), tempDir()];
      const args = ['--dataset', 'synthetic', '--split', 'val', '--way', '3', '--shot', '1', '--query', '2'];
      const more = ['--width', '4', '--episodes', '4', '--validate-every', '4', '--log-every', '1', '--seed', '5'];
      const r = runCli(['train', ...args, ...more, '--augment', 'crop-flip', '--out', cli]);
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(fs.readFileSync(path.join(cli, 'config.json'), 'utf8')).augment).to.equal('crop-flip');
      await trainProtoNet({ ...config, episodes: 4, validateEvery: 4 }, lib);
      expect(losses(cli)).to.deep.equal(losses(lib));
    });

    it('distils on augmented episodes, the teacher embedding each augmented image', async () => {
      const teacher = tempDir();
      await trainProtoNet({ ...config, episodes: 4 }, teacher);
      const run = () => {
        const dir = tempDir();
        return distill(
          {
            ...config,
            teacher: runPaths(teacher).best,
            generations: 1,
            lambdaD: 12.5,
            lambdaA: 25,
            lambdaKD: 0,
            temperature: 4,
          },
          dir,
        ).then(() => path.join(dir, 'gen1'));
      };
      const [x, y] = [await run(), await run()];
      expect(losses(x)).to.deep.equal(losses(y));
      const rkd = fs
        .readFileSync(runPaths(x).log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).rkdA);
      expect(rkd.every((v) => Number.isFinite(v) && v > 0)).to.equal(true);

      // Without the cache, the same image refs with other pixels (another augmentation) get the
      // teacher's embeddings of those pixels, not of the first ones.
      const [student, t] = [
        conv4({ inputShape: [28, 28, 1], width: 4, seed: 1 }),
        await loadModel(runPaths(teacher).best),
      ];
      const episode = {
        index: 0,
        classes: [0, 1],
        support: [0, 1].map((c) => ({ classIndex: c, imageIndex: 0 })),
        query: [0, 1].map((c) => ({ classIndex: c, imageIndex: 1 })),
      };
      const shape = { way: 2, shot: 1, query: 1 };
      const [first, second] = [
        tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 1),
        tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 2),
      ] as tf.Tensor4D[];
      const weightsDA = { lambdaD: 12.5, lambdaA: 25, lambdaKD: 0, temperature: 4 };
      const rkdD = (objective: ReturnType<typeof distillationObjective>, images: tf.Tensor4D) =>
        tf.tidy(() => objective(images, episode, shape).terms.rkdD.dataSync()[0]);
      const uncached = distillationObjective(student, t, weightsDA, false);
      rkdD(uncached, first);
      const fresh = rkdD(distillationObjective(student, t, weightsDA, false), second);
      expect(rkdD(uncached, second)).to.equal(fresh);
      const cached = distillationObjective(student, t, weightsDA, true);
      rkdD(cached, first);
      expect(rkdD(cached, second)).to.not.equal(fresh);
      tf.dispose([first, second]);
      student.dispose();
      t.dispose();
    });
  });
});
