/** `fewshot data ...`: import datasets into packed caches, download them, and describe a cache. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Argument, Command, Option } from 'commander';
import { COMMANDS } from './commands.js';
import { countImages, readPackedImages } from '../data/cache.js';
import {
  Downloaded,
  MINIIMAGENET_HOWTO,
  downloadCifar100,
  downloadOmniglot,
  parseMd5Overrides,
} from '../data/download.js';
import { Cifar100ImportSummary, Cifar100Kind, importCifar100 } from '../data/cifar100.js';
import { importFolder } from '../data/folder.js';
import { importMiniImageNet } from '../data/miniimagenet.js';
import { importOmniglot, omniglotSplitCounts, OmniglotImportSummary } from '../data/omniglot.js';
import { SplitImportSummary, describeSplitCache } from '../data/split-cache.js';
import { defaultCacheRoot, positiveInt } from './options.js';
import { Progress, progressBar } from './progress.js';

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description(COMMANDS.data.description);

  data
    .command('omniglot')
    .description('import Omniglot (the official zips or their extracted folders) into a 28x28 cache')
    .requiredOption(
      '--from <path>',
      'folder holding images_background.zip and images_evaluation.zip (or their folders), or one zip or folder',
    )
    .option('--out <dir>', 'cache directory to (re)create', path.join(defaultCacheRoot(), 'omniglot'))
    .option('--json', 'print the summary as one JSON object')
    .action(async (opts: { from: string; out: string; json?: boolean }) => {
      const bar = lazyBar('omniglot');
      const summary = await importOmniglot({ ...opts, onProgress: bar.update }).finally(bar.stop);
      printOmniglot(summary, opts.json);
    });

  data
    .command('miniimagenet')
    .description(
      'import miniImageNet (Ravi & Larochelle split CSVs + images/) into an 84x84x3 cache, one file per split',
    )
    .requiredOption(
      '--from <dir>',
      'folder holding train.csv, val.csv, test.csv (or splits/ravi/*.csv) and, without --from-imagenet, images/',
    )
    .option('--out <dir>', 'cache directory to (re)create', path.join(defaultCacheRoot(), 'miniimagenet'))
    .option('--csv-only', 'keep class and image ids only (no images needed): enough to freeze and verify suites')
    .option(
      '--from-imagenet <path>',
      'read the images from ILSVRC2012_img_train.tar (or a folder of its per-class tars, or its extracted folder) instead of images/',
    )
    .option('--json', 'print the summary as one JSON object')
    .action(async (opts: { from: string; out: string; csvOnly?: boolean; fromImagenet?: string; json?: boolean }) => {
      const bar = lazyBar('miniimagenet');
      const summary = await importMiniImageNet({
        ...opts,
        imagenet: opts.fromImagenet,
        onProgress: bar.update,
      }).finally(bar.stop);
      printSplitImport(summary, opts.json);
    });

  data
    .command('cifar100')
    .description(
      'import CIFAR-100 (either official archive, or its folder) into the CIFAR-FS and FC100 caches, 32x32x3',
    )
    .requiredOption(
      '--from <path>',
      'cifar-100-binary.tar.gz or cifar-100-python.tar.gz, or the folder either unpacks to (or the folder holding it)',
    )
    .option('--out <dir>', 'folder under which cifar-fs/ and fc100/ are (re)created', defaultCacheRoot())
    .option('--json', 'print the summary as one JSON object')
    .action(async (opts: { from: string; out: string; json?: boolean }) => {
      printCifar100(await importCifar100(opts), opts.json);
    });

  data
    .command('folder')
    .description(
      'import a folder of class sub-folders of PNG/JPEG images (or of train/val/test folders of them) into a cache',
    )
    .requiredOption('--from <dir>', 'folder of class folders, or of train/, val/, test/ folders of class folders')
    .option('--out <dir>', 'cache directory to (re)create', path.join(defaultCacheRoot(), 'folder'))
    .option('--size <n>', 'side of the square cached images (the whole image is resized)', positiveInt('--size'), 84)
    .addOption(new Option('--channels <c>', '1 (grey) or 3 (RGB)').choices(['1', '3']).default('3'))
    .option('--json', 'print the summary as one JSON object')
    .action(async (opts: { from: string; out: string; size: number; channels: string; json?: boolean }) => {
      const bar = lazyBar('folder');
      const summary = await importFolder({
        ...opts,
        channels: opts.channels === '1' ? 1 : 3,
        onProgress: bar.update,
      }).finally(bar.stop);
      printSplitImport(summary, opts.json);
    });

  data
    .command('download')
    .description("download a dataset's official archives (MD5-checked, resumable), then import them")
    .addArgument(new Argument('<dataset>', 'what to download').choices(['omniglot', 'cifar100', 'miniimagenet']))
    .option(
      '--base-url <url>',
      'where the archives are (default: $FEWSHOT_OMNIGLOT_URL or $FEWSHOT_CIFAR100_URL, else the official source)',
    )
    .option(
      '--md5 <name=hash...>',
      "a mirror's MD5 for an archive, e.g. images_background=68d2efa1b9178cc56df9314c21c6e718 (cifar100: the hash alone)",
    )
    .option(
      '--splits <dir>',
      'omniglot: folder holding the Vinyals split files (train.txt, val.txt, test.txt, trainval.txt), needed for the split datasets',
    )
    .addOption(
      new Option('--kind <kind>', 'cifar100: which official archive (python is the one torchvision fetches)')
        .choices(['python', 'binary'])
        .default('python'),
    )
    .option(
      '--downloads <dir>',
      'where the archives go (kept; a rerun resumes or skips) (default: <cache root>/downloads/<dataset>)',
    )
    .option(
      '--out <dir>',
      'cache directory to (re)create (default: <cache root>/omniglot; cifar100: the folder for cifar-fs/ and fc100/, the cache root)',
    )
    .option('--json', 'print the summary as one JSON object')
    .action(async (dataset: string, opts: DownloadCommandOptions) => {
      if (dataset === 'miniimagenet') {
        console.log(MINIIMAGENET_HOWTO);
        throw new Error('miniImageNet cannot be downloaded automatically; get the files as above');
      }
      const downloads = opts.downloads ?? path.join(defaultCacheRoot(), 'downloads', dataset);
      const bars = downloadBars();
      if (dataset === 'cifar100') {
        if ((opts.md5?.length ?? 0) > 1) throw new Error("--md5: cifar100 takes one hash, the archive's");
        const md5 = opts.md5?.[0].split('=').pop();
        if (md5 !== undefined && !/^[0-9a-fA-F]{32}$/.test(md5))
          throw new Error(`--md5 '${opts.md5![0]}': not 32 hex digits`);
        const got = await downloadCifar100({
          baseUrl: opts.baseUrl,
          kind: opts.kind as Cifar100Kind,
          downloads,
          out: opts.out ?? defaultCacheRoot(),
          md5,
          onDownload: bars.onDownload,
        }).finally(bars.stop);
        if (!opts.json) printDownloads(got.downloads);
        printCifar100(got.summary, opts.json, { downloads: got.downloads });
        return;
      }
      const { downloads: got, summary } = await downloadOmniglot({
        ...opts,
        downloads,
        out: opts.out ?? path.join(defaultCacheRoot(), 'omniglot'),
        md5: parseMd5Overrides(opts.md5 ?? []),
        onDownload: bars.onDownload,
        onProgress: bars.imported.update,
      }).finally(bars.stop);
      if (!opts.json) printDownloads(got);
      printOmniglot(
        summary,
        opts.json,
        { downloads: got },
        'pass --splits DIR, the splits/vinyals folder of github.com/jakesnell/prototypical-networks',
      );
    });

  data
    .command('info')
    .description('describe an image cache')
    .argument('<cache>', 'cache directory (or one of its .bin files)')
    .option('--json', 'print one JSON object')
    .action((cache: string, opts: { json?: boolean }) => {
      const isDir = fs.statSync(cache, { throwIfNoEntry: false })?.isDirectory() ?? false;
      const file = isDir ? path.join(cache, 'images.bin') : cache;
      const info =
        isDir && !fs.existsSync(file)
          ? { cache: path.resolve(cache), ...describeSplitCache(cache) }
          : describePacked(file);
      if (opts.json) {
        console.log(JSON.stringify(info));
        return;
      }
      console.log(`cache: ${info.cache}`);
      console.log(`source: ${info.source}`);
      console.log(`shape: ${info.shape.join('x')}`);
      console.log(`classes: ${info.classes}`);
      console.log(`images: ${info.images}`);
      if (info.splits) console.log(`splits: ${formatSplits(info.splits)}`);
      if ('pixels' in info && !info.pixels) console.log('pixels: none (ids only, from split CSVs)');
    });
}

/** One packed file (an Omniglot cache's images.bin, or one split of a split cache). */
function describePacked(file: string) {
  const packed = readPackedImages(file);
  return {
    cache: path.resolve(file),
    source: packed.source,
    shape: packed.shape,
    classes: packed.classes.length,
    images: countImages(packed.classes),
    ...(packed.source === 'omniglot' && path.basename(file) === 'images.bin'
      ? { splits: omniglotSplitCounts(path.dirname(file)) }
      : {}),
  };
}

interface DownloadCommandOptions {
  baseUrl?: string;
  md5?: string[];
  splits?: string;
  kind: string;
  downloads?: string;
  out?: string;
  json?: boolean;
}

/** One progress bar per archive downloaded, then one for the import. */
function downloadBars() {
  let file = '';
  let bar: Progress | undefined;
  const imported = lazyBar('import');
  return {
    onDownload: (name: string, done: number, total: number | undefined) => {
      if (name !== file) {
        bar?.stop();
        bar = total === undefined ? undefined : progressBar(name, total, 'bytes');
        file = name;
      }
      bar?.update(done);
    },
    imported,
    stop: () => {
      bar?.stop();
      imported.stop();
    },
  };
}

function printDownloads(downloads: readonly Downloaded[]): void {
  for (const d of downloads) {
    console.log(
      `${d.file}: ${d.bytes} bytes, md5 ${d.md5} ok${d.present ? ' (already there)' : d.resumed ? ' (resumed)' : ''}`,
    );
  }
}

/** A progress bar that appears with the first report, when the total is known. */
function lazyBar(label: string): { update: (done: number, total: number) => void; stop: () => void } {
  let bar: Progress | undefined;
  return {
    update: (done, total) => {
      bar ??= progressBar(label, total, 'images');
      bar.update(done);
    },
    stop: () => bar?.stop(),
  };
}

function printOmniglot(summary: OmniglotImportSummary, json?: boolean, extra: object = {}, splitsHint?: string): void {
  if (json) {
    console.log(JSON.stringify({ ...extra, ...summary }));
    return;
  }
  console.log(`omniglot: ${summary.images} images, ${summary.characters} characters, ${summary.alphabets} alphabets`);
  console.log(
    summary.splitsNote
      ? `splits: none (${summary.splitsNote})${splitsHint ? `; the train/val/test datasets need them: ${splitsHint}` : ''}`
      : `splits: ${formatSplits(summary.splits)}`,
  );
  console.log(`cache: ${summary.out} (${summary.seconds.toFixed(1)} s)`);
}

function printSplitImport(summary: SplitImportSummary, json?: boolean): void {
  if (json) {
    console.log(JSON.stringify(summary));
    return;
  }
  const pixels = summary.pixels ? `${summary.shape.join('x')}` : 'ids only, no pixels';
  console.log(`${summary.source}: ${summary.images} images, ${summary.classes} classes (${pixels})`);
  console.log(`splits: ${formatSplits(summary.splits)}`);
  console.log(`cache: ${summary.out} (${summary.seconds.toFixed(1)} s)`);
}

function printCifar100(summary: Cifar100ImportSummary, json?: boolean, extra: object = {}): void {
  if (json) {
    console.log(JSON.stringify({ ...extra, ...summary }));
    return;
  }
  const archive =
    summary.md5 === undefined
      ? 'unpacked folder'
      : `archive md5 ${summary.md5}, ${summary.officialArchive ? 'the official one' : 'not the official archive'}`;
  console.log(`cifar100: ${summary.images} images from the ${summary.kind} version (${archive})`);
  for (const [name, b] of Object.entries(summary.benchmarks)) {
    const splits = Object.entries(b.splits).map(([s, n]) => `${s} ${n} classes / ${b.imagesPerSplit[s]} images`);
    console.log(`${name}: ${splits.join(', ')} -> ${b.out}`);
  }
  console.log(`(${summary.seconds.toFixed(1)} s)`);
}

function formatSplits(splits: Readonly<Record<string, number>>): string {
  const parts = Object.entries(splits).map(([name, n]) => `${name} ${n}`);
  return parts.length > 0 ? `${parts.join(', ')} classes` : 'none';
}
