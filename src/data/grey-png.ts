/**
 * Plain grey PNGs -> 8-bit pixels in JavaScript (fast-png), as libvips loads them: for importers of
 * many small drawings, where a sharp call costs ~2 ms of libvips set-up per image, ten times the decode.
 */
import { decode, hasPngSignature } from 'fast-png';

/**
 * Larger images go to sharp: beside their pixels its set-up costs little, and its pixel limit guards
 * against decompression bombs (a small file declaring a huge image), which fast-png would allocate.
 */
const MAX_PIXELS = 2 ** 18;
/** 'IHDR', the first chunk's type. */
const IHDR = 0x49484452;

/** Row-major 8-bit grey pixels. */
export interface GreyImage {
  width: number;
  height: number;
  pixels: Uint8Array;
}

/**
 * The pixels of a plain grey PNG (colour type 0, 1-8 bits, no transparency, no ICC profile, at most
 * MAX_PIXELS), low bit depths scaled to 0-255 as libvips does; undefined for anything else, corrupt
 * PNGs included, which sharp decodes (or rejects) as before.
 */
export function decodeGreyPng(bytes: Uint8Array): GreyImage | undefined {
  if (!hasPngSignature(bytes) || bytes.length < 24) return undefined;
  // Signature (8 bytes), then the IHDR chunk: length, type, width, height.
  const header = new DataView(bytes.buffer, bytes.byteOffset, 24);
  if (header.getUint32(12) !== IHDR || header.getUint32(16) * header.getUint32(20) > MAX_PIXELS) return undefined;
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes, { checkCrc: true });
  } catch {
    return undefined;
  }
  const { width, height, depth, data } = png;
  if (png.channels !== 1 || depth > 8 || png.palette || png.transparency || png.iccEmbeddedProfile) return undefined;
  // Rows of packed samples, each padded to a whole byte.
  const stride = Math.ceil((width * depth) / 8);
  if (!(data instanceof Uint8Array) || data.length !== stride * height) return undefined;
  if (depth === 8) return { width, height, pixels: data };
  const pixels = new Uint8Array(width * height);
  const max = (1 << depth) - 1;
  const scale = 255 / max; // 255, 85 or 17: whole numbers
  let p = 0;
  for (let y = 0; y < height; y++) {
    const rowEnd = p + width;
    for (let i = y * stride; p < rowEnd; i++) {
      const byte = data[i];
      // Samples from the high bits down; the last byte of a row may hold padding.
      for (let shift = 8 - depth; shift >= 0 && p < rowEnd; shift -= depth)
        pixels[p++] = ((byte >> shift) & max) * scale;
    }
  }
  return { width, height, pixels };
}
