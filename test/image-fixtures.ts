/**
 * Generated stand-ins for image datasets that cannot be had here: small seeded random images, and
 * miniImageNet in the Ravi & Larochelle layout (split CSVs + a flat `images/` of JPEGs, real names).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import seedrandom from 'seedrandom';
import sharp from 'sharp';
import { expect } from 'chai';

export interface ImageOptions {
  width: number;
  height: number;
  /** 1 writes a greyscale file, 3 a colour one. */
  channels: 1 | 3;
  format: 'jpeg' | 'png';
}

/** A seeded image of coloured 8x8 blocks: detail that a resize must average, different per seed. */
export function randomImage(seed: string | number, { width, height, channels, format }: ImageOptions): Promise<Buffer> {
  const rng = seedrandom(String(seed));
  const cols = Math.ceil(width / 8);
  const blocks = Array.from({ length: Math.ceil(height / 8) * cols * channels }, () => Math.floor(rng() * 256));
  const px = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++)
        px[(y * width + x) * channels + c] = blocks[((y >> 3) * cols + (x >> 3)) * channels + c];
    }
  }
  const image = sharp(px, { raw: { width, height, channels } });
  return (format === 'jpeg' ? image.jpeg({ quality: 90 }) : image.png()).toBuffer();
}

/** Images per class, by split and wnid. */
export type MiniLayout = Record<string, Record<string, number>>;

export const MINI_LAYOUT: MiniLayout = {
  train: { n01532829: 6, n01558993: 5, n01704323: 6 },
  val: { n01855672: 5, n02091244: 4 },
  test: { n01930112: 5, n01981276: 6, n02099601: 4 },
};

/** The real naming scheme: wnid + 8-digit index, `n0153282900000005.jpg`. */
export function miniFileName(wnid: string, index: number): string {
  return `${wnid}${String(index).padStart(8, '0')}.jpg`;
}

/**
 * Writes `dir/{split}.csv` (header `filename,label`, rows by class, as the real files) and
 * `dir/images/*.jpg`: 40x32 colour JPEGs, every fifth one greyscale, every seventh 84x84.
 */
export async function writeMiniImageNet(dir: string, layout: MiniLayout = MINI_LAYOUT): Promise<void> {
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
  let n = 0;
  for (const [split, classes] of Object.entries(layout)) {
    const rows = ['filename,label'];
    for (const [wnid, count] of Object.entries(classes)) {
      for (let i = 1; i <= count; i++) {
        const file = miniFileName(wnid, 3 * i + 1);
        const square = n % 7 === 6;
        const options: ImageOptions = {
          width: square ? 84 : 40,
          height: square ? 84 : 32,
          channels: n % 5 === 4 ? 1 : 3,
          format: 'jpeg',
        };
        fs.writeFileSync(path.join(dir, 'images', file), await randomImage(file, options));
        rows.push(`${file},${wnid}`);
        n++;
      }
    }
    fs.writeFileSync(path.join(dir, `${split}.csv`), rows.map((r) => `${r}\n`).join(''));
  }
}

/** Asserts that `run` fails with one line starting with `prefix` and leaves the folder around `out` as it was. */
export async function expectImportFailure(run: () => Promise<unknown>, out: string, prefix: string): Promise<void> {
  const listing = () => (fs.existsSync(path.dirname(out)) ? fs.readdirSync(path.dirname(out)).sort() : []);
  const before = listing();
  const error = await run().then(
    () => undefined,
    (err: Error) => err,
  );
  expect(error, 'the import should fail').to.be.instanceOf(Error);
  expect(error!.message.startsWith(prefix), `'${error!.message}' should start with '${prefix}'`).to.equal(true);
  expect(error!.message).not.to.include('\n');
  expect(listing(), 'no cache or temporary folder left behind').to.deep.equal(before);
}
