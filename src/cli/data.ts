/** `fewshot data ...`: import datasets into packed caches, and describe a cache. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { countImages, readPackedImages } from '../data/cache.js';
import { importOmniglot, omniglotSplitCounts, OmniglotSplit } from '../data/omniglot.js';
import { defaultCacheRoot } from './options.js';
import { Progress, progressBar } from './progress.js';

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('Import datasets into packed caches and inspect them');

  data
    .command('omniglot')
    .description('Import Omniglot (the official zips or their extracted folders) into a 28x28 cache')
    .requiredOption('--from <path>', 'folder holding images_background.zip and images_evaluation.zip (or their folders), or one zip or folder')
    .option('--out <dir>', 'cache directory to (re)create', path.join(defaultCacheRoot(), 'omniglot'))
    .option('--json', 'print the summary as one JSON object')
    .action(async (opts: { from: string; out: string; json?: boolean }) => {
      let bar: Progress | undefined;
      const summary = await importOmniglot({
        from: opts.from,
        out: opts.out,
        onProgress: (done, total) => {
          bar ??= progressBar('omniglot', total);
          bar.update(done);
        },
      }).finally(() => bar?.stop());
      if (opts.json) {
        console.log(JSON.stringify(summary));
        return;
      }
      console.log(`omniglot: ${summary.images} images, ${summary.characters} characters, ${summary.alphabets} alphabets`);
      console.log(summary.splitsNote ? `splits: none (${summary.splitsNote})` : `splits: ${formatSplits(summary.splits)}`);
      console.log(`cache: ${summary.out} (${summary.seconds.toFixed(1)} s)`);
    });

  data
    .command('info')
    .description('Describe an image cache')
    .argument('<cache>', 'cache directory (or its images.bin)')
    .option('--json', 'print one JSON object')
    .action((cache: string, opts: { json?: boolean }) => {
      const isDir = fs.statSync(cache, { throwIfNoEntry: false })?.isDirectory() ?? false;
      const dir = isDir ? cache : path.dirname(cache);
      const file = isDir ? path.join(cache, 'images.bin') : cache;
      const packed = readPackedImages(file);
      const info = {
        cache: path.resolve(file),
        source: packed.source,
        shape: packed.shape,
        classes: packed.classes.length,
        images: countImages(packed.classes),
        ...(packed.source === 'omniglot' ? { splits: omniglotSplitCounts(dir) } : {}),
      };
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
    });
}

function formatSplits(splits: Partial<Record<OmniglotSplit, number>>): string {
  const parts = Object.entries(splits).map(([name, n]) => `${name} ${n}`);
  return parts.length > 0 ? `${parts.join(', ')} classes` : 'none';
}
