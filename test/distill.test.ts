import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { comparePaired } from '../src/eval/compare.js';
import { kdLoss } from '../src/losses/kd.js';
import { loadModel } from '../src/models/checkpoint.js';
import { distill, generationDir, rkdWeights } from '../src/train/distill.js';
import { runPaths } from '../src/train/run-folder.js';
import { DEFAULT_PROTONET, ProtoNetConfig, trainProtoNet } from '../src/train/protonet.js';
import { tempDir } from './helpers.js';

describe('KD loss', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('is T^2 KL(teacher || student) of the softened distributions, 0 when they agree', () => {
    const s = tf.tensor2d([
      [1, 2, 3],
      [0, 0, 1],
    ]);
    const t = tf.tensor2d([
      [3, 1, 0],
      [1, 0, 0],
    ]);
    const T = 2;
    const soft = (x: number[]) => {
      const e = x.map((v) => Math.exp(v / T));
      const z = e.reduce((a, b) => a + b);
      return e.map((v) => v / z);
    };
    const expected = [
      [
        [1, 2, 3],
        [3, 1, 0],
      ],
      [
        [0, 0, 1],
        [1, 0, 0],
      ],
    ].map(([si, ti]) => {
      const [ps, pt] = [soft(si), soft(ti)];
      return pt.reduce((sum, p, k) => sum + p * Math.log(p / ps[k]), 0);
    });
    const mean = (T * T * (expected[0] + expected[1])) / 2;
    expect(kdLoss(s, t, T).dataSync()[0]).to.be.closeTo(mean, 1e-5);
    expect(kdLoss(t, t, T).dataSync()[0]).to.be.closeTo(0, 1e-6);
    expect(() => kdLoss(s, t, 0)).to.throw(/temperature must be positive/);
  });
});

describe('paired comparison', () => {
  it('gives the per-episode difference with its interval and the episodes won, lost, tied', () => {
    const a = { episodeIndices: [0, 1, 2, 3], accuracies: [0.5, 0.6, 0.7, 0.8] };
    const b = { episodeIndices: [3, 2, 1, 0], accuracies: [0.9, 0.7, 0.5, 0.6] }; // another order
    const c = comparePaired(a, b);
    // Differences B - A by episode: 0.1, -0.1, 0, 0.1.
    expect(c.difference.mean).to.be.closeTo(0.025, 1e-12);
    const std = Math.sqrt((0.075 ** 2 * 2 + 0.125 ** 2 + 0.025 ** 2) / 3);
    expect(c.difference.ci95).to.be.closeTo((1.96 * std) / 2, 1e-12);
    expect([c.won, c.lost, c.tied]).to.deep.equal([2, 1, 1]);
    expect(c.b.mean).to.be.closeTo(0.675, 1e-12);
    expect(() => comparePaired(a, { episodeIndices: [0, 1, 2, 9], accuracies: [1, 1, 1, 1] })).to.throw(
      /same episodes/,
    );
  });
});

describe('distillation', function () {
  before(async () => {
    await initBackend('wasm');
  });

  const base: ProtoNetConfig = {
    ...DEFAULT_PROTONET,
    dataset: 'synthetic',
    split: 'train',
    way: 5,
    shot: 1,
    query: 3,
    width: 8,
    episodes: 4,
    logEvery: 2,
    validateEvery: 4,
    seed: 1,
  };

  it('trains students against a frozen teacher over generations, logging every term', async () => {
    const teacherRun = tempDir();
    await trainProtoNet(base, teacherRun);
    const teacherDir = runPaths(teacherRun).best;
    const before = (await loadModel(teacherDir)).getWeights().map((w) => Array.from(w.dataSync()));

    const dir = tempDir();
    const config = { ...base, teacher: teacherDir, generations: 2, ...rkdWeights('da'), lambdaKD: 1, temperature: 4 };
    const calls: string[] = [];
    const record = { onGeneration: (g: number) => calls.push(`g${g}`), onEpisode: (e: number) => calls.push(`${e}`) };
    const results = await distill(config, dir, record);
    expect(results).to.have.length(2);
    expect(calls.join(' ')).to.equal('g1 1 2 3 4 g2 1 2 3 4');
    // Resumed when finished: each generation is announced, no episode runs again.
    calls.length = 0;
    await distill(config, dir, { ...record, resume: true });
    expect(calls.join(' ')).to.equal('g1 g2');
    const line = results[1].log.at(-1)!;
    for (const term of ['loss', 'proto', 'rkdD', 'rkdA', 'kd', 'accuracy']) expect(line[term], term).to.be.a('number');
    // loss = proto + 12.5 RKD-D + 25 RKD-A + KD, per episode and so on average.
    const sum =
      (line.proto as number) + 12.5 * (line.rkdD as number) + 25 * (line.rkdA as number) + (line.kd as number);
    expect(line.loss as number).to.be.closeTo(sum, 1e-4 * sum);
    // The second generation learned from the first's best student; the teacher did not move.
    await loadModel(runPaths(generationDir(dir, 2)).best);
    const after = (await loadModel(teacherDir)).getWeights().map((w) => Array.from(w.dataSync()));
    expect(after).to.deep.equal(before);
  });
});
