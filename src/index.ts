/** fewshot-rkd as a library: re-exports, nothing else. */
export { initBackend, describeBackend, BACKEND_CHOICES } from './backend.js';
export type { BackendChoice, BackendInfo } from './backend.js';

export { imageBatch, imageSize } from './data/dataset.js';
export type { FewShotDataset, ImageRef, ImageShape } from './data/dataset.js';
export { readPackedImages, writePackedImages } from './data/cache.js';
export type { PackedImages, PackedClass } from './data/cache.js';
export { PackedDataset } from './data/packed-dataset.js';
export { importOmniglot, openOmniglot } from './data/omniglot.js';
export { openSynthetic, syntheticImages, SYNTHETIC_SPLITS } from './data/synthetic.js';
export { openDataset, defaultCacheRoot, DATASETS } from './data/open.js';
export { importMiniImageNet, openMiniImageNet, readRaviCsv, MINIIMAGENET_SPLITS } from './data/miniimagenet.js';
export { importFolder, openFolder } from './data/folder.js';
export { openSplitCache, describeSplitCache } from './data/split-cache.js';
export type { SplitImportSummary } from './data/split-cache.js';
export { downloadFile, downloadOmniglot, OMNIGLOT_ARCHIVES, MINIIMAGENET_HOWTO } from './data/download.js';

export { EpisodeSampler } from './episodes/sampler.js';
export type { Episode, EpisodeShape } from './episodes/sampler.js';
export { manifestText, readManifest, writeManifest, sha256 } from './episodes/manifest.js';
export type { FrozenEpisodes } from './episodes/manifest.js';
export { readSuite, writeSuite, sampleSuite, loadSuiteEpisodes, openEpisodeSource } from './episodes/suite.js';
export type { Suite, EpisodeSource } from './episodes/suite.js';

export { conv4, embeddingSize, embedInference, embedTraining, hasFusedTraining } from './models/conv4.js';
export { convBlockInference, convBlockTraining } from './models/conv-block.js';
export { registerNativeKernels, useNativeKernels, nativeAddon } from './kernels/native.js';
export { saveCheckpoint, loadCheckpoint, loadModel } from './models/checkpoint.js';

export { prototypes, negativeSquaredDistances, prototypicalLoss } from './losses/protonet.js';
export { rkdDistance, rkdAngle, rkdAngleDirect, pairwiseDistances, stopGradient } from './losses/rkd.js';
export { kdLoss } from './losses/kd.js';

export { trainEpisodic, DEFAULT_SCHEDULE, runPaths } from './train/episodic.js';
export type { TrainSchedule, Objective, LogLine, TrainResult } from './train/episodic.js';
export { trainProtoNet, prototypicalObjective, DEFAULT_PROTONET } from './train/protonet.js';
export type { ProtoNetConfig } from './train/protonet.js';
export { distill, distillationObjective, rkdWeights, generationDir } from './train/distill.js';
export type { DistillConfig, DistillWeights } from './train/distill.js';

export { evaluateEpisodes, evaluateCheckpoint, embedImages } from './eval/evaluate.js';
export type { EvaluationResult, SuiteScore } from './eval/evaluate.js';
export { meanInterval } from './eval/stats.js';
export type { Interval } from './eval/stats.js';
export { writeEpisodeAccuracies, readEpisodeAccuracies } from './eval/results.js';
export { comparePaired } from './eval/compare.js';
export type { PairedComparison } from './eval/compare.js';

export { benchShape, BENCH_SHAPES } from './bench/bench.js';

export { readSweepSpec, expandSweep, pointKey, canonicalJson, settingColumns, SETTING_KINDS } from './sweep/spec.js';
export type { SweepSpec, SweepPoint, Settings } from './sweep/spec.js';
export { runSweep } from './sweep/run.js';
export type { SweepOptions, SweepSummary } from './sweep/run.js';
export { parseShard, shardPoints } from './sweep/shard.js';
export type { Shard } from './sweep/shard.js';
export { readSweepCsv, writeSweepCsv, RESULT_COLUMNS } from './sweep/csv.js';
export type { SweepRow, SweepTable } from './sweep/csv.js';
export { mergeSweeps, mergeSweepFiles } from './sweep/merge.js';
export { writeSweepReport } from './report/report.js';
export type { ReportOptions, SweepReport } from './report/report.js';
export { acrossSeeds, groupSeeds, t975 } from './report/seeds.js';
export { accuracySpec, curvesSpec, renderPlot } from './report/plots.js';
