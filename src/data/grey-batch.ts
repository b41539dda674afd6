/**
 * A batch of image files -> packed grey pixels, bit for bit as decodeImage gives them one by one, at a
 * fraction of the cost on small PNGs: plain grey PNGs are decoded in JavaScript and resized together,
 * one libvips call per size; any other file (colour, JPEG, corrupt) goes to decodeImage alone.
 */
// Types only: dataset.js loads TensorFlow.js, which a decoding worker has no use for.
import type { ImageShape } from './dataset.js';
import { GreyImage, decodeGreyPng } from './grey-png.js';
import { decodeImage, firstLine } from './images.js';
import { resizeGreyImages } from './lanczos-batch.js';

/** One image file's bytes; `where` names it in errors. */
export interface ImageBytes {
  where: string;
  bytes: Buffer;
}

export async function decodeGreyBatch(
  files: readonly ImageBytes[],
  shape: ImageShape,
): Promise<Uint8Array<ArrayBuffer>> {
  const [h, w, c] = shape;
  if (c !== 1) throw new Error(`decodeGreyBatch: ${h}x${w}x${c} is not a grey shape`);
  const size = h * w;
  const pixels = new Uint8Array(files.length * size);
  // Decoded PNGs by size, with their places in the batch.
  const groups = new Map<string, { at: number[]; images: GreyImage[] }>();
  for (let i = 0; i < files.length; i++) {
    const grey = decodeGreyPng(files[i].bytes);
    if (grey === undefined) {
      pixels.set(await decodeImage(files[i].bytes, files[i].where, shape), i * size);
      continue;
    }
    const key = `${grey.height}x${grey.width}`;
    const group = groups.get(key) ?? groups.set(key, { at: [], images: [] }).get(key)!;
    group.at.push(i);
    group.images.push(grey);
  }
  for (const { at, images } of groups.values()) {
    const { height, width } = images[0];
    let resized: Uint8Array;
    try {
      resized = await resizeGreyImages(
        images.map((g) => g.pixels),
        [height, width],
        [h, w],
      );
    } catch (err) {
      throw new Error(
        `${files[at[0]].where} (and ${at.length - 1} more ${height}x${width} images): cannot resize (${firstLine(err)})`,
        { cause: err },
      );
    }
    at.forEach((index, k) => pixels.set(resized.subarray(k * size, (k + 1) * size), index * size));
  }
  return pixels;
}
