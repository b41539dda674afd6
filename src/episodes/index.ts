/** `fewshot-rkd/episodes`: seeded N-way K-shot episodes, and frozen suites of them (JSON + CSV manifest). */
export { EpisodeSampler } from './sampler.js';
export type { Episode, EpisodeShape, ClassCatalog } from './sampler.js';
export { manifestText, readManifest, writeManifest, sha256 } from './manifest.js';
export type { FrozenEpisodes } from './manifest.js';
export { readSuite, writeSuite, resolveSuite, sampleSuite, loadSuiteEpisodes, openEpisodeSource, SHIPPED_SUITES_DIR, MAX_SUITE_EPISODES } from './suite.js';
export type { Suite, EpisodeSource } from './suite.js';
