/**
 * Image files -> packed uint8 pixels, for the importers: each whole image resized to the cache's
 * size with a Lanczos filter (sharp's lanczos3, like PIL's Image.LANCZOS), several at a time.
 */
import * as fs from 'node:fs';
import sharp from 'sharp';
import { ImageShape, imageSize } from './dataset.js';
import { GreyImage, decodeGreyPng } from './grey-png.js';
import { resizeGreyImages } from './lanczos-batch.js';

/** Decodes in flight: enough to keep sharp's thread pool busy while the next files are read. */
const CONCURRENCY = 8;
/** Grey images per libvips call, and two such batches in flight: one decoding while libvips resizes the other. */
const GREY_BATCH = 256;
const GREY_BATCHES_IN_FLIGHT = 2;
const EXTENSIONS = /\.(png|jpe?g)$/i;

/** One image file to import: `where` names it in errors (path, and the CSV line if any). */
export interface ImageFile {
  readonly where: string;
  read(): Promise<Buffer>;
}

/** A PNG or JPEG, by its name; hidden files (`._x.jpg` of macOS) are not images. */
export function isImageFile(name: string): boolean {
  return EXTENSIONS.test(name) && !name.startsWith('.');
}

/** The name without its image extension: `n0153282900000005.jpg` -> `n0153282900000005`. */
export function imageName(file: string): string {
  return file.replace(EXTENSIONS, '');
}

/** The largest image file an import reads (a few-shot image is kilobytes; a bigger one is not an image of a dataset, or a bomb). */
export const MAX_IMAGE_FILE_BYTES = 64 * 2 ** 20;

export function checkImageFileSize(bytes: number, where: string): void {
  if (bytes > MAX_IMAGE_FILE_BYTES) throw new Error(`${where}: ${bytes} bytes, more than any image of a dataset (${MAX_IMAGE_FILE_BYTES}); refusing to read it`);
}

/** An image file's bytes, refusing one too large to be an image before reading it. */
export async function readImageFile(file: string): Promise<Buffer> {
  checkImageFileSize((await fs.promises.stat(file)).size, file);
  return fs.promises.readFile(file);
}

/**
 * PNG or JPEG bytes -> H*W*C uint8: grey (C = 1) or sRGB with any alpha dropped (C = 3, like PIL's
 * `convert('RGB')`), the whole image squeezed to W x H (no crop), no EXIF rotation (as PIL).
 */
export async function decodeImage(bytes: Buffer, where: string, shape: ImageShape): Promise<Uint8Array> {
  const [h, w, c] = shape;
  let data: Buffer;
  try {
    const image = sharp(bytes, { failOn: 'error' });
    data = await (c === 1 ? image.greyscale() : image.removeAlpha().toColourspace('srgb'))
      // No shrink-on-load: libjpeg's fast DCT downscale would precede, and blur unlike, the Lanczos filter.
      .resize(w, h, { kernel: 'lanczos3', fit: 'fill', fastShrinkOnLoad: false })
      .raw({ depth: 'uchar' })
      .toBuffer();
  } catch (err) {
    throw new Error(`${where}: unreadable image (${firstLine(err)})`);
  }
  if (data.length !== imageSize(shape)) {
    throw new Error(`${where}: decoded to ${data.length} bytes, not ${h}x${w}x${c}`);
  }
  return data;
}

/** Decodes every file into one class-major pixel array, in order; `onProgress` counts files done. */
export async function decodeImages(
  files: readonly ImageFile[],
  shape: ImageShape,
  onProgress?: (done: number) => void,
): Promise<Uint8Array> {
  const size = imageSize(shape);
  const pixels = new Uint8Array(files.length * size);
  let done = 0;
  await forEachLimited(files, CONCURRENCY, async (file, i) => {
    pixels.set(await decodeImage(await file.read(), file.where, shape), i * size);
    onProgress?.(++done);
  });
  return pixels;
}

/**
 * decodeImages for a grey shape, bit for bit, many times faster on many small PNGs: plain grey PNGs
 * are decoded in JavaScript and resized many per libvips call; any other file goes to sharp alone.
 */
export async function decodeGreyImages(
  files: readonly ImageFile[],
  shape: ImageShape,
  onProgress?: (done: number) => void,
): Promise<Uint8Array> {
  const [h, w, c] = shape;
  if (c !== 1) throw new Error(`decodeGreyImages: ${h}x${w}x${c} is not a grey shape`);
  const size = imageSize(shape);
  const pixels = new Uint8Array(files.length * size);
  const batches = Array.from({ length: Math.ceil(files.length / GREY_BATCH) }, (_, b) => b * GREY_BATCH);
  let done = 0;
  await forEachLimited(batches, GREY_BATCHES_IN_FLIGHT, async (first) => {
    const batch = files.slice(first, first + GREY_BATCH);
    const bytes: Buffer[] = [];
    await forEachLimited(batch, CONCURRENCY, async (file, i) => {
      bytes[i] = await file.read();
    });
    // Decoded PNGs grouped by size, for one resize per size.
    const groups = new Map<string, { at: number[]; images: GreyImage[] }>();
    for (let i = 0; i < batch.length; i++) {
      const grey = decodeGreyPng(bytes[i]);
      if (grey === undefined) {
        pixels.set(await decodeImage(bytes[i], batch[i].where, shape), (first + i) * size);
        continue;
      }
      const key = `${grey.height}x${grey.width}`;
      const group = groups.get(key) ?? groups.set(key, { at: [], images: [] }).get(key)!;
      group.at.push(first + i);
      group.images.push(grey);
    }
    for (const { at, images } of groups.values()) {
      const { height, width } = images[0];
      let resized: Uint8Array;
      try {
        resized = await resizeGreyImages(images.map((g) => g.pixels), [height, width], [h, w]);
      } catch (err) {
        throw new Error(`${files[at[0]].where} (and ${at.length - 1} more ${height}x${width} images): cannot resize (${firstLine(err)})`);
      }
      at.forEach((index, k) => pixels.set(resized.subarray(k * size, (k + 1) * size), index * size));
    }
    onProgress?.((done += batch.length));
  });
  return pixels;
}

/** Runs `fn` on every item, at most `limit` at a time; after a failure, lets the running ones settle and rethrows it. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        await fn(items[i], i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

/** Code-unit order: the same on every machine and locale. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0].trim();
}
