#!/usr/bin/env node
// The CIFAR-FS and FC100 table (docs/paper-protocol.md, README) from scripts/cifar-rkd.sh's result
// files: each teacher's test accuracy beside the published Conv-4 ProtoNet, its episodes, training
// time and backend; each student arm's mean over seeds with a t-interval; and each student's
// difference from the same-budget baseline over seeds (paired per seed on the episodes), through the
// library's own report code. What has not finished yet is left blank.
//   node scripts/cifar-table.mjs [scripts/results/cifar-rkd]  -> Markdown on stdout (npm run build first)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonl, trainingTime } from './jsonl.mjs';
import { readSweepCsv, settingNames } from '../dist/src/sweep/csv.js';
import { varyingSettings } from '../dist/src/sweep/spec.js';
import { acrossSeeds } from '../dist/src/report/seeds.js';
import { pairAgainstBaseline } from '../dist/src/report/paired.js';

const root = process.argv[2] ?? 'scripts/results/cifar-rkd';
// MetaOptNet (Lee et al. 2019) Table 2: Conv-4 64-64-64-64 ProtoNet, from R2D2 and TADAM.
const PUBLISHED = {
  'cifar-fs-1': '55.5 +- 0.7',
  'cifar-fs-5': '72.0 +- 0.6',
  'fc100-1': '35.3 +- 0.6',
  'fc100-5': '48.6 +- 0.6',
};
const ARMS = ['baseline', 'RKD-D', 'RKD-DA'];
const pct = (x, half) => `${(100 * x).toFixed(2)} +- ${Number.isFinite(half) ? (100 * half).toFixed(2) : '-'}`;
const signed = (x, half) => `${x >= 0 ? '+' : ''}${pct(x, half)}`;

const rows = [
  '| benchmark | published | teacher | teacher episodes (best / run), s | baseline | RKD-D | RKD-DA | RKD-D - baseline | RKD-DA - baseline |',
  '|---|---|---|---|---|---|---|---|---|',
];
const backends = new Set();
for (const [name, published] of Object.entries(PUBLISHED)) {
  const dir = path.join(root, `${name}shot`);
  const cells = [`${name.replace(/-(\d)$/, ' $1-shot')}`, published];
  const summary = path.join(dir, 'teacher', 'summary.json');
  if (fs.existsSync(summary)) {
    const { scores } = JSON.parse(fs.readFileSync(summary, 'utf8'));
    const log = path.join(dir, 'teacher', 'train-log.jsonl');
    const { episodes, seconds } = trainingTime(log);
    const best = readJsonl(log)
      .filter((l) => l.valAccuracy !== undefined)
      .reduce((a, b) => (b.valAccuracy > a.valAccuracy ? b : a));
    cells.push(pct(scores[0].accuracy, scores[0].ci95), `${best.episode} / ${episodes}, ${Math.round(seconds)}`);
    backends.add(scores[0].backend);
  } else cells.push('', '');
  const csv = path.join(dir, 'students.csv');
  if (fs.existsSync(csv)) {
    const { headers, rows: students } = await readSweepCsv(csv);
    for (const arm of ARMS) {
      const seeds = students.filter((r) => r.label === arm).map((r) => Number(r.accuracy));
      cells.push(seeds.length ? `${pct(acrossSeeds(seeds).mean, acrossSeeds(seeds).t95)} (${seeds.length})` : '');
    }
    const groups = await pairAgainstBaseline(
      students,
      // The swept settings alone (the key, results and paths vary too): as fewshot report pairs.
      varyingSettings(students, settingNames(headers)),
      'baseline',
      path.join(dir, 'students'),
    );
    for (const arm of ['RKD-D', 'RKD-DA']) {
      const g = groups.find((x) => x.label === arm);
      cells.push(g ? `${signed(g.difference.mean, g.difference.t95)} (${g.seeds.length})` : '');
    }
  } else cells.push('', '', '', '', '');
  rows.push(`| ${cells.join(' | ')} |`);
}
console.log(
  [
    'Accuracy %, 5-way, 15 queries, on the frozen test suites (1000 episodes): the teacher with its 95% episode',
    'interval; students and baselines as the mean over training seeds with a t-based 95% interval (seeds in',
    "brackets); differences as the mean over seeds of each seed's paired difference, t-interval. Training",
    `seconds from the logs' rates. Backend: ${[...backends].join('; ') || '-'}.`,
    '',
    ...rows,
  ].join('\n'),
);
