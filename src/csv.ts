/**
 * CSV files with a fixed header, read row by row (fast-csv) and counted by line, so that a bad row
 * is refused as `file:line: why`.
 */
import * as fs from 'node:fs';
import { parse } from 'fast-csv';

/**
 * Calls `onRow` for every row, by column name, with its line number (the header is line 1). The
 * header must be exactly `headers`; an error thrown by `onRow` is reported at its line.
 */
export function readCsvRows<H extends string>(
  file: string,
  headers: readonly H[],
  onRow: (row: Record<H, string>, line: number) => void,
): Promise<void> {
  const expected = headers.join(',');
  const fail = (at: number, why: string) => new Error(`${file}:${at}: ${why}`);
  let line = 1;
  let sawHeader = false;
  return new Promise((resolve, reject) => {
    const input = fs.createReadStream(file);
    input.on('error', (err) => reject(new Error(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`)));
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
    input.pipe(stream);
  });
}
