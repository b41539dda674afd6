/**
 * Per-episode accuracies as CSV (fast-csv): `episode,accuracy,suite`, so runs compare episode by
 * episode. `suite` names the frozen suite and the first 16 hex digits of its sha256
 * (`omniglot-test-5w1s@316fdb6235d1...`), so that results of different suites are never paired.
 * Files of two columns (no suite, written before 0.1.0) are still read, their suite taken from the
 * `summary.json` that `fewshot eval --out` wrote beside them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeToString } from 'fast-csv';
import { readCsvRows } from '../csv.js';
import { fileError, writeFileAtomic } from '../atomic.js';
import { parseDecimal, parseInteger } from '../decimal.js';
import { assertRegularFile, readTextFile } from '../files.js';

export interface EpisodeAccuracies {
  readonly episodeIndices: readonly number[];
  readonly accuracies: readonly number[];
  /** `name@sha256-prefix` of the suite the episodes come from, when recorded. */
  readonly suite?: string;
}

/** The identity a per-episode file records for a suite. */
export const suiteIdentity = (name: string, sha256: string) => `${name}@${sha256.slice(0, 16)}`;

export async function writeEpisodeAccuracies(file: string, result: EpisodeAccuracies): Promise<void> {
  const rows = result.episodeIndices.map((e, i) => [e, result.accuracies[i], ...(result.suite ? [result.suite] : [])]);
  const headers = ['episode', 'accuracy', ...(result.suite ? ['suite'] : [])];
  const text = await writeToString(rows, { headers, includeEndRowDelimiter: true });
  writeFileAtomic(file, [Buffer.from(text)]);
}

export async function readEpisodeAccuracies(file: string): Promise<EpisodeAccuracies> {
  const episodeIndices: number[] = [];
  const accuracies: number[] = [];
  const lineOf = new Map<number, number>();
  let suite: string | undefined;
  // The header alone says which format (a peek, not a second read of the file).
  let firstLine: string;
  try {
    assertRegularFile(file);
    const fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(64);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    firstLine = head.subarray(0, n).toString('utf8').split('\n', 1)[0].trim();
  } catch (err) {
    throw fileError(file, err, 'cannot read it');
  }
  const headers = firstLine === 'episode,accuracy' ? ['episode', 'accuracy'] : ['episode', 'accuracy', 'suite'];
  await readCsvRows(file, headers, (row: Record<string, string>, line) => {
    const [e, a] = [parseInteger(row.episode), parseDecimal(row.accuracy)];
    if (!Number.isInteger(e) || e < 0 || !(a >= 0 && a <= 1))
      throw new Error('expected an episode number and an accuracy in [0, 1]');
    if (lineOf.has(e)) throw new Error(`episode ${e} repeated (first on line ${lineOf.get(e)})`);
    if (row.suite !== undefined && suite !== undefined && row.suite !== suite)
      throw new Error(`suite '${row.suite}', earlier rows '${suite}'`);
    suite ??= row.suite;
    lineOf.set(e, line);
    episodeIndices.push(e);
    accuracies.push(a);
  });
  if (episodeIndices.length === 0) throw new Error(`${file}: no episodes (an empty result file)`);
  return { episodeIndices, accuracies, suite: suite ?? suiteFromSummary(file, episodeIndices.length) };
}

/** What a per-episode file's summary.json says of it (the fields this reader needs). */
interface SummaryScore {
  readonly name?: unknown;
  readonly sha256?: unknown;
  readonly episodes?: unknown;
  readonly episodesCsv?: unknown;
}

/**
 * The suite of a per-episode file without a suite column, from the summary.json beside it: the
 * score whose per-episode file it is, holding as many episodes. Undefined where there is none.
 */
function suiteFromSummary(file: string, episodes: number): string | undefined {
  const summary = path.join(path.dirname(file), 'summary.json');
  if (!fs.existsSync(summary)) return undefined;
  let scores: SummaryScore[];
  try {
    scores = (JSON.parse(readTextFile(summary)) as { scores?: SummaryScore[] }).scores ?? [];
  } catch (err) {
    throw fileError(summary, err, 'cannot read the suite of the per-episode file beside it');
  }
  const base = path.basename(file);
  const score = (Array.isArray(scores) ? scores : []).find(
    (s) =>
      typeof s?.name === 'string' &&
      (path.basename(String(s.episodesCsv ?? '')) === base || `${s.name}.episodes.csv` === base),
  );
  if (!score || typeof score.sha256 !== 'string' || !/^[0-9a-f]{16,64}$/.test(score.sha256)) return undefined;
  if (score.episodes !== episodes)
    throw new Error(`${file}: ${episodes} episodes, but ${summary} records ${String(score.episodes)} for it`);
  return suiteIdentity(score.name as string, score.sha256);
}
