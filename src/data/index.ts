/** `fewshot-rkd/data`: datasets as classes of images, their importers and caches. */
export { openDataset, defaultCacheRoot, DATASETS } from './open.js';
export { imageBatch } from './dataset.js';
export type { FewShotDataset, ImageRef, ImageShape } from './dataset.js';
export { openSynthetic, syntheticImages, SYNTHETIC_SPLITS } from './synthetic.js';
export type { SyntheticOptions, SyntheticSplit } from './synthetic.js';
export { importOmniglot, openOmniglot, OMNIGLOT_SPLITS } from './omniglot.js';
export type { OmniglotImportOptions, OmniglotImportSummary, OmniglotSplit } from './omniglot.js';
export { importMiniImageNet, openMiniImageNet, readRaviCsv, MINIIMAGENET_SPLITS } from './miniimagenet.js';
export type { MiniImageNetImportOptions, MiniImageNetSplit, RaviSplit, RaviRow } from './miniimagenet.js';
export { importFolder, openFolder } from './folder.js';
export { importCifar100, openCifarBenchmark, readCifar100, CIFAR_BENCHMARKS, CIFAR100_ARCHIVES } from './cifar100.js';
export type {
  Cifar100ImportOptions,
  Cifar100ImportSummary,
  Cifar100Kind,
  Cifar100Source,
  CifarBenchmark,
  CifarRecords,
} from './cifar100.js';
export { augmentEpisode, AUGMENTATIONS } from './augment.js';
export type { AugmentationName } from './augment.js';
export type { FolderImportOptions } from './folder.js';
export { describeSplitCache } from './split-cache.js';
export type { SplitImportSummary } from './split-cache.js';
export { readPackedImages, writePackedImages } from './cache.js';
export type { PackedImages, PackedClass } from './cache.js';
export { PackedDataset } from './packed-dataset.js';
export type { ClassView, QuarterTurns } from './packed-dataset.js';
export { downloadFile, downloadOmniglot, OMNIGLOT_ARCHIVES, MINIIMAGENET_HOWTO } from './download.js';
export type { DownloadOptions, Downloaded, OmniglotDownloadOptions } from './download.js';
