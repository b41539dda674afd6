/**
 * Sweep CSVs (fast-csv): one row per (point, suite): `key`, the point's settings, then the results
 * and what made them (backend, code version).
 * Rows are appended a whole point at a time in one write, so a kill leaves at most a half-written
 * last line, which reading detects (no final newline) and drops.
 */
import * as fs from 'node:fs';
import { parseString, writeToString } from 'fast-csv';
import { appendWhole, fileError, writeFileAtomic } from '../atomic.js';
import { parseDecimal } from '../decimal.js';
import { readTextFile } from '../files.js';

/** The columns after the settings. */
export const RESULT_COLUMNS = [
  'suite',
  'testWay',
  'testShot',
  'testQuery',
  'testEpisodes',
  'accuracy',
  'ci95',
  'std',
  'trainEpisodes',
  'resumedFrom',
  'trainSeconds',
  'evalSeconds',
  'backend',
  'code',
  'checkpoint',
  'suiteSha256',
  'teacherSha256',
] as const;

/**
 * The result columns of CSVs written before rows recorded their identities (readable: their
 * suites' episodes and teachers' weights are unknown; not appended to).
 */
const UNIDENTIFIED_RESULT_COLUMNS = RESULT_COLUMNS.slice(0, -2);

/**
 * Result columns that belong to the point's training, the same on each of its rows (its times may
 * differ: a suite added to the spec later is evaluated, and the training resumed, in a later run).
 */
export const POINT_RESULT_COLUMNS = ['trainEpisodes', 'checkpoint', 'teacherSha256'] as const;

export type SweepRow = Readonly<Record<string, string>>;

export interface SweepTable {
  readonly file: string;
  readonly headers: readonly string[];
  /** Row i is on line i + 2 of the file. */
  readonly rows: readonly SweepRow[];
  /** A half-written last line (a kill during an append), left out of `rows`. */
  readonly dropped?: string;
}

export const sweepHeaders = (settings: readonly string[]) => ['key', ...settings, ...RESULT_COLUMNS];

/** The result columns a header ends with: today's, or those of a CSV written before identities (none: not a sweep CSV). */
function resultColumns(headers: readonly string[]): readonly string[] | undefined {
  return [RESULT_COLUMNS, UNIDENTIFIED_RESULT_COLUMNS].find(
    (columns) => headers.slice(headers.length - columns.length).join(',') === columns.join(','),
  );
}

/** The setting columns of a sweep CSV's header: between `key` and `suite`. */
export const settingNames = (headers: readonly string[]) =>
  headers.slice(1, headers.length - (resultColumns(headers) ?? RESULT_COLUMNS).length);

export const rowId = (row: SweepRow) => `${row.key}|${row.suite}`;

function checkHeaders(file: string, headers: readonly string[]): void {
  if (headers[0] !== 'key' || !resultColumns(headers)) {
    throw new Error(`${file}:1: not a sweep CSV (expected key, the settings, then ${RESULT_COLUMNS.join(', ')})`);
  }
}

function checkRow(file: string, line: number, row: SweepRow): void {
  const accuracy = parseDecimal(row.accuracy);
  if (!/^[0-9a-f]{16}$/.test(row.key)) throw new Error(`${file}:${line}: key '${row.key}' is not 16 hex digits`);
  if (!row.suite) throw new Error(`${file}:${line}: empty suite`);
  if (!(accuracy >= 0 && accuracy <= 1))
    throw new Error(`${file}:${line}: accuracy '${row.accuracy}' is not in [0, 1]`);
}

/**
 * Refuses rows made by different versions of the code (`code`: version+commit) unless `allow`:
 * their numbers may not be comparable. Names a row of each version.
 */
export function checkOneCodeVersion(tables: readonly SweepTable[], allow = false, current?: string): void {
  if (allow) return;
  let first: { place: string; code: string } | undefined =
    current === undefined ? undefined : { place: 'this process', code: current };
  for (const t of tables) {
    t.rows.forEach((row, i) => {
      if (!first) first = { place: `${t.file}:${i + 2}`, code: row.code };
      else if (row.code !== first.code) {
        throw new Error(
          `${t.file}:${i + 2}: made by code ${row.code || '(unknown)'}, but ${first.place} by ${first.code || '(unknown)'}: ` +
            'results of different code versions (pass --allow-mixed-code to combine them anyway)',
        );
      }
    });
  }
}

/** A row and where it is: `file:line`, or what is about to write it. */
export interface PlacedRow {
  readonly place: string;
  readonly row: SweepRow;
}

export const placedRows = (t: SweepTable): PlacedRow[] =>
  t.rows.map((row, i) => ({ place: `${t.file}:${i + 2}`, row }));

/**
 * What a row's numbers depend on beyond its settings, which name it only: the episodes of its suite
 * (sha256 of the manifest) and the weights of its teacher (sha256 of weights.bin).
 */
const IDENTITIES = [
  { name: 'suite', digest: 'suiteSha256', what: 'episodes', how: 'a suite frozen again under its name?' },
  { name: 'teacher', digest: 'teacherSha256', what: 'weights', how: 'a teacher retrained in its folder?' },
] as const;

/**
 * Refuses rows that give one suite, or one teacher, two identities: under one name they measured
 * different things. Rows without a digest (CSVs written before rows recorded them) are not checked.
 */
export function checkOneIdentity(rows: readonly PlacedRow[]): void {
  for (const { name, digest, what, how } of IDENTITIES) {
    const first = new Map<string, PlacedRow>();
    for (const placed of rows) {
      const value = placed.row[name];
      const sha = placed.row[digest];
      if (!value || !sha) continue;
      const seen = first.get(value);
      if (!seen) first.set(value, placed);
      else if (seen.row[digest] !== sha) {
        throw new Error(
          `${placed.place}: ${name} ${value} has ${what} sha256 ${sha.slice(0, 12)}, but ${seen.row[digest].slice(0, 12)} at ` +
            `${seen.place}: results of two different ${name}s under one name (${how})`,
        );
      }
    }
  }
}

/**
 * Reads a sweep CSV. A last line without its newline is a row cut by a kill: it is dropped (and,
 * with `repair`, cut from the file, so that the next append starts on a fresh line).
 */
export async function readSweepCsv(file: string, options: { repair?: boolean } = {}): Promise<SweepTable> {
  let text: string;
  try {
    text = readTextFile(file);
  } catch (err) {
    throw fileError(file, err, 'cannot read sweep CSV');
  }
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  const dropped = text.slice(complete.length) || undefined;
  if (dropped && options.repair) writeFileAtomic(file, [Buffer.from(complete)]);
  const records: string[][] = [];
  await new Promise<void>((resolve, reject) => {
    parseString<string[], string[]>(complete)
      .on('data', (r: string[]) => records.push(r))
      .on('error', (err: Error) => reject(new Error(`${file}:${records.length + 1}: ${err.message}`)))
      .on('end', () => resolve());
  });
  if (records.length === 0) throw new Error(`${file}: empty (not even a header line)`);
  const [headers, ...body] = records;
  checkHeaders(file, headers);
  const rows = body.map((values, i) => {
    if (values.length !== headers.length)
      throw new Error(`${file}:${i + 2}: ${values.length} columns, the header has ${headers.length}`);
    const row = Object.fromEntries(headers.map((h, j) => [h, values[j]]));
    checkRow(file, i + 2, row);
    return row;
  });
  return { file, headers, rows, dropped };
}

export async function csvText(
  headers: readonly string[],
  rows: readonly Readonly<Record<string, unknown>>[],
  withHeader: boolean,
): Promise<string> {
  const cells = rows.map((r) => headers.map((h) => (r[h] === undefined ? '' : String(r[h]))));
  // As a row of its own: fast-csv writes no header line for no rows.
  return writeToString(withHeader ? [[...headers], ...cells] : cells, { headers: false, includeEndRowDelimiter: true });
}

/** Writes a whole sweep CSV at once (all or nothing). */
export async function writeSweepCsv(
  file: string,
  headers: readonly string[],
  rows: readonly SweepRow[],
): Promise<void> {
  writeFileAtomic(file, [Buffer.from(await csvText(headers, rows, true))]);
}

/** Appends rows in one write: complete rows, or (after a kill) at most one half line, which reading drops. */
export async function appendSweepRows(
  file: string,
  headers: readonly string[],
  rows: readonly Readonly<Record<string, unknown>>[],
): Promise<void> {
  appendWhole(file, await csvText(headers, rows, false));
}

/**
 * The rows already in `file`, which is created with `headers` when absent; a file whose columns
 * differ (another spec) is refused rather than mixed, and left as it is. A half line a killed
 * worker left at the end of this sweep's CSV is cut, so that the next append starts a fresh line.
 */
export async function openSweepCsv(file: string, headers: readonly string[]): Promise<SweepTable> {
  if (!fs.existsSync(file)) {
    await writeSweepCsv(file, headers, []);
    return { file, headers, rows: [] };
  }
  const table = await readSweepCsv(file);
  if (resultColumns(table.headers) === UNIDENTIFIED_RESULT_COLUMNS) {
    throw new Error(
      `${file}: written by an earlier version, whose rows do not record their suites' and teachers' sha256: ` +
        'finish it with that version, or write to another --out (report and merge still read it)',
    );
  }
  if (table.headers.join(',') !== headers.join(',')) {
    let i = 0;
    while (table.headers[i] === headers[i]) i++;
    throw new Error(
      `${file}: its columns differ from this sweep's (column ${i + 1}: '${table.headers[i] ?? ''}', expected '${headers[i] ?? ''}'): another spec's CSV? write to another --out`,
    );
  }
  if (table.dropped) writeFileAtomic(file, [Buffer.from(readTextFile(file).slice(0, -table.dropped.length))]);
  return table;
}

/**
 * Appends the rows whose (point, suite) the CSV does not hold yet, and returns them: a worker that
 * stalled past its lock may find its point done by the worker that took it over. Refused when they
 * give a suite or a teacher another identity than the CSV's rows do. Call under the CSV's lock. A
 * CSV deleted meanwhile is made again, with its header.
 */
export async function appendNewSweepRows(
  file: string,
  headers: readonly string[],
  rows: readonly SweepRow[],
): Promise<SweepRow[]> {
  const table = await openSweepCsv(file, headers);
  const have = new Set(table.rows.map(rowId));
  const fresh = rows.filter((r) => !have.has(rowId(r)));
  checkOneIdentity([
    ...placedRows(table),
    ...fresh.map((row) => ({ place: `point ${row.key} on suite ${row.suite}, not written`, row })),
  ]);
  if (fresh.length > 0) await appendSweepRows(file, headers, fresh);
  return fresh;
}
