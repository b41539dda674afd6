/** The smallest real training runs, suites and sweeps, for tests that need some model or sweep but no particular one. */
import type { ProtoNetConfig } from '../src/train/protonet.js';

/**
 * A tiny synthetic training config (3-way 1-shot, width 4, 4 episodes), one definition for every test that trains
 * or sweeps one. On the 64-class val split: generated in a fraction of the time of the 256-class train split.
 */
export const TINY = {
  dataset: 'synthetic',
  split: 'val',
  way: 3,
  shot: 1,
  query: 2,
  width: 4,
  episodes: 4,
  logEvery: 1,
  validateEvery: 2,
} satisfies Partial<ProtoNetConfig>;
