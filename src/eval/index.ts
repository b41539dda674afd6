/** `fewshot-rkd/eval`: accuracy on frozen episodes with 95% intervals, per-episode files, paired comparison. */
export { evaluateEpisodes, evaluateCheckpoint, embedImages } from './evaluate.js';
export type { EvaluationResult, EvaluateOptions, SuiteScore } from './evaluate.js';
export { meanInterval, formatPercent } from './stats.js';
export type { Interval } from './stats.js';
export { writeEpisodeAccuracies, readEpisodeAccuracies, suiteIdentity } from './results.js';
export type { EpisodeAccuracies } from './results.js';
export { comparePaired } from './compare.js';
export type { PairedComparison } from './compare.js';
