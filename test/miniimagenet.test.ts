import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import tar from 'tar-stream';
import { FewShotDataset } from '../src/data/dataset.js';
import { importMiniImageNet, openMiniImageNet, readRaviCsv } from '../src/data/miniimagenet.js';
import { openDataset } from '../src/data/open.js';
import { EpisodeSampler } from '../src/episodes/sampler.js';
import { readSuite, sampleSuite } from '../src/episodes/suite.js';
import { MINI_LAYOUT, expectImportFailure, miniFileName, randomImage, writeMiniImageNet } from './image-fixtures.js';
import { ROOT, SHARED, requireData, tempDir } from './helpers.js';

const REAL = path.join(SHARED, 'data', 'miniimagenet');

/** The uint8 pixels of one image (the dataset gives floats in [0, 1]). */
function pixels(dataset: FewShotDataset, classIndex: number, imageIndex: number): Uint8Array {
  const [h, w, c] = dataset.imageShape;
  const out = new Float32Array(h * w * c);
  dataset.readPixels({ classIndex, imageIndex }, out, 0);
  return Uint8Array.from(out, (v) => Math.round(v * 255));
}

describe('miniimagenet', function () {
  let from: string;
  let cache: string;
  let importSeconds: number;
  /** A catalog of the real split CSVs, once read. */
  let realCatalog: string | undefined;

  before(async () => {
    from = path.join(tempDir('fewshot-mini-'), 'miniImagenet');
    await writeMiniImageNet(from);
    cache = path.join(path.dirname(from), 'cache');
    importSeconds = (await importMiniImageNet({ from, out: cache })).seconds;
  });

  after(() => fs.rmSync(path.dirname(from), { recursive: true, force: true }));

  it('imports the fixture: one file per split, sorted wnids, image names, 84x84x3', async () => {
    console.log(
      `      (import of ${Object.values(MINI_LAYOUT)
        .flatMap(Object.values)
        .reduce((a, b) => a + b)} fixture images: ${importSeconds.toFixed(2)} s)`,
    );
    expect(fs.readdirSync(cache).sort()).to.deep.equal(['test.bin', 'train.bin', 'val.bin']);
    for (const [split, classes] of Object.entries(MINI_LAYOUT)) {
      const dataset = openDataset('miniimagenet', split, cache);
      expect(dataset.name).to.equal(`miniimagenet/${split}`);
      expect(dataset.imageShape).to.deep.equal([84, 84, 3]);
      expect(dataset.classIds).to.deep.equal(Object.keys(classes).sort());
      dataset.classIds.forEach((id, c) => expect(dataset.imageCount(c), id).to.equal(classes[id]));
    }
    const train = openMiniImageNet(cache, 'train');
    expect(train.imageId({ classIndex: 0, imageIndex: 1 })).to.equal('n01532829/n0153282900000007');
    expect(train.findImage('n01704323/n0170432300000019')).to.deep.equal({ classIndex: 2, imageIndex: 5 });
  });

  it('resizes each whole image to 84x84 (lanczos3), grey JPEGs as RGB', async () => {
    const train = openMiniImageNet(cache, 'train');
    for (const [classIndex, imageIndex] of [
      [0, 0],
      [0, 4],
      [1, 1],
    ]) {
      const file = path.join(from, 'images', `${train.imageId({ classIndex, imageIndex }).split('/')[1]}.jpg`);
      const meta = await sharp(file).metadata();
      const expected = await sharp(file)
        .toColourspace('srgb')
        .resize(84, 84, { kernel: 'lanczos3', fit: 'fill', fastShrinkOnLoad: false })
        .raw()
        .toBuffer();
      expect(pixels(train, classIndex, imageIndex), `${file} (${meta.channels} channels)`).to.deep.equal(
        new Uint8Array(expected),
      );
    }
    // The fixture's fifth image is a greyscale JPEG: stored as three equal channels.
    const grey = pixels(train, 0, 4);
    expect(grey[0]).to.equal(grey[1]).and.to.equal(grey[2]);
  });

  it('reads the real Ravi split CSVs: 64/16/20 classes of 600, 38,400/9,600/12,000 rows', async function () {
    requireData(this, path.join(REAL, 'splits', 'ravi', 'train.csv'));
    realCatalog = path.join(path.dirname(from), 'real');
    const summary = await importMiniImageNet({ from: REAL, out: realCatalog, csvOnly: true });
    expect(summary).to.deep.include({ splits: { train: 64, val: 16, test: 20 }, images: 60000, pixels: false });
    const counts = Object.fromEntries(
      ['train', 'val', 'test'].map((split) => {
        const dataset = openMiniImageNet(realCatalog!, split);
        const sizes = dataset.classIds.map((_, c) => dataset.imageCount(c));
        expect(
          sizes.every((n) => n === 600),
          split,
        ).to.equal(true);
        return [split, sizes.reduce((a, b) => a + b)];
      }),
    );
    expect(counts).to.deep.equal({ train: 38400, val: 9600, test: 12000 });
    expect((await readRaviCsv(path.join(REAL, 'splits', 'ravi', 'val.csv'))).rows).to.have.length(9600);
  });

  it('a catalog from the CSVs alone samples exactly the episodes of the imported images', async () => {
    const csvOnly = path.join(path.dirname(from), 'catalog');
    const summary = await importMiniImageNet({ from, out: csvOnly, csvOnly: true });
    expect(summary).to.include({ pixels: false, images: 41, classes: 8 });
    expect(fs.readdirSync(csvOnly).sort()).to.deep.equal([
      'test.catalog.json',
      'train.catalog.json',
      'val.catalog.json',
    ]);
    const suite = {
      name: 's',
      dataset: 'miniimagenet',
      split: 'test',
      way: 3,
      shot: 1,
      query: 3,
      episodes: 20,
      seed: 0,
    };
    const full = await sampleSuite(suite, openMiniImageNet(cache, 'test'));
    expect((await sampleSuite(suite, openMiniImageNet(csvOnly, 'test'))).sha256).to.equal(full.sha256);

    // Rows in another order give the same classes, images and episodes.
    const shuffled = path.join(path.dirname(from), 'shuffled');
    fs.mkdirSync(shuffled);
    const [header, ...rows] = fs.readFileSync(path.join(from, 'test.csv'), 'utf8').trim().split('\n');
    fs.writeFileSync(path.join(shuffled, 'test.csv'), [header, ...rows.reverse()].join('\n') + '\n');
    await importMiniImageNet({ from: shuffled, out: path.join(shuffled, 'cache'), csvOnly: true });
    expect((await sampleSuite(suite, openMiniImageNet(path.join(shuffled, 'cache'), 'test'))).sha256).to.equal(
      full.sha256,
    );

    expect(() => pixels(openMiniImageNet(csvOnly, 'test'), 0, 0)).to.throw(
      /test\.catalog\.json: class and image ids only, no pixels/,
    );
  });

  it('the shipped suites reproduce their sha256 from the real CSVs', async function () {
    requireData(this, path.join(REAL, 'splits', 'ravi', 'train.csv'));
    if (!realCatalog) this.skip(); // (the import test above failed)
    for (const name of ['miniimagenet-test-5w1s', 'miniimagenet-test-5w5s', 'miniimagenet-val-5w5s']) {
      const suite = readSuite(path.join(ROOT, 'episodes', `${name}.json`));
      expect(suite.sha256, name).to.match(/^[0-9a-f]{64}$/);
      expect((await sampleSuite(suite, openMiniImageNet(realCatalog, suite.split))).sha256, name).to.equal(
        suite.sha256,
      );
    }
  });

  it('refuses a CSV with a wrong header, with file:1, and writes nothing', async () => {
    const bad = path.join(path.dirname(from), 'bad-header');
    await writeMiniImageNet(bad, { test: { n01930112: 2 } });
    fs.writeFileSync(
      path.join(bad, 'test.csv'),
      fs.readFileSync(path.join(bad, 'test.csv'), 'utf8').replace('filename,label', 'file,label'),
    );
    await expectImportFailure(
      () => importMiniImageNet({ from: bad, out: path.join(bad, 'out', 'cache') }),
      path.join(bad, 'out', 'cache'),
      `${path.join(bad, 'test.csv')}:1: header 'file,label', expected 'filename,label'`,
    );
  });

  it('refuses a row naming a missing image, with file:line, keeping the previous cache', async () => {
    const missing = path.join(path.dirname(from), 'missing');
    await writeMiniImageNet(missing, { test: { n01930112: 3 } });
    const out = path.join(missing, 'out', 'cache');
    await importMiniImageNet({ from: missing, out });
    const previous = fs.readFileSync(path.join(out, 'test.bin'));
    fs.rmSync(path.join(missing, 'images', miniFileName('n01930112', 7)));
    await expectImportFailure(
      () => importMiniImageNet({ from: missing, out }),
      out,
      `${path.join(missing, 'test.csv')}:3: image ${miniFileName('n01930112', 7)} is not in ${path.join(missing, 'images')}`,
    );
    expect(fs.readFileSync(path.join(out, 'test.bin')).equals(previous)).to.equal(true);
  });

  it('refuses an unreadable JPEG, naming the file and its CSV line', async () => {
    const corrupt = path.join(path.dirname(from), 'corrupt');
    await writeMiniImageNet(corrupt, { val: { n01855672: 2 }, test: { n01930112: 3 } });
    const file = path.join(corrupt, 'images', miniFileName('n01930112', 10));
    fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 100));
    await expectImportFailure(
      () => importMiniImageNet({ from: corrupt, out: path.join(corrupt, 'out', 'cache') }),
      path.join(corrupt, 'out', 'cache'),
      `${file} (${path.join(corrupt, 'test.csv')}:4): unreadable image (`,
    );
  });

  it('refuses a repeated row and a missing images/ folder', async () => {
    const twice = path.join(path.dirname(from), 'twice');
    await writeMiniImageNet(twice, { train: { n01532829: 2 } });
    fs.appendFileSync(path.join(twice, 'train.csv'), `${miniFileName('n01532829', 4)},n01532829\n`);
    await expectImportFailure(
      () => importMiniImageNet({ from: twice, out: path.join(twice, 'out', 'cache') }),
      path.join(twice, 'out', 'cache'),
      `${path.join(twice, 'train.csv')}:4: image n01532829/n0153282900000004 repeats line 2`,
    );
    fs.rmSync(path.join(twice, 'images'), { recursive: true });
    fs.writeFileSync(path.join(twice, 'train.csv'), `filename,label\n${miniFileName('n01532829', 4)},n01532829\n`);
    await expectImportFailure(
      () => importMiniImageNet({ from: twice, out: path.join(twice, 'out', 'cache') }),
      path.join(twice, 'out', 'cache'),
      `${path.join(twice, 'images')}: missing;`,
    );
  });

  it('the sampler refuses more shots and queries than a class has, naming the class', () => {
    // n02091244 has 4 images in the fixture's val split.
    expect(() => new EpisodeSampler(openMiniImageNet(cache, 'val'), { way: 2, shot: 1, query: 4 }, 0)).to.throw(
      'shot 1 + query 4 exceeds the 4 images of class n02091244 in miniimagenet/val',
    );
  });

  it('scripts/miniimagenet-protonet.sh, then scripts/miniimagenet-rkd.sh, run end to end on a fixture (tiny settings)', async function () {
    const dir = path.join(path.dirname(from), 'script');
    const classes = (prefix: string, n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`n0${prefix}${String(i).padStart(6, '0')}`, 8]));
    await writeMiniImageNet(path.join(dir, 'mini'), {
      train: classes('1', 5),
      val: classes('2', 5),
      test: classes('3', 5),
    });
    await importMiniImageNet({ from: path.join(dir, 'mini'), out: path.join(dir, 'cache') });
    // The shipped suites' recorded hashes hold for the real CSVs only: small ones, of the same names.
    const suites = ['val-5w5s', 'test-5w1s', 'test-5w5s'].map((name) => {
      const file = path.join(dir, `miniimagenet-${name}.json`);
      const [split, shape] = name.split('-');
      fs.writeFileSync(
        file,
        JSON.stringify({
          name: `miniimagenet-${name}`,
          dataset: 'miniimagenet',
          split,
          way: 5,
          shot: Number(shape[2]),
          query: 2,
          episodes: 3,
          seed: 0,
        }),
      );
      return file;
    });
    const env = {
      ...process.env,
      DATA: path.join(dir, 'cache'),
      RUN: path.join(dir, 'run'),
      RESULTS: path.join(dir, 'results'),
      BACKEND: 'wasm',
      EPISODES: '2',
      WAY: '5',
      SHOT: '1',
      QUERY: '2',
      WIDTH: '8',
      VALIDATE_EVERY: '1',
      LOG_EVERY: '1',
      VAL_SUITE: suites[0],
      TEST_SUITES: suites.slice(1).join(' '),
    };
    const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'miniimagenet-protonet.sh')], { env, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/trained 2 episodes/);
    expect(fs.readdirSync(path.join(dir, 'results')).sort()).to.deep.equal([
      'miniimagenet-test-5w1s.episodes.csv',
      'miniimagenet-test-5w5s.episodes.csv',
      'summary.json',
      'table.txt',
      'train-log.jsonl',
    ]);

    // Then its RKD protocol, with that ProtoNet as the teacher.
    const rkd = spawnSync('bash', [path.join(ROOT, 'scripts', 'miniimagenet-rkd.sh')], {
      env: {
        ...env,
        TEACHER: path.join(dir, 'run'),
        RUNS: path.join(dir, 'rkd'),
        RESULTS: path.join(dir, 'rkd-results'),
        NARROW: '4',
      },
      encoding: 'utf8',
    });
    expect(rkd.status, rkd.stderr).to.equal(0);
    const results = path.join(dir, 'rkd-results');
    expect(fs.readdirSync(results).sort()).to.deep.equal([
      'baseline',
      'comparisons.jsonl',
      'rkd-d',
      'rkd-da',
      'rkd-da-w4',
      'teacher',
    ]);
    for (const run of ['baseline', 'rkd-d', 'rkd-da', 'rkd-da-w4'])
      expect(fs.existsSync(path.join(results, run, 'train-log.jsonl')), run).to.equal(true);
    // 3 students x 2 suites x (baseline, teacher), each a paired comparison over the suite's 3 episodes.
    const comparisons = fs
      .readFileSync(path.join(results, 'comparisons.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(comparisons).to.have.length(12);
    comparisons.forEach((c) => expect(c.difference.n).to.equal(3));
  });

  it('names a missing cache or split and says how to make one', () => {
    const nowhere = path.join(path.dirname(from), 'nowhere');
    expect(() => openMiniImageNet(nowhere, 'test')).to.throw(
      `${nowhere}: no miniimagenet cache here; run \`fewshot data miniimagenet --from DIR --out ${nowhere}\``,
    );
    expect(() => openMiniImageNet(cache, 'trainval')).to.throw(
      "unknown miniImageNet split 'trainval' (one of train, val, test)",
    );
  });
});

/** A tar of `files` (name -> bytes), made with tar-stream. */
async function tarOf(files: readonly [string, Buffer][]): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, body] of files) pack.entry({ name, size: body.length }, body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('miniimagenet from ImageNet', function () {
  let from: string;
  let reference: string;
  let root: string;
  /** Per class, its training files (`<wnid>_<n>.JPEG` -> bytes), as ILSVRC2012 names them. */
  const imagenet = new Map<string, [string, Buffer][]>();

  before(async () => {
    root = tempDir('fewshot-imagenet-');
    from = path.join(root, 'mini');
    await writeMiniImageNet(from);
    reference = path.join(root, 'reference');
    await importMiniImageNet({ from, out: reference });
    // The j-th training file (numbered j*j + 1: 2, 5, 10, 17, ... so that name order is not number
    // order) is the fixture's image number j where the CSVs name one, another image elsewhere.
    for (const classes of Object.values(MINI_LAYOUT)) {
      for (const [wnid, count] of Object.entries(classes)) {
        const files: [string, Buffer][] = [];
        for (let j = 1; j <= 3 * count + 3; j++) {
          const mini = path.join(from, 'images', miniFileName(wnid, j));
          const body = fs.existsSync(mini)
            ? fs.readFileSync(mini)
            : await randomImage(`${wnid}-other-${j}`, { width: 30, height: 30, channels: 3, format: 'jpeg' });
          files.push([`${wnid}_${j * j + 1}.JPEG`, body]);
        }
        imagenet.set(wnid, files.reverse());
      }
    }
  });

  const csvs = () => {
    const dir = path.join(root, `csvs-${Math.random().toString(36).slice(2)}`);
    fs.mkdirSync(dir);
    for (const split of ['train', 'val', 'test'])
      fs.copyFileSync(path.join(from, `${split}.csv`), path.join(dir, `${split}.csv`));
    return dir;
  };
  const total = Object.values(MINI_LAYOUT)
    .flatMap(Object.values)
    .reduce((a, b) => a + b);
  const sameCache = (out: string) => {
    for (const f of ['train.bin', 'val.bin', 'test.bin'])
      expect(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(reference, f))), f).to.equal(true);
  };

  it('picks the k-th training file by number, from the extracted folder, per-class tars, or the official tar of tars', async () => {
    const extracted = path.join(root, 'train');
    for (const [wnid, files] of imagenet) {
      fs.mkdirSync(path.join(extracted, wnid), { recursive: true });
      for (const [name, body] of files) fs.writeFileSync(path.join(extracted, wnid, name), body);
    }
    const perClass = path.join(root, 'class-tars');
    fs.mkdirSync(perClass);
    const classTars: [string, Buffer][] = [];
    for (const [wnid, files] of imagenet) classTars.push([`${wnid}.tar`, await tarOf(files)]);
    for (const [name, body] of classTars) fs.writeFileSync(path.join(perClass, name), body);
    const official = path.join(root, 'ILSVRC2012_img_train.tar');
    fs.writeFileSync(
      official,
      await tarOf([[`n09999999.tar`, await tarOf([['n09999999_1.JPEG', Buffer.from('x')]])], ...classTars]),
    );
    for (const source of [extracted, perClass, official]) {
      const out = path.join(root, `cache-${path.basename(source)}`);
      const summary = await importMiniImageNet({ from: csvs(), out, imagenet: source });
      expect(summary).to.deep.include({ images: total, classes: 8 });
      sameCache(out);
      expect(
        fs.readdirSync(root).filter((f) => f.includes('.imagenet')),
        'staging removed',
      ).to.deep.equal([]);
    }
    // The command line, as the README gives it.
    const r = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'dist', 'src', 'cli', 'main.js'),
        'data',
        'miniimagenet',
        '--from',
        csvs(),
        '--from-imagenet',
        official,
        '--out',
        path.join(root, 'cli-cache'),
        '--json',
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.include({ images: total });
    sameCache(path.join(root, 'cli-cache'));
  });

  it('refuses a truncated tar and a missing class, naming them, leaving nothing behind', async () => {
    const classTars: [string, Buffer][] = [];
    for (const [wnid, files] of imagenet) classTars.push([`${wnid}.tar`, await tarOf(files)]);
    const whole = await tarOf(classTars);
    const truncated = path.join(root, 'truncated.tar');
    fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2) + 100));
    const out = path.join(root, 'refused', 'cache');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await expectImportFailure(
      () => importMiniImageNet({ from: csvs(), out, imagenet: truncated }),
      out,
      `${truncated}`,
    );
    const partial = path.join(root, 'partial.tar');
    fs.writeFileSync(partial, await tarOf(classTars.filter(([name]) => name !== 'n01558993.tar')));
    await expectImportFailure(
      () => importMiniImageNet({ from: csvs(), out, imagenet: partial }),
      out,
      `${partial}: no class n01558993 (named by `,
    );
    // A class with fewer training files than a CSV position asks for.
    const short = path.join(root, 'short');
    for (const [wnid, files] of imagenet) {
      fs.mkdirSync(path.join(short, wnid), { recursive: true });
      for (const [name, body] of files.slice(wnid === 'n01532829' ? 10 : 0))
        fs.writeFileSync(path.join(short, wnid, name), body);
    }
    await expectImportFailure(() => importMiniImageNet({ from: csvs(), out, imagenet: short }), out, '');
    const error = await importMiniImageNet({ from: csvs(), out, imagenet: short }).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(error).to.match(
      /train\.csv:\d+: image n0153282900000013\.jpg is number 13 of class n01532829, which has 11 training images in /,
    );
  });

  it('a tar member claiming more than 64 MiB is refused by name, in a class tar and in the tar of tars', async () => {
    const classTars: [string, Buffer][] = [];
    for (const [wnid, files] of imagenet) {
      const bytes = await tarOf(files);
      classTars.push([`${wnid}.tar`, wnid === 'n01532829' ? claimingSize(bytes, 65 * 2 ** 20) : bytes]);
    }
    const perClass = path.join(root, 'huge-class-tars');
    fs.mkdirSync(perClass);
    for (const [name, body] of classTars) fs.writeFileSync(path.join(perClass, name), body);
    const official = path.join(root, 'huge.tar');
    fs.writeFileSync(official, await tarOf(classTars));
    const first = imagenet.get('n01532829')![0][0];
    for (const [source, where] of [
      [perClass, path.join(perClass, 'n01532829.tar')],
      [official, `${official}: n01532829.tar`],
    ]) {
      const out = path.join(root, 'huge-out', 'cache');
      fs.mkdirSync(path.dirname(out), { recursive: true });
      await expectImportFailure(
        () => importMiniImageNet({ from: csvs(), out, imagenet: source }),
        out,
        `${where}: ${first}: ${65 * 2 ** 20} bytes, more than any image of a dataset`,
      );
    }
  });
});

/** A tar whose first member's header claims `size` bytes (its checksum made right again). */
function claimingSize(tarBytes: Buffer, size: number): Buffer {
  const out = Buffer.from(tarBytes);
  out.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  out.fill(' ', 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += out[i];
  out.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return out;
}
