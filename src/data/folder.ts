/**
 * Any folder of class sub-folders of PNG/JPEG images (easyfsl's and torchvision's ImageFolder
 * layout), imported once into a split cache (split-cache.ts) at a chosen size and channel count.
 *
 * Splits: when the folder's sub-folders are `train`, `val` and/or `test`, each is a split of
 * class sub-folders; otherwise the sub-folders are the classes of one split, `all`. Class ids are
 * the class folders' names, image names the file names without extension; both sorted. Only
 * images directly inside a class folder count; other files are skipped. Symlinks to class folders
 * and to images count as what they point to (a dataset assembled from links).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FewShotDataset, ImageShape } from './dataset.js';
import { ImageFile, compareIds, imageName, isImageFile, readImageFile } from './images.js';
import { SplitImportSummary, SplitToWrite, openSplitCache, prepareSplitCache, writeSplitCache } from './split-cache.js';

export const FOLDER_SPLITS = ['train', 'val', 'test'] as const;
/** The one split of a folder without split sub-folders. */
export const WHOLE_FOLDER = 'all';
const IMPORT_COMMAND = 'fewshot data folder --from DIR';

export interface FolderImportOptions {
  /** The folder of class sub-folders, or of `train`/`val`/`test` folders of class sub-folders. */
  from: string;
  /** The cache directory to (re)create. */
  out: string;
  /** Side of the square images in the cache (default 84). */
  size?: number;
  /** 1 (grey) or 3 (RGB; the default). */
  channels?: 1 | 3;
  onProgress?: (done: number, total: number) => void;
}

export async function importFolder(options: FolderImportOptions): Promise<SplitImportSummary> {
  const start = performance.now();
  const { size = 84, channels = 3 } = options;
  if (!Number.isInteger(size) || size < 1) throw new Error(`image size must be a positive integer, got ${size}`);
  if (channels !== 1 && channels !== 3) throw new Error(`channels must be 1 or 3, got ${channels}`);
  const shape: ImageShape = [size, size, channels];
  const out = path.resolve(options.out);
  const splits = listSplits(options.from).map(([name, dir]) => listSplit(name, dir, shape));
  prepareSplitCache(out);
  const summary = await writeSplitCache(out, splits, options.onProgress);
  return { ...summary, seconds: (performance.now() - start) / 1000 };
}

/** Opens a split of an imported folder: `all`, or `train`/`val`/`test` when the folder had them. */
export function openFolder(cacheDir: string, split: string): FewShotDataset {
  return openSplitCache(cacheDir, split, 'folder', `run \`${IMPORT_COMMAND} --out ${cacheDir}\``);
}

/** Whether a folder entry is a folder (or a file), following a symlink to its target. */
function entryIs(dir: string, e: fs.Dirent, kind: 'folder' | 'file'): boolean {
  const stat = e.isSymbolicLink() ? fs.statSync(path.join(dir, e.name), { throwIfNoEntry: false }) : e;
  return kind === 'folder' ? stat?.isDirectory() === true : stat?.isFile() === true;
}

/** Sub-folders (or links to folders), sorted, skipping hidden ones and macOS's `__MACOSX`. */
function subfolders(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => entryIs(dir, e, 'folder') && !e.name.startsWith('.') && e.name !== '__MACOSX')
    .map((e) => e.name)
    .sort(compareIds);
}

/** The splits of `from`: its split folders, or `from` itself as the one split `all`. */
function listSplits(from: string): [string, string][] {
  if (!fs.statSync(from, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${from}: no such folder`);
  const folders = subfolders(from);
  const isSplit = (f: string) => (FOLDER_SPLITS as readonly string[]).includes(f);
  const splitFolders = folders.filter(isSplit);
  if (splitFolders.length === 0) return [[WHOLE_FOLDER, from]];
  const stray = folders.find((f) => !isSplit(f));
  if (stray) {
    throw new Error(
      `${path.join(from, stray)}: a class folder beside the split folders ${splitFolders.join(', ')}; put classes inside the split folders`,
    );
  }
  // Split order as FOLDER_SPLITS, not alphabetical.
  return FOLDER_SPLITS.filter((s) => splitFolders.includes(s)).map((s) => [s, path.join(from, s)]);
}

/** A split folder's classes and image files, sorted; a class without images is refused. */
function listSplit(name: string, dir: string, shape: ImageShape): SplitToWrite {
  const classIds = subfolders(dir);
  if (classIds.length === 0) throw new Error(`${dir}: no class sub-folders`);
  const classes: { id: string; images: string[] }[] = [];
  const files: ImageFile[] = [];
  for (const id of classIds) {
    const classDir = path.join(dir, id);
    const names = fs
      .readdirSync(classDir, { withFileTypes: true })
      .filter((e) => entryIs(classDir, e, 'file') && isImageFile(e.name))
      .map((e) => e.name)
      .sort((a, b) => compareIds(imageName(a), imageName(b)) || compareIds(a, b));
    if (names.length === 0) throw new Error(`${classDir}: no PNG or JPEG images in this class folder`);
    names.forEach((file, i) => {
      if (i > 0 && imageName(file) === imageName(names[i - 1])) {
        throw new Error(`${path.join(classDir, file)}: same image name as ${names[i - 1]}`);
      }
    });
    classes.push({ id, images: names.map(imageName) });
    for (const file of names) {
      const where = path.join(classDir, file);
      files.push({ where, read: () => readImageFile(where) });
    }
  }
  return { name, source: 'folder', shape, classes, files };
}
