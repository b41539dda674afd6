/**
 * Image files -> packed uint8 pixels, for the importers: each whole image resized to the cache's
 * size with a Lanczos filter (sharp's lanczos3, like PIL's Image.LANCZOS), several at a time.
 */
import * as fs from 'node:fs';
import sharp from 'sharp';
// Types only: the image decoding workers load this module, and dataset.js loads TensorFlow.js (~0.7 s).
import type { ImageShape } from './dataset.js';

/** Decodes in flight: enough to keep sharp's thread pool busy while the next files are read. */
const CONCURRENCY = 8;
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
  if (bytes > MAX_IMAGE_FILE_BYTES)
    throw new Error(
      `${where}: ${bytes} bytes, more than any image of a dataset (${MAX_IMAGE_FILE_BYTES}); refusing to read it`,
    );
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
    throw new Error(`${where}: unreadable image (${firstLine(err)})`, { cause: err });
  }
  if (data.length !== h * w * c) {
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
  const size = shape[0] * shape[1] * shape[2];
  const pixels = new Uint8Array(files.length * size);
  let done = 0;
  await forEachLimited(files, CONCURRENCY, async (file, i) => {
    pixels.set(await decodeImage(await file.read(), file.where, shape), i * size);
    onProgress?.(++done);
  });
  return pixels;
}

/** Runs `fn` on every item, at most `limit` at a time; after a failure, lets the running ones settle and rethrows it. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
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
  return String((err as Error)?.message ?? err)
    .split('\n')[0]
    .trim();
}
