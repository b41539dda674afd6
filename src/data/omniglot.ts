/**
 * Omniglot: import the official zips (or their extracted folders) once into a packed 28x28 cache,
 * then open it fast as the Vinyals splits, where each rotation of a character is its own class.
 *
 * Cache directory layout: `images.bin` (packed, source 'omniglot', shape [28, 28, 1], one class per
 * character `Alphabet/characterNN`, classes sorted by id in code-unit order, images by name) and
 * `splits/vinyals/{train,val,test,trainval}.txt` copied from the source. Pixels are ink, 255 - grey
 * (paper 0, strokes bright), which is what the networks consume.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as zlib from 'node:zlib';
import yauzl from 'yauzl';
import { recoverFolder, writeFileComplete, writeFolderAtomic } from '../atomic.js';
import { FewShotDataset } from './dataset.js';
import { PackedClass, readPackedImages, writePackedImages } from './cache.js';
import { ClassView, PackedDataset, QuarterTurns } from './packed-dataset.js';
import { decodeGreyImages } from './grey-workers.js';
import { checkImageFileSize, compareIds, firstLine, readImageFile } from './images.js';
import { walkFiles } from './walk.js';
import { readRegularFile, readTextFile } from '../files.js';

export const OMNIGLOT_SIZE = 28;
export const OMNIGLOT_SPLITS = ['train', 'val', 'test', 'trainval'] as const;
export type OmniglotSplit = (typeof OMNIGLOT_SPLITS)[number];

const PARTS = ['images_background', 'images_evaluation'];
const IMAGES_FILE = 'images.bin';
const SPLITS_DIR = path.join('splits', 'vinyals');

export interface OmniglotImportOptions {
  /** A folder holding the official zips and/or their extracted folders, or one zip or folder. */
  from: string;
  /** The cache directory to (re)create. */
  out: string;
  onProgress?: (done: number, total: number) => void;
}

export interface OmniglotImportSummary {
  out: string;
  /** The zips and folders read. */
  sources: string[];
  images: number;
  characters: number;
  alphabets: number;
  /** Class count of every split copied into the cache. */
  splits: Partial<Record<OmniglotSplit, number>>;
  /** Why no splits were copied, when none were. */
  splitsNote?: string;
  seconds: number;
}

/** One PNG to import, wherever it lives. */
interface Item {
  classId: string;
  name: string;
  /** `zip: entry` or file path, for error messages. */
  where: string;
  read(): Promise<Buffer>;
}

interface Source {
  path: string;
  /** Lists the images; `close` releases the zip, if any. */
  open(): Promise<{ items: Item[]; close(): void }>;
}

export async function importOmniglot(options: OmniglotImportOptions): Promise<OmniglotImportSummary> {
  const start = performance.now();
  const out = path.resolve(options.out);
  const sources = findSources(options.from);
  recoverFolder(out);
  checkReplaceable(out);

  const opened: { close(): void }[] = [];
  try {
    const items: Item[] = [];
    for (const source of sources) {
      const listing = await source.open();
      opened.push(listing);
      for (const item of listing.items) items.push(item); // no spread: a zip may list very many
    }
    if (items.length === 0) throw new Error(`${options.from}: no Omniglot PNG images found`);
    items.sort((a, b) => compareIds(a.classId, b.classId) || compareIds(a.name, b.name));
    const classes = groupClasses(items);

    // Splits are checked before the slow decode, so a bad line fails fast.
    const { splitFiles, note } = findSplits(options.from, sources);
    const known = new Set(classes.map((c) => c.id));
    const splits: Partial<Record<OmniglotSplit, number>> = {};
    for (const [split, file] of splitFiles) splits[split] = parseSplit(file, known).length;

    options.onProgress?.(0, items.length);
    const grey = await decodeGreyImages(items, [OMNIGLOT_SIZE, OMNIGLOT_SIZE, 1], (done) =>
      options.onProgress?.(done, items.length),
    );
    // Ink: paper 0, strokes bright.
    const pixels = grey.map((v) => 255 - v);

    // Built in a temporary sibling and swapped in: a failed import leaves the previous cache or nothing.
    await writeFolderAtomic(out, (tmp) => {
      writePackedImages(path.join(tmp, IMAGES_FILE), {
        source: 'omniglot',
        shape: [OMNIGLOT_SIZE, OMNIGLOT_SIZE, 1],
        classes,
        pixels,
      });
      for (const [split, file] of splitFiles) {
        fs.mkdirSync(path.join(tmp, SPLITS_DIR), { recursive: true });
        // Read and write rather than copy: the source may be read-only, the cache must not be.
        writeFileComplete(path.join(tmp, SPLITS_DIR, `${split}.txt`), [readRegularFile(file)]);
      }
    });

    return {
      out,
      sources: sources.map((s) => s.path),
      images: items.length,
      characters: classes.length,
      alphabets: new Set(classes.map((c) => c.id.split('/')[0])).size,
      splits,
      ...(note === undefined ? {} : { splitsNote: note }),
      seconds: (performance.now() - start) / 1000,
    };
  } finally {
    for (const o of opened) o.close();
  }
}

/** Opens a cache as a split (rotations as classes, in the split file's order) or 'all' characters. */
export function openOmniglot(cacheDir: string, split: OmniglotSplit | 'all'): FewShotDataset {
  if (split !== 'all' && !OMNIGLOT_SPLITS.includes(split)) {
    throw new Error(`unknown Omniglot split '${split}' (one of ${OMNIGLOT_SPLITS.join(', ')}, all)`);
  }
  recoverFolder(cacheDir);
  const file = path.join(cacheDir, IMAGES_FILE);
  if (!fs.existsSync(file)) {
    throw new Error(`${file}: no Omniglot cache here; run \`fewshot data omniglot --from DIR --out ${cacheDir}\``);
  }
  // Checked before the images load, to fail fast.
  const splitFile = path.join(cacheDir, SPLITS_DIR, `${split}.txt`);
  if (split !== 'all' && !fs.existsSync(splitFile)) {
    throw new Error(`${splitFile}: missing; import with the Vinyals splits (splits/vinyals/*.txt under --from)`);
  }
  const packed = readPackedImages(file);
  if (packed.source !== 'omniglot') throw new Error(`${file}: a '${packed.source}' cache, not Omniglot`);
  const index = new Map(packed.classes.map((c, i) => [c.id, i]));
  const views: ClassView[] =
    split === 'all'
      ? // Same ids as the unrotated split classes, so image ids agree across splits.
        packed.classes.map((c, source) => ({ id: `${c.id}/rot000`, source, quarterTurns: 0 }))
      : parseSplit(splitFile, new Set(index.keys())).map((line) => ({
          id: line.id,
          source: index.get(line.character)!,
          quarterTurns: line.quarterTurns,
        }));
  return new PackedDataset(`omniglot/${split}`, packed, views);
}

/** Class counts of the splits a cache holds. */
export function omniglotSplitCounts(cacheDir: string): Partial<Record<OmniglotSplit, number>> {
  const counts: Partial<Record<OmniglotSplit, number>> = {};
  for (const split of OMNIGLOT_SPLITS) {
    const file = path.join(cacheDir, SPLITS_DIR, `${split}.txt`);
    if (fs.existsSync(file)) counts[split] = parseSplit(file).length;
  }
  return counts;
}

// --- Sources -------------------------------------------------------------------------------------

function findSources(from: string): Source[] {
  const stat = statOrUndefined(from);
  if (!stat) throw new Error(`${from}: no such file or folder`);
  if (stat.isFile()) {
    if (!from.toLowerCase().endsWith('.zip')) throw new Error(`${from}: expected an Omniglot zip or folder`);
    return [zipSource(from)];
  }
  // The zip is preferred over a folder of the same part: a folder may be partly extracted.
  const sources: Source[] = [];
  for (const part of PARTS) {
    const zip = path.join(from, `${part}.zip`);
    const dir = path.join(from, part);
    if (statOrUndefined(zip)?.isFile()) sources.push(zipSource(zip));
    else if (statOrUndefined(dir)?.isDirectory()) sources.push(folderSource(dir));
  }
  if (sources.length > 0) return sources;
  // `from` itself may be one extracted part (any name).
  if (listPngs(from).length > 0) return [folderSource(from)];
  throw new Error(
    `${from}: no Omniglot found (expected ${PARTS.map((p) => `${p}.zip`).join(', ')} or their extracted folders)`,
  );
}

/** The class id and image name of an image path `.../<Alphabet>/<characterNN>/<name>.png`. */
function imageKey(relPath: string): { classId: string; name: string } | undefined {
  const parts = relPath.split(/[\\/]/);
  // Skip macOS metadata (`__MACOSX/`, `._name.png`) and anything not three levels deep.
  if (parts.length < 3 || parts.some((p) => p.startsWith('.') || p === '__MACOSX')) return undefined;
  const [alphabet, character, file] = parts.slice(-3);
  if (!file.toLowerCase().endsWith('.png')) return undefined;
  return { classId: `${alphabet}/${character}`, name: file.slice(0, -4) };
}

function listPngs(dir: string): string[] {
  return walkFiles(dir, { followLinks: true }).filter((p) => imageKey(p) !== undefined);
}

function folderSource(dir: string): Source {
  return {
    path: dir,
    open: async () => ({
      items: listPngs(dir).map((rel) => {
        const file = path.join(dir, rel);
        return { ...imageKey(rel)!, where: file, read: () => readImageFile(file) };
      }),
      close() {},
    }),
  };
}

function zipSource(zipPath: string): Source {
  const fail = (what: string, err: unknown) =>
    new Error(`${zipPath}: ${what} (${firstLine(err)}); truncated or corrupt zip?`);
  return {
    path: zipPath,
    open: () =>
      new Promise((resolve, reject) => {
        // Read whole (the official zips are 15 MB together): an entry is then a slice of memory, not
        // two file reads. Lazy entries: only the central directory is parsed now; entry data later.
        let bytes: Buffer;
        try {
          bytes = readRegularFile(zipPath);
        } catch (err) {
          return reject(fail('cannot open', err));
        }
        yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, zip) => {
          if (err) return reject(fail('cannot open', err));
          const items: Item[] = [];
          zip.on('error', (e) => {
            zip.close();
            reject(fail('cannot read the entry list', e));
          });
          zip.on('end', () => resolve({ items, close: () => zip.close() }));
          zip.on('entry', (entry: yauzl.Entry) => {
            const key = imageKey(entry.fileName);
            if (key) {
              const where = `${zipPath}: ${entry.fileName}`;
              items.push({ ...key, where, read: () => readEntry(zip, entry, where) });
            }
            zip.readEntry();
          });
          zip.readEntry();
        });
      }),
  };
}

function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, where: string): Promise<Buffer> {
  const fail = (err: unknown) => new Error(`${where}: cannot read (${firstLine(err)}); truncated or corrupt zip?`);
  return new Promise((resolve, reject) => {
    checkImageFileSize(entry.uncompressedSize, where);
    if (!entry.canDecodeFileData()) return reject(fail(`encrypted, or compression method ${entry.compressionMethod}`));
    // The raw bytes, inflated here at once: yauzl's inflate stream costs ~100 us a small entry.
    zip.openReadStream(entry, { decodeFileData: false }, (err, stream) => {
      if (err) return reject(fail(err));
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (e) => reject(fail(e)));
      stream.on('end', () => {
        try {
          const raw = Buffer.concat(chunks);
          const data =
            entry.compressionMethod === 8
              ? zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.uncompressedSize) })
              : raw;
          if (data.length !== entry.uncompressedSize)
            throw new Error(`${data.length} bytes, not ${entry.uncompressedSize}`);
          resolve(data);
        } catch (e) {
          reject(fail(e));
        }
      });
    });
  });
}

function groupClasses(items: readonly Item[]): PackedClass[] {
  const classes: { id: string; images: string[] }[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const prev = items[i - 1];
    if (prev?.classId === item.classId && prev.name === item.name) {
      throw new Error(`${item.where}: duplicate of ${prev.where}`);
    }
    if (classes.at(-1)?.id !== item.classId) classes.push({ id: item.classId, images: [] });
    classes.at(-1)!.images.push(item.name);
  }
  return classes;
}

// --- Splits --------------------------------------------------------------------------------------

/** The split files to copy, or why there are none. */
function findSplits(
  from: string,
  sources: readonly Source[],
): { splitFiles: [OmniglotSplit, string][]; note?: string } {
  const parts = new Set(sources.map((s) => path.basename(s.path).replace(/\.zip$/i, '')));
  if (!PARTS.every((p) => parts.has(p))) {
    // The Vinyals splits mix characters of both parts: a single part cannot satisfy them.
    return { splitFiles: [], note: `only ${[...parts].join(', ')} imported; the splits need ${PARTS.join(' and ')}` };
  }
  const candidates = statOrUndefined(from)?.isDirectory()
    ? [from, path.dirname(path.resolve(from))]
    : [path.dirname(from)];
  for (const dir of candidates) {
    const splitFiles = OMNIGLOT_SPLITS.map((s): [OmniglotSplit, string] => [
      s,
      path.join(dir, SPLITS_DIR, `${s}.txt`),
    ]).filter(([, file]) => fs.existsSync(file));
    if (splitFiles.length > 0) return { splitFiles };
  }
  return { splitFiles: [], note: `no ${SPLITS_DIR}/*.txt found in ${candidates.join(' or ')}` };
}

interface SplitLine {
  /** `Alphabet/characterNN/rotDDD` */
  id: string;
  character: string;
  quarterTurns: QuarterTurns;
}

/** Parses a split file; with `known`, every line must name one of those characters. */
function parseSplit(file: string, known?: ReadonlySet<string>): SplitLine[] {
  const lines: SplitLine[] = [];
  const seen = new Set<string>();
  readTextFile(file)
    .split('\n')
    .forEach((raw, i) => {
      const text = raw.trim();
      if (text === '') return;
      const where = `${file}:${i + 1}`;
      const match = /^(.+\/[^/]+)\/rot(\d{3})$/.exec(text);
      if (!match) throw new Error(`${where}: expected 'Alphabet/characterNN/rotDDD', got '${text}'`);
      const [, character, degrees] = match;
      if (!['000', '090', '180', '270'].includes(degrees)) {
        throw new Error(`${where}: rotation rot${degrees} is not one of rot000, rot090, rot180, rot270`);
      }
      if (known && !known.has(character)) throw new Error(`${where}: character ${character} is not in the images`);
      if (seen.has(text)) throw new Error(`${where}: duplicate class ${text}`);
      seen.add(text);
      lines.push({ id: text, character, quarterTurns: (Number(degrees) / 90) as QuarterTurns });
    });
  return lines;
}

// --- Cache directory -----------------------------------------------------------------------------

/**
 * Refuses to replace anything but a previous cache (only files an import writes) or an empty folder:
 * the import swaps the whole folder, so anything else in it would be lost.
 */
function checkReplaceable(out: string): void {
  const stat = statOrUndefined(out);
  if (!stat) return;
  if (!stat.isDirectory()) throw new Error(`${out}: exists and is not a folder; refusing to replace it`);
  // Every file below `out`, relative: an import writes images.bin and splits/vinyals/<split>.txt.
  const ours = (file: string) => file === IMAGES_FILE || new RegExp(`^${SPLITS_DIR}/[a-z]+\\.txt$`).test(file);
  const foreign = walkFiles(out, { followLinks: false }).find((file) => !ours(file));
  if (foreign !== undefined) {
    throw new Error(
      `${out}: holds ${foreign}, which an import did not write; refusing to replace the folder ` +
        '(an import replaces it whole: move that away, or choose another --out)',
    );
  }
}

// --- Helpers -------------------------------------------------------------------------------------

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}
