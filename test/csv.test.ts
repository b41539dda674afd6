import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { isPlainCsv, readCsvRows, readPlainCsvRows, readQuotedCsvRows } from '../src/csv.js';
import { ROOT, tempDir } from './helpers.js';

type Outcome = { rows: [number, Record<string, string>][]; error?: string };

/** Rows (with line numbers) a reader gives, and its error with the file's name taken out. */
async function outcome(
  read: (file: string, onRow: (row: Record<string, string>, line: number) => void) => Promise<void> | void,
  file: string,
): Promise<Outcome> {
  const rows: Outcome['rows'] = [];
  try {
    await read(file, (row, line) => {
      if (row.a === 'boom') throw new Error('refused by the caller');
      rows.push([line, { ...row }]);
    });
    return { rows };
  } catch (err) {
    return { rows, error: (err as Error).message.replace(file, 'FILE') };
  }
}

describe('CSV rows', () => {
  const headers = ['a', 'b'] as const;
  const plain = (file: string, onRow: (row: Record<string, string>, line: number) => void) =>
    readPlainCsvRows(file, headers, onRow, fs.readFileSync(file));
  const general = (file: string, onRow: (row: Record<string, string>, line: number) => void) =>
    readQuotedCsvRows(file, headers, onRow, fs.readFileSync(file));

  // Every case the plain reader takes (no quote, no carriage return): it must agree with fast-csv.
  const cases: Record<string, string> = {
    rows: 'a,b\n1,2\n3,4\n',
    'no final newline': 'a,b\n1,2\n3,4',
    'an empty line inside': 'a,b\n1,2\n\n3,4\n',
    'empty lines at the end': 'a,b\n1,2\n\n\n',
    'a line of spaces': 'a,b\n1,2\n   \n3,4\n',
    'spaces and tabs kept': 'a,b\n 1 ,\t2 \n',
    'too many columns': 'a,b\n1,2,3\n',
    'too few columns': 'a,b\n1\n',
    'a trailing comma': 'a,b\n1,2,\n',
    'empty fields': 'a,b\n,\n',
    'the header alone': 'a,b\n',
    'the header without newline': 'a,b',
    'an empty file': '',
    'a newline alone': '\n',
    'a byte order mark': '\ufeffa,b\n1,2\n',
    'another header': 'a,c\n1,2\n',
    'a header with a space': 'a, b\n1,2\n',
    'non-ASCII ids': 'a,b\nÅngström,日本\n',
    'a row the caller refuses': 'a,b\n1,2\nboom,3\n4,5\n',
  };
  for (const [what, text] of Object.entries(cases)) {
    it(`reads ${what} as fast-csv does`, async () => {
      const file = path.join(tempDir(), 'x.csv');
      fs.writeFileSync(file, text);
      expect(isPlainCsv(fs.readFileSync(file))).to.equal(true);
      expect(await outcome(plain, file)).to.deep.equal(await outcome(general, file));
    });
  }

  it('takes quoted fields and carriage returns to fast-csv', async () => {
    const file = path.join(tempDir(), 'q.csv');
    fs.writeFileSync(file, 'a,b\r\n"x,y",2\r\n"say ""hi""",3\r\n');
    expect(isPlainCsv(fs.readFileSync(file))).to.equal(false);
    expect(await outcome((f, on) => readCsvRows(f, headers, on), file)).to.deep.equal({
      rows: [
        [2, { a: 'x,y', b: '2' }],
        [3, { a: 'say "hi"', b: '3' }],
      ],
    });
  });

  it('reads rows across its decoding chunks and multi-byte characters', async () => {
    // Lines long enough that 16 MiB chunks end mid-line, with 3-byte characters throughout.
    const line = (i: number) => `${i}${'日'.repeat(1000)},${i}`;
    const text = ['a,b', ...Array.from({ length: 6000 }, (_, i) => line(i))].join('\n') + '\n';
    const file = path.join(tempDir(), 'long.csv');
    fs.writeFileSync(file, text);
    const got = await outcome(plain, file);
    expect(got.error).to.equal(undefined);
    expect(got.rows).to.have.length(6000);
    got.rows.forEach(([at, row], i) =>
      expect([at, row.a, row.b]).to.deep.equal([i + 2, line(i).split(',')[0], String(i)]),
    );
  });

  it('reads the shipped manifests as fast-csv does', async () => {
    const manifestHeaders = ['episode', 'role', 'class', 'image'] as const;
    const file = path.join(ROOT, 'episodes', 'synthetic-val-5w1s.csv');
    const collect = async (read: typeof readPlainCsvRows | typeof readQuotedCsvRows) => {
      const rows: unknown[] = [];
      await read(file, manifestHeaders, (row, line) => rows.push([line, row]), fs.readFileSync(file));
      return rows;
    };
    const fast = await collect(readPlainCsvRows);
    expect(fast).to.have.length(100 * 5 * 16);
    expect(fast).to.deep.equal(await collect(readQuotedCsvRows));
  });

  it('names the file it cannot read', async () => {
    const missing = path.join(tempDir(), 'missing.csv');
    await readCsvRows(missing, headers, () => undefined).then(
      () => expect.fail('accepted'),
      (err: Error) => expect(err.message).to.equal(`${missing}: cannot read (ENOENT)`),
    );
  });
});
