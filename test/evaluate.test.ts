import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { openSynthetic } from '../src/data/synthetic.js';
import { EpisodeSampler } from '../src/episodes/sampler.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  EmbeddingTable,
  embedImages,
  evaluateCheckpoint,
  evaluateEpisodes,
  scoreEpisodes,
} from '../src/eval/evaluate.js';
import type { Episode } from '../src/episodes/sampler.js';
import { hasNativeProtoLogits } from '../src/kernels/native.js';
import { nativeCalls } from '../src/kernels/native-addon.js';
import { readEpisodeAccuracies } from '../src/eval/results.js';
import { loadSuiteEpisodes } from '../src/episodes/suite.js';
import { saveCheckpoint } from '../src/models/checkpoint.js';
import { requireNative, tempDir } from './helpers.js';
import { meanInterval } from '../src/eval/stats.js';
import { batchLogits, negativeSquaredDistances, prototypes, prototypicalLoss } from '../src/losses/protonet.js';
import { conv4 } from '../src/models/conv4.js';

describe('evaluation', function () {
  before(async () => {
    await initBackend('wasm');
  });

  it('embedding each distinct image once scores every episode as embedding episode by episode does', async () => {
    const dataset = openSynthetic('val');
    const model = conv4({ inputShape: dataset.imageShape, width: 8, seed: 4 });
    const episodes = [...new EpisodeSampler(dataset, { way: 5, shot: 2, query: 4 }, 3).episodes(0, 12)];
    const once = await evaluateEpisodes(model, dataset, episodes, { batchSize: 17 });
    const byEpisode = episodes.map((ep) =>
      tf.tidy(() => {
        const e = embedImages(model, dataset, [...ep.support, ...ep.query]);
        const support = tf.slice(e, [0, 0], [ep.support.length, -1]);
        const query = tf.slice(e, [ep.support.length, 0], [-1, -1]);
        return prototypicalLoss(support, query, 5).accuracy.dataSync()[0];
      }),
    );
    expect(once.accuracies).to.deep.equal(byEpisode);
    // Not all equal: the comparison above could have failed.
    expect(new Set(byEpisode).size).to.be.above(1);
    expect(once.distinctImages).to.be.below(12 * 30);
    expect(once.mean).to.be.closeTo(byEpisode.reduce((a, b) => a + b) / 12, 1e-12);
    model.dispose();
  });

  it('a checkpoint over suites of one split embeds their union once and scores each suite as alone', async () => {
    const dataset = openSynthetic('val');
    const model = conv4({ inputShape: dataset.imageShape, width: 8, seed: 5 });
    const dir = tempDir();
    await saveCheckpoint(path.join(dir, 'model'), model);
    const suites = [
      { way: 5, shot: 1 },
      { way: 3, shot: 5 },
    ].map(({ way, shot }, i) => {
      const file = path.join(dir, `s${i}.json`);
      fs.writeFileSync(
        file,
        JSON.stringify({
          name: `s${i}`,
          dataset: 'synthetic',
          split: 'val',
          way,
          shot,
          query: 4,
          episodes: 6,
          seed: i,
        }),
      );
      return file;
    });
    const scores = await evaluateCheckpoint(path.join(dir, 'model'), suites, { backend: 'wasm', out: dir });
    expect(scores.map((s) => s.suite)).to.deep.equal(['s0', 's1']);
    for (const [i, file] of suites.entries()) {
      const alone = await evaluateEpisodes(model, dataset, (await loadSuiteEpisodes(file, dataset)).episodes);
      expect(scores[i].accuracy).to.equal(alone.mean);
      expect((await readEpisodeAccuracies(scores[i].episodesCsv!)).accuracies).to.deep.equal(alone.accuracies);
    }
    model.dispose();
  });

  // Episodes of several shapes (scored in batches of one shape each) over a random embedding table.
  function scoringCase(backend: string) {
    const dataset = openSynthetic('val'); // 64 classes of 20
    const episodes: Episode[] = [];
    for (const [shape, seed] of [
      [{ way: 5, shot: 1, query: 15 }, 1],
      [{ way: 20, shot: 5, query: 15 }, 2],
      [{ way: 3, shot: 4, query: 3 }, 3],
    ] as const) {
      episodes.push(...new EpisodeSampler(dataset, shape, `${backend}/${seed}`).episodes(0, 7));
    }
    const rowOf = (r: { classIndex: number; imageIndex: number }) => r.classIndex * 20 + r.imageIndex;
    // Rounded to a coarse grid, so that some queries are equally near two prototypes: ties decided alike too.
    const embeddings = tf.tidy(() =>
      tf.div(tf.round(tf.mul(tf.randomNormal([64 * 20, 24], 0, 1, 'float32', 9), 4)), 4),
    ) as tf.Tensor2D;
    return { episodes, table: { embeddings, rowOf } as EmbeddingTable };
  }

  /** Each episode alone, as prototypicalLoss scores one episode: logits, accuracy, loss. */
  function episodeByEpisode(table: EmbeddingTable, episodes: readonly Episode[]) {
    return episodes.map((ep) =>
      tf.tidy(() => {
        const rows = (list: Episode['support']) => tf.tensor1d(list.map(table.rowOf), 'int32');
        const support = tf.gather(table.embeddings, rows(ep.support)) as tf.Tensor2D;
        const query = tf.gather(table.embeddings, rows(ep.query)) as tf.Tensor2D;
        const out = prototypicalLoss(support, query, ep.classes.length);
        const logits = negativeSquaredDistances(query, prototypes(support, ep.classes.length)).dataSync();
        return { logits, accuracy: out.accuracy.dataSync()[0], loss: out.loss.dataSync()[0] };
      }),
    );
  }

  for (const [backend, native] of [
    ['cpu', false],
    ['wasm', false],
    ['wasm', true],
  ] as const) {
    const setting = native ? 'wasm with the native kernel' : backend;
    it(`scores episodes in batches to the same floats as one by one (${setting})`, async function () {
      await initBackend(backend);
      if (native) requireNative(this, hasNativeProtoLogits());
      await initBackend(backend, { nativeKernels: native });
      const { episodes, table } = scoringCase(backend);
      const alone = episodeByEpisode(table, episodes);
      const before = nativeCalls().protoLogits ?? 0;
      const batched = await scoreEpisodes(table, episodes);
      expect((nativeCalls().protoLogits ?? 0) > before, 'the native kernel ran').to.equal(native);
      expect(batched.accuracies).to.deep.equal(alone.map((a) => a.accuracy));
      expect(new Set(batched.accuracies).size, 'accuracies that differ').to.be.above(3);
      // The mean loss adds the same float losses in the same order.
      expect(batched.loss).to.equal(alone.reduce((sum, a) => sum + a.loss, 0) / episodes.length);
      expect(batched.episodeIndices).to.deep.equal(episodes.map((e) => e.index));
      // Logits float for float, batch by batch of one shape.
      for (let start = 0; start < episodes.length; start += 7) {
        const group = episodes.slice(start, start + 7);
        const rows = (pick: (e: Episode) => Episode['support']) =>
          Int32Array.from(group.flatMap((e) => pick(e).map(table.rowOf)));
        const { way, shot, query } = {
          way: group[0].classes.length,
          shot: group[0].support.length / group[0].classes.length,
          query: group[0].query.length / group[0].classes.length,
        };
        const logits = tf.tidy(() =>
          batchLogits(
            table.embeddings,
            rows((e) => e.support),
            rows((e) => e.query),
            { way, shot, query },
          ).dataSync(),
        );
        const expected = new Float32Array(alone.slice(start, start + 7).flatMap((a) => [...a.logits]));
        expect(logits, `logits of episodes ${start}..${start + 6}`).to.deep.equal(expected);
      }
      table.embeddings.dispose();
    });
  }

  it('reports the 95% interval as 1.96 sample standard deviations over sqrt(n)', () => {
    const r = meanInterval([0.5, 0.7, 0.9, 0.7]);
    expect(r.mean).to.be.closeTo(0.7, 1e-12);
    expect(r.std).to.be.closeTo(Math.sqrt(0.08 / 3), 1e-12);
    expect(r.ci95).to.be.closeTo((1.96 * Math.sqrt(0.08 / 3)) / 2, 1e-12);
    expect(() => meanInterval([])).to.throw(/no values/);
  });
});
