#!/usr/bin/env node
// Rebuilds CIFAR-100 in the layouts of both official archives from the real records in
// ../shared/data/cifar100 (one file per class, see its README), for the importer's tests and for
// runs on machines that have only those records:
//   OUT/cifar-100-binary/ and OUT/cifar-100-binary.tar.gz  (train.bin, test.bin, fine/coarse_label_names.txt)
//   OUT/cifar-100-python/ and OUT/cifar-100-python.tar.gz  (train, test: pickles; meta: the official file)
// These are NOT the official bytes: the official train/test membership, record order and file names
// are lost in the source. Here each class's first 500 records (in the source's sorted order) go to
// `train` and its last 100 to `test`, records are interleaved across classes by a seeded shuffle, and
// file names are made up (`<class>_s_<n>.png`). The writer is test/cifar-archives.ts (run `npm run
// build` first).
//
// Usage: node scripts/make-cifar100-archives.mjs OUT [SHARED_CIFAR100_DIR]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import seedrandom from 'seedrandom';
import { writeCifarArchives } from '../dist/test/cifar-archives.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const [out, source = path.resolve(here, '..', '..', 'shared', 'data', 'cifar100')] = process.argv.slice(2);
if (!out) {
  console.error('usage: node scripts/make-cifar100-archives.mjs OUT [SHARED_CIFAR100_DIR]');
  process.exit(2);
}
const RECORD = 3074;
const TRAIN_PER_CLASS = 500;

const lines = (file) => fs.readFileSync(path.join(source, file), 'utf8').trim().split('\n');
const fineNames = lines('labels/fine_label_names.txt');
const coarseNames = lines('labels/coarse_label_names.txt');
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
// Classes interleaved, as in the official files.
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
const meta = fs.readFileSync(path.join(source, 'cifar-100-python', 'meta'));
await writeCifarArchives(out, { train, test, fineNames, coarseNames, meta });
console.log(
  `${out}: cifar-100-binary and cifar-100-python, unpacked and .tar.gz (${train.length} train, ${test.length} test records; rebuilt, not the official bytes)`,
);
