/**
 * The packed image store: every image of a dataset as uint8 pixels, class-major, behind a JSON
 * header, in one file. Built once by an importer (slow: decoding, resizing), read fast.
 *
 * File layout: 8-byte magic `FSRKDIMG`, uint32 LE header length, UTF-8 JSON header, pixels.
 */
import { fileError, writeFileAtomic } from '../atomic.js';
import { ImageShape, imageSize } from './dataset.js';
import { readRegularFile } from '../files.js';

const MAGIC = Buffer.from('FSRKDIMG', 'ascii');
const FORMAT_VERSION = 1;

export interface PackedClass {
  readonly id: string;
  /** Image names within the class (no extension), e.g. `0709_01`. */
  readonly images: readonly string[];
}

/** All images of a source in memory: the cache file's content. */
export interface PackedImages {
  /** Where the images came from, e.g. `omniglot` or `synthetic`. */
  readonly source: string;
  readonly shape: ImageShape;
  readonly classes: readonly PackedClass[];
  /** uint8 pixels of every image, class-major, H*W*C each. */
  readonly pixels: Uint8Array;
}

interface Header {
  format: number;
  source: string;
  shape: [number, number, number];
  classes: { id: string; images: string[] }[];
}

export function countImages(classes: readonly PackedClass[]): number {
  return classes.reduce((sum, c) => sum + c.images.length, 0);
}

export function writePackedImages(file: string, packed: PackedImages): void {
  const expected = countImages(packed.classes) * imageSize(packed.shape);
  if (packed.pixels.length !== expected) {
    throw new Error(`${file}: ${packed.pixels.length} pixel bytes for ${expected} expected`);
  }
  const header: Header = {
    format: FORMAT_VERSION,
    source: packed.source,
    shape: [...packed.shape],
    classes: packed.classes.map((c) => ({ id: c.id, images: [...c.images] })),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length, 0);
  writeFileAtomic(file, [MAGIC, length, json, packed.pixels]);
}

/** Side of the largest image a cache may hold: far above any few-shot benchmark's, far below what exhausts memory. */
export const MAX_IMAGE_SIDE = 4096;

/** The header's every field, before any of it sizes an allocation or becomes an index. */
function checkHeader(file: string, header: Header): void {
  const fail = (why: string) =>
    new Error(`${file}: image cache header: ${why} (a damaged or foreign file: import again)`);
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw fail('not a JSON object');
  if (header.format !== FORMAT_VERSION) {
    throw new Error(`${file}: image cache format ${header.format}, this version reads ${FORMAT_VERSION}`);
  }
  const shape = header.shape;
  if (
    !Array.isArray(shape) ||
    shape.length !== 3 ||
    !shape.every((n) => Number.isInteger(n) && n >= 1) ||
    shape[0] > MAX_IMAGE_SIDE ||
    shape[1] > MAX_IMAGE_SIDE ||
    (shape[2] !== 1 && shape[2] !== 3)
  ) {
    throw fail(`shape ${JSON.stringify(shape)} is not [height, width, 1 or 3] with sides 1..${MAX_IMAGE_SIDE}`);
  }
  if (!Array.isArray(header.classes)) throw fail("'classes' is not an array");
  const ids = new Set<string>();
  header.classes.forEach((c, i) => {
    if (!c || typeof c.id !== 'string' || !Array.isArray(c.images) || c.images.some((n) => typeof n !== 'string')) {
      throw fail(`class ${i} is not { id, images: [names] }`);
    }
    if (ids.has(c.id)) throw fail(`class '${c.id}' appears twice`);
    ids.add(c.id);
    if (new Set(c.images).size !== c.images.length) throw fail(`class '${c.id}' names an image twice`);
  });
}

export function readPackedImages(file: string): PackedImages {
  let bytes: Buffer;
  try {
    bytes = readRegularFile(file);
  } catch (err) {
    throw fileError(file, err, 'cannot read image cache');
  }
  if (bytes.length < 12 || !bytes.subarray(0, 8).equals(MAGIC)) {
    throw new Error(`${file}: not a fewshot-rkd image cache (bad magic)`);
  }
  const headerLength = bytes.readUInt32LE(8);
  if (12 + headerLength > bytes.length)
    throw new Error(`${file}: image cache header of ${headerLength} bytes runs past the file's end (truncated file?)`);
  let header: Header;
  try {
    header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString('utf8')) as Header;
  } catch {
    throw new Error(`${file}: image cache header is not valid JSON (truncated file?)`);
  }
  checkHeader(file, header);
  // Bounded view: small reads share Node's buffer pool, which runs on past the file's end.
  const pixels = new Uint8Array(bytes.buffer, bytes.byteOffset + 12 + headerLength, bytes.length - 12 - headerLength);
  const expected = countImages(header.classes) * imageSize(header.shape);
  if (pixels.length !== expected) {
    throw new Error(`${file}: ${pixels.length} pixel bytes, header announces ${expected} (truncated file?)`);
  }
  return { source: header.source, shape: header.shape, classes: header.classes, pixels };
}
