import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { ProtoNetConfig, DEFAULT_PROTONET, trainProtoNet } from '../src/train/protonet.js';
import { runPaths } from '../src/train/episodic.js';
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
    await trainProtoNet({ ...small, episodes: 6 }, tempDir(), { onEpisode: (e) => e >= 2 && counts.push(tf.memory().numTensors) });
    expect(new Set(counts).size, `tensor counts ${counts}`).to.equal(1);
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
    const strip = (dir: string) => fs.readFileSync(path.join(dir, 'log.jsonl'), 'utf8').trim().split('\n')
      .map((l) => { const { episodesPerSecond, tensors, rssMB, ...rest } = JSON.parse(l); return rest; });
    expect(strip(killed)).to.deep.equal(strip(whole));

    // Killed before its first checkpoint: --resume starts it over, to the same end.
    const early = tempDir();
    await trainProtoNet(small, early, { onEpisode: (e: number) => { if (e === 2) throw new Error('killed'); } }).catch(() => undefined);
    expect(fs.existsSync(runPaths(early).checkpoint)).to.equal(false);
    await trainProtoNet(small, early, { resume: true });
    const c = await weightsOf(runPaths(early).checkpoint);
    a.forEach((w, i) => expect(Array.from(c[i]), `weight ${i} (started over)`).to.deep.equal(Array.from(w)));
    expect(strip(early)).to.deep.equal(strip(whole));
  });
});
