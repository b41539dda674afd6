#!/usr/bin/env node
// Rebuilds CIFAR-100 in the layouts of both official archives from the real records in
// ../shared/data/cifar100 (one file per class, see its README), for the importer's tests and for
// runs on these machines:
//   OUT/cifar-100-binary/{train.bin,test.bin,fine_label_names.txt,coarse_label_names.txt}, OUT/cifar-100-binary.tar.gz
//   OUT/cifar-100-python/{train,test,meta},                                                 OUT/cifar-100-python.tar.gz
// These are NOT the official bytes: the official train/test membership, record order and file names
// are lost in the source. Here each class's first 500 records (in the source's sorted order) go to
// `train` and the last 100 to `test`, records are interleaved across classes by a seeded shuffle, and
// file names are made up (`<class>_s_<n>.png`). The pickles are written as Python 2's cPickle writes the
// official ones (protocol 2: str keys and values, a numpy uint8 array rebuilt by _reconstruct); `meta`
// is the official file itself.
//
// Usage: node scripts/make-cifar100-archives.mjs OUT [SHARED_CIFAR100_DIR]
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import seedrandom from 'seedrandom';
import tar from 'tar-stream';

const here = path.dirname(fileURLToPath(import.meta.url));
const [out, source = path.resolve(here, '..', '..', 'shared', 'data', 'cifar100')] = process.argv.slice(2);
if (!out) {
  console.error('usage: node scripts/make-cifar100-archives.mjs OUT [SHARED_CIFAR100_DIR]');
  process.exit(2);
}
const RECORD = 3074;
const TRAIN_PER_CLASS = 500;

const fineNames = fs
  .readFileSync(path.join(source, 'labels', 'fine_label_names.txt'), 'utf8')
  .trim()
  .split('\n');
const coarseNames = fs
  .readFileSync(path.join(source, 'labels', 'coarse_label_names.txt'), 'utf8')
  .trim()
  .split('\n');
const train = [];
const test = [];
fineNames.forEach((name, fine) => {
  const file = path.join(source, 'by-class', `${String(fine).padStart(2, '0')}_${name}.bin`);
  const bytes = fs.readFileSync(file);
  for (let i = 0; i < bytes.length / RECORD; i++) {
    const record = bytes.subarray(i * RECORD, (i + 1) * RECORD);
    if (record[1] !== fine) throw new Error(`${file}: record ${i} has fine label ${record[1]}`);
    (i < TRAIN_PER_CLASS ? train : test).push({ record, filename: `${name}_s_${String(i).padStart(6, '0')}.png` });
  }
});
// Interleaved classes, as in the official files.
for (const [set, seed] of [
  [train, 'train'],
  [test, 'test'],
]) {
  const rng = seedrandom(`cifar100-archives/${seed}`);
  for (let i = set.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [set[i], set[j]] = [set[j], set[i]];
  }
}

// --- Python 2 pickle, protocol 2 ---
const op = (c) => Buffer.from(c, 'latin1');
const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
/** A Python 2 str: SHORT_BINSTRING below 256 bytes, else BINSTRING. */
const str = (s) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1');
  return b.length < 256
    ? Buffer.concat([op('U'), Buffer.from([b.length]), b])
    : Buffer.concat([op('T'), u32(b.length), b]);
};
const int = (n) => (n < 256 ? Buffer.concat([op('K'), Buffer.from([n])]) : Buffer.concat([op('J'), u32(n)]));
const list = (items) => Buffer.concat([op(']('), ...items, op('e')]);
function ndarrayUint8(rows, cols, data) {
  return Buffer.concat([
    op('cnumpy.core.multiarray\n_reconstruct\n'),
    op('cnumpy\nndarray\n'),
    int(0),
    op('\x85'), // TUPLE1: shape (0,)
    str('b'),
    op('\x87R'), // TUPLE3, REDUCE
    op('('),
    int(1),
    int(rows),
    int(cols),
    op('\x86'), // TUPLE2: shape
    op('cnumpy\ndtype\n'),
    str('u1'),
    int(0),
    int(1),
    op('\x87R('), // dtype('u1', 0, 1), then its state
    int(3),
    str('|'),
    op('NNN'),
    op('J'),
    Buffer.from([0xff, 0xff, 0xff, 0xff]),
    op('J'),
    Buffer.from([0xff, 0xff, 0xff, 0xff]),
    int(0),
    op('tb'), // TUPLE, BUILD
    op('\x89'), // NEWFALSE: C order
    str(data),
    op('tb'),
  ]);
}
function batchPickle(set, label) {
  const data = Buffer.concat(set.map((r) => r.record.subarray(2)));
  const entries = [
    [str('filenames'), list(set.map((r) => str(r.filename)))],
    [str('batch_label'), str(label)],
    [str('fine_labels'), list(set.map((r) => int(r.record[1])))],
    [str('coarse_labels'), list(set.map((r) => int(r.record[0])))],
    [str('data'), ndarrayUint8(set.length, 3072, data)],
  ];
  return Buffer.concat([op('\x80\x02}('), ...entries.flat(), op('u.')]);
}

const binary = {
  'train.bin': Buffer.concat(train.map((r) => r.record)),
  'test.bin': Buffer.concat(test.map((r) => r.record)),
  'fine_label_names.txt': Buffer.from(fineNames.join('\n') + '\n'),
  'coarse_label_names.txt': Buffer.from(coarseNames.join('\n') + '\n'),
};
const python = {
  train: batchPickle(train, 'training batch 1 of 1'),
  test: batchPickle(test, 'testing batch 1 of 1'),
  meta: fs.readFileSync(path.join(source, 'cifar-100-python', 'meta')),
};

async function write(folder, files) {
  const dir = path.join(out, folder);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), bytes);
  const pack = tar.pack();
  pack.entry({ name: `${folder}/`, type: 'directory' });
  for (const [name, bytes] of Object.entries(files)) pack.entry({ name: `${folder}/${name}` }, bytes);
  pack.finalize();
  await pipeline(pack, zlib.createGzip({ level: 1 }), fs.createWriteStream(path.join(out, `${folder}.tar.gz`)));
}
await write('cifar-100-binary', binary);
await write('cifar-100-python', python);
console.log(
  `${out}: cifar-100-binary and cifar-100-python (${train.length} train, ${test.length} test records; rebuilt, not the official bytes)`,
);
