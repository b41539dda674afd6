import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { openSynthetic } from '../src/data/synthetic.js';
import seedrandom from 'seedrandom';
import { writeToString } from 'fast-csv';
import type { FewShotDataset, ImageRef } from '../src/data/dataset.js';
import { EpisodeSampler, drawWithoutReplacement } from '../src/episodes/sampler.js';
import {
  MANIFEST_HEADERS,
  manifestText,
  plainField,
  readManifest,
  sha256,
  writeManifest,
} from '../src/episodes/manifest.js';
import { loadSuiteEpisodes, readSuite, sampleSuite } from '../src/episodes/suite.js';
import { ROOT, tempDir } from './helpers.js';

describe('episode sampler', () => {
  const dataset = openSynthetic('val'); // 64 classes of 20

  it('draws way distinct classes and shot + query distinct images per class, support and query disjoint', () => {
    const sampler = new EpisodeSampler(dataset, { way: 20, shot: 5, query: 15 }, 7);
    for (let i = 0; i < 20; i++) {
      const ep = sampler.episode(i);
      expect(new Set(ep.classes).size).to.equal(20);
      expect(ep.support).to.have.length(100);
      expect(ep.query).to.have.length(300);
      const keys = [...ep.support, ...ep.query].map((r) => `${r.classIndex}/${r.imageIndex}`);
      expect(new Set(keys).size).to.equal(400);
      // Class-major: row r of the support belongs to the episode's class floor(r / shot).
      ep.support.forEach((r, row) => expect(r.classIndex).to.equal(ep.classes[Math.floor(row / 5)]));
      ep.query.forEach((r, row) => expect(r.classIndex).to.equal(ep.classes[Math.floor(row / 15)]));
    }
  });

  it('is reproducible, and episode i does not depend on what was drawn before it', () => {
    const a = new EpisodeSampler(dataset, { way: 5, shot: 1, query: 3 }, 'seed');
    const b = new EpisodeSampler(dataset, { way: 5, shot: 1, query: 3 }, 'seed');
    const first = [...a.episodes(0, 10)];
    expect(b.episode(7)).to.deep.equal(first[7]);
    expect([...b.episodes(0, 10)]).to.deep.equal(first);
    const other = new EpisodeSampler(dataset, { way: 5, shot: 1, query: 3 }, 'other seed');
    expect(other.episode(0)).to.not.deep.equal(first[0]);
  });

  it('covers the classes roughly uniformly', () => {
    const sampler = new EpisodeSampler(dataset, { way: 8, shot: 1, query: 1 }, 1);
    const counts = new Array(64).fill(0);
    for (const ep of sampler.episodes(0, 800)) ep.classes.forEach((c) => counts[c]++);
    // 800 * 8 / 64 = 100 draws per class expected.
    expect(Math.min(...counts)).to.be.above(60);
    expect(Math.max(...counts)).to.be.below(140);
  });

  it('draws as the first k steps of a full Fisher-Yates shuffle', () => {
    const fullShuffle = (n: number, k: number, rng: () => number) => {
      const pool = Array.from({ length: n }, (_, i) => i);
      for (let i = 0; i < k; i++) {
        const j = i + Math.floor(rng() * (n - i));
        [pool[i], pool[j]] = [pool[j], pool[i]];
      }
      return pool.slice(0, k);
    };
    for (const [n, k] of [
      [1, 1],
      [2, 2],
      [20, 20],
      [64, 5],
      [1692, 20],
      [1692, 1692],
    ]) {
      for (const seed of ['a', 'b', 'c']) {
        expect(drawWithoutReplacement(n, k, seedrandom(seed)), `${n} ${k} ${seed}`).to.deep.equal(
          fullShuffle(n, k, seedrandom(seed)),
        );
      }
    }
  });

  it('refuses a way beyond the classes and shot + query beyond a class', () => {
    expect(() => new EpisodeSampler(dataset, { way: 65, shot: 1, query: 1 }, 0)).to.throw(
      /way 65 exceeds the 64 classes of synthetic\/val/,
    );
    expect(() => new EpisodeSampler(dataset, { way: 5, shot: 10, query: 11 }, 0)).to.throw(
      /shot 10 \+ query 11 exceeds the 20 images of class val\/c0000/,
    );
    expect(() => new EpisodeSampler(dataset, { way: 0, shot: 1, query: 1 }, 0)).to.throw(
      /way must be a positive integer/,
    );
  });
});

describe('frozen episodes', () => {
  const dataset = openSynthetic('val');
  const sampler = new EpisodeSampler(dataset, { way: 3, shot: 2, query: 2 }, 5);

  it('a manifest round-trips through CSV to the same episodes', async () => {
    const file = path.join(tempDir(), 'm.csv');
    const episodes = [...sampler.episodes(0, 4)];
    writeManifest(file, await manifestText(dataset, episodes));
    const frozen = await readManifest(file, dataset);
    expect(frozen.shape).to.deep.equal({ way: 3, shot: 2, query: 2 });
    expect(frozen.episodes).to.deep.equal(episodes);
    expect(fs.readFileSync(file, 'utf8').split('\n')[1]).to.match(/^0,support,val\/c\d{4},val\/c\d{4}\/\d\d$/);
  });

  const malformed: [string, (lines: string[]) => void, RegExp][] = [
    ['a wrong header', (l) => (l[0] = 'episode,role,label,image'), /:1: header 'episode,role,label,image'/],
    [
      'an unknown image',
      (l) => (l[3] = l[3].replace(/\/\d\d$/, '/99')),
      /:4: image 'val\/c\d{4}\/99' is not in synthetic\/val/,
    ],
    ['a bad role', (l) => (l[5] = l[5].replace('support', 'train')), /:6: role 'train'/],
    ['a missing column', (l) => (l[9] = l[9].split(',').slice(0, 3).join(',')), /:10: expected 4 columns/],
    [
      'an image under the wrong class',
      (l) => (l[2] = l[2].replace(/,val\/c(\d{4}),/, ',val/c0063,')),
      /:3: image .* does not belong to class 'val\/c0063'/,
    ],
    ['a repeated image', (l) => (l[2] = l[1]), /:3: image .* appears twice in episode 0/],
  ];
  for (const [what, corrupt, message] of malformed) {
    it(`refuses a manifest with ${what}, naming the line`, async () => {
      const file = path.join(tempDir(), 'bad.csv');
      const lines = (await manifestText(dataset, sampler.episodes(0, 2))).split('\n');
      corrupt(lines);
      fs.writeFileSync(file, lines.join('\n'));
      await readManifest(file, dataset).then(
        () => expect.fail('accepted'),
        (err: Error) => {
          expect(err.message.startsWith(file)).to.equal(true);
          expect(err.message).to.match(message);
        },
      );
    });
  }

  it('refuses an episode whose rows are in two places, naming the line', async () => {
    const file = path.join(tempDir(), 'split.csv');
    fs.writeFileSync(file, await manifestText(dataset, [sampler.episode(0), sampler.episode(1), sampler.episode(0)]));
    // 3-way 2-shot 2-query: 12 rows an episode, after the header.
    await readManifest(file, dataset).then(
      () => expect.fail('accepted'),
      (err: Error) => expect(err.message).to.equal(`${file}:26: episode 0 appears in two places`),
    );
  });

  it('refuses episodes of different shapes within one manifest', async () => {
    const file = path.join(tempDir(), 'mixed.csv');
    const other = new EpisodeSampler(dataset, { way: 4, shot: 2, query: 2 }, 5);
    const text = await manifestText(dataset, [sampler.episode(0), other.episode(1)]);
    fs.writeFileSync(file, text);
    await readManifest(file, dataset).then(
      () => expect.fail('accepted'),
      (err: Error) => expect(err.message).to.match(/episode 1 is 4-way 2-shot 2-query, the first is 3-way/),
    );
  });

  it("writes a manifest's text as fast-csv does, also for ids that need quoting", async () => {
    const asFastCsv = (ds: FewShotDataset, episodes: typeof sampled) =>
      writeToString(
        episodes.flatMap((ep) =>
          (
            [
              ['support', ep.support],
              ['query', ep.query],
            ] as const
          ).flatMap(([role, refs]) =>
            refs.map((r) => [String(ep.index), role, ds.classIds[r.classIndex], ds.imageId(r)]),
          ),
        ),
        { headers: [...MANIFEST_HEADERS], includeEndRowDelimiter: true },
      );
    const sampled = [...sampler.episodes(0, 5)];
    expect(await manifestText(dataset, sampled)).to.equal(await asFastCsv(dataset, sampled));
    // Class ids that fast-csv quotes or changes: the whole text goes through it.
    for (const odd of ['a,b', 'say "hi"', 'a|b', 'two\nlines', 'cr\r', 'nul\0']) {
      expect(plainField(odd), odd).to.equal(false);
      const classIds = dataset.classIds.map((id, i) => (i % 2 ? `${odd}${id}` : id));
      const renamed: FewShotDataset = Object.assign(Object.create(dataset) as FewShotDataset, {
        classIds,
        imageId: (r: ImageRef) => `${classIds[r.classIndex]}/${r.imageIndex}`,
      });
      expect(await manifestText(renamed, sampled), odd).to.equal(await asFastCsv(renamed, sampled));
    }
    expect(plainField('Alphabet_of_the_Magi/character01/rot090/0709_01')).to.equal(true);
  });

  it('the shipped suites reproduce their recorded sha256', async () => {
    for (const name of ['synthetic-val-5w1s', 'synthetic-test-5w1s', 'synthetic-test-5w5s']) {
      const file = path.join(ROOT, 'episodes', `${name}.json`);
      const suite = readSuite(file);
      const dataset = openSynthetic(suite.split);
      const { sha256: digest } = await sampleSuite(suite, dataset);
      expect(digest, name).to.equal(suite.sha256);
      expect(sha256(fs.readFileSync(file.replace('.json', '.csv'))), `${name}.csv`).to.equal(suite.sha256);
    }
  });

  it('a suite whose frozen manifest was edited is refused', async () => {
    const dir = tempDir();
    const src = path.join(ROOT, 'episodes', 'synthetic-val-5w1s');
    fs.copyFileSync(`${src}.json`, path.join(dir, 's.json'));
    fs.writeFileSync(path.join(dir, 's.csv'), fs.readFileSync(`${src}.csv`, 'utf8').replace('query', 'support'));
    await loadSuiteEpisodes(path.join(dir, 's.json'), openSynthetic('val')).then(
      () => expect.fail('accepted'),
      (err: Error) => expect(err.message).to.match(/s\.csv: sha256 .* differs from/),
    );
  });
});
