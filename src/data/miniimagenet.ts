/**
 * miniImageNet in the Ravi & Larochelle layout: split CSVs `train.csv`, `val.csv`, `test.csv`
 * (header `filename,label`; in the source folder or its `splits/ravi/`) and a folder `images/` of the
 * files they name (`n0153282900000005.jpg`). Imported once into a split cache (split-cache.ts) of
 * 84x84x3 images, one file per split: the splits share no class, and a run reads only its own.
 *
 * Class ids are the labels (wnids, `n01532829`), image names the file names without extension;
 * classes and images are sorted by id, so the cache (and every manifest drawn from it) depends on
 * the CSVs' content, not on their row order. With `csvOnly`, only the ids are kept (a catalog):
 * enough to freeze the test suites without the images.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { readCsvRows } from '../csv.js';
import { FewShotDataset, ImageShape } from './dataset.js';
import { PackedClass } from './cache.js';
import { removeStaleTemporaries, temporaryPath } from '../atomic.js';
import { imageNetFiles } from './imagenet.js';
import { ImageFile, compareIds, imageName, isImageFile, readImageFile } from './images.js';
import { SplitImportSummary, openSplitCache, prepareSplitCache, writeSplitCache } from './split-cache.js';

export const MINIIMAGENET_SIZE = 84;
export const MINIIMAGENET_SPLITS = ['train', 'val', 'test'] as const;
export type MiniImageNetSplit = (typeof MINIIMAGENET_SPLITS)[number];

const SHAPE: ImageShape = [MINIIMAGENET_SIZE, MINIIMAGENET_SIZE, 3];
const HEADERS = ['filename', 'label'] as const;
const CSV_DIRS = ['.', path.join('splits', 'ravi')];
const IMPORT_COMMAND = 'fewshot data miniimagenet --from DIR';

export interface MiniImageNetImportOptions {
  /** A folder holding the split CSVs (or `splits/ravi/*.csv`) and, unless `csvOnly`, `images/`. */
  from: string;
  /** The cache directory to (re)create. */
  out: string;
  /** Keep class and image ids only (no `images/` needed): enough to sample and freeze episodes. */
  csvOnly?: boolean;
  /**
   * Read the images from the ILSVRC2012 training set instead of `images/`: its tar, a folder of its
   * per-class tars, or its extracted folder (imagenet.ts says which image each CSV name is).
   */
  imagenet?: string;
  onProgress?: (done: number, total: number) => void;
}

/** One row of a split CSV. */
export interface RaviRow {
  classId: string;
  name: string;
  filename: string;
  line: number;
}

/** A split CSV read and checked: its rows sorted by class, then image. */
export interface RaviSplit {
  file: string;
  rows: RaviRow[];
  classes: PackedClass[];
}

/** Reads a Ravi split CSV; any malformed or repeated row is refused with its line. */
export async function readRaviCsv(file: string): Promise<RaviSplit> {
  const rows: RaviRow[] = [];
  const lineOf = new Map<string, number>();
  await readCsvRows(file, HEADERS, ({ filename, label }, line) => {
    if (!isImageFile(filename) || /[\\/]/.test(filename))
      throw new Error(`filename '${filename}' is not a .jpg, .jpeg or .png file name`);
    if (label === '' || /[\\/\s]/.test(label))
      throw new Error(`label '${label}' is not a class id (a wnid such as n01532829)`);
    const key = `${label}/${imageName(filename)}`;
    const seen = lineOf.get(key);
    if (seen !== undefined) throw new Error(`image ${key} repeats line ${seen}`);
    lineOf.set(key, line);
    rows.push({ classId: label, name: imageName(filename), filename, line });
  });
  if (rows.length === 0) throw new Error(`${file}: no rows after the header`);
  rows.sort((a, b) => compareIds(a.classId, b.classId) || compareIds(a.name, b.name));
  const classes: { id: string; images: string[] }[] = [];
  for (const row of rows) {
    if (classes.at(-1)?.id !== row.classId) classes.push({ id: row.classId, images: [] });
    classes.at(-1)!.images.push(row.name);
  }
  return { file, rows, classes };
}

/** The split CSVs under `from` (itself or `splits/ravi/`), by split. */
export function findRaviCsvs(from: string): [MiniImageNetSplit, string][] {
  if (!fs.statSync(from, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${from}: no such folder`);
  for (const dir of CSV_DIRS) {
    const found = MINIIMAGENET_SPLITS.map((s): [MiniImageNetSplit, string] => [
      s,
      path.join(from, dir, `${s}.csv`),
    ]).filter(([, file]) => fs.existsSync(file));
    if (found.length > 0) return found;
  }
  throw new Error(
    `${from}: no miniImageNet split CSVs (expected train.csv, val.csv, test.csv here or in splits/ravi/)`,
  );
}

export async function importMiniImageNet(options: MiniImageNetImportOptions): Promise<SplitImportSummary> {
  const start = performance.now();
  const out = path.resolve(options.out);
  const csvs = findRaviCsvs(options.from);
  prepareSplitCache(out);
  const splits: [MiniImageNetSplit, RaviSplit][] = [];
  for (const [split, file] of csvs) splits.push([split, await readRaviCsv(file)]);

  // Images chosen from ImageNet are staged (from tars) beside the cache, and removed at the end.
  const staging = `${out}.imagenet`;
  removeStaleTemporaries(staging);
  const stagingDir = temporaryPath(staging);
  try {
    const imageOf = options.csvOnly
      ? undefined
      : options.imagenet
        ? await imageNetFiles(
            options.imagenet,
            splits.map(([, s]) => s),
            stagingDir,
          )
        : imagesFolderFiles(
            path.join(options.from, 'images'),
            splits.map(([, s]) => s),
          );
    const summary = await writeSplitCache(
      out,
      splits.map(([name, { file, rows, classes }]) => ({
        name,
        source: 'miniimagenet',
        shape: SHAPE,
        classes,
        files:
          imageOf &&
          rows.map((r): ImageFile => {
            const image = imageOf.get(r.filename)!;
            return { where: `${image} (${file}:${r.line})`, read: () => readImageFile(image) };
          }),
      })),
      options.onProgress,
    );
    return { ...summary, seconds: (performance.now() - start) / 1000 };
  } finally {
    fs.rmSync(stagingDir, { recursive: true, force: true });
  }
}

/** The images/ folder's file behind each CSV file name; every named image must be there before decoding starts. */
function imagesFolderFiles(imagesDir: string, splits: readonly RaviSplit[]): Map<string, string> {
  if (!fs.statSync(imagesDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(
      `${imagesDir}: missing; expected the JPEGs the CSVs name (or --csv-only, for ids without pixels; or --from-imagenet)`,
    );
  }
  const present = new Set(fs.readdirSync(imagesDir));
  for (const { file, rows } of splits) {
    const missing = rows.find((r) => !present.has(r.filename));
    if (missing) throw new Error(`${file}:${missing.line}: image ${missing.filename} is not in ${imagesDir}`);
  }
  return new Map(
    splits.flatMap((s) => s.rows.map((r) => [r.filename, path.join(imagesDir, r.filename)] as [string, string])),
  );
}

/** Opens a split of a miniImageNet cache (or catalog: ids only, for sampling and freezing). */
export function openMiniImageNet(cacheDir: string, split: string): FewShotDataset {
  if (!(MINIIMAGENET_SPLITS as readonly string[]).includes(split)) {
    throw new Error(`unknown miniImageNet split '${split}' (one of ${MINIIMAGENET_SPLITS.join(', ')})`);
  }
  return openSplitCache(cacheDir, split, 'miniimagenet', `run \`${IMPORT_COMMAND} --out ${cacheDir}\``);
}
