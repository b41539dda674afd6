/**
 * Training curves of runs, from their log.jsonl: one panel per logged quantity (the total loss and
 * each term of it, training accuracy, validation accuracy and loss, the learning rate), a colour
 * per run. A recipe's stages (select/, final/) and a distillation's generations (gen1/, gen2/, ...)
 * are drawn end to end on one episode axis, each stage's start marked by a rule and its name.
 *
 * vega is loaded only when a plot is rendered (plots.ts is imported on demand): reading the curves
 * costs no plotting library.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { makeFolder } from '../atomic.js';
import { readTextFile } from '../files.js';

/** One stage's log: a recipe's `select`/`final`, a distillation's `gen<g>`, or '' for a run of one stage. */
export interface LogStage {
  readonly name: string;
  readonly file: string;
}

/** A run as found on disk: the argument it was named by, and its logs in training order. */
export interface RunLogs {
  readonly source: string;
  readonly stages: readonly LogStage[];
}

export interface CurvePoint {
  /** The run: one colour each. */
  readonly run: string;
  /** The run's seed ('' when not shown): one dash pattern each. */
  readonly seed: string;
  /** The panel: a title of CURVE_METRICS. */
  readonly metric: string;
  readonly stage: string;
  /** Training episode counted over the run's stages end to end. */
  readonly episode: number;
  readonly value: number;
}

/** Where a stage of a run starts on the episode axis. */
export interface StageMarker {
  readonly run: string;
  readonly stage: string;
  readonly episode: number;
}

export interface RunCurves {
  readonly run: string;
  readonly seed: string;
  readonly points: readonly CurvePoint[];
  /** One per stage when the run has more than one, none otherwise. */
  readonly markers: readonly StageMarker[];
  /** What was left out, and why (a torn last line). */
  readonly notes: readonly string[];
  /**
   * Training seconds up to each logged episode (key `<stage> <episode>`, the episode end to end),
   * as the logged speeds (episodesPerSecond) imply, over the stages in turn.
   */
  readonly seconds: ReadonlyMap<string, number>;
}

export interface CurveMetric {
  readonly key: string;
  readonly title: string;
  /** Multiplies the logged value (fractions to percent). */
  readonly scale?: number;
  /** A logarithmic y axis (when every value is positive). */
  readonly log?: boolean;
  /** Logged at validations only: drawn with points. */
  readonly sparse?: boolean;
  /** Constant between log lines: drawn as steps. */
  readonly step?: boolean;
  /** The y axis labels' d3 format (default `~g`). */
  readonly format?: string;
}

/** The panels, in order; a panel is drawn when some run logged its key. Terms are logged before their weights. */
export const CURVE_METRICS: readonly CurveMetric[] = [
  { key: 'loss', title: 'training loss (total)', log: true },
  { key: 'proto', title: 'prototypical loss', log: true },
  { key: 'rkdD', title: 'RKD-D term (before its weight)', log: true },
  { key: 'rkdA', title: 'RKD-A term (before its weight)', log: true },
  { key: 'kd', title: 'KD term (before its weight)', log: true },
  { key: 'accuracy', title: 'training accuracy %', scale: 100 },
  { key: 'valAccuracy', title: 'validation accuracy %', scale: 100, sparse: true },
  { key: 'valLoss', title: 'validation loss', log: true, sparse: true },
  { key: 'lr', title: 'learning rate', log: true, step: true, format: '.0e' },
];

const hasLog = (dir: string) => fs.existsSync(path.join(dir, 'log.jsonl'));

/**
 * The logs of the run `source` names, in training order:
 * - a log file (`log.jsonl`, or any `.jsonl` of log lines): one stage;
 * - a run folder, or one stage or generation of one (it holds `log.jsonl`): one stage;
 * - a recipe's run folder (`select/`, then `final/`): its stages;
 * - a distillation's run folder (`gen1/`, `gen2/`, ...): its generations;
 * - a results folder as the scripts write them (`select-log.jsonl` and `train-log.jsonl`, copies
 *   of a recipe's `select/` and `final/` logs; or `train-log.jsonl` alone): its stages.
 */
export function findRunLogs(source: string): RunLogs {
  let stats: fs.Stats;
  try {
    stats = fs.statSync(source);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${source}: ${code === 'ENOENT' ? 'no such file or folder' : (err as Error).message}`, {
      cause: err,
    });
  }
  if (!stats.isDirectory()) return { source, stages: [{ name: '', file: source }] };
  if (hasLog(source)) return { source, stages: [{ name: '', file: path.join(source, 'log.jsonl') }] };
  const recipe = ['select', 'final'].filter((s) => hasLog(path.join(source, s)));
  if (recipe.length > 0)
    return { source, stages: recipe.map((name) => ({ name, file: path.join(source, name, 'log.jsonl') })) };
  const generations = fs
    .readdirSync(source)
    .filter((d) => /^gen\d+$/.test(d) && hasLog(path.join(source, d)))
    .sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  if (generations.length > 0)
    return { source, stages: generations.map((name) => ({ name, file: path.join(source, name, 'log.jsonl') })) };
  const copies = [
    { name: 'select', file: path.join(source, 'select-log.jsonl') },
    { name: 'final', file: path.join(source, 'train-log.jsonl') },
  ].filter((s) => fs.existsSync(s.file));
  if (copies.length === 2) return { source, stages: copies };
  if (copies.length === 1) return { source, stages: [{ name: '', file: copies[0].file }] };
  throw new Error(
    `${source}: not a run folder (no log.jsonl, here or in select/, final/ or gen<g>/, nor a train-log.jsonl)`,
  );
}

/**
 * The log lines of one log file. A last line without its newline (a run appending it, or killed
 * mid-append) is left out with a note when it is not whole JSON; any other line that is not a JSON
 * object with an episode number is an error naming the file and line.
 */
export function readLogLines(file: string): { lines: Record<string, unknown>[]; notes: string[] } {
  let text: string;
  try {
    text = readTextFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${file}: no such file`, { cause: err });
    if (code === 'ENOTREGULAR') throw err;
    throw new Error(`${file}: cannot read it (${(err as Error).message})`, { cause: err });
  }
  const pieces = text.split('\n');
  const notes: string[] = [];
  const tail = pieces.pop() ?? '';
  const lines: Record<string, unknown>[] = [];
  const parse = (piece: string, n: number, torn: boolean) => {
    let line: unknown;
    try {
      line = JSON.parse(piece);
    } catch {
      if (torn) {
        notes.push(
          `${file}:${n}: the last line has no newline and is not whole JSON (being written, or cut by a kill): left out`,
        );
        return;
      }
      throw new Error(`${file}:${n}: not a JSON log line`);
    }
    if (line === null || typeof line !== 'object' || Array.isArray(line))
      throw new Error(`${file}:${n}: not a JSON object (not a training log line)`);
    const episode = (line as Record<string, unknown>).episode;
    if (typeof episode !== 'number' || !Number.isFinite(episode) || episode < 0)
      throw new Error(`${file}:${n}: no episode number (not a training log line)`);
    lines.push(line as Record<string, unknown>);
  };
  pieces.forEach((piece, i) => {
    if (piece.trim() !== '') parse(piece, i + 1, false);
  });
  if (tail.trim() !== '') parse(tail, pieces.length + 1, true);
  return { lines, notes };
}

/**
 * The curves of one run: its stages end to end (each stage's episodes counted on from the last
 * episode the stage before logged), a marker at each stage's start when there are several.
 */
export function runCurves(logs: RunLogs, run: string, seed = ''): RunCurves {
  const points: CurvePoint[] = [];
  const markers: StageMarker[] = [];
  const notes: string[] = [];
  const seconds = new Map<string, number>();
  let clock = 0;
  let offset = 0;
  let lineCount = 0;
  for (const stage of logs.stages) {
    const read = readLogLines(stage.file);
    notes.push(...read.notes);
    lineCount += read.lines.length;
    if (logs.stages.length > 1) markers.push({ run, stage: stage.name, episode: offset });
    let last = 0;
    for (const line of read.lines) {
      const episode = line.episode as number;
      const speed = line.episodesPerSecond;
      if (typeof speed === 'number' && speed > 0 && Number.isFinite(speed) && episode > last)
        clock += (episode - last) / speed;
      seconds.set(`${stage.name} ${offset + episode}`, clock);
      last = Math.max(last, episode);
      for (const m of CURVE_METRICS) {
        const v = line[m.key];
        if (typeof v === 'number' && Number.isFinite(v))
          points.push({
            run,
            seed,
            metric: m.title,
            stage: stage.name,
            episode: offset + episode,
            value: (m.scale ?? 1) * v,
          });
      }
    }
    offset += last;
  }
  if (lineCount === 0)
    throw new Error(
      `${logs.stages.map((s) => s.file).join(', ')}: no log lines (a run not yet at its first log interval?)`,
    );
  return { run, seed, points, markers, notes, seconds };
}

/**
 * Short names for runs: the last path parts of each source that tell them apart (`teacher`,
 * `rkd-da`; `1shot/teacher` beside `5shot/teacher`), without a log file's `.jsonl` or `log`.
 */
export function runLabels(sources: readonly string[]): string[] {
  const parts = sources.map((s) => {
    const p = path.resolve(s).split(path.sep).filter(Boolean);
    const last = p[p.length - 1] ?? s;
    if (/\.jsonl$/.test(last)) {
      const stem = last.replace(/\.jsonl$/, '').replace(/-?log$/, '');
      return stem === '' ? p.slice(0, -1) : [...p.slice(0, -1), stem];
    }
    return p;
  });
  for (let n = 1; ; n++) {
    const labels = parts.map((p) => p.slice(-n).join('/'));
    if (new Set(labels).size === labels.length || parts.every((p) => p.length <= n)) return labels;
  }
}

export interface CurvesSpecOptions {
  readonly title: string | { text: string; subtitle: string };
  /** Panels across (default 2). */
  readonly columns?: number;
}

/** A title in lines of at most `width` characters (a long one would widen the picture past its panels). */
export function wrapTitle(title: string, width = 80): string[] {
  const lines: string[] = [];
  for (const word of title.split(/\s+/).filter(Boolean)) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + 1 + word.length <= width) lines[last] += ` ${word}`;
    else lines.push(word);
  }
  return lines.length > 0 ? lines : [''];
}

/** The vega-lite spec: one panel per metric present, a colour per run, a dash per seed when runs have several. */
export function curvesSpec(runs: readonly RunCurves[], options: CurvesSpecOptions): TopLevelSpec {
  const points = runs.flatMap((r) => r.points);
  const markers = runs.flatMap((r) => r.markers);
  // The same stage starting at the same episode in several runs is marked once.
  const marks = [...new Map(markers.map((m) => [`${m.episode} ${m.stage}`, m])).values()];
  const xMax = Math.max(1, ...points.map((p) => p.episode));
  const names = [...new Set(runs.map((r) => r.run))];
  const seeds = new Set(runs.map((r) => r.seed)).size > 1;
  const staged = runs.some((r) => r.markers.length > 0);
  const color = {
    field: 'run',
    type: 'nominal',
    title: null,
    sort: names,
    scale: { domain: names, scheme: names.length > 10 ? 'category20' : 'tableau10' },
    legend: {
      orient: 'bottom',
      direction: 'vertical',
      labelLimit: 480,
      title: null,
      symbolType: 'stroke',
      symbolStrokeWidth: 3,
    },
  };
  const columns = options.columns ?? 2;
  const drawn = CURVE_METRICS.filter((m) => points.some((p) => p.metric === m.title));
  const panels = drawn.map((m, i) => {
    // The axis title under the lowest panel of each column only.
    const x = {
      field: 'episode',
      type: 'quantitative',
      title: i < drawn.length - columns ? null : staged ? 'training episode (stages end to end)' : 'training episode',
      scale: { domain: [0, xMax], nice: false },
    };
    const values = points.filter((p) => p.metric === m.title);
    const log = m.log === true && values.every((p) => p.value > 0);
    const y = {
      field: 'value',
      type: 'quantitative',
      title: null,
      scale: log ? { type: 'log' } : { zero: false },
      axis: log ? { format: m.format ?? '~g', tickCount: 4 } : { tickCount: 5 },
    };
    const encoding = {
      x,
      y,
      color,
      detail: { field: 'seed' },
      ...(seeds ? { strokeDash: { field: 'seed', type: 'nominal', title: 'seed', legend: { symbolSize: 400 } } } : {}),
    };
    return {
      title: { text: m.title, fontSize: 12 },
      width: 380,
      height: 150,
      layer: [
        {
          data: { values: values.map((v) => ({ ...v })) },
          mark: { type: 'line', clip: true, strokeWidth: 1.2, ...(m.step ? { interpolate: 'step-after' } : {}) },
          encoding,
        },
        ...(m.sparse
          ? [
              {
                data: { values: values.map((v) => ({ ...v })) },
                mark: { type: 'point', filled: true, size: 16, clip: true },
                encoding: { x, y, color },
              },
            ]
          : []),
        ...(marks.length > 0
          ? [
              {
                data: { values: marks.map((v) => ({ ...v })) },
                mark: { type: 'rule', color: '#777', strokeDash: [4, 3] },
                encoding: { x: { field: 'episode', type: 'quantitative' } },
              },
              {
                data: { values: marks.map((v) => ({ ...v })) },
                mark: { type: 'text', align: 'left', baseline: 'top', dx: 3, dy: 2, color: '#444', fontSize: 10 },
                encoding: { x: { field: 'episode', type: 'quantitative' }, y: { value: 0 }, text: { field: 'stage' } },
              },
            ]
          : []),
      ],
      resolve: { scale: { y: 'shared' } },
    };
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: typeof options.title === 'string' ? { text: wrapTitle(options.title), anchor: 'start' } : options.title,
    background: 'white',
    columns,
    concat: panels,
    resolve: { scale: { y: 'independent', color: 'shared', strokeDash: 'shared' } },
  } as TopLevelSpec;
}

export interface PlotCurvesOptions {
  /** The folder written: `<name>.svg` and `<name>.png`. */
  readonly out: string;
  /** The files' name (default `curves`). */
  readonly name?: string;
  /** One name per run, in order (default: the last parts of their paths that tell them apart). */
  readonly labels?: readonly string[];
  readonly title?: string;
  /** Also write TensorBoard event files under this folder (one folder per run and stage). */
  readonly tensorboard?: string;
}

export interface PlottedCurves {
  readonly files: readonly string[];
  readonly runs: readonly RunCurves[];
  readonly notes: readonly string[];
}

/**
 * Draws the training curves of runs (run folders, recipe or distillation folders, their stages, or
 * log files; see findRunLogs) into `<out>/<name>.svg` and `.png`, each written whole or not at all.
 */
export async function plotCurves(sources: readonly string[], options: PlotCurvesOptions): Promise<PlottedCurves> {
  if (sources.length === 0) throw new Error('no runs to plot');
  if (options.labels !== undefined && options.labels.length !== sources.length)
    throw new Error(`--label: ${options.labels.length} names for ${sources.length} runs (one per run, in order)`);
  const name = options.name ?? 'curves';
  if (name === '' || name.includes('/') || name.includes(path.sep) || name === '.' || name === '..')
    throw new Error(`--name '${name}': a file name without a folder`);
  // Every log is read and checked before anything is written.
  const labels = options.labels ?? runLabels(sources);
  const twice = labels.find((l, i) => labels.indexOf(l) !== i);
  if (twice !== undefined) throw new Error(`--label: '${twice}' names two runs (one name per run)`);
  const runs = sources.map((s, i) => runCurves(findRunLogs(s), labels[i]));
  const title = options.title ?? `Training curves: ${labels.join(', ')}`;
  makeFolder(options.out);
  const { renderPlot } = await import('./plots.js');
  const files = await renderPlot(curvesSpec(runs, { title }), path.join(options.out, name));
  if (options.tensorboard !== undefined) {
    const { writeTensorBoard } = await import('./tensorboard.js');
    files.push(...writeTensorBoard(runs, options.tensorboard));
  }
  return { files, runs, notes: runs.flatMap((r) => r.notes) };
}
