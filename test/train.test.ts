import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { ProtoNetConfig, DEFAULT_PROTONET, trainProtoNet } from '../src/train/protonet.js';
import { DivergedError } from '../src/train/step.js';
import { runPaths } from '../src/train/run-folder.js';
import { loadCheckpoint, loadModel } from '../src/models/checkpoint.js';
import { initBackend } from '../src/backend.js';
import { tempDir } from './helpers.js';

const small: ProtoNetConfig = {
  ...DEFAULT_PROTONET,
  dataset: 'synthetic',
  split: 'train',
  way: 5,
  shot: 1,
  query: 5,
  width: 8,
  episodes: 8,
  logEvery: 2,
  validateEvery: 4,
  seed: 3,
};

async function weightsOf(dir: string): Promise<Float32Array[]> {
  const model = await loadModel(dir);
  const data = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  return data;
}

/** A run's log without the fields that measure the machine rather than the run. */
const strip = (dir: string) =>
  fs
    .readFileSync(path.join(dir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { episodesPerSecond: _speed, tensors: _tensors, rssMB: _rss, ...rest } = JSON.parse(l);
      return rest;
    });

describe('episodic training', function () {
  before(async () => {
    // The pure-JS cpu backend takes seconds per step; wasm with its fill-in kernels, milliseconds.
    await initBackend('wasm');
  });

  it('raises accuracy on synthetic episodes well above chance within a few dozen episodes', async () => {
    const dir = tempDir();
    const result = await trainProtoNet({ ...small, width: 16, episodes: 40, logEvery: 10, validateEvery: 40 }, dir);
    const first = result.log[0].accuracy as number;
    const last = result.log[result.log.length - 1].accuracy as number;
    expect(first).to.be.a('number');
    // 5-way chance is 0.2.
    expect(last).to.be.above(0.5);
    expect(last).to.be.above(first);
  });

  it('keeps the tensor count flat across episodes', async () => {
    const counts: number[] = [];
    await trainProtoNet({ ...small, episodes: 6 }, tempDir(), {
      onEpisode: (e) => e >= 2 && counts.push(tf.memory().numTensors),
    });
    expect(new Set(counts).size, `tensor counts ${counts}`).to.equal(1);
  });

  it('resumed after kills at late points, ends bit-identical to an uninterrupted run (weights, best, log)', async () => {
    // 40 steps: Adam's bias corrections past t = 18 are where a pow()-restored optimizer drifted.
    const long: ProtoNetConfig = {
      ...small,
      episodes: 40,
      valSuite: 'synthetic-val-5w1s',
      selectBy: 'loss',
      validateEvery: 8,
      logEvery: 4,
    };
    const whole = tempDir();
    await trainProtoNet(long, whole);
    const reference = [await weightsOf(runPaths(whole).checkpoint), await weightsOf(runPaths(whole).best)];
    for (const killAt of [19, 30, 39]) {
      const dir = tempDir();
      await trainProtoNet(long, dir, {
        onEpisode: (e) => {
          if (e === killAt) throw new Error('killed');
        },
      }).catch((err: Error) => {
        if (err.message !== 'killed') throw err;
      });
      const state = (await loadCheckpoint(runPaths(dir).checkpoint)).state as { episode: number };
      expect(state.episode).to.equal(killAt - (killAt % 8));
      await trainProtoNet(long, dir, { resume: true });
      const got = [await weightsOf(runPaths(dir).checkpoint), await weightsOf(runPaths(dir).best)];
      got.forEach((weights, k) =>
        weights.forEach((w, i) =>
          expect(Array.from(w), `${k ? 'best' : 'last'} weight ${i}, killed at ${killAt}`).to.deep.equal(
            Array.from(reference[k][i]),
          ),
        ),
      );
      expect(strip(dir)).to.deep.equal(strip(whole));
    }
  });

  it('stops on a non-finite loss with an error naming the episode and term; checkpoint and best untouched', async () => {
    const dir = tempDir();
    const config: ProtoNetConfig = { ...small, valSuite: 'synthetic-val-5w1s' };
    await trainProtoNet(config, dir, {
      onEpisode: (e) => {
        if (e === 6) throw new Error('killed');
      },
    }).catch(() => undefined);
    const files = (sub: string) =>
      ['model.json', 'weights.bin', 'state.json', 'optimizer.bin']
        .filter((f) => fs.existsSync(path.join(dir, sub, f)))
        .map((f) => fs.readFileSync(path.join(dir, sub, f)));
    const before = [files('checkpoint'), files('best')];
    expect(before[0]).to.have.length(4);
    let error: Error | undefined;
    await trainProtoNet({ ...config, lr: 1e38 }, dir, { resume: true }).catch((err: Error) => {
      error = err;
    });
    expect(error, 'training should have stopped').to.be.instanceOf(DivergedError);
    expect(error!.message).to.match(
      /^training diverged at episode (5|6|7|8): (loss|accuracy|weight .*) is (NaN|-?Infinity)/,
    );
    expect([files('checkpoint'), files('best')]).to.deep.equal(before);
  });

  it('resumed after a kill, before or after its first checkpoint, ends as an uninterrupted run', async () => {
    const whole = tempDir();
    await trainProtoNet(small, whole);

    const killed = tempDir();
    const kill = (e: number) => {
      if (e === 6) throw new Error('killed');
    };
    await trainProtoNet(small, killed, { onEpisode: kill }).then(
      () => expect.fail('should have been killed'),
      (err: Error) => expect(err.message).to.equal('killed'),
    );
    const state = (await loadCheckpoint(runPaths(killed).checkpoint)).state as { episode: number };
    expect(state.episode).to.equal(4);
    await trainProtoNet(small, killed, { resume: true });

    const [a, b] = [await weightsOf(runPaths(whole).checkpoint), await weightsOf(runPaths(killed).checkpoint)];
    expect(a.length).to.equal(b.length);
    a.forEach((w, i) => expect(Array.from(b[i]), `weight ${i}`).to.deep.equal(Array.from(w)));
    expect(strip(killed)).to.deep.equal(strip(whole));

    // Killed before its first checkpoint: --resume starts it over, to the same end.
    const early = tempDir();
    await trainProtoNet(small, early, {
      onEpisode: (e: number) => {
        if (e === 2) throw new Error('killed');
      },
    }).catch(() => undefined);
    expect(fs.existsSync(runPaths(early).checkpoint)).to.equal(false);
    await trainProtoNet(small, early, { resume: true });
    const c = await weightsOf(runPaths(early).checkpoint);
    a.forEach((w, i) => expect(Array.from(c[i]), `weight ${i} (started over)`).to.deep.equal(Array.from(w)));
    expect(strip(early)).to.deep.equal(strip(whole));
  });
});
