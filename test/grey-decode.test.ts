/**
 * The fast grey path of the importers (fast-png decode, resizes stacked into few libvips calls) gives
 * the same bytes as the sharp call per image that it replaces.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { encode } from 'fast-png';
import seedrandom from 'seedrandom';
import sharp from 'sharp';
import { decodeGreyPng } from '../src/data/grey-png.js';
import { WorkerPool, decodeGreyImages } from '../src/data/grey-workers.js';
import { decodeImage } from '../src/data/images.js';
import { resizeGreyImages, stackMargin } from '../src/data/lanczos-batch.js';
import { randomImage } from './image-fixtures.js';
import { SHARED, requireData, tempDir } from './helpers.js';
import { ZipEntry, readZipEntries } from './zip-entries.js';

const OMNIGLOT_ZIPS = path.join(SHARED, 'data', 'omniglot');

/** Seeded grey pixels with detail at every scale: blocks, lines and noise. */
function greyPixels(seed: number, width: number, height: number): Uint8Array {
  const rng = seedrandom(String(seed));
  const px = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++)
      px[y * width + x] = (x + y) % 11 === 0 ? 0 : (((x >> 3) + (y >> 2)) * 37 + Math.floor(rng() * 40)) & 255;
  }
  return px;
}

/** A grey 8-bit PNG of `px` written by libvips (which filters rows adaptively: every PNG filter type). */
function greyPng(px: Uint8Array, width: number, height: number): Promise<Buffer> {
  // Without 'b-w' sharp writes one band as RGB.
  return sharp(px, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png({ adaptiveFiltering: true })
    .toBuffer();
}

/** libvips' own decode of an image file, as grey bytes. */
async function sharpGrey(bytes: Buffer): Promise<Buffer> {
  return sharp(bytes).greyscale().raw({ depth: 'uchar' }).toBuffer();
}

/** `samples` of `depth` bits (at most 2^depth - 1 each), packed into rows padded to whole bytes. */
function pack(samples: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  const stride = Math.ceil((width * depth) / 8);
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      out[y * stride + (bit >> 3)] |= samples[y * width + x] << (8 - depth - (bit & 7));
    }
  }
  return out;
}

describe('grey decode (fast path)', () => {
  it('decodes plain grey PNGs of 1, 2, 4 and 8 bits as libvips does, odd widths included', async () => {
    for (const depth of [1, 2, 4, 8] as const) {
      for (const [width, height] of [
        [13, 5],
        [105, 105],
        [8, 3],
      ]) {
        const max = 2 ** depth - 1;
        const samples = greyPixels(depth * 100 + width, width, height).map((v) => v % (max + 1));
        const data = depth === 8 ? samples : pack(samples, width, height, depth);
        const png = Buffer.from(encode({ width, height, data, depth, channels: 1 }));
        const grey = decodeGreyPng(png);
        expect(grey, `${depth}-bit ${width}x${height}`).to.not.equal(undefined);
        expect([grey!.width, grey!.height]).to.deep.equal([width, height]);
        expect(Buffer.from(grey!.pixels).equals(await sharpGrey(png)), `${depth}-bit ${width}x${height}`).to.equal(
          true,
        );
      }
    }
    const filtered = await greyPng(greyPixels(7, 61, 47), 61, 47);
    expect(Buffer.from(decodeGreyPng(filtered)!.pixels).equals(await sharpGrey(filtered))).to.equal(true);
  });

  it('leaves every other file to sharp: colour, palette, alpha, 16 bits, JPEG, too large, corrupt', async () => {
    const rgb = await randomImage('rgb', { width: 16, height: 16, channels: 3, format: 'png' });
    const palette = await sharp(greyPixels(1, 16, 16), { raw: { width: 16, height: 16, channels: 1 } })
      .png({ palette: true, colours: 4 })
      .toBuffer();
    const alpha = await sharp(greyPixels(2, 32, 16), { raw: { width: 16, height: 16, channels: 2 } })
      .png()
      .toBuffer();
    const deep = await sharp(greyPixels(3, 16, 16), { raw: { width: 16, height: 16, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toBuffer();
    const jpeg = await randomImage('jpeg', { width: 16, height: 16, channels: 1, format: 'jpeg' });
    const grey = await greyPng(greyPixels(4, 16, 16), 16, 16);
    expect(decodeGreyPng(grey)).to.not.equal(undefined);
    // A small file may declare a huge image: past 2^18 pixels sharp's own limit decides.
    const huge = Buffer.from(grey);
    huge.writeUInt32BE(600, 16);
    huge.writeUInt32BE(600, 20);
    for (const [what, bytes] of Object.entries({
      rgb,
      palette,
      alpha,
      deep,
      jpeg,
      huge,
      truncated: grey.subarray(0, 60),
      empty: Buffer.alloc(0),
    })) {
      expect(decodeGreyPng(bytes), what).to.equal(undefined);
    }
  });

  it('stacks only where it is exact: downscales by a scale of few binary digits', () => {
    expect(stackMargin(105, 28)).to.equal(4); // 3.75: 4 rows out are 15 rows in, more than lanczos3 reaches
    expect(stackMargin(84, 28)).to.equal(4);
    expect(stackMargin(100, 30)).to.equal(undefined); // 3.333...
    expect(stackMargin(512, 128)).to.equal(undefined); // 4: libvips box-shrinks by 2 before the filter
    expect(stackMargin(210, 28)).to.equal(undefined); // 7.5: by 3
    expect(stackMargin(28, 84)).to.equal(undefined); // an enlargement
  });

  it('resizes a stack bit for bit as one sharp call per image, where stacked and where not', async () => {
    // 512x512 -> 256x256: 64 images make two stacks (at most 2^24 pixels each); 210 -> 28 is not stacked.
    const cases = [
      [[105, 105], [28, 28], 9],
      [[84, 60], [28, 20], 9],
      [[100, 90], [30, 28], 9],
      [[40, 40], [40, 20], 9],
      [[210, 64], [28, 64], 3],
      [[512, 512], [256, 256], 64],
    ] as const;
    for (const [[fromH, fromW], [toH, toW], count] of cases) {
      const images = Array.from({ length: count }, (_, i) => greyPixels(i, fromW, fromH));
      const stacked = await resizeGreyImages(images, [fromH, fromW], [toH, toW]);
      for (let i = 0; i < images.length; i++) {
        const alone = await sharp(images[i], { raw: { width: fromW, height: fromH, channels: 1 } })
          .greyscale()
          .resize(toW, toH, { kernel: 'lanczos3', fit: 'fill', fastShrinkOnLoad: false })
          .raw()
          .toBuffer();
        const mine = Buffer.from(stacked.subarray(i * toH * toW, (i + 1) * toH * toW));
        expect(mine.equals(alone), `${fromH}x${fromW} -> ${toH}x${toW}, image ${i}`).to.equal(true);
      }
    }
  });

  it('decodeGreyImages equals decodeImage on every file, mixing grey PNGs of two sizes, colour, JPEG', async () => {
    const files: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const [w, h] = i % 3 === 0 ? [60, 84] : [105, 105];
      files.push(await greyPng(greyPixels(i, w, h), w, h));
      if (i % 50 === 0)
        files.push(
          await randomImage(`c${i}`, { width: 50, height: 40, channels: 3, format: i % 100 === 0 ? 'png' : 'jpeg' }),
        );
    }
    const shape = [28, 28, 1] as const;
    const progress: number[] = [];
    expect(files.filter((bytes) => decodeGreyPng(bytes) !== undefined).length, 'grey PNGs on the fast path').to.equal(
      300,
    );
    const fast = await decodeGreyImages(
      files.map((bytes, i) => ({ where: `file ${i}`, read: async () => bytes })),
      shape,
      (done) => progress.push(done),
    );
    expect(progress.at(-1)).to.equal(files.length);
    for (let i = 0; i < files.length; i++) {
      const alone = await decodeImage(files[i], `file ${i}`, shape);
      expect(Buffer.from(fast.subarray(i * 784, (i + 1) * 784)).equals(alone), `file ${i}`).to.equal(true);
    }
  });

  it('a corrupt file fails naming it, as through sharp', async () => {
    const good = await greyPng(greyPixels(1, 105, 105), 105, 105);
    const files = [good, good.subarray(0, 60), good].map((bytes, i) => ({
      where: `zip: entry ${i}`,
      read: async () => bytes,
    }));
    const error = await decodeGreyImages(files, [28, 28, 1]).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(error?.message).to.match(/^zip: entry 1: unreadable image/);
  });

  it('a decoding worker that dies fails its batch and every later one; the other worker finishes its own', async () => {
    // A stand-in worker: a batch whose first byte is 1 kills it, 2 is answered late, any other at once.
    const script = path.join(tempDir(), 'worker.mjs');
    fs.writeFileSync(
      script,
      `import { parentPort } from 'node:worker_threads';
parentPort.on('message', ({ id, data }) => {
  if (data[0] === 1) process.exit(3);
  const answer = () => parentPort.postMessage({ id, pixels: new Uint8Array([data[0]]) });
  if (data[0] === 2) setTimeout(answer, 300); else answer();
});\n`,
    );
    const pool = new WorkerPool(2, pathToFileURL(script));
    const batch = (first: number) => [{ where: 'a file', bytes: Buffer.from([first, 0]) }];
    const settled = (p: Promise<Uint8Array>) =>
      p.then(
        (pixels) => Array.from(pixels),
        (err: Error) => err.message,
      );
    try {
      expect(await settled(pool.decode(batch(0), [1, 1, 1]))).to.deep.equal([0]);
      const slow = settled(pool.decode(batch(2), [1, 1, 1])); // to the first worker
      const killer = settled(pool.decode(batch(1), [1, 1, 1])); // to the second, idle one
      expect(await killer).to.equal('image decoding worker exited (code 3)');
      expect(await slow).to.deep.equal([2]);
      expect(await settled(pool.decode(batch(0), [1, 1, 1]))).to.equal('image decoding worker exited (code 3)');
    } finally {
      await pool.close();
    }
  });

  it('real Omniglot PNGs: bit for bit as one sharp call each (a sample of both zips)', async function () {
    requireData(this, path.join(OMNIGLOT_ZIPS, 'images_evaluation.zip'));
    const entries: ZipEntry[] = [];
    for (const zip of ['images_background.zip', 'images_evaluation.zip']) {
      let png = 0; // every 23rd PNG of the zip, from its first
      entries.push(
        ...(await readZipEntries(path.join(OMNIGLOT_ZIPS, zip), (n) => n.endsWith('.png') && png++ % 23 === 0)),
      );
    }
    expect(entries.length).to.be.above(1000);
    const shape = [28, 28, 1] as const;
    const fast = await decodeGreyImages(
      entries.map(({ name, bytes }) => ({ where: name, read: async () => bytes })),
      shape,
    );
    for (let i = 0; i < entries.length; i++) {
      const alone = await decodeImage(entries[i].bytes, entries[i].name, shape);
      expect(Buffer.from(fast.subarray(i * 784, (i + 1) * 784)).equals(alone), entries[i].name).to.equal(true);
    }
  });
});
