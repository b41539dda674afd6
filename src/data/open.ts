/**
 * Opening a dataset split by name, as suites and commands name them. Every dataset is one entry of
 * the registry below: adding a dataset is adding its module and a line here.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { FewShotDataset } from './dataset.js';
import { openSynthetic } from './synthetic.js';
import { openOmniglot, OmniglotSplit } from './omniglot.js';
import { openMiniImageNet } from './miniimagenet.js';
import { openFolder } from './folder.js';
import { openCifarBenchmark } from './cifar100.js';

/** Root of on-disk caches: $FEWSHOT_CACHE, else ~/.cache/fewshot-rkd. */
export function defaultCacheRoot(): string {
  return process.env.FEWSHOT_CACHE ?? path.join(os.homedir(), '.cache', 'fewshot-rkd');
}

/** How a dataset's split opens from its cache folder (`<cache root>/<name>` unless given). */
type Opener = (cacheDir: string, split: string) => FewShotDataset;

const REGISTRY: Readonly<Record<string, Opener>> = {
  synthetic: (_dir, split) => openSynthetic(split),
  omniglot: (dir, split) => openOmniglot(dir, split as OmniglotSplit),
  miniimagenet: openMiniImageNet,
  'cifar-fs': (dir, split) => openCifarBenchmark('cifar-fs', dir, split),
  fc100: (dir, split) => openCifarBenchmark('fc100', dir, split),
  folder: openFolder,
};

export const DATASETS = Object.keys(REGISTRY);

/**
 * @param dataset a registered dataset: `synthetic` (generated in memory) or one imported into a cache
 * @param split e.g. `train`, `val`, `test`
 * @param dataDir the dataset's cache folder; default `<cache root>/<dataset>`
 */
export function openDataset(dataset: string, split: string, dataDir?: string): FewShotDataset {
  const open = Object.hasOwn(REGISTRY, dataset) ? REGISTRY[dataset] : undefined;
  if (!open) throw new Error(`unknown dataset '${dataset}' (one of ${DATASETS.join(', ')})`);
  return open(dataDir ?? path.join(defaultCacheRoot(), dataset), split);
}
