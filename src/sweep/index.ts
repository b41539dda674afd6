/** `fewshot-rkd/sweep`: grids of settings trained and evaluated into CSV rows; shards, merge, workers. */
export { readSweepSpec, expandSweep, pointKey, pointDir } from './spec.js';
export type { SweepSpec, SweepPoint, Settings, SettingValue } from './spec.js';
export { runSweep } from './run.js';
export type { SweepOptions, SweepSummary } from './run.js';
export { parseShard, slurmShard, shardPoints } from './shard.js';
export type { Shard } from './shard.js';
export { readSweepCsv, writeSweepCsv, RESULT_COLUMNS } from './csv.js';
export type { SweepRow, SweepTable } from './csv.js';
export { mergeSweeps, mergeSweepFiles } from './merge.js';
export type { MergeOptions, MergeResult } from './merge.js';
