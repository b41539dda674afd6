/**
 * CIFAR-100 in the layouts of both official archives, written from records in memory: for the
 * importer's tests (small generated records) and, through scripts/make-cifar100-archives.mjs, from
 * the real records in ../shared (rebuilt, not the official bytes). The pickles are written as
 * Python 2's cPickle writes the official ones: protocol 2, str keys and values, the images a numpy
 * uint8 array rebuilt by `numpy.core.multiarray._reconstruct`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import seedrandom from 'seedrandom';
import tar from 'tar-stream';
import { ROOT } from './helpers.js';

/** One official record: coarse label, fine label, 3072 planar pixel bytes; and a file name for the pickles. */
export interface CifarRecord {
  readonly record: Uint8Array;
  readonly filename: string;
}

export interface CifarArchiveContent {
  readonly train: readonly CifarRecord[];
  readonly test: readonly CifarRecord[];
  readonly fineNames: readonly string[];
  readonly coarseNames: readonly string[];
  /** The python version's `meta` bytes (default: written here from the names). */
  readonly meta?: Uint8Array;
}

const op = (c: string) => Buffer.from(c, 'latin1');
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};
/** A Python 2 str: SHORT_BINSTRING below 256 bytes, else BINSTRING. */
const str = (s: string | Uint8Array) => {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s.buffer, s.byteOffset, s.byteLength);
  return b.length < 256
    ? Buffer.concat([op('U'), Buffer.from([b.length]), b])
    : Buffer.concat([op('T'), u32(b.length), b]);
};
const int = (n: number) =>
  n >= 0 && n < 256 ? Buffer.concat([op('K'), Buffer.from([n])]) : Buffer.concat([op('J'), u32(n)]);
const list = (items: Buffer[]) => Buffer.concat([op(']('), ...items, op('e')]);
const dict = (entries: [string, Buffer][]) =>
  Buffer.concat([op('\x80\x02}('), ...entries.flatMap(([k, v]) => [str(k), v]), op('u.')]);

/** numpy.ndarray of uint8, shape (rows, cols), C order, as protocol 2 pickles it. */
function ndarrayUint8(rows: number, cols: number, data: Uint8Array): Buffer {
  return Buffer.concat([
    op('cnumpy.core.multiarray\n_reconstruct\n'),
    op('cnumpy\nndarray\n'),
    int(0),
    op('\x85'), // TUPLE1: (0,)
    str('b'),
    op('\x87R('), // TUPLE3, REDUCE, then the array's state
    int(1),
    int(rows),
    int(cols),
    op('\x86'), // TUPLE2: the shape
    op('cnumpy\ndtype\n'),
    str('u1'),
    int(0),
    int(1),
    op('\x87R('), // dtype('u1', 0, 1), then its state (3, '|', None, None, None, -1, -1, 0)
    int(3),
    str('|'),
    op('NNN'),
    int(-1),
    int(-1),
    int(0),
    op('tb'),
    op('\x89'), // False: C order
    str(data),
    op('tb'),
  ]);
}

export function batchPickle(set: readonly CifarRecord[], label: string): Buffer {
  const data = new Uint8Array(set.length * 3072);
  set.forEach((r, i) => data.set(r.record.subarray(2), i * 3072));
  return dict([
    ['filenames', list(set.map((r) => str(r.filename)))],
    ['batch_label', str(label)],
    ['fine_labels', list(set.map((r) => int(r.record[1])))],
    ['coarse_labels', list(set.map((r) => int(r.record[0])))],
    ['data', ndarrayUint8(set.length, 3072, data)],
  ]);
}

export function metaPickle(fineNames: readonly string[], coarseNames: readonly string[]): Buffer {
  return dict([
    ['fine_label_names', list(fineNames.map((n) => str(n)))],
    ['coarse_label_names', list(coarseNames.map((n) => str(n)))],
  ]);
}

/** The files of each official layout, by folder name. */
export function cifarArchiveFiles(content: CifarArchiveContent): Record<string, Record<string, Uint8Array>> {
  const records = (set: readonly CifarRecord[]) => Buffer.concat(set.map((r) => r.record));
  return {
    'cifar-100-binary': {
      'train.bin': records(content.train),
      'test.bin': records(content.test),
      'fine_label_names.txt': Buffer.from(content.fineNames.join('\n') + '\n'),
      'coarse_label_names.txt': Buffer.from(content.coarseNames.join('\n') + '\n'),
    },
    'cifar-100-python': {
      train: batchPickle(content.train, 'training batch 1 of 1'),
      test: batchPickle(content.test, 'testing batch 1 of 1'),
      meta: content.meta ?? metaPickle(content.fineNames, content.coarseNames),
    },
  };
}

/** A folder's files as `<folder>.tar.gz`, holding `<folder>/<name>` as the official archives do. */
export async function writeTarGz(file: string, folder: string, files: Record<string, Uint8Array>): Promise<void> {
  const pack = tar.pack();
  pack.entry({ name: `${folder}/`, type: 'directory' });
  for (const [name, bytes] of Object.entries(files)) pack.entry({ name: `${folder}/${name}` }, Buffer.from(bytes));
  pack.finalize();
  await pipeline(pack, zlib.createGzip({ level: 1 }), fs.createWriteStream(file));
}

/** Writes both layouts under `out`, unpacked (`cifar-100-binary/`, `cifar-100-python/`) and as `.tar.gz`. */
export async function writeCifarArchives(out: string, content: CifarArchiveContent): Promise<void> {
  for (const [folder, files] of Object.entries(cifarArchiveFiles(content))) {
    fs.mkdirSync(path.join(out, folder), { recursive: true });
    for (const [name, bytes] of Object.entries(files)) fs.writeFileSync(path.join(out, folder, name), bytes);
    await writeTarGz(path.join(out, `${folder}.tar.gz`), folder, files);
  }
}

/** CIFAR-100's fine class names, in label order (the official `meta`'s). */
export const FINE_NAMES = fs
  .readFileSync(path.join(ROOT, 'test', 'fixtures', 'cifar100-fine-names.txt'), 'utf8')
  .trim()
  .split('\n');

/** `perClass` random records of every fine class (the first `trainPerClass` of each in train), seeded. */
export function randomCifarContent(perClass: number, trainPerClass: number, seed = 'cifar'): CifarArchiveContent {
  const rng = seedrandom(seed);
  const train: CifarRecord[] = [];
  const test: CifarRecord[] = [];
  for (let fine = 0; fine < 100; fine++) {
    for (let i = 0; i < perClass; i++) {
      const record = new Uint8Array(3074);
      record[0] = fine % 20;
      record[1] = fine;
      for (let b = 2; b < 3074; b++) record[b] = Math.floor(rng() * 256);
      (i < trainPerClass ? train : test).push({ record, filename: `${FINE_NAMES[fine]}_s_${i}.png` });
    }
  }
  return { train, test, fineNames: FINE_NAMES, coarseNames: Array.from({ length: 20 }, (_, i) => `superclass_${i}`) };
}
