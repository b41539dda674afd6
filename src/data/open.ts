/** Opening a dataset split by name, as suites and commands name them. */
import * as os from 'node:os';
import * as path from 'node:path';
import type { FewShotDataset } from './dataset.js';
import { openSynthetic } from './synthetic.js';
import { openOmniglot, OmniglotSplit } from './omniglot.js';
import { openMiniImageNet } from './miniimagenet.js';
import { openFolder } from './folder.js';

export const DATASETS = ['synthetic', 'omniglot', 'miniimagenet', 'folder'] as const;

/** Root of on-disk caches: $FEWSHOT_CACHE, else ~/.cache/fewshot-rkd. */
export function defaultCacheRoot(): string {
  return process.env.FEWSHOT_CACHE ?? path.join(os.homedir(), '.cache', 'fewshot-rkd');
}

/**
 * @param dataset `synthetic` (generated in memory) or `omniglot` (an imported cache)
 * @param split e.g. `train`, `val`, `test`
 * @param dataDir the dataset's cache folder; default `<cache root>/<dataset>`
 */
export function openDataset(dataset: string, split: string, dataDir?: string): FewShotDataset {
  switch (dataset) {
    case 'synthetic':
      return openSynthetic(split);
    case 'omniglot':
      return openOmniglot(dataDir ?? path.join(defaultCacheRoot(), 'omniglot'), split as OmniglotSplit);
    case 'miniimagenet':
      return openMiniImageNet(dataDir ?? path.join(defaultCacheRoot(), 'miniimagenet'), split);
    case 'folder':
      return openFolder(dataDir ?? path.join(defaultCacheRoot(), 'folder'), split);
    default:
      throw new Error(`unknown dataset '${dataset}' (one of ${DATASETS.join(', ')})`);
  }
}
