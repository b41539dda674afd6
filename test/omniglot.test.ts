import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import sharp from 'sharp';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { FewShotDataset } from '../src/data/dataset.js';
import { importOmniglot, openOmniglot } from '../src/data/omniglot.js';
import { HOST_ID } from '../src/host.js';
import { SHARED, requireData } from './helpers.js';
import { readZipEntries } from './zip-entries.js';

const SIZE = 105;
const OMNIGLOT_ZIPS = path.join(SHARED, 'data', 'omniglot');
const PIL_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'omniglot-pil');

/** Tiny Omniglot: part -> character -> image names. */
const LAYOUT: Record<string, Record<string, string[]>> = {
  images_background: {
    'Alpha_(one)/character01': ['0101_01', '0102_01', '0103_01'],
    'Alpha_(one)/character02': ['0201_02', '0202_02'],
    'Beta/character01': ['0301_01', '0302_01'],
  },
  images_evaluation: {
    'Gamma/character01': ['0401_01', '0402_01', '0403_01'],
  },
};

const SPLITS: Record<string, string[]> = {
  train: [
    'Alpha_(one)/character01/rot000',
    'Alpha_(one)/character01/rot090',
    'Alpha_(one)/character02/rot180',
    'Beta/character01/rot270',
  ],
  val: ['Gamma/character01/rot000'],
  test: ['Gamma/character01/rot090', 'Beta/character01/rot000'],
};
SPLITS.trainval = [...SPLITS.train, ...SPLITS.val];

/** A white 105x105 PNG with a black, asymmetric mark that differs per image. */
function drawing(seed: number): Promise<Buffer> {
  const px = Buffer.alloc(SIZE * SIZE, 255);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const bar = y >= 12 && y < 40 && x >= 15 && x < 90; // a thick bar near the top
      const stem = x >= 15 + 3 * seed && x < 25 + 3 * seed && y >= 12 && y < 85; // a stem that moves
      if (bar || stem) px[y * SIZE + x] = 0;
    }
  }
  return sharp(px, { raw: { width: SIZE, height: SIZE, channels: 1 } })
    .png()
    .toBuffer();
}

function writeZip(file: string, entries: [string, Buffer][], compress = true): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of entries) zip.addBuffer(data, name, { compress });
  zip.end();
  return new Promise((resolve, reject) => {
    zip.outputStream.pipe(fs.createWriteStream(file)).on('close', resolve).on('error', reject);
  });
}

function writeSplits(dir: string, splits: Record<string, string[]>): void {
  fs.mkdirSync(path.join(dir, 'splits', 'vinyals'), { recursive: true });
  for (const [name, lines] of Object.entries(splits)) {
    fs.writeFileSync(path.join(dir, 'splits', 'vinyals', `${name}.txt`), lines.map((l) => `${l}\n`).join(''));
  }
}

/** The tiny PNGs by entry path (`images_background/Beta/character01/0301_01.png`). */
async function tinyImages(): Promise<Map<string, Buffer>> {
  const images = new Map<string, Buffer>();
  let seed = 0;
  for (const [part, characters] of Object.entries(LAYOUT)) {
    for (const [character, names] of Object.entries(characters)) {
      for (const name of names) images.set(`${part}/${character}/${name}.png`, await drawing(seed++));
    }
  }
  return images;
}

/** Writes the two zips and the splits into `dir`; `change` may edit an entry's bytes; deflated, or stored with `compress` false. */
async function writeZips(
  dir: string,
  images: Map<string, Buffer>,
  splits = SPLITS,
  change?: (entry: string, png: Buffer) => Buffer,
  compress = true,
): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (const part of Object.keys(LAYOUT)) {
    const entries = [...images].filter(([entry]) => entry.startsWith(`${part}/`));
    await writeZip(
      path.join(dir, `${part}.zip`),
      entries.map(([e, png]) => [e, change ? change(e, png) : png]),
      compress,
    );
  }
  writeSplits(dir, splits);
}

function writeFolders(dir: string, images: Map<string, Buffer>): void {
  for (const [entry, png] of images) {
    fs.mkdirSync(path.dirname(path.join(dir, entry)), { recursive: true });
    fs.writeFileSync(path.join(dir, entry), png);
  }
  writeSplits(dir, SPLITS);
}

/** The 28x28 pixels of one image as uint8 (the dataset gives floats in [0, 1]). */
function pixels(dataset: FewShotDataset, classId: string, imageIndex = 0): Uint8Array {
  const classIndex = dataset.classIds.indexOf(classId);
  expect(classIndex, classId).to.be.at.least(0);
  const out = new Float32Array(28 * 28);
  dataset.readPixels({ classIndex, imageIndex }, out, 0);
  return Uint8Array.from(out, (v) => Math.round(v * 255));
}

/** Asserts that the import fails with one line matching `pattern` and leaves the folder of `out` as it was. */
async function expectFailure(from: string, out: string, pattern: RegExp): Promise<void> {
  const before = fs.existsSync(path.dirname(out)) ? fs.readdirSync(path.dirname(out)).sort() : [];
  let error: Error | undefined;
  try {
    await importOmniglot({ from, out });
  } catch (err) {
    error = err as Error;
  }
  expect(error, 'import should fail').to.be.instanceOf(Error);
  expect(error!.message).to.match(pattern);
  expect(error!.message).not.to.include('\n');
  const after = fs.existsSync(path.dirname(out)) ? fs.readdirSync(path.dirname(out)).sort() : [];
  expect(after, 'no cache or temporary folder left behind').to.deep.equal(before);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('omniglot', function () {
  let root: string;
  let images: Map<string, Buffer>;
  let zips: string;
  let cache: string;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'fewshot-omniglot-'));
    images = await tinyImages();
    zips = path.join(root, 'zips');
    await writeZips(zips, images);
    cache = path.join(root, 'cache');
    await importOmniglot({ from: zips, out: cache });
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('imports the zips: counts, sorted class ids, image ids, ink pixels', async () => {
    const summary = await importOmniglot({ from: zips, out: path.join(root, 'counts') });
    expect(summary).to.include({ images: 10, characters: 4, alphabets: 3 });
    expect(summary.splits).to.deep.equal({ train: 4, val: 1, test: 2, trainval: 5 });
    expect(summary.splitsNote).to.equal(undefined);
    expect(fs.readdirSync(path.join(root, 'counts', 'splits', 'vinyals')).sort()).to.deep.equal([
      'test.txt',
      'train.txt',
      'trainval.txt',
      'val.txt',
    ]);

    const all = openOmniglot(cache, 'all');
    expect(all.name).to.equal('omniglot/all');
    expect(all.imageShape).to.deep.equal([28, 28, 1]);
    expect(all.classIds).to.deep.equal([
      'Alpha_(one)/character01/rot000',
      'Alpha_(one)/character02/rot000',
      'Beta/character01/rot000',
      'Gamma/character01/rot000',
    ]);
    expect(all.imageCount(0)).to.equal(3);
    expect(all.imageId({ classIndex: 3, imageIndex: 2 })).to.equal('Gamma/character01/rot000/0403_01');

    const train = openOmniglot(cache, 'train');
    expect(train.classIds).to.deep.equal(SPLITS.train);
    expect(train.imageId({ classIndex: 1, imageIndex: 1 })).to.equal('Alpha_(one)/character01/rot090/0102_01');
    expect(train.findImage('Beta/character01/rot270/0302_01')).to.deep.equal({ classIndex: 3, imageIndex: 1 });
    expect(openOmniglot(cache, 'trainval').classIds).to.deep.equal(SPLITS.trainval);

    // Ink: white paper is 0, the bar's middle is (nearly) full ink.
    const px = pixels(all, 'Beta/character01/rot000');
    expect(px[0]).to.equal(0);
    expect(px[7 * 28 + 14]).to.be.above(250);
  });

  it('rotated classes are the base images turned counter-clockwise', async () => {
    const all = openOmniglot(cache, 'all');
    const test = openOmniglot(cache, 'test');
    const train = openOmniglot(cache, 'train');
    const base = (id: string) => sharp(pixels(all, `${id}/rot000`, 1), { raw: { width: 28, height: 28, channels: 1 } });
    // sharp turns clockwise: 270 clockwise is 90 counter-clockwise.
    const rotated = async (id: string, clockwise: number) =>
      new Uint8Array(await base(id).rotate(clockwise).greyscale().raw().toBuffer());
    expect(pixels(test, 'Gamma/character01/rot090', 1)).to.deep.equal(await rotated('Gamma/character01', 270));
    expect(pixels(train, 'Alpha_(one)/character02/rot180', 1)).to.deep.equal(
      await rotated('Alpha_(one)/character02', 180),
    );
    expect(pixels(train, 'Beta/character01/rot270', 1)).to.deep.equal(await rotated('Beta/character01', 90));
    expect(pixels(test, 'Beta/character01/rot000', 1)).to.deep.equal(await rotated('Beta/character01', 0));
  });

  it('an extracted folder imports exactly like the zips', async () => {
    const folders = path.join(root, 'folders');
    writeFolders(folders, images);
    const out = path.join(root, 'from-folders');
    const summary = await importOmniglot({ from: folders, out });
    expect(summary.splits).to.deep.equal({ train: 4, val: 1, test: 2, trainval: 5 });
    expect(
      fs.readFileSync(path.join(out, 'images.bin')).equals(fs.readFileSync(path.join(cache, 'images.bin'))),
    ).to.equal(true);
  });

  it('one zip imports alone, without splits (they need both parts)', async () => {
    const summary = await importOmniglot({
      from: path.join(zips, 'images_evaluation.zip'),
      out: path.join(root, 'one'),
    });
    expect(summary).to.include({ images: 3, characters: 1 });
    expect(summary.splits).to.deep.equal({});
    expect(summary.splitsNote).to.match(/only images_evaluation imported/);
    expect(() => openOmniglot(path.join(root, 'one'), 'train')).to.throw(/train\.txt: missing/);
  });

  it('a truncated zip fails naming the zip, keeps the previous cache, leaves nothing behind', async () => {
    const from = path.join(root, 'truncated');
    await writeZips(from, images);
    const zip = path.join(from, 'images_evaluation.zip');
    fs.truncateSync(zip, Math.floor(fs.statSync(zip).size / 2));
    const out = path.join(root, 'keep', 'cache');
    await importOmniglot({ from: zips, out });
    const previous = fs.readFileSync(path.join(out, 'images.bin'));
    await expectFailure(from, out, new RegExp(`^${escape(zip)}: .*truncated or corrupt zip`));
    expect(fs.readFileSync(path.join(out, 'images.bin')).equals(previous)).to.equal(true);
  });

  it('reads stored entries as deflated ones; a corrupt deflate stream fails naming the zip and the entry', async () => {
    const stored = path.join(root, 'stored');
    await writeZips(stored, images, SPLITS, undefined, false);
    await importOmniglot({ from: stored, out: path.join(root, 'stored-out') });
    expect(
      fs
        .readFileSync(path.join(root, 'stored-out', 'images.bin'))
        .equals(fs.readFileSync(path.join(cache, 'images.bin'))),
    ).to.equal(true);

    const from = path.join(root, 'garbled');
    await writeZips(from, images);
    const zip = path.join(from, 'images_background.zip');
    const bad = 'images_background/Beta/character01/0301_01.png';
    const bytes = fs.readFileSync(zip);
    const zipfile = await yauzl.fromBufferPromise(bytes, { lazyEntries: true });
    const entry = await new Promise<yauzl.Entry>((resolve, reject) => {
      zipfile.on('entry', (e: yauzl.Entry) => (e.fileName === bad ? resolve(e) : zipfile.readEntry()));
      zipfile.on('error', reject);
      zipfile.readEntry();
    });
    const { fileDataStart } = await zipfile.readLocalFileHeaderPromise(entry, { minimal: true });
    zipfile.close();
    // 0xff: a deflate block of the reserved type 3, which no inflater accepts.
    bytes.fill(0xff, fileDataStart, fileDataStart + entry.compressedSize);
    fs.writeFileSync(zip, bytes);
    await expectFailure(
      from,
      path.join(root, 'garbled-out', 'cache'),
      new RegExp(`^${escape(zip)}: ${escape(bad)}: cannot read \\(.*\\); truncated or corrupt zip`),
    );
  });

  it('refuses to replace a folder holding files an import did not write, and keeps them', async () => {
    const out = path.join(root, 'mixed');
    fs.mkdirSync(out);
    fs.copyFileSync(path.join(cache, 'images.bin'), path.join(out, 'images.bin'));
    fs.writeFileSync(path.join(out, 'notes.txt'), 'x');
    await expectFailure(
      zips,
      out,
      new RegExp(`^${escape(out)}: holds notes.txt, which an import did not write; refusing to replace the folder`),
    );
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).to.equal('x');
    // A previous cache alone is replaced.
    fs.rmSync(path.join(out, 'notes.txt'));
    await importOmniglot({ from: zips, out });
    expect(fs.readdirSync(out).sort()).to.deep.equal(['images.bin', 'splits']);
  });

  it('a kill -9 mid-import leaves a temporary folder that the next import removes', async () => {
    // A dead process's leftover, as writeFolderAtomic names it (pid 2^22 + 1 is past Linux's pid_max default).
    const out = path.join(root, 'after-kill');
    const stale = `${out}.tmp-${HOST_ID}-${2 ** 22 + 1}`;
    fs.mkdirSync(stale, { recursive: true });
    fs.writeFileSync(path.join(stale, 'images.bin'), Buffer.alloc(4096));
    const live = `${out}.tmp-${HOST_ID}-${process.ppid}`; // a live process's: left alone
    fs.mkdirSync(live);
    // Another host's (the cache on a shared file system): its pid says nothing here.
    const elsewhere = `${out}.tmp-another-host.example-${2 ** 22 + 1}`;
    fs.mkdirSync(elsewhere);
    await importOmniglot({ from: zips, out });
    expect(fs.existsSync(stale)).to.equal(false);
    expect(fs.existsSync(live)).to.equal(true);
    expect(fs.existsSync(elsewhere)).to.equal(true);
    fs.rmSync(live, { recursive: true });
    fs.rmSync(elsewhere, { recursive: true });
  });

  it('a corrupt PNG fails naming the zip and the entry', async () => {
    const from = path.join(root, 'corrupt');
    const bad = 'images_background/Beta/character01/0302_01.png';
    await writeZips(from, images, SPLITS, (entry, png) => (entry === bad ? png.subarray(0, 60) : png));
    await expectFailure(
      from,
      path.join(root, 'corrupt-out', 'cache'),
      new RegExp(`^${escape(path.join(from, 'images_background.zip'))}: ${escape(bad)}: unreadable image`),
    );
  });

  it('a split line naming a missing character or a bad rotation fails with file:line', async () => {
    const from = path.join(root, 'bad-split');
    await writeZips(from, images, { ...SPLITS, test: ['Gamma/character01/rot000', 'Beta/character09/rot000'] });
    const testFile = path.join(from, 'splits', 'vinyals', 'test.txt');
    await expectFailure(
      from,
      path.join(root, 'bad-split-out', 'cache'),
      new RegExp(`^${escape(testFile)}:2: character Beta/character09 is not in the images`),
    );
    writeSplits(from, { ...SPLITS, val: ['Gamma/character01/rot045'] });
    await expectFailure(
      from,
      path.join(root, 'bad-split-out', 'cache'),
      new RegExp(`^${escape(path.join(from, 'splits', 'vinyals', 'val.txt'))}:1: rotation rot045`),
    );
  });

  it('clear errors: no Omniglot under --from, no cache', async () => {
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    await expectFailure(empty, path.join(root, 'empty-out', 'cache'), /empty: no Omniglot found/);
    expect(() => openOmniglot(path.join(root, 'nothing'), 'all')).to.throw(
      /images\.bin: no Omniglot cache here; run `fewshot data omniglot --from DIR --out /,
    );
  });

  it('resizes like PIL (Image.LANCZOS) on real Omniglot images', async function () {
    requireData(this, path.join(OMNIGLOT_ZIPS, 'images_background.zip'));
    const index = JSON.parse(fs.readFileSync(path.join(PIL_DIR, 'index.json'), 'utf8')) as {
      images: { file: string; zip: string; entry: string }[];
    };
    // The chosen real PNGs, extracted into a temporary folder in the official layout.
    const from = path.join(root, 'real');
    for (const zip of new Set(index.images.map((i) => i.zip))) {
      const wanted = index.images.filter((i) => i.zip === zip).map((i) => i.entry);
      const found = await readZipEntries(path.join(OMNIGLOT_ZIPS, zip), (name) => wanted.includes(name));
      expect(
        found.map((e) => e.name),
        `${zip}: the wanted entries`,
      ).to.have.members(wanted);
      for (const { name: entry, bytes: png } of found) {
        fs.mkdirSync(path.dirname(path.join(from, entry)), { recursive: true });
        fs.writeFileSync(path.join(from, entry), png);
      }
    }
    const out = path.join(root, 'real-out');
    await importOmniglot({ from, out });
    const all = openOmniglot(out, 'all');
    for (const { file, entry } of index.images) {
      const [, alphabet, character, name] = entry.replace(/\.png$/, '').split('/');
      const ref = all.findImage(`${alphabet}/${character}/rot000/${name}`)!;
      const ink = pixels(all, all.classIds[ref.classIndex], ref.imageIndex);
      const pil = await sharp(path.join(PIL_DIR, file)).greyscale().raw().toBuffer();
      let sum = 0;
      for (let i = 0; i < pil.length; i++) sum += Math.abs(255 - ink[i] - pil[i]);
      expect(sum / pil.length, file).to.be.below(1);
    }
  });
});
