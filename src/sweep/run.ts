/**
 * Running a sweep: each point of the spec (or of one shard of it) is trained or distilled into its
 * run folder, evaluated on every suite with evaluateCheckpoint, and its rows are appended to the CSV
 * in one write once all are known. A re-run skips the (point, suite) rows already there and resumes
 * an unfinished training from its last checkpoint, so a kill loses at most the point in progress.
 *
 * Workers may share the runs folder and the CSV (array tasks given one --out, a requeued task beside
 * its first attempt): a point is trained under its lock (`<runs>/<key>.lock`) and its rows are
 * appended under the CSV's, after checking again that no other worker wrote them. A worker leaves
 * only when every point of its shard has its rows: it waits for points another worker holds, and
 * takes over those whose holder died (its lock goes stale).
 */
import * as path from 'node:path';
import { SuiteScore, evaluateCheckpoint } from '../eval/evaluate.js';
import { readSuite } from '../episodes/suite.js';
import { hasCheckpoint } from '../models/checkpoint.js';
import { DistillConfig, distill, generationDir } from '../train/distill.js';
import { LogLine, readRunConfig, runPaths } from '../train/run-folder.js';
import { loadTeacher, openRun, teacherDigest } from '../train/inputs.js';
import { ProtoNetConfig, trainProtoNet } from '../train/protonet.js';
import { codeLabel } from '../provenance.js';
import {
  PlacedRow,
  SweepRow,
  SweepTable,
  appendNewSweepRows,
  checkOneCodeVersion,
  checkOneIdentity,
  openSweepCsv,
  placedRows,
  readSweepCsv,
  rowId,
  sweepHeaders,
} from './csv.js';
import { makeFolder } from '../atomic.js';
import { DEFAULT_LOCK_STALE_SECONDS, HeldLock, lockAge, tryLock, withLock } from '../lock.js';
import { preflight } from './preflight.js';
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
  /** Before each generation of a distilled point (a trained point has none). */
  readonly onGeneration?: (point: SweepPoint, generation: number) => void;
  readonly onEpisode?: (point: SweepPoint, episode: number) => void;
  readonly onLog?: (point: SweepPoint, line: LogLine) => void;
  /** After a point's rows are written; may throw (tests simulate a kill this way). */
  readonly onPointDone?: (point: SweepPoint, rows: readonly SweepRow[]) => void;
  /** When every pending point is held by other workers, before waiting `pollSeconds` for them. */
  readonly onWait?: (held: readonly { point: SweepPoint; lock: string; age?: number }[]) => void;
  /** Append to a CSV holding rows of another code version (refused by default). */
  readonly allowMixedCode?: boolean;
  /** A lock not refreshed for this long is taken over: its holder died (default 300). */
  readonly lockStaleSeconds?: number;
  /** How often to look again at points other workers hold (default: 5 s, or a tenth of a shorter stale time). */
  readonly pollSeconds?: number;
}

export interface SweepSummary {
  /** Points in this shard. */
  readonly points: number;
  /** Points whose rows were all in the CSV already (or were written by another worker meanwhile). */
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
  /** sha256 of the weights a distilled point learned from, as its run recorded them. */
  readonly teacherSha256?: string;
}

async function trainPoint(
  point: SweepPoint,
  dir: string,
  lock: HeldLock,
  options: SweepOptions,
): Promise<TrainedPoint> {
  const { method, label: _label, ...config } = point.settings;
  let ran = 0;
  const run = {
    onEpisode: (e: number) => {
      // A lost lock (this process stalled past the stale time) may be another worker's now: stop.
      const lost = lock.lost();
      if (lost) throw new Error(`point ${point.key}: its lock was lost (${lost.message}); re-run to resume it`);
      ran++;
      options.onEpisode?.(point, e);
    },
    onLog: (line: LogLine) => options.onLog?.(point, line),
    onGeneration: (g: number) => options.onGeneration?.(point, g),
  };
  const started = Date.now();
  let trainEpisodes: number;
  let modelDir: string;
  let teacherSha256: string | undefined;
  // Names resolved here: the trainers get the objects.
  const inputs = await openRun(config as unknown as ProtoNetConfig);
  if (method === 'distill') {
    const c = config as unknown as DistillConfig;
    // distill() resumes each generation from its own checkpoint.
    const results = await distill(c, dir, { ...run, inputs, teacher: await loadTeacher(c.teacher, inputs.dataset) });
    trainEpisodes = results.reduce((sum, r) => sum + r.state.episode, 0);
    modelDir = runPaths(generationDir(dir, c.generations)).best;
    teacherSha256 = readRunConfig<DistillConfig>(dir).teacherWeights;
  } else {
    const result = await trainProtoNet(config as unknown as ProtoNetConfig, dir, {
      ...run,
      inputs,
      resume: hasCheckpoint(runPaths(dir).checkpoint),
    });
    trainEpisodes = result.state.episode;
    modelDir = runPaths(dir).best;
  }
  const trainSeconds = (Date.now() - started) / 1000;
  return { modelDir, trainEpisodes, resumedFrom: trainEpisodes - ran, trainSeconds, teacherSha256 };
}

function pointRows(
  point: SweepPoint,
  trained: TrainedPoint,
  scores: readonly SuiteScore[],
  backend: string,
): SweepRow[] {
  return scores.map((s) =>
    Object.fromEntries(
      Object.entries({
        key: point.key,
        ...point.settings,
        suite: s.suite,
        testWay: s.way,
        testShot: s.shot,
        testQuery: s.query,
        testEpisodes: s.episodes,
        accuracy: s.accuracy,
        ci95: s.ci95,
        std: s.std,
        trainEpisodes: trained.trainEpisodes,
        resumedFrom: trained.resumedFrom,
        trainSeconds: trained.trainSeconds.toFixed(1),
        evalSeconds: s.seconds.toFixed(1),
        backend,
        code: codeLabel(),
        checkpoint: trained.modelDir,
        suiteSha256: s.sha256,
        teacherSha256: trained.teacherSha256 ?? '',
      }).map(([k, v]) => [k, String(v)]),
    ),
  );
}

interface Sweep {
  readonly spec: SweepSpec;
  readonly options: SweepOptions;
  readonly headers: string[];
  /** The suite files, with the name and (once frozen) the sha256 of the episodes each records. */
  readonly suites: readonly { file: string; name: string; sha256?: string }[];
  readonly csvLock: string;
  readonly stale: number;
}

/** The suites a point still lacks in the CSV (read as it is now; a half-written last line is not a row). */
async function missingSuites(sweep: Sweep, point: SweepPoint): Promise<{ file: string; name: string }[]> {
  const done = new Set((await readSweepCsv(sweep.options.out)).rows.map(rowId));
  return sweep.suites.filter((s) => !done.has(`${point.key}|${s.name}`));
}

/** Trains and evaluates one point under its lock: its rows, 'done' (all there) or 'held' (another worker has it). */
async function runPoint(sweep: Sweep, point: SweepPoint, lockPath: string): Promise<SweepRow[] | 'done' | 'held'> {
  const { spec, options } = sweep;
  if ((await missingSuites(sweep, point)).length === 0) return 'done';
  const lock = await tryLock(lockPath, sweep.stale);
  if (!lock) return 'held';
  try {
    // Another worker may have finished it between the look above and the lock.
    const missing = await missingSuites(sweep, point);
    if (missing.length === 0) return 'done';
    options.onPoint?.(
      point,
      missing.map((s) => s.name),
    );
    const dir = pointDir(spec, point);
    const trained = await trainPoint(point, dir, lock, options);
    const scores = await evaluateCheckpoint(
      trained.modelDir,
      missing.map((s) => s.file),
      {
        data: point.settings.dataDir as string | undefined,
        backend: options.backend,
        out: path.join(dir, 'eval'),
      },
    );
    const rows = await withLock(
      sweep.csvLock,
      () => {
        // Stalled past the stale time, this worker may have lost the point to another: not its rows then.
        const lost = lock.lost();
        if (lost) throw new Error(`point ${point.key}: its lock was lost (${lost.message}); its rows are not written`);
        return appendNewSweepRows(options.out, sweep.headers, pointRows(point, trained, scores, options.backend));
      },
      sweep.stale,
    );
    options.onPointDone?.(point, rows);
    return rows;
  } finally {
    await lock.release();
  }
}

/** The suites' recorded episodes and the teachers' weights as they are now, as rows to check the CSV's against. */
function currentIdentities(suites: Sweep['suites'], points: readonly SweepPoint[]): PlacedRow[] {
  const teachers = points
    .filter((p) => p.settings.method === 'distill')
    .map((p) => {
      const teacher = String(p.settings.teacher);
      return { place: `${teacher} now`, row: { teacher, teacherSha256: teacherDigest(teacher) ?? '' } };
    });
  return [...suites.map((s) => ({ place: s.file, row: { suite: s.name, suiteSha256: s.sha256 ?? '' } })), ...teachers];
}

export async function runSweep(spec: SweepSpec, options: SweepOptions): Promise<SweepSummary> {
  const points = expandSweep(spec);
  const mine = shardPoints(points, options.shard);
  const suites = spec.suites.map((file) => ({ file, ...readSuite(file) }));
  // Teachers, caches and suites of every point, before anything is written or trained.
  await preflight(spec, mine);
  const stale = options.lockStaleSeconds ?? DEFAULT_LOCK_STALE_SECONDS;
  const sweep: Sweep = {
    spec,
    options,
    headers: sweepHeaders(settingColumns(spec, points)),
    suites,
    csvLock: `${options.out}.lock`,
    stale,
  };
  for (const dir of [spec.runs, path.dirname(options.out)]) makeFolder(dir);
  const table: SweepTable = await withLock(sweep.csvLock, () => openSweepCsv(options.out, sweep.headers), stale);
  checkOneCodeVersion([table], options.allowMixedCode, codeLabel());
  // Before anything trains: the rows there must be of the suites and teachers this sweep has now.
  checkOneIdentity([...currentIdentities(suites, mine), ...placedRows(table)]);

  const written: SweepRow[] = [];
  let skipped = 0;
  let pending = mine;
  while (pending.length > 0) {
    const held: { point: SweepPoint; lock: string }[] = [];
    for (const point of pending) {
      const lock = path.join(spec.runs, `${point.key}.lock`);
      const outcome = await runPoint(sweep, point, lock);
      if (outcome === 'held') held.push({ point, lock });
      else if (outcome === 'done') {
        skipped++;
        options.onPoint?.(point, []);
      } else written.push(...outcome);
    }
    if (held.length === pending.length) {
      options.onWait?.(held.map((h) => ({ ...h, age: lockAge(h.lock) })));
      await new Promise((resolve) => setTimeout(resolve, (options.pollSeconds ?? Math.min(5, stale / 10)) * 1000));
    }
    pending = held.map((h) => h.point);
  }
  return { points: mine.length, skipped, rows: written };
}
