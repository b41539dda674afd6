import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { openSynthetic } from '../src/data/synthetic.js';
import { EpisodeSampler } from '../src/episodes/sampler.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { embedImages, evaluateCheckpoint, evaluateEpisodes } from '../src/eval/evaluate.js';
import { readEpisodeAccuracies } from '../src/eval/results.js';
import { loadSuiteEpisodes } from '../src/episodes/suite.js';
import { saveCheckpoint } from '../src/models/checkpoint.js';
import { tempDir } from './helpers.js';
import { meanInterval } from '../src/eval/stats.js';
import { prototypicalLoss } from '../src/losses/protonet.js';
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
    const byEpisode = episodes.map((ep) => tf.tidy(() => {
      const e = embedImages(model, dataset, [...ep.support, ...ep.query]);
      const support = tf.slice(e, [0, 0], [ep.support.length, -1]);
      const query = tf.slice(e, [ep.support.length, 0], [-1, -1]);
      return prototypicalLoss(support, query, 5).accuracy.dataSync()[0];
    }));
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
    const suites = [{ way: 5, shot: 1 }, { way: 3, shot: 5 }].map(({ way, shot }, i) => {
      const file = path.join(dir, `s${i}.json`);
      fs.writeFileSync(file, JSON.stringify({ name: `s${i}`, dataset: 'synthetic', split: 'val', way, shot, query: 4, episodes: 6, seed: i }));
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

  it('reports the 95% interval as 1.96 sample standard deviations over sqrt(n)', () => {
    const r = meanInterval([0.5, 0.7, 0.9, 0.7]);
    expect(r.mean).to.be.closeTo(0.7, 1e-12);
    expect(r.std).to.be.closeTo(Math.sqrt(0.08 / 3), 1e-12);
    expect(r.ci95).to.be.closeTo((1.96 * Math.sqrt(0.08 / 3)) / 2, 1e-12);
    expect(() => meanInterval([])).to.throw(/no values/);
  });
});
