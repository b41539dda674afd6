#!/usr/bin/env node
// Summarises scripts/speed-ab.sh's timings.jsonl: medians (and the range) per build, as Markdown.
//   node scripts/speed-ab-table.mjs OUT/timings.jsonl
import { median, readJsonl } from './jsonl.mjs';

const rows = readJsonl(process.argv[2]);
const builds = [...new Set(rows.filter((r) => r.build).map((r) => r.build))];
const cell = (values, digits) =>
  values.length === 0
    ? '-'
    : `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;

const lines = [`| measurement | ${builds.join(' | ')} |`, `|---|${builds.map(() => '---').join('|')}|`];
for (const [what, label] of [
  ['import', 'Omniglot import, wall s'],
  ['eval4', 'four Omniglot suites evaluated, wall s'],
]) {
  lines.push(
    `| ${label} | ${builds
      .map((b) =>
        cell(
          rows.filter((r) => r.build === b && r.what === what).map((r) => r.wallS),
          1,
        ),
      )
      .join(' | ')} |`,
  );
  lines.push(
    `| (CPU s) | ${builds
      .map((b) =>
        cell(
          rows.filter((r) => r.build === b && r.what === what).map((r) => r.cpuS),
          1,
        ),
      )
      .join(' | ')} |`,
  );
}
const shapes = [...new Set(rows.filter((r) => r.what === 'bench').map((r) => r.name))];
for (const shape of shapes) {
  const bench = (b) => rows.filter((r) => r.build === b && r.what === 'bench' && r.name === shape);
  for (const [field, label, digits] of [
    ['trainStepMs', 'train step ms', 0],
    ['distillStepMs', 'RKD-DA distill step ms', 0],
    ['distillStepUncachedMs', '(teacher uncached) ms', 0],
    ['peakRssMB', 'peak RSS MB', 0],
  ]) {
    const values = builds.map((b) =>
      bench(b)
        .map((r) => r[field])
        .filter((v) => typeof v === 'number'),
    );
    if (values.every((v) => v.length === 0)) continue;
    lines.push(`| ${shape}: ${label} | ${values.map((v) => cell(v, digits)).join(' | ')} |`);
  }
}
const same = rows.filter((r) => r.what === 'same-episodes');
if (same.length)
  lines.push(
    '',
    `Per-episode results identical: ${same.map((r) => `${r.suite} ${r.identical ? 'yes' : 'NO'}`).join(', ')}`,
  );
console.log(lines.join('\n'));
