#!/usr/bin/env node
// The paper-protocol tables (docs/paper-protocol.md) from scripts/omniglot-paper.sh's result files:
// each model's accuracy on its shot's frozen test suites beside Snell et al. 2017, its training
// episodes and time, and the paired comparisons (student - baseline, student - teacher).
//   node scripts/paper-table.mjs [scripts/results/omniglot-paper]  -> Markdown on stdout
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonl, trainingTime } from './jsonl.mjs';

const root = process.argv[2] ?? 'scripts/results/omniglot-paper';
const SNELL = {
  'omniglot-test-5w1s': 98.8,
  'omniglot-test-20w1s': 96.0,
  'omniglot-test-5w5s': 99.7,
  'omniglot-test-20w5s': 98.9,
};
const MODELS = ['teacher', 'baseline', 'rkd-d', 'rkd-da'];
const pct = (x, ci) => `${(100 * x).toFixed(2)} +- ${(100 * ci).toFixed(2)}`;

const training = (file) => (fs.existsSync(file) ? trainingTime(file) : undefined);

const accuracy = [
  '| model | episodes (select / final) | training s | backend | suite: accuracy % (Snell et al. 2017) |',
  '|---|---|---|---|---|',
];
const paired = [
  '| shot | suite | model | reference | difference, points | won/lost/tied |',
  '|---|---|---|---|---|---|',
];
for (const shot of ['1shot', '5shot']) {
  for (const model of MODELS) {
    const summary = path.join(root, shot, model, 'summary.json');
    if (!fs.existsSync(summary)) continue;
    const { scores } = JSON.parse(fs.readFileSync(summary, 'utf8'));
    const select = training(path.join(root, shot, model, 'select-log.jsonl'));
    const final = training(path.join(root, shot, model, 'train-log.jsonl'));
    const episodes = [select?.episodes, final?.episodes].filter((e) => e !== undefined).join(' / ');
    const seconds = Math.round((select?.seconds ?? 0) + (final?.seconds ?? 0));
    const suites = scores.map((s) => `${s.suite}: ${pct(s.accuracy, s.ci95)} (${SNELL[s.suite]})`).join('; ');
    accuracy.push(`| ${shot} ${model} | ${episodes} | ${seconds} | ${scores[0].backend} | ${suites} |`);
  }
  const comparisons = path.join(root, shot, 'comparisons.jsonl');
  if (!fs.existsSync(comparisons)) continue;
  for (const c of readJsonl(comparisons)) {
    // files: [reference, model], each <root>/<shot>/<model>/<suite>.episodes.csv
    const [reference, model] = c.files.map((f) => path.basename(path.dirname(f)));
    const suite = path.basename(c.files[0], '.episodes.csv');
    paired.push(
      `| ${shot} | ${suite} | ${model} | ${reference} | ${(100 * c.difference.mean).toFixed(2)} +- ${(100 * c.difference.ci95).toFixed(2)} | ${c.won}/${c.lost}/${c.tied} |`,
    );
  }
}
console.log([...accuracy, '', ...paired].join('\n'));
