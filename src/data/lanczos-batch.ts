/**
 * Many same-sized grey images resized with sharp's lanczos3 in one libvips call, bit for bit as one
 * call per image would: a call costs ~2 ms of libvips set-up, more than resizing a small drawing.
 *
 * The images are stacked into one column, each between copies of its own first and last rows. libvips
 * extends an image's edges by copying them too, so every output row reads exactly the input rows it
 * would read alone, with the same filter phase when the scale keeps the tiles aligned (see stackMargin).
 */
import sharp from 'sharp';

/** Pixels of one stack at most: bounds a call's memory, far below sharp's input limit (2^28). */
const MAX_STACK_PIXELS = 2 ** 24;

/**
 * Resizes `images` (each fromH x fromW, row-major) to toH x toW, returned packed in order; stacked
 * where that is exact, one call each otherwise.
 */
export async function resizeGreyImages(
  images: readonly Uint8Array[],
  [fromH, fromW]: readonly [number, number],
  [toH, toW]: readonly [number, number],
): Promise<Uint8Array> {
  const size = toH * toW;
  const out = new Uint8Array(images.length * size);
  const margin = stackMargin(fromH, toH);
  if (margin === undefined || images.length === 1) {
    for (let i = 0; i < images.length; i++) out.set(await resize(images[i], [fromH, fromW], [toH, toW]), i * size);
    return out;
  }
  const inMargin = (margin * fromH) / toH;
  const tileIn = fromH + 2 * inMargin;
  const tileOut = toH + 2 * margin;
  const perStack = Math.max(1, Math.floor(MAX_STACK_PIXELS / (tileIn * fromW)));
  for (let first = 0; first < images.length; first += perStack) {
    const tiles = images.slice(first, first + perStack);
    const stack = new Uint8Array(tiles.length * tileIn * fromW);
    tiles.forEach((image, i) => {
      const top = i * tileIn * fromW;
      const lastRow = image.subarray((fromH - 1) * fromW, fromH * fromW);
      for (let r = 0; r < inMargin; r++) {
        stack.set(image.subarray(0, fromW), top + r * fromW);
        stack.set(lastRow, top + (inMargin + fromH + r) * fromW);
      }
      stack.set(image, top + inMargin * fromW);
    });
    const resized = await resize(stack, [tiles.length * tileIn, fromW], [tiles.length * tileOut, toW]);
    for (let i = 0; i < tiles.length; i++) {
      const start = (i * tileOut + margin) * toW;
      out.set(resized.subarray(start, start + size), (first + i) * size);
    }
  }
  return out;
}

/**
 * Output rows to pad each stacked image with (its input rows scaled by fromH / toH), or undefined when
 * stacking would not be exact: libvips steps through output rows adding the scale in doubles, exact
 * only for a scale of few binary digits (105 / 28 = 3.75). From a scale of 4 libvips first box-shrinks
 * by floor(scale / 2) (its reduce 'gap', 2 as sharp calls it) and then extends the shrunk edge rows,
 * which copies of the unshrunk ones do not reproduce. Only a reduction is done this way.
 */
export function stackMargin(fromH: number, toH: number): number | undefined {
  const scale = fromH / toH;
  // sharp hands libvips 1 / scale, which libvips inverts again.
  if (scale < 1 || scale >= 4 || 1 / (1 / scale) !== scale || !Number.isInteger(scale * 1024)) return undefined;
  // Lanczos3 reads 3 output pixels' worth of input on each side, plus a row for rounding.
  const reach = Math.ceil(3 * scale) + 2;
  for (let margin = 1; ; margin++) {
    const inMargin = margin * scale;
    if (Number.isInteger(inMargin) && inMargin >= reach) return margin;
  }
}

async function resize(
  pixels: Uint8Array,
  [fromH, fromW]: readonly [number, number],
  [toH, toW]: readonly [number, number],
): Promise<Buffer> {
  const data = await sharp(pixels, { raw: { width: fromW, height: fromH, channels: 1 } })
    // Without it sharp writes one band as three (sRGB).
    .greyscale()
    .resize(toW, toH, { kernel: 'lanczos3', fit: 'fill', fastShrinkOnLoad: false })
    .raw({ depth: 'uchar' })
    .toBuffer();
  if (data.length !== toH * toW) throw new Error(`resized to ${data.length} bytes, not ${toH}x${toW}`);
  return data;
}
