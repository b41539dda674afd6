/**
 * Running a sweep: each point of the spec (or of one shard of it) is trained or distilled into its
 * run folder, evaluated on every suite with evaluateCheckpoint, and its rows are appended to the CSV
 * in one write once all are known. A re-run skips the (point, suite) rows already there and resumes
 * an unfinished training from its last checkpoint, so a kill loses at most the point in progress.
 */
import * as path from 'node:path';
import { SuiteScore, evaluateCheckpoint } from '../eval/evaluate.js';
import { readSuite } from '../episodes/suite.js';
import { hasCheckpoint } from '../models/checkpoint.js';
import { DistillConfig, distill, generationDir } from '../train/distill.js';
import { LogLine, runPaths } from '../train/episodic.js';
import { ProtoNetConfig, trainProtoNet } from '../train/protonet.js';
import { SweepRow, appendSweepRows, openSweepCsv, rowId, sweepHeaders } from './csv.js';
import { Shard, shardPoints } from './shard.js';
import { SweepPoint, SweepSpec, expandSweep, pointDir, settingColumns } from './spec.js';

export interface SweepOptions {
  /** The CSV rows are appended to (created when absent). */
  readonly out: string;
  /** The backend's description, recorded in every row. */
  readonly backend: string;
  readonly shard?: Shard;
  /** Before each point: the suites it still lacks (none: skipped). */
  readonly onPoint?: (point: SweepPoint, missing: readonly string[]) => void;
  readonly onEpisode?: (point: SweepPoint, episode: number) => void;
  readonly onLog?: (point: SweepPoint, line: LogLine) => void;
  /** After a point's rows are written; may throw (tests simulate a kill this way). */
  readonly onPointDone?: (point: SweepPoint, rows: readonly SweepRow[]) => void;
}

export interface SweepSummary {
  /** Points in this shard. */
  readonly points: number;
  /** Points whose rows were all in the CSV already. */
  readonly skipped: number;
  /** The rows this run appended. */
  readonly rows: readonly SweepRow[];
}

interface TrainedPoint {
  readonly modelDir: string;
  readonly trainEpisodes: number;
  /** Episodes already done by an earlier, killed run (0 when trained from scratch here). */
  readonly resumedFrom: number;
  readonly trainSeconds: number;
}

async function trainPoint(point: SweepPoint, dir: string, options: SweepOptions): Promise<TrainedPoint> {
  const { method, label, ...config } = point.settings;
  let ran = 0;
  const run = {
    onEpisode: (e: number) => { ran++; options.onEpisode?.(point, e); },
    onLog: (line: LogLine) => options.onLog?.(point, line),
  };
  const started = Date.now();
  let trainEpisodes: number;
  let modelDir: string;
  if (method === 'distill') {
    const c = config as unknown as DistillConfig;
    // distill() resumes each generation from its own checkpoint.
    const results = await distill(c, dir, run);
    trainEpisodes = results.reduce((sum, r) => sum + r.state.episode, 0);
    modelDir = runPaths(generationDir(dir, c.generations)).best;
  } else {
    const result = await trainProtoNet(config as unknown as ProtoNetConfig, dir, { ...run, resume: hasCheckpoint(runPaths(dir).checkpoint) });
    trainEpisodes = result.state.episode;
    modelDir = runPaths(dir).best;
  }
  return { modelDir, trainEpisodes, resumedFrom: trainEpisodes - ran, trainSeconds: (Date.now() - started) / 1000 };
}

function pointRows(point: SweepPoint, trained: TrainedPoint, scores: readonly SuiteScore[], backend: string): SweepRow[] {
  return scores.map((s) => Object.fromEntries(Object.entries({
    key: point.key, ...point.settings,
    suite: s.suite, testWay: s.way, testShot: s.shot, testQuery: s.query, testEpisodes: s.episodes,
    accuracy: s.accuracy, ci95: s.ci95, std: s.std,
    trainEpisodes: trained.trainEpisodes, resumedFrom: trained.resumedFrom, trainSeconds: trained.trainSeconds.toFixed(1),
    evalSeconds: s.seconds.toFixed(1), backend, checkpoint: trained.modelDir,
  }).map(([k, v]) => [k, String(v)])));
}

export async function runSweep(spec: SweepSpec, options: SweepOptions): Promise<SweepSummary> {
  const points = expandSweep(spec);
  const headers = sweepHeaders(settingColumns(spec, points));
  const done = new Set((await openSweepCsv(options.out, headers)).rows.map(rowId));
  const suites = spec.suites.map((file) => ({ file, name: readSuite(file).name }));
  const mine = shardPoints(points, options.shard);
  const written: SweepRow[] = [];
  let skipped = 0;
  for (const point of mine) {
    const missing = suites.filter((s) => !done.has(`${point.key}|${s.name}`));
    options.onPoint?.(point, missing.map((s) => s.name));
    if (missing.length === 0) {
      skipped++;
      continue;
    }
    const dir = pointDir(spec, point);
    const trained = await trainPoint(point, dir, options);
    const scores = await evaluateCheckpoint(trained.modelDir, missing.map((s) => s.file), {
      data: point.settings.dataDir as string | undefined, backend: options.backend, out: path.join(dir, 'eval'),
    });
    const rows = pointRows(point, trained, scores, options.backend);
    await appendSweepRows(options.out, headers, rows);
    written.push(...rows);
    options.onPointDone?.(point, rows);
  }
  return { points: mine.length, skipped, rows: written };
}
