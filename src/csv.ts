/**
 * CSV files with a fixed header, read row by row and counted by line, so that a bad row is refused
 * as `file:line: why`. A file without quotes or carriage returns (every file this package writes
 * whose ids need no quoting) is split on newlines and commas directly: fast-csv's general parser
 * took ~5 s of the ~6 s that reading the four Omniglot test manifests (900k rows) cost. Any other
 * file goes through fast-csv, which the plain reader matches on plain input (test/csv.test.ts).
 */
import { Readable } from 'node:stream';
import { parse } from 'fast-csv';
import { readRegularFile } from './files.js';

export type RowHandler<H extends string> = (row: Record<H, string>, line: number) => void;

/**
 * Calls `onRow` for every row, by column name, with its line number (the header is line 1). The
 * header must be exactly `headers`; an error thrown by `onRow` is reported at its line.
 * @param bytes the file's contents when the caller has them already (to hash them, say)
 */
export function readCsvRows<H extends string>(
  file: string,
  headers: readonly H[],
  onRow: RowHandler<H>,
  bytes?: Buffer,
): Promise<void> {
  let data: Buffer;
  try {
    data = bytes ?? readRegularFile(file);
  } catch (err) {
    return Promise.reject(new Error(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`));
  }
  if (isPlainCsv(data)) {
    try {
      readPlainCsvRows(file, headers, onRow, data);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return readQuotedCsvRows(file, headers, onRow, data);
}

const QUOTE = 0x22;
const CR = 0x0d;
const NEWLINE = 0x0a;
const BOM = '\ufeff';

/** Whether the bytes can be read by splitting: no quoted field and no `\r` row delimiter. */
export function isPlainCsv(data: Buffer): boolean {
  return data.indexOf(QUOTE) < 0 && data.indexOf(CR) < 0;
}

/** Decoded this many bytes at a time (cut after a newline, which no UTF-8 sequence contains). */
const CHUNK = 1 << 24;

/** Reads a plain CSV (see `isPlainCsv`): fields are what lies between commas, rows between newlines. */
export function readPlainCsvRows<H extends string>(
  file: string,
  headers: readonly H[],
  onRow: RowHandler<H>,
  data: Buffer,
): void {
  const expected = headers.join(',');
  const fail = (at: number, why: string) => new Error(`${file}:${at}: ${why}`);
  let line = 0;
  for (let start = 0; start < data.length;) {
    let end = Math.min(start + CHUNK, data.length);
    if (end < data.length) {
      const lastNewline = data.lastIndexOf(NEWLINE, end - 1);
      end = lastNewline >= start ? lastNewline + 1 : data.indexOf(NEWLINE, end) + 1 || data.length;
    }
    let text = data.toString('utf8', start, end);
    if (start === 0 && text.startsWith(BOM)) text = text.slice(1);
    start = end;
    for (let from = 0; from < text.length;) {
      let to = text.indexOf('\n', from);
      if (to < 0) to = text.length;
      const fields = text.slice(from, to).split(',');
      from = to + 1;
      line++;
      if (line === 1) {
        if (fields.join(',') !== expected) throw fail(1, `header '${fields.join(',')}', expected '${expected}'`);
        continue;
      }
      if (fields.length !== headers.length) throw fail(line, `expected ${headers.length} columns`);
      const row = {} as Record<H, string>;
      for (let i = 0; i < headers.length; i++) row[headers[i]] = fields[i];
      try {
        onRow(row, line);
      } catch (err) {
        throw fail(line, (err as Error).message);
      }
    }
  }
  if (line === 0) throw fail(1, `empty file, expected the header '${expected}'`);
}

/** Reads any CSV with fast-csv (quoted fields, `\r` or `\r\n` row delimiters). */
export function readQuotedCsvRows<H extends string>(
  file: string,
  headers: readonly H[],
  onRow: RowHandler<H>,
  data: Buffer,
): Promise<void> {
  const expected = headers.join(',');
  const fail = (at: number, why: string) => new Error(`${file}:${at}: ${why}`);
  let line = 1;
  let sawHeader = false;
  return new Promise((resolve, reject) => {
    const stream = parse<Record<H, string>, Record<H, string>>({
      headers: (got) => {
        sawHeader = true;
        if (got.join(',') !== expected) throw fail(1, `header '${got.join(',')}', expected '${expected}'`);
        return got;
      },
      strictColumnHandling: true,
    });
    stream
      .on('error', (err) => reject(err.message.startsWith(file) ? err : fail(line + 1, err.message)))
      .on('data-invalid', () => {
        line++;
        stream.destroy(fail(line, `expected ${headers.length} columns`));
      })
      .on('data', (row: Record<H, string>) => {
        line++;
        try {
          onRow(row, line);
        } catch (err) {
          stream.destroy(fail(line, (err as Error).message));
        }
      })
      .on('end', () => (sawHeader ? resolve() : reject(fail(1, `empty file, expected the header '${expected}'`))));
    Readable.from([data]).pipe(stream);
  });
}
