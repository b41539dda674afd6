/**
 * Datasets' official archives over HTTP(S): each file is fetched into `<name>.part`, resumed with a
 * Range request after a dropped connection, checked against its published MD5, and only then given
 * its name; redirects are followed (GitHub's raw URLs redirect to raw.githubusercontent.com).
 * Omniglot and CIFAR-100 are then imported (omniglot.ts, cifar100.ts); miniImageNet has no public
 * source to fetch from.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeAll, writeFileAtomic } from '../atomic.js';
import { firstLine } from './images.js';
import { OMNIGLOT_SPLITS, OmniglotImportSummary, importOmniglot } from './omniglot.js';
import { CIFAR100_ARCHIVES, Cifar100ImportSummary, Cifar100Kind, importCifar100 } from './cifar100.js';
import { readRegularFile } from '../files.js';

export const OMNIGLOT_BASE_URL = 'https://github.com/brendenlake/omniglot/raw/master/python/';
/** The official archives and their published MD5s (brendenlake/omniglot, python/). */
export const OMNIGLOT_ARCHIVES: Readonly<Record<string, string>> = {
  'images_background.zip': '68d2efa1b9178cc56df9314c21c6e718',
  'images_evaluation.zip': '6b91aef0f799c5bb55b94e3f2daec811',
};

const MAX_REDIRECTS = 10;
const IDLE_TIMEOUT_MS = 60_000;

export interface DownloadOptions {
  /** Expected MD5 (hex); without it the file is not checked. */
  md5?: string;
  /** Further attempts after a dropped connection or a server error, each resuming (default 3). */
  retries?: number;
  /** Wait before the first retry, doubled for each next one (default 2000 ms). */
  retryDelayMs?: number;
  onProgress?: (done: number, total: number | undefined) => void;
}

export interface Downloaded {
  file: string;
  bytes: number;
  md5: string;
  /** Already there (and verified) before this call. */
  present: boolean;
  /** Some bytes came from an earlier, interrupted attempt (a Range request). */
  resumed: boolean;
}

/** A failure that another attempt cannot mend (a 404, a bad URL). */
class Fatal extends Error {}

/** Downloads `url` to `file`, resuming `<file>.part`; on a wrong MD5 deletes the part and throws. */
export async function downloadFile(url: string, file: string, options: DownloadOptions = {}): Promise<Downloaded> {
  const { md5, retries = 3, retryDelayMs = 2000 } = options;
  if (fs.existsSync(file)) {
    const digest = await md5OfFile(file);
    if (md5 && digest !== md5) {
      throw new Error(
        `${file}: md5 ${digest}, expected ${md5}; delete it to download it again (or give a mirror's md5)`,
      );
    }
    return { file, bytes: fs.statSync(file).size, md5: digest, present: true, resumed: false };
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const part = `${file}.part`;
  let resumed = false;
  for (let attempt = 0; ; attempt++) {
    try {
      resumed = (await fetchInto(url, part, options.onProgress)) || resumed;
      break;
    } catch (err) {
      if (err instanceof Fatal || attempt >= retries) {
        const kept = sizeOf(part);
        throw new Error(
          `${url}: ${firstLine(err)}` + (kept > 0 ? `; ${kept} bytes kept in ${part}, run again to resume` : ''),
          { cause: err },
        );
      }
      await sleep(retryDelayMs * 2 ** attempt);
    }
  }
  const digest = await md5OfFile(part);
  if (md5 && digest !== md5) {
    fs.rmSync(part, { force: true });
    throw new Error(
      `${url}: md5 ${digest}, expected ${md5}: a corrupt download or another file (a mirror's needs its own --md5); deleted`,
    );
  }
  fs.renameSync(part, file);
  return { file, bytes: fs.statSync(file).size, md5: digest, present: false, resumed };
}

/**
 * One attempt: appends to `part` from its current size (a Range request), or rewrites it when the
 * server sends the whole file. Returns whether it resumed.
 */
async function fetchInto(url: string, part: string, onProgress?: DownloadOptions['onProgress']): Promise<boolean> {
  const have = sizeOf(part);
  const res = await get(new URL(url), have > 0 ? { range: `bytes=${have}-` } : {}, MAX_REDIRECTS);
  const status = res.statusCode ?? 0;
  const contentRange = res.headers['content-range'] ?? '';
  if (status === 416 && have > 0) {
    res.resume();
    // A cut just before the end leaves a whole part: nothing is left to fetch.
    if (contentRange === `bytes */${have}`) return true;
    fs.rmSync(part, { force: true });
    throw new Error(`the server cannot resume at byte ${have} (${contentRange || 'no Content-Range'}); starting again`);
  }
  if (status !== 200 && status !== 206) {
    res.resume();
    const text = `HTTP ${status} ${res.statusMessage ?? ''}`.trim();
    throw status >= 500 || status === 408 || status === 429 ? new Error(text) : new Fatal(text);
  }
  let offset = 0;
  let total = res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']);
  if (status === 206) {
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(contentRange);
    if (!range || Number(range[1]) !== have) {
      res.resume();
      fs.rmSync(part, { force: true });
      throw new Error(`asked for bytes from ${have}, got Content-Range '${contentRange}'; starting again`);
    }
    offset = have;
    total = range[2] === '*' ? undefined : Number(range[2]);
  }
  // A 200 after a Range request is the whole file again: rewrite the part from its start.
  let done = offset;
  onProgress?.(done, total);
  // Each chunk is written as it arrives (a stream's asynchronous open and writes could lose the
  // last bytes before a dropped connection), so the part keeps every byte received.
  const fd = fs.openSync(part, offset > 0 ? 'a' : 'w');
  try {
    const write = (chunk: Buffer): void => {
      writeAll(fd, chunk);
      done += chunk.length;
      onProgress?.(done, total);
    };
    await new Promise<void>((resolve, reject) => {
      res.on('data', write);
      res.on('error', reject);
      res.on('close', resolve);
    }).finally(() => res.off('data', write));
  } finally {
    fs.closeSync(fd);
  }
  if (!res.complete || (total !== undefined && done !== total)) {
    throw new Error(`connection closed after ${done} of ${total ?? 'unknown'} bytes`);
  }
  return offset > 0;
}

/** A GET, following redirects; resolves with the final response (any status). */
function get(url: URL, headers: Record<string, string>, redirects: number): Promise<http.IncomingMessage> {
  const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!client) return Promise.reject(new Fatal(`not an http(s) URL: ${url}`));
  return new Promise((resolve, reject) => {
    const req = client.get(url, { headers: { 'user-agent': 'fewshot-rkd', ...headers } }, (res) => {
      const location = res.headers.location;
      const status = res.statusCode ?? 0;
      if (status < 300 || status >= 400 || !location) return resolve(res);
      res.resume();
      if (redirects === 0) return reject(new Fatal(`more than ${MAX_REDIRECTS} redirects (at ${url})`));
      resolve(get(new URL(location, url), headers, redirects - 1));
    });
    req.on('error', reject);
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
  });
}

export async function md5OfFile(file: string): Promise<string> {
  const hash = crypto.createHash('md5');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

function sizeOf(file: string): number {
  return fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
}

// --- Omniglot ------------------------------------------------------------------------------------

export interface OmniglotDownloadOptions {
  /** Where the archives are; default $FEWSHOT_OMNIGLOT_URL, else the official repository. */
  baseUrl?: string;
  /** Folder for the archives (kept, for re-imports; a rerun finds them and skips the download). */
  downloads: string;
  /** The cache directory to (re)create. */
  out: string;
  /** MD5s by archive name, for a mirror whose files differ from the official ones. */
  md5?: Readonly<Record<string, string>>;
  /** A folder holding the Vinyals split files (`train.txt`, `val.txt`, ...), copied beside the archives. */
  splits?: string;
  retries?: number;
  retryDelayMs?: number;
  onDownload?: (archive: string, done: number, total: number | undefined) => void;
  onProgress?: (done: number, total: number) => void;
}

export function omniglotBaseUrl(option?: string): string {
  return baseUrl('Omniglot', option ?? process.env.FEWSHOT_OMNIGLOT_URL ?? OMNIGLOT_BASE_URL);
}

function baseUrl(dataset: string, url: string): string {
  if (!URL.canParse(url)) throw new Error(`${dataset} base URL '${url}' is not a URL`);
  // A base without a trailing slash would lose its last segment when the archive's name is joined.
  return url.endsWith('/') ? url : `${url}/`;
}

/** `name=hash` pairs -> MD5s by archive name (`images_background` or `images_background.zip`). */
export function parseMd5Overrides(pairs: readonly string[]): Record<string, string> {
  const md5: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^([^=]+)=([0-9a-fA-F]{32})$/.exec(pair);
    const name = match && (match[1].endsWith('.zip') ? match[1] : `${match[1]}.zip`);
    if (!match || !name || !(name in OMNIGLOT_ARCHIVES)) {
      throw new Error(
        `--md5 '${pair}': expected NAME=HASH, NAME one of ${Object.keys(OMNIGLOT_ARCHIVES).join(', ')}, HASH 32 hex digits`,
      );
    }
    md5[name] = match[2].toLowerCase();
  }
  return md5;
}

/** Downloads (or finds) both official archives, verified, and imports them into `out`. */
export async function downloadOmniglot(
  options: OmniglotDownloadOptions,
): Promise<{ downloads: Downloaded[]; summary: OmniglotImportSummary }> {
  // The split files are checked before anything is fetched.
  const splitFiles = options.splits === undefined ? [] : findSplitFiles(options.splits);
  const base = omniglotBaseUrl(options.baseUrl);
  const downloads: Downloaded[] = [];
  for (const [name, published] of Object.entries(OMNIGLOT_ARCHIVES)) {
    downloads.push(
      await downloadFile(new URL(name, base).href, path.join(options.downloads, name), {
        md5: options.md5?.[name] ?? published,
        retries: options.retries,
        retryDelayMs: options.retryDelayMs,
        onProgress: (done, total) => options.onDownload?.(name, done, total),
      }),
    );
  }
  // importOmniglot reads the splits from `splits/vinyals/` beside the archives.
  for (const file of splitFiles) {
    writeFileAtomic(path.join(options.downloads, 'splits', 'vinyals', path.basename(file)), [readRegularFile(file)]);
  }
  const summary = await importOmniglot({ from: options.downloads, out: options.out, onProgress: options.onProgress });
  return { downloads, summary };
}

function findSplitFiles(dir: string): string[] {
  const files = OMNIGLOT_SPLITS.map((s) => path.join(dir, `${s}.txt`)).filter((f) => fs.existsSync(f));
  if (files.length === 0)
    throw new Error(`${dir}: no Vinyals split files (${OMNIGLOT_SPLITS.map((s) => `${s}.txt`).join(', ')})`);
  return files;
}

// --- CIFAR-100 -----------------------------------------------------------------------------------

/** Where both official CIFAR-100 archives are (the dataset's page; torchvision fetches the python one there). */
export const CIFAR100_BASE_URL = 'https://www.cs.toronto.edu/~kriz/';

export interface Cifar100DownloadOptions {
  /** Where the archive is; default $FEWSHOT_CIFAR100_URL, else the official page. */
  baseUrl?: string;
  /** Which archive (default python, the one torchvision fetches). */
  kind?: Cifar100Kind;
  /** Folder for the archive (kept; a rerun finds it and skips the download). */
  downloads: string;
  /** The folder under which the CIFAR-FS and FC100 caches are (re)created. */
  out: string;
  /** A mirror's MD5, for an archive whose bytes differ from the official one. */
  md5?: string;
  retries?: number;
  retryDelayMs?: number;
  onDownload?: (archive: string, done: number, total: number | undefined) => void;
}

/** Downloads (or finds) the official archive, verified by its MD5, and imports it. */
export async function downloadCifar100(
  options: Cifar100DownloadOptions,
): Promise<{ downloads: Downloaded[]; summary: Cifar100ImportSummary }> {
  const { file, md5 } = CIFAR100_ARCHIVES[options.kind ?? 'python'];
  const base = baseUrl('CIFAR-100', options.baseUrl ?? process.env.FEWSHOT_CIFAR100_URL ?? CIFAR100_BASE_URL);
  const got = await downloadFile(new URL(file, base).href, path.join(options.downloads, file), {
    md5: options.md5?.toLowerCase() ?? md5,
    retries: options.retries,
    retryDelayMs: options.retryDelayMs,
    onProgress: (done, total) => options.onDownload?.(file, done, total),
  });
  return { downloads: [got], summary: await importCifar100({ from: got.file, out: options.out }) };
}

// --- miniImageNet --------------------------------------------------------------------------------

/** What `fewshot data download miniimagenet` prints: there is nothing it could fetch. */
export const MINIIMAGENET_HOWTO = `miniImageNet has no stable public download: its images are crops of ImageNet (ILSVRC-2012),
which image-net.org gives only to registered users, and the copies in circulation come and go.
Get, and put in one folder DIR:
  DIR/train.csv, DIR/val.csv, DIR/test.csv   the Ravi & Larochelle split (header filename,label;
      64/16/20 classes of 600 images), from github.com/twitter-research/meta-learning-lstm,
      data/miniImagenet/ (DIR/splits/ravi/*.csv works too)
and either ILSVRC2012_img_train.tar (from image-net.org; or its extracted folder), then:
  fewshot data miniimagenet --from DIR --from-imagenet path/to/ILSVRC2012_img_train.tar
or the 60,000 images those CSVs name, already cut, in DIR/images/ (n0153282900000005.jpg ...,
one flat folder, any size: each is resized whole to 84x84), then:
  fewshot data miniimagenet --from DIR`;
