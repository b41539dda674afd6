#!/usr/bin/env node
// Summarises scripts/peer-bench.sh's timings.jsonl as Markdown: per shape, the median training step
// of PyTorch and of fewshot (with the range over the rounds), PyTorch / fewshot (the speed-up), the
// distillation step and its ratio to the training step, and peak RSS; with an older build measured
// too (BEFORE=), its training step, speed-up and RKD-DA ratio first.
//   node scripts/peer-bench-table.mjs OUT/timings.jsonl
import { median, readJsonl } from './jsonl.mjs';

const rows = readJsonl(process.argv[2]);
const ms = (v) => `${Math.round(median(v))} (${Math.round(Math.min(...v))}-${Math.round(Math.max(...v))})`;
const of = (peer, name, field) => rows.filter((r) => r.peer === peer && r.name === name).map((r) => r[field]);

const fewshot = rows.find((r) => r.peer === 'fewshot');
const torch = rows.find((r) => r.peer === 'pytorch');
const before = rows.some((r) => r.peer === 'fewshot-before');
const lines = [
  `fewshot: ${fewshot?.provenance?.backend ?? fewshot?.backend}; PyTorch ${torch?.torch}, ${torch?.threads} threads, tcmalloc.`,
  `Medians over ${Math.max(...rows.map((r) => r.round))} alternating rounds (range); ms per step; speed-up = PyTorch / fewshot.`,
  '',
];
const columns = [
  'shape',
  'PyTorch train step',
  ...(before ? ['before: train step', 'speed-up', 'RKD-DA / train'] : []),
  'fewshot train step',
  'speed-up',
  'fewshot RKD-DA step',
  'RKD-DA / train',
  'peak RSS PyTorch / fewshot, MB',
  ...(before ? ['fewshot peak RSS before -> after, train / distill, MB'] : []),
];
lines.push(`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`);
for (const name of [...new Set(rows.map((r) => r.name))]) {
  const t = of('pytorch', name, 'trainStepMs');
  const build = (peer) => {
    const [f, d] = [of(peer, name, 'trainStepMs'), of(peer, name, 'distillStepMs')];
    return { f, d, speedUp: `${(median(t) / median(f)).toFixed(2)}x`, ratio: `${(median(d) / median(f)).toFixed(2)}x` };
  };
  const now = build('fewshot');
  const old = before ? build('fewshot-before') : undefined;
  const rss = `${Math.round(median(of('pytorch', name, 'peakRssMB')))} / ${Math.round(median(of('fewshot', name, 'peakRssMB')))}`;
  const cells = [
    name,
    ms(t),
    ...(old ? [ms(old.f), old.speedUp, old.ratio] : []),
    ms(now.f),
    now.speedUp,
    ms(now.d),
    now.ratio,
    rss,
    ...(old
      ? [
          ['peakRssMB', 'distillPeakRssMB']
            .map(
              (f) =>
                `${Math.round(median(of('fewshot-before', name, f)))} -> ${Math.round(median(of('fewshot', name, f)))}`,
            )
            .join(' / '),
        ]
      : []),
  ];
  lines.push(`| ${cells.join(' | ')} |`);
}
console.log(lines.join('\n'));
