/**
 * CIFAR-100 (Krizhevsky 2009) and the few-shot benchmarks cut from it, CIFAR-FS (Bertinetto et al.
 * 2019; 64/16/20 classes) and FC100 (Oreshkin et al. 2018; 60/20/20 classes by superclass). Both use
 * all 600 images of a class (the official train and test sets together), so an import reads both.
 *
 * Sources, as users download them: the official `cifar-100-binary.tar.gz` (records of a coarse byte,
 * a fine byte and 3072 planar RGB bytes) or `cifar-100-python.tar.gz` (pickles, `cifar-pickle.ts`),
 * or either unpacked. Images are named by their content (the first 16 hex digits of the sha256 of
 * their 3072 bytes) and sorted by name, so both archive kinds, in any record order, give the same
 * cache, and a frozen suite names the same images whichever a user downloaded. CIFAR-100 holds a few
 * byte-identical images; a repeat within a class is named `<hash>-2`, `-3`, ....
 *
 * The class lists ship in `splits/<benchmark>/{train,val,test}.txt` beside this module (the sources
 * and licences are in their folders); the import writes one split cache per benchmark.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as zlib from 'node:zlib';
import type { FewShotDataset, ImageShape } from './dataset.js';
import { PackedClass } from './cache.js';
import { SplitImportSummary, openSplitCache, prepareSplitCache, writeSplitCache } from './split-cache.js';
import { drain, readTar } from './tar.js';
import { readRegularFile, readTextFile } from '../files.js';

export const CIFAR_SIZE = 32;
const SHAPE: ImageShape = [CIFAR_SIZE, CIFAR_SIZE, 3];
const PIXELS = CIFAR_SIZE * CIFAR_SIZE * 3;
const FINE_CLASSES = 100;
const COARSE_CLASSES = 20;

/** The two official archives: file name, MD5 (as the dataset's page and torchvision give it), folder inside. */
export const CIFAR100_ARCHIVES = {
  binary: { file: 'cifar-100-binary.tar.gz', md5: '03b5dce01913d631647c71ecec9e9cb8', folder: 'cifar-100-binary' },
  python: { file: 'cifar-100-python.tar.gz', md5: 'eb9058c3a382ffc7106e4002c42a8d85', folder: 'cifar-100-python' },
} as const;
export type Cifar100Kind = keyof typeof CIFAR100_ARCHIVES;

/** The files each kind needs, by base name. */
const NEEDED: Record<Cifar100Kind, readonly string[]> = {
  binary: ['train.bin', 'test.bin', 'fine_label_names.txt'],
  python: ['train', 'test', 'meta'],
};

/** The benchmarks whose class lists ship with the package. */
export const CIFAR_BENCHMARKS = ['cifar-fs', 'fc100'] as const;
export type CifarBenchmark = (typeof CIFAR_BENCHMARKS)[number];
export const CIFAR_SPLITS = ['train', 'val', 'test'] as const;

/** The shipped class lists' folder, `src/data/splits` of the package (this module runs from dist/src/data). */
export const SHIPPED_CLASS_LISTS = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'src',
  'data',
  'splits',
);

/** All records of one official file: planar pixels and labels, row by row. */
export interface CifarRecords {
  readonly where: string;
  /** N * 3072 bytes, each row 1024 R, 1024 G, 1024 B. */
  readonly pixels: Uint8Array;
  readonly fine: ArrayLike<number>;
}

/** What an archive (or its folder) holds: the train and test records and the fine class names. */
export interface Cifar100Source {
  readonly kind: Cifar100Kind;
  readonly sets: readonly CifarRecords[];
  readonly fineNames: readonly string[];
  /** MD5 of the archive file read (undefined for a folder), and whether it is the official one. */
  readonly md5?: string;
}

/** Parses `train.bin`/`test.bin` of the binary version: 3074-byte records, labels checked. */
export function readCifarBinary(bytes: Uint8Array, where: string): CifarRecords {
  const record = 2 + PIXELS;
  if (bytes.length === 0 || bytes.length % record !== 0) {
    throw new Error(
      `${where}: ${bytes.length} bytes is not a whole number of ${record}-byte records (a truncated or foreign file?)`,
    );
  }
  const n = bytes.length / record;
  const pixels = new Uint8Array(n * PIXELS);
  const fine = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * record;
    if (bytes[at] >= COARSE_CLASSES)
      throw new Error(`${where}: record ${i} has coarse label ${bytes[at]} (0-${COARSE_CLASSES - 1})`);
    if (bytes[at + 1] >= FINE_CLASSES)
      throw new Error(`${where}: record ${i} has fine label ${bytes[at + 1]} (0-${FINE_CLASSES - 1})`);
    fine[i] = bytes[at + 1];
    pixels.set(bytes.subarray(at + 2, at + record), i * PIXELS);
  }
  return { where, pixels, fine };
}

/** The 100 fine class names of `fine_label_names.txt` (one per line), checked. */
function readNames(text: string, where: string): string[] {
  const names = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  checkNames(names, where);
  return names;
}

function checkNames(names: readonly string[], where: string): void {
  if (names.length !== FINE_CLASSES) throw new Error(`${where}: ${names.length} fine class names, not ${FINE_CLASSES}`);
  const bad = names.find((n) => !/^[a-z0-9_]+$/.test(n));
  if (bad !== undefined) throw new Error(`${where}: '${bad}' is not a CIFAR-100 class name`);
  if (new Set(names).size !== names.length) throw new Error(`${where}: a class name appears twice`);
}

/** The needed files of an archive or folder, by base name, and the kind they make up. */
async function readSourceFiles(
  from: string,
): Promise<{ kind: Cifar100Kind; files: Map<string, Buffer>; md5?: string }> {
  const stat = fs.statSync(from, { throwIfNoEntry: false });
  if (!stat) throw new Error(`${from}: no such file or folder (the CIFAR-100 archive or its unpacked folder)`);
  const files = new Map<string, Buffer>();
  if (stat.isDirectory()) {
    // The unpacked folder itself, or the folder it was unpacked in.
    const dirs = [from, ...Object.values(CIFAR100_ARCHIVES).map((a) => path.join(from, a.folder))];
    for (const dir of dirs) {
      for (const kind of Object.keys(NEEDED) as Cifar100Kind[]) {
        if (NEEDED[kind].every((f) => fs.existsSync(path.join(dir, f)))) {
          for (const f of NEEDED[kind]) files.set(f, readRegularFile(path.join(dir, f)));
          return { kind, files };
        }
      }
    }
    throw new Error(
      `${from}: no CIFAR-100 files (expected ${NEEDED.binary.join(', ')} or ${NEEDED.python.join(', ')}, here or in ` +
        `${CIFAR100_ARCHIVES.binary.folder}/ or ${CIFAR100_ARCHIVES.python.folder}/)`,
    );
  }
  const hash = createHash('md5');
  const raw = fs.createReadStream(from);
  raw.on('data', (chunk) => hash.update(chunk));
  const gunzip = zlib.createGunzip();
  raw.on('error', (err) => gunzip.destroy(err));
  const wanted = new Set(Object.values(NEEDED).flat());
  await readTar(raw.pipe(gunzip), from, async (name, _size, body) => {
    const base = path.posix.basename(name);
    if (wanted.has(base) && !name.endsWith('/')) files.set(base, await drain(body));
    else for await (const _ of body); // skip
  });
  const md5 = hash.digest('hex');
  for (const kind of Object.keys(NEEDED) as Cifar100Kind[]) {
    if (NEEDED[kind].every((f) => files.has(f))) return { kind, files, md5 };
  }
  const kind: Cifar100Kind = files.has('train.bin') || files.has('test.bin') ? 'binary' : 'python';
  const missing = NEEDED[kind].filter((f) => !files.has(f));
  throw new Error(`${from}: not a complete CIFAR-100 archive (no ${missing.join(', ')} in it; a truncated download?)`);
}

/** Reads a CIFAR-100 archive (either official kind) or its unpacked folder. */
export async function readCifar100(from: string): Promise<Cifar100Source> {
  const { kind, files, md5 } = await readSourceFiles(from);
  const where = (f: string) => (md5 ? `${from}:${f}` : path.join(from, f));
  if (kind === 'binary') {
    return {
      kind,
      md5,
      fineNames: readNames(files.get('fine_label_names.txt')!.toString('utf8'), where('fine_label_names.txt')),
      sets: ['train.bin', 'test.bin'].map((f) => readCifarBinary(files.get(f)!, where(f))),
    };
  }
  // The pickle reader loads only for the python version.
  const { readCifarPickleBatch, readCifarPickleMeta } = await import('./cifar-pickle.js');
  const fineNames = readCifarPickleMeta(files.get('meta')!, where('meta')).fineLabelNames;
  checkNames(fineNames, where('meta'));
  const sets = ['train', 'test'].map((f) => {
    const batch = readCifarPickleBatch(files.get(f)!, where(f));
    return { where: where(f), pixels: batch.data, fine: batch.fineLabels };
  });
  return { kind, md5, fineNames, sets };
}

/** A benchmark's class lists: split -> fine class names, checked against CIFAR-100's names and each other. */
export function readClassLists(dir: string, fineNames: readonly string[]): Record<string, string[]> {
  const known = new Set(fineNames);
  const seen = new Map<string, string>();
  const lists: Record<string, string[]> = {};
  for (const split of CIFAR_SPLITS) {
    const file = path.join(dir, `${split}.txt`);
    if (!fs.existsSync(file)) throw new Error(`${file}: missing (a class list has train.txt, val.txt and test.txt)`);
    const lines = readTextFile(file).split(/\r?\n/);
    lists[split] = [];
    lines.forEach((raw, i) => {
      const name = raw.trim();
      if (name === '') return;
      const at = `${file}:${i + 1}`;
      if (!known.has(name)) throw new Error(`${at}: '${name}' is not a CIFAR-100 class`);
      const before = seen.get(name);
      if (before !== undefined) throw new Error(`${at}: class '${name}' is already listed at ${before}`);
      seen.set(name, at);
      lists[split].push(name);
    });
    if (lists[split].length === 0) throw new Error(`${file}: no classes`);
  }
  return lists;
}

/** One fine class's images: content names, sorted, and their pixels in the cache's HWC order. */
interface NamedClass {
  names: string[];
  pixels: Uint8Array[];
}

/** Groups every record by fine class, names each by its content and sorts the names. */
export function groupByClass(sets: readonly CifarRecords[]): NamedClass[] {
  const byClass = Array.from({ length: FINE_CLASSES }, () => [] as { name: string; pixels: Uint8Array }[]);
  const used = Array.from({ length: FINE_CLASSES }, () => new Map<string, number>());
  for (const set of sets) {
    for (let i = 0; i < set.fine.length; i++) {
      const planar = set.pixels.subarray(i * PIXELS, (i + 1) * PIXELS);
      const label = set.fine[i];
      const hash = createHash('sha256').update(planar).digest('hex').slice(0, 16);
      const copies = (used[label].get(hash) ?? 0) + 1;
      used[label].set(hash, copies);
      byClass[label].push({ name: copies === 1 ? hash : `${hash}-${copies}`, pixels: toHwc(planar) });
    }
  }
  return byClass.map((images) => {
    images.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { names: images.map((im) => im.name), pixels: images.map((im) => im.pixels) };
  });
}

/** Planar RGB (1024 R, 1024 G, 1024 B) -> interleaved (the cache's H*W*C). */
function toHwc(planar: Uint8Array): Uint8Array {
  const plane = CIFAR_SIZE * CIFAR_SIZE;
  const out = new Uint8Array(PIXELS);
  for (let p = 0; p < plane; p++) {
    out[3 * p] = planar[p];
    out[3 * p + 1] = planar[plane + p];
    out[3 * p + 2] = planar[2 * plane + p];
  }
  return out;
}

export interface Cifar100ImportOptions {
  /** The official archive (either kind) or its unpacked folder. */
  from: string;
  /** The folder under which each benchmark's cache (`<out>/cifar-fs`, `<out>/fc100`) is (re)created. */
  out: string;
  /** Folders of class lists (`train.txt`, `val.txt`, `test.txt`) by benchmark name; default the shipped ones. */
  classLists?: Readonly<Record<string, string>>;
}

export interface Cifar100ImportSummary {
  source: string;
  kind: Cifar100Kind;
  md5?: string;
  /** Whether the archive read is byte for byte the official one (by MD5); undefined for a folder. */
  officialArchive?: boolean;
  /** Images read from train and test. */
  images: number;
  benchmarks: Record<string, Omit<SplitImportSummary, 'seconds'> & { imagesPerSplit: Record<string, number> }>;
  seconds: number;
}

export function shippedClassLists(): Record<string, string> {
  return Object.fromEntries(CIFAR_BENCHMARKS.map((b) => [b, path.join(SHIPPED_CLASS_LISTS, b)]));
}

/** Imports CIFAR-100 into one split cache per benchmark; every input is checked before anything is written. */
export async function importCifar100(options: Cifar100ImportOptions): Promise<Cifar100ImportSummary> {
  const start = performance.now();
  const source = await readCifar100(options.from);
  const lists = Object.entries(options.classLists ?? shippedClassLists()).map(
    ([name, dir]) => [name, readClassLists(dir, source.fineNames)] as const,
  );
  const outs = lists.map(([name]) => path.resolve(options.out, name));
  outs.forEach(prepareSplitCache);
  const classes = groupByClass(source.sets);
  const classIndex = new Map(source.fineNames.map((n, i) => [n, i]));
  const benchmarks: Cifar100ImportSummary['benchmarks'] = {};
  for (const [i, [name, splits]] of lists.entries()) {
    const imagesPerSplit: Record<string, number> = {};
    const summary = await writeSplitCache(
      outs[i],
      CIFAR_SPLITS.map((split) => {
        const chosen = splits[split].map((n) => ({ id: n, ...classes[classIndex.get(n)!] }));
        const packed: PackedClass[] = chosen.map((c) => ({ id: c.id, images: c.names }));
        imagesPerSplit[split] = chosen.reduce((sum, c) => sum + c.names.length, 0);
        return {
          name: split,
          source: name,
          shape: SHAPE,
          classes: packed,
          pixels: concat(chosen.flatMap((c) => c.pixels)),
        };
      }),
    );
    benchmarks[name] = { ...summary, imagesPerSplit };
  }
  const images = source.sets.reduce((sum, s) => sum + s.fine.length, 0);
  const official = CIFAR100_ARCHIVES[source.kind].md5;
  return {
    source: path.resolve(options.from),
    kind: source.kind,
    ...(source.md5 ? { md5: source.md5, officialArchive: source.md5 === official } : {}),
    images,
    benchmarks,
    seconds: (performance.now() - start) / 1000,
  };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Opens a split of a CIFAR-FS or FC100 cache. */
export function openCifarBenchmark(benchmark: CifarBenchmark, cacheDir: string, split: string): FewShotDataset {
  if (!(CIFAR_SPLITS as readonly string[]).includes(split)) {
    throw new Error(`unknown ${benchmark} split '${split}' (one of ${CIFAR_SPLITS.join(', ')})`);
  }
  // The importer writes <out>/cifar-fs and <out>/fc100: a cache folder of another name is not one it makes.
  const howToMake =
    path.basename(cacheDir) === benchmark
      ? `run \`fewshot data cifar100 --from PATH --out ${path.dirname(cacheDir)}\``
      : `run \`fewshot data cifar100 --from PATH --out DIR\`, then give --data DIR/${benchmark}`;
  return openSplitCache(cacheDir, split, benchmark, howToMake);
}
