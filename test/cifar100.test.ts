import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { CIFAR_BENCHMARKS, SHIPPED_CLASS_LISTS, importCifar100 } from '../src/data/cifar100.js';
import { openDataset } from '../src/data/open.js';
import { FINE_NAMES, cifarArchiveFiles, randomCifarContent, writeCifarArchives, writeTarGz } from './cifar-archives.js';
import { expectImportFailure } from './image-fixtures.js';
import { ROOT, SHARED, requireData, tempDir } from './helpers.js';

const REAL = path.join(SHARED, 'data', 'cifar100');
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** The cache files of both benchmarks, by `<benchmark>/<split>.bin`, as sha256. */
function cacheHashes(out: string): Record<string, string> {
  return Object.fromEntries(
    CIFAR_BENCHMARKS.flatMap((b) =>
      ['train', 'val', 'test'].map((s) => [`${b}/${s}`, sha(path.join(out, b, `${s}.bin`))]),
    ),
  );
}

describe('cifar100', function () {
  this.timeout(120_000);
  let from: string;
  const content = randomCifarContent(3, 2);

  before(async () => {
    from = tempDir('fewshot-cifar-');
    await writeCifarArchives(from, content);
  });

  it('imports either official kind, packed or unpacked, into the same CIFAR-FS and FC100 caches', async () => {
    const outs: Record<string, string> = {};
    for (const source of [
      'cifar-100-binary.tar.gz',
      'cifar-100-binary',
      'cifar-100-python.tar.gz',
      'cifar-100-python',
      '.', // the folder an archive was unpacked in
    ]) {
      const out = path.join(tempDir(), 'caches');
      const summary = await importCifar100({ from: path.join(from, source), out });
      expect(summary.images, source).to.equal(300);
      expect(summary.kind).to.equal(source.includes('python') ? 'python' : 'binary');
      // A rebuilt archive is reported as not the official one; a folder has no MD5.
      expect(summary.officialArchive).to.equal(source.endsWith('.tar.gz') ? false : undefined);
      expect(summary.benchmarks['cifar-fs'].splits).to.deep.equal({ train: 64, val: 16, test: 20 });
      expect(summary.benchmarks.fc100.splits).to.deep.equal({ train: 60, val: 20, test: 20 });
      expect(summary.benchmarks.fc100.imagesPerSplit).to.deep.equal({ train: 180, val: 60, test: 60 });
      outs[source] = out;
    }
    const reference = cacheHashes(outs['cifar-100-binary.tar.gz']);
    for (const out of Object.values(outs)) expect(cacheHashes(out)).to.deep.equal(reference);
  });

  it('names images by content, so record order does not matter, and stores them as H x W x C', async () => {
    const shuffled = {
      ...content,
      train: [...content.test, ...content.train].reverse().slice(0, 200),
      test: [...content.test, ...content.train].reverse().slice(200),
    };
    const dir = tempDir();
    await writeCifarArchives(dir, shuffled);
    const [a, b] = [path.join(tempDir(), 'c'), path.join(tempDir(), 'c')];
    await importCifar100({ from: path.join(from, 'cifar-100-binary'), out: a });
    await importCifar100({ from: path.join(dir, 'cifar-100-python'), out: b });
    expect(cacheHashes(b)).to.deep.equal(cacheHashes(a));

    // The first CIFAR-FS test class's images: each the sha256 of its planar bytes, pixels interleaved.
    const dataset = openDataset('cifar-fs', 'test', path.join(a, 'cifar-fs'));
    const fine = FINE_NAMES.indexOf(dataset.classIds[0]);
    const mine = [...content.train, ...content.test].filter((r) => r.record[1] === fine);
    const byName = new Map(
      mine.map((r) => [createHash('sha256').update(r.record.subarray(2)).digest('hex').slice(0, 16), r.record]),
    );
    expect(dataset.imageShape).to.deep.equal([32, 32, 3]);
    expect(dataset.imageCount(0)).to.equal(3);
    const out = new Float32Array(32 * 32 * 3);
    for (let i = 0; i < 3; i++) {
      const id = dataset.imageId({ classIndex: 0, imageIndex: i });
      const record = byName.get(id.split('/')[1])!;
      expect(record, id).to.not.equal(undefined);
      dataset.readPixels({ classIndex: 0, imageIndex: i }, out, 0);
      // Pixel (y 5, x 7), green: planar byte 1024 + 5 * 32 + 7.
      expect(Math.round(out[(5 * 32 + 7) * 3 + 1] * 255)).to.equal(record[2 + 1024 + 5 * 32 + 7]);
    }
  });

  it('names a repeated image in a class <hash>-2', async () => {
    const twice = { ...content, test: [...content.test, content.test[0]] };
    const dir = tempDir();
    await writeCifarArchives(dir, twice);
    const out = path.join(tempDir(), 'c');
    await importCifar100({ from: path.join(dir, 'cifar-100-binary'), out });
    const fine = content.test[0].record[1];
    const benchmark = CIFAR_BENCHMARKS.find((b) =>
      fs
        .readFileSync(path.join(SHIPPED_CLASS_LISTS, b, 'train.txt'), 'utf8')
        .split('\n')
        .includes(FINE_NAMES[fine]),
    )!;
    const dataset = openDataset(benchmark, 'train', path.join(out, benchmark));
    const c = dataset.classIds.indexOf(FINE_NAMES[fine]);
    const names = Array.from({ length: dataset.imageCount(c) }, (_, i) =>
      dataset.imageId({ classIndex: c, imageIndex: i }),
    );
    expect(names).to.have.length(4);
    const hash = createHash('sha256').update(content.test[0].record.subarray(2)).digest('hex').slice(0, 16);
    expect(names).to.include(`${FINE_NAMES[fine]}/${hash}`).and.include(`${FINE_NAMES[fine]}/${hash}-2`);
  });

  describe('refuses bad input in one line naming the file, writing nothing', () => {
    const files = () => cifarArchiveFiles(content);
    /** An unpacked binary folder with one file replaced. */
    const binaryWith = (name: string, bytes: Uint8Array) => {
      const dir = path.join(tempDir(), 'cifar-100-binary');
      fs.mkdirSync(dir);
      for (const [n, b] of Object.entries({ ...files()['cifar-100-binary'], [name]: bytes }))
        fs.writeFileSync(path.join(dir, n), b);
      return dir;
    };
    const fails = (src: string, prefix: string, classLists?: Record<string, string>) => {
      const out = path.join(tempDir(), 'caches');
      return expectImportFailure(
        () => importCifar100({ from: src, out, classLists }),
        path.join(out, 'cifar-fs'),
        prefix,
      );
    };

    it('a truncated archive', async () => {
      const whole = fs.readFileSync(path.join(from, 'cifar-100-python.tar.gz'));
      const cut = path.join(tempDir(), 'cifar-100-python.tar.gz');
      fs.writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
      await fails(cut, `${cut}: `);
    });

    it('an archive without the test set', async () => {
      const file = path.join(tempDir(), 'cifar-100-binary.tar.gz');
      const { 'test.bin': _, ...rest } = files()['cifar-100-binary'];
      await writeTarGz(file, 'cifar-100-binary', rest);
      await fails(file, `${file}: not a complete CIFAR-100 archive (no test.bin in it`);
    });

    it('a record of the wrong size, labels out of range', async () => {
      const train = files()['cifar-100-binary']['train.bin'];
      let dir = binaryWith('train.bin', train.subarray(0, train.length - 1));
      await fails(
        dir,
        `${path.join(dir, 'train.bin')}: ${train.length - 1} bytes is not a whole number of 3074-byte records`,
      );
      const badFine = Uint8Array.from(train);
      badFine[3074 * 7 + 1] = 100;
      dir = binaryWith('train.bin', badFine);
      await fails(dir, `${path.join(dir, 'train.bin')}: record 7 has fine label 100 (0-99)`);
      const badCoarse = Uint8Array.from(train);
      badCoarse[0] = 20;
      dir = binaryWith('train.bin', badCoarse);
      await fails(dir, `${path.join(dir, 'train.bin')}: record 0 has coarse label 20 (0-19)`);
    });

    it('a class list naming an unknown class, or a class in two splits', async () => {
      const lists = tempDir();
      for (const s of ['train', 'val', 'test'])
        fs.copyFileSync(path.join(SHIPPED_CLASS_LISTS, 'cifar-fs', `${s}.txt`), path.join(lists, `${s}.txt`));
      const val = path.join(lists, 'val.txt');
      const good = fs.readFileSync(val, 'utf8');
      fs.writeFileSync(val, good.replace(/^(\S+)/, 'unicorn'));
      const src = path.join(from, 'cifar-100-binary');
      await fails(src, `${val}:1: 'unicorn' is not a CIFAR-100 class`, { mine: lists });
      const firstTrain = fs.readFileSync(path.join(lists, 'train.txt'), 'utf8').split('\n')[0];
      fs.writeFileSync(val, `${good}${firstTrain}\n`);
      await fails(src, `${val}:17: class '${firstTrain}' is already listed at ${path.join(lists, 'train.txt')}:1`, {
        mine: lists,
      });
    });

    it('from the command line: exit code 1 and one line', () => {
      const missing = path.join(tempDir(), 'nothing-here');
      const r = spawnSync(
        process.execPath,
        [path.join(ROOT, 'dist/src/cli/main.js'), 'data', 'cifar100', '--from', missing],
        {
          encoding: 'utf8',
          env: { ...process.env, FEWSHOT_CACHE: tempDir() },
        },
      );
      expect(r.status).to.equal(1);
      expect(r.stderr.trim().split('\n')).to.deep.equal([
        `fewshot: ${missing}: no such file or folder (the CIFAR-100 archive or its unpacked folder)`,
      ]);
    });
  });

  it('the real CIFAR-100, rebuilt in both official layouts (not the official bytes): four sources, one cache', async function () {
    requireData(this, path.join(REAL, 'by-class'));
    this.timeout(600_000);
    const dir = tempDir('fewshot-cifar-real-');
    const made = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'make-cifar100-archives.mjs'), dir, REAL], {
      encoding: 'utf8',
    });
    expect(made.status, made.stderr).to.equal(0);
    let reference: Record<string, string> | undefined;
    for (const source of [
      'cifar-100-binary.tar.gz',
      'cifar-100-binary',
      'cifar-100-python.tar.gz',
      'cifar-100-python',
    ]) {
      const out = path.join(dir, `out-${source}`);
      const summary = await importCifar100({ from: path.join(dir, source), out });
      console.log(`      (${source}: ${summary.seconds.toFixed(1)} s)`);
      expect(summary.images).to.equal(60000);
      expect(summary.benchmarks['cifar-fs'].imagesPerSplit).to.deep.equal({ train: 38400, val: 9600, test: 12000 });
      expect(summary.benchmarks.fc100.imagesPerSplit).to.deep.equal({ train: 36000, val: 12000, test: 12000 });
      reference ??= cacheHashes(out);
      expect(cacheHashes(out), source).to.deep.equal(reference);
      fs.rmSync(out, { recursive: true });
    }
    // Within a class, CIFAR-100's 9 repeated images of aquarium_fish are named <hash>-2 (FC100 train).
    const out = path.join(dir, 'again');
    await importCifar100({ from: path.join(dir, 'cifar-100-binary'), out });
    const fc100 = openDataset('fc100', 'train', path.join(out, 'fc100'));
    const fish = fc100.classIds.indexOf('aquarium_fish');
    const ids = Array.from({ length: 600 }, (_, i) => fc100.imageId({ classIndex: fish, imageIndex: i }));
    expect(ids.filter((id) => id.endsWith('-2'))).to.have.length(9);
    // The shipped frozen suites are drawn from this cache: their manifests hash as recorded.
    const suites = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'dist/src/cli/main.js'),
        'episodes',
        'verify',
        path.join(ROOT, 'episodes', 'cifar-fs-test-5w1s.json'),
        '--data',
        path.join(out, 'cifar-fs'),
      ],
      { encoding: 'utf8' },
    );
    expect(suites.status, suites.stderr).to.equal(0);
  });
});
