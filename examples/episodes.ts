// Seeded N-way K-shot Q-query episodes, and a frozen suite of them as a CSV manifest that any run
// (or any other framework) can read back: the same tasks, image by image.
//   node dist/examples/episodes.js
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openDataset } from 'fewshot-rkd/data';
import { EpisodeSampler, manifestText, readManifest, sha256, writeManifest } from 'fewshot-rkd/episodes';

const dataset = openDataset('synthetic', 'test');
const sampler = new EpisodeSampler(dataset, { way: 5, shot: 1, query: 15 }, 'my-seed');
const first = sampler.episode(0); // episode i depends only on the seed and i
console.log(
  `episode 0: classes ${first.classes.map((c) => dataset.classIds[c]).join(', ')}; ` +
    `${first.support.length} support and ${first.query.length} query images`,
);

const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'episodes-')), 'my-suite.csv');
const text = await manifestText(dataset, sampler.episodes(0, 100));
writeManifest(file, text);
const frozen = await readManifest(file, dataset);
console.log(
  `${file}: ${frozen.episodes.length} episodes of ${frozen.shape.way}-way ${frozen.shape.shot}-shot, sha256 ${sha256(text).slice(0, 12)}...`,
);
