/**
 * A sweep's report: `report.md` (the tables, fixed settings, plots), `accuracy.{svg,png}` (accuracy
 * with 95% intervals against a swept setting: across seeds where seeds vary, else over episodes)
 * and `curves.{svg,png}` (the runs' training curves from their log.jsonl, as `fewshot plot` draws them).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomic.js';
import { SweepRow, settingNames } from '../sweep/csv.js';
import { mergeSweeps } from '../sweep/merge.js';
import { describeSettings } from '../sweep/spec.js';
import type { AccuracyPoint } from './plots.js';
import { RunCurves, curvesSpec, findRunLogs, runCurves } from './curves.js';
import { PairedGroup, pairAgainstBaseline, pairedTables } from './paired.js';
import { SweepTables, Table, legendSettings, markdownTable, sweepTables } from './tables.js';

export interface ReportOptions {
  /** The folder written. */
  readonly out: string;
  /** The column on the x axis: a setting, `suite`, `testWay` or `testShot` (default: the first swept setting but the seed). */
  readonly x?: string;
  /** Run folders whose log.jsonl to plot (default: the runs behind the CSV's checkpoints, where present). */
  readonly logs?: readonly string[];
  /** Report rows made by different code versions together (refused by default). */
  readonly allowMixedCode?: boolean;
  /** The label of the same-budget baseline: every other label is compared with it, seed by seed. */
  readonly baseline?: string;
  /** A folder of `<key>/<suite>.episodes.csv` (default: each point's `eval/` in its run folder). */
  readonly episodes?: string;
}

export interface SweepReport {
  readonly tables: SweepTables;
  /** With a baseline: the paired comparisons, seed by seed and over seeds. */
  readonly paired?: { groups: readonly PairedGroup[]; perSeed: Table; overSeeds: Table };
  readonly markdown: string;
  readonly files: readonly string[];
  /** What could not be drawn, and why. */
  readonly notes: readonly string[];
}

function chooseX(
  file: string,
  headers: readonly string[],
  rows: readonly SweepRow[],
  varying: readonly string[],
  x?: string,
): string {
  const columns = [...settingNames(headers), 'suite', 'testWay', 'testShot'];
  if (x !== undefined) {
    if (!columns.includes(x)) throw new Error(`--x '${x}' is not a column of ${file} (one of ${columns.join(', ')})`);
    return x;
  }
  const swept = varying.filter((n) => n !== 'seed');
  return swept.find((n) => rows.every((r) => r[n] !== '' && Number.isFinite(Number(r[n])))) ?? swept[0] ?? 'suite';
}

function accuracyPoints(
  tables: SweepTables,
  rows: readonly SweepRow[],
  x: string,
): { points: AccuracyPoint[]; across: string } {
  const others = legendSettings(tables.varying).filter((n) => n !== x && n !== 'seed');
  const numeric = rows.every((r) => r[x] !== '' && Number.isFinite(Number(r[x])));
  const at = (r: SweepRow) => (numeric ? Number(r[x]) : r[x]);
  const series = (r: SweepRow) =>
    [describeSettings(r, others), x === 'suite' ? '' : r.suite].filter(Boolean).join('  ') || 'all';
  if (x !== 'seed' && tables.seedGroups.length > 0) {
    const points = tables.seedGroups.map((g) => {
      const [mean, half] = [100 * g.accuracy.mean, Number.isFinite(g.accuracy.t95) ? 100 * g.accuracy.t95 : 0];
      return { x: at(g.rows[0]), series: series(g.rows[0]), mean, lo: mean - half, hi: mean + half };
    });
    const n = tables.seedGroups.reduce((most, g) => Math.max(most, g.seeds.length), 0);
    return { points, across: `mean over ${n} seeds, t-based 95% interval across seeds` };
  }
  const points = rows.map((r) => {
    const [mean, half] = [100 * Number(r.accuracy), 100 * Number(r.ci95)];
    return { x: at(r), series: series(r), mean, lo: mean - half, hi: mean + half };
  });
  return { points, across: '95% interval over test episodes' };
}

/**
 * The run folder behind a sweep row's checkpoint (`<run>/best`, a distillation's `<run>/gen<g>/best`):
 * the whole run, so that every generation is drawn.
 */
function runFolderOf(checkpoint: string): string {
  const dir = path.dirname(path.normalize(checkpoint));
  return /^gen\d+$/.test(path.basename(dir)) ? path.dirname(dir) : dir;
}

export async function writeSweepReport(csv: string, options: ReportOptions): Promise<SweepReport> {
  // Read with the checks merge makes (a row twice, a point with two settings): a duplicate would count as another seed.
  const merged = await mergeSweeps([csv], { allowMixedCode: options.allowMixedCode });
  const table = { file: csv, headers: merged.headers, rows: merged.rows };
  if (merged.dropped.length) {
    throw new Error(
      `${csv}:${table.rows.length + 2}: the last line has no newline (a row cut by a kill?): not reported; ` +
        're-run the sweep (it resumes the point), or end the line if it is complete',
    );
  }
  if (table.rows.length === 0) throw new Error(`${csv}: no rows to report`);
  const tables = sweepTables(table);
  let paired: SweepReport['paired'];
  if (options.baseline !== undefined) {
    const groups = await pairAgainstBaseline(table.rows, tables.varying, options.baseline, options.episodes);
    paired = { groups, ...pairedTables(groups, options.baseline) };
  }
  const x = chooseX(csv, table.headers, table.rows, tables.varying, options.x);
  const files: string[] = [];
  const notes: string[] = [];
  fs.mkdirSync(options.out, { recursive: true });
  // Loaded here, not at import: vega, vega-lite and sharp cost a second and a top-level await
  // (vega-canvas) that stops require('fewshot-rkd') for everyone who never draws a plot.
  const { accuracySpec, renderPlot } = await import('./plots.js');

  const accuracy = accuracyPoints(tables, table.rows, x);
  files.push(
    ...(await renderPlot(
      accuracySpec(accuracy.points, x, { text: `Accuracy against ${x}`, subtitle: accuracy.across }),
      path.join(options.out, 'accuracy'),
    )),
  );

  // Each run's legend: its swept settings (a colour each) and seed (a dash each), found through the CSV's checkpoint paths.
  const grouping = legendSettings(tables.varying).filter((n) => n !== 'seed');
  const runOf = new Map(
    table.rows.map((r) => [
      runFolderOf(r.checkpoint),
      { group: describeSettings(r, grouping) || 'all', seed: r.seed ?? '' },
    ]),
  );
  // Named with --logs: each must hold a log. Found from the checkpoints: those that do (a CSV from
  // another machine, or an edited one, names folders that are not run folders here).
  const named = options.logs?.map((d) => ({ dir: path.normalize(d), logs: findRunLogs(d) }));
  const found = [...runOf.keys()].flatMap((dir) => {
    try {
      return [{ dir, logs: findRunLogs(dir) }];
    } catch {
      return [];
    }
  });
  const curves: RunCurves[] = (named ?? found).map(({ dir, logs }) => {
    const run = runOf.get(dir) ?? { group: dir, seed: '' };
    return runCurves(logs, run.group, run.seed);
  });
  notes.push(...curves.flatMap((c) => c.notes));
  if (curves.length > 0)
    files.push(
      ...(await renderPlot(
        curvesSpec(curves, { title: 'Training curves (log.jsonl)' }),
        path.join(options.out, 'curves'),
      )),
    );
  else
    notes.push(
      'no training logs found (the run folders are not on this machine): no curves plot; name them with --logs',
    );

  const fixed = Object.entries(tables.fixed)
    .map(([k, v]) => `\`${k}=${v}\``)
    .join(', ');
  const section = (t: {
    title: string;
    note: string;
    headers: readonly string[];
    rows: readonly (readonly string[])[];
  }) => `## ${t.title}\n\n${t.note}\n\n${markdownTable(t.headers, t.rows)}\n`;
  const image = (file: string, alt: string) =>
    `![${alt}](${path.basename(file)}) ([SVG](${path.basename(file).replace(/\.png$/, '.svg')}))\n`;
  const markdown = [
    `# Sweep report: ${path.basename(csv)}\n`,
    `${table.rows.length} rows, ${new Set(table.rows.map((r) => r.key)).size} points; backend: ${[...new Set(table.rows.map((r) => r.backend))].join(', ')}; ` +
      `code: ${[...new Set(table.rows.map((r) => r.code))].join(', ')}.\n`,
    `Fixed settings (on the rows they apply to): ${fixed || 'none'}.\n`,
    section(tables.points),
    ...(tables.seeds ? [section(tables.seeds)] : []),
    ...(paired ? [section(paired.perSeed), section(paired.overSeeds)] : []),
    '## Plots\n',
    image(path.join(options.out, 'accuracy.png'), `accuracy against ${x}`),
    ...(curves.length > 0 ? [image(path.join(options.out, 'curves.png'), 'training curves')] : []),
    ...notes.map((n) => `(${n})\n`),
  ].join('\n');
  const md = path.join(options.out, 'report.md');
  writeFileAtomic(md, [Buffer.from(markdown)]);
  return { tables, paired, markdown, files: [md, ...files], notes };
}
