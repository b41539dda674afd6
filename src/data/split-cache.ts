/**
 * A cache folder with one file per split, for sources whose splits are disjoint sets of classes
 * (miniImageNet, image folders): a run reads only the split it uses (miniImageNet's train split
 * alone is 813 MB at 84x84x3). Each split is `<split>.bin`, packed images (cache.ts), or, for a
 * source read without its images, `<split>.catalog.json`: the same class ids and image names
 * without pixels, which is all that sampling and freezing episodes need.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { recoverFolder, writeFileAtomic, writeFolderAtomic } from '../atomic.js';
import { FewShotDataset, ImageShape } from './dataset.js';
import { PackedImages, countImages, readPackedImages, writePackedImages } from './cache.js';
import { PackedDataset } from './packed-dataset.js';
import { ImageFile, decodeImages } from './images.js';
import { readTextFile } from '../files.js';

export const SPLIT_NAMES = ['train', 'val', 'test', 'all'] as const;
const CATALOG_FORMAT = 1;

/** A split's ids without pixels. */
export type SplitCatalog = Omit<PackedImages, 'pixels'>;

export interface SplitToWrite extends SplitCatalog {
  readonly name: string;
  /** The split's image files, class-major; absent for a catalog (ids only). */
  readonly files?: readonly ImageFile[];
  /** Or its pixels already decoded, class-major (sources stored as raw pixels, such as CIFAR). */
  readonly pixels?: Uint8Array;
}

/** What an importer into a split cache reports. */
export interface SplitImportSummary {
  out: string;
  source: string;
  shape: ImageShape;
  images: number;
  classes: number;
  /** Class count of every split written. */
  splits: Record<string, number>;
  /** False for a catalog-only cache (ids, no pixels). */
  pixels: boolean;
  seconds: number;
}

function binFile(dir: string, split: string): string {
  return path.join(dir, `${split}.bin`);
}

function catalogFile(dir: string, split: string): string {
  return path.join(dir, `${split}.catalog.json`);
}

/** The splits a cache folder holds, in SPLIT_NAMES order. */
export function cacheSplits(dir: string): string[] {
  return SPLIT_NAMES.filter((s) => fs.existsSync(binFile(dir, s)) || fs.existsSync(catalogFile(dir, s)));
}

/** Before an import: puts back a folder a crash left aside; refuses to replace anything but a split cache. */
export function prepareSplitCache(out: string): void {
  recoverFolder(out);
  const stat = fs.statSync(out, { throwIfNoEntry: false });
  if (!stat) return;
  const isSplitFile = (f: string) => SPLIT_NAMES.some((s) => f === `${s}.bin` || f === `${s}.catalog.json`);
  if (!stat.isDirectory()) throw new Error(`${out}: exists and is not a folder; refusing to replace it`);
  const foreign = fs.readdirSync(out).find((f) => !isSplitFile(f));
  if (foreign !== undefined) {
    throw new Error(
      `${out}: holds ${foreign}, which an import did not write; refusing to replace the folder ` +
        '(an import replaces it whole: move that away, or choose another --out)',
    );
  }
}

/**
 * Decodes and writes every split into a fresh folder swapped in for `out`: all of them, or (on any
 * error) none. `onProgress` counts the images decoded over all splits.
 */
export async function writeSplitCache(
  out: string,
  splits: readonly SplitToWrite[],
  onProgress?: (done: number, total: number) => void,
): Promise<Omit<SplitImportSummary, 'seconds'>> {
  const total = splits.reduce((sum, s) => sum + (s.files?.length ?? 0), 0);
  let before = 0;
  if (total > 0) onProgress?.(0, total);
  await writeFolderAtomic(out, async (tmp) => {
    // One split's pixels at a time: the largest split, not the sum, bounds the memory.
    for (const { name, files, pixels: decoded, ...catalog } of splits) {
      if (decoded) {
        writePackedImages(binFile(tmp, name), { ...catalog, pixels: decoded });
        continue;
      }
      if (!files) {
        writeFileAtomic(catalogFile(tmp, name), [
          Buffer.from(JSON.stringify({ format: CATALOG_FORMAT, ...catalog }), 'utf8'),
        ]);
        continue;
      }
      const pixels = await decodeImages(files, catalog.shape, (done) => onProgress?.(before + done, total));
      before += files.length;
      writePackedImages(binFile(tmp, name), { ...catalog, pixels });
    }
  });
  return {
    out,
    source: splits[0].source,
    shape: splits[0].shape,
    images: splits.reduce((sum, s) => sum + countImages(s.classes), 0),
    classes: splits.reduce((sum, s) => sum + s.classes.length, 0),
    splits: Object.fromEntries(splits.map((s) => [s.name, s.classes.length])),
    pixels: splits.every((s) => s.files !== undefined || s.pixels !== undefined),
  };
}

/** One split, with pixels or (a catalog) without; undefined when the folder lacks it. */
function readSplit(dir: string, split: string): { file: string; packed: PackedImages; pixels: boolean } | undefined {
  const bin = binFile(dir, split);
  if (fs.existsSync(bin)) return { file: bin, packed: readPackedImages(bin), pixels: true };
  const file = catalogFile(dir, split);
  if (!fs.existsSync(file)) return undefined;
  let catalog: SplitCatalog & { format?: number };
  try {
    catalog = JSON.parse(readTextFile(file));
  } catch (err) {
    throw new Error(`${file}: not a valid catalog (${(err as Error).message})`, { cause: err });
  }
  if (catalog.format !== CATALOG_FORMAT)
    throw new Error(`${file}: catalog format ${catalog.format}, this version reads ${CATALOG_FORMAT}`);
  return {
    file,
    packed: { source: catalog.source, shape: catalog.shape, classes: catalog.classes, pixels: new Uint8Array(0) },
    pixels: false,
  };
}

/** Opens `<dir>/<split>` of a `source` cache as a dataset named `<source>/<split>`. */
export function openSplitCache(dir: string, split: string, source: string, howToMake: string): FewShotDataset {
  recoverFolder(dir);
  const found = readSplit(dir, split);
  if (!found) {
    const held = cacheSplits(dir);
    if (held.length === 0) throw new Error(`${dir}: no ${source} cache here; ${howToMake}`);
    throw new Error(`${dir}: no split '${split}' in this cache (it holds ${held.join(', ')})`);
  }
  if (found.packed.source !== source) throw new Error(`${found.file}: a '${found.packed.source}' cache, not ${source}`);
  const name = `${source}/${split}`;
  return found.pixels ? new PackedDataset(name, found.packed) : new CatalogDataset(name, found.packed, found.file);
}

/** Ids without pixels: enough to sample, freeze and show episodes; training or evaluating on it fails clearly. */
class CatalogDataset extends PackedDataset {
  constructor(
    name: string,
    packed: PackedImages,
    private readonly file: string,
  ) {
    super(name, packed);
  }

  override readPixels(): void {
    throw new Error(`${this.file}: class and image ids only, no pixels; import the images to train or evaluate`);
  }
}

/** Source, shape and class counts of a split cache folder; `pixels` false when any split is a catalog. */
export function describeSplitCache(dir: string): Omit<SplitImportSummary, 'out' | 'seconds'> {
  const splits: Record<string, number> = {};
  let first: PackedImages | undefined;
  let images = 0;
  let pixels = true;
  for (const split of cacheSplits(dir)) {
    // One split at a time: each may be hundreds of MB.
    const found = readSplit(dir, split)!;
    first ??= found.packed;
    if (found.packed.source !== first.source)
      throw new Error(`${found.file}: a '${found.packed.source}' split beside '${first.source}' ones`);
    splits[split] = found.packed.classes.length;
    images += countImages(found.packed.classes);
    pixels &&= found.pixels;
  }
  if (!first) throw new Error(`${dir}: not an image cache (no images.bin, no <split>.bin or <split>.catalog.json)`);
  const classes = Object.values(splits).reduce((a, b) => a + b, 0);
  return { source: first.source, shape: first.shape, images, classes, splits, pixels };
}
