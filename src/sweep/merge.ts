/**
 * Merging shard CSVs into one sweep. Refused: files with other columns (another spec), a (point,
 * suite) row twice, a point with rows in two files (run twice), and a point whose settings or
 * training results differ between its rows (an edited file), a suite or a teacher with two identities
 * (sha256 of its episodes or weights), and rows made by different versions of the code unless allowed. Each message names both places.
 */
import {
  POINT_RESULT_COLUMNS,
  SweepRow,
  SweepTable,
  checkOneCodeVersion,
  checkOneIdentity,
  placedRows,
  readSweepCsv,
  rowId,
  settingNames,
  writeSweepCsv,
} from './csv.js';

export interface MergeResult {
  readonly headers: readonly string[];
  readonly rows: readonly SweepRow[];
  /** Half-written last lines left out (a shard killed while appending), by file. */
  readonly dropped: readonly string[];
}

const place = (t: SweepTable, i: number) => `${t.file}:${i + 2}`;

export interface MergeOptions {
  /** Combine rows made by different code versions (refused by default). */
  readonly allowMixedCode?: boolean;
}

export async function mergeSweeps(files: readonly string[], options: MergeOptions = {}): Promise<MergeResult> {
  if (files.length === 0) throw new Error('nothing to merge: name the shard CSVs');
  const tables = await Promise.all(files.map((f) => readSweepCsv(f)));
  const headers = tables[0].headers;
  const pointColumns = [...settingNames(headers), ...POINT_RESULT_COLUMNS];
  const byRow = new Map<string, { table: SweepTable; i: number }>();
  const byPoint = new Map<string, { table: SweepTable; i: number }>();
  const rows: SweepRow[] = [];
  for (const table of tables) {
    if (table.headers.join(',') !== headers.join(',')) {
      throw new Error(
        `${table.file}: its columns differ from ${tables[0].file}'s: shards of one spec have the same columns`,
      );
    }
    table.rows.forEach((row, i) => {
      const same = byRow.get(rowId(row));
      if (same) {
        const other = same.table.rows[same.i];
        const differ = headers.find((h) => other[h] !== row[h]);
        throw new Error(
          `${place(table, i)}: point ${row.key} on suite ${row.suite} is also at ${place(same.table, same.i)} (` +
            (differ ? `with another ${differ}: '${row[differ]}' vs '${other[differ]}'` : 'a duplicate') +
            '): each (point, suite) must come from one shard',
        );
      }
      const first = byPoint.get(row.key);
      if (first && first.table !== table) {
        throw new Error(
          `${place(table, i)}: point ${row.key} also has rows at ${place(first.table, first.i)}: ` +
            'the same point run in two shards (each point belongs to one)',
        );
      }
      const differ = first && pointColumns.find((c) => first.table.rows[first.i][c] !== row[c]);
      if (first && differ) {
        throw new Error(
          `${place(table, i)}: point ${row.key} has ${differ} '${row[differ]}' but '${first.table.rows[first.i][differ]}' at ` +
            `${place(first.table, first.i)}: the same point with different settings or results`,
        );
      }
      byRow.set(rowId(row), { table, i });
      if (!first) byPoint.set(row.key, { table, i });
      rows.push(row);
    });
  }
  checkOneCodeVersion(tables, options.allowMixedCode);
  checkOneIdentity(tables.flatMap(placedRows));
  return { headers, rows, dropped: tables.filter((t) => t.dropped).map((t) => t.file) };
}

/** Merges shard CSVs into `out` (all or nothing). */
export async function mergeSweepFiles(
  files: readonly string[],
  out: string,
  options: MergeOptions = {},
): Promise<MergeResult> {
  const merged = await mergeSweeps(files, options);
  await writeSweepCsv(out, merged.headers, merged.rows);
  return merged;
}
