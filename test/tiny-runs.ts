/** The smallest real training runs, suites and sweeps, for tests that need some model or sweep but no particular one. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Suite } from '../src/episodes/suite.js';
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

/**
 * Writes a tiny synthetic suite (3-way 1-shot, 2 queries, 4 episodes of the val split, seed 5), with `changes`, to
 * `dir`/NAME.json (NAME `tiny-3w1s` after its way and shot unless given) and returns that file: one definition for
 * every test that evaluates or sweeps on one.
 */
export function writeTinySuite(dir: string, changes: Partial<Suite> = {}): string {
  const suite = {
    name: '',
    dataset: 'synthetic',
    split: 'val',
    way: 3,
    shot: 1,
    query: 2,
    episodes: 4,
    seed: 5,
    ...changes,
  };
  const name = changes.name ?? `tiny-${suite.way}w${suite.shot}s`;
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ ...suite, name }));
  return file;
}

/**
 * Writes a sweep spec `tiny` to `dir`/spec.json: `base` over the seeds `seeds`, on the tiny suite `dir`/tiny-3w1s.json
 * (written too), its runs in `dir`/runs; returns it and the CSV it is to write, `dir`/sweep.csv. The smallest real
 * sweep, one definition for the tests that run one.
 */
export function writeTinySweep(dir: string, base: object, seeds: number[]): { spec: string; out: string } {
  const suite = writeTinySuite(dir);
  const spec = path.join(dir, 'spec.json');
  fs.writeFileSync(
    spec,
    JSON.stringify({ name: 'tiny', runs: path.join(dir, 'runs'), suites: [suite], base, grid: { seed: seeds } }),
  );
  return { spec, out: path.join(dir, 'sweep.csv') };
}

/** How long a tiny command-line run trains, and how often it validates and logs. */
export interface TinySchedule {
  readonly episodes?: number;
  readonly validateEvery?: number;
  readonly logEvery?: number;
}

/**
 * The flags of a tiny synthetic 5-way 1-shot training run of width 8 on the command line, with the `schedule` given:
 * one definition for the command-line tests that need some trained model.
 */
export function tinyTrainFlags(schedule: TinySchedule = {}): string[] {
  const flags = ['--dataset', 'synthetic', '--way', '5', '--shot', '1', '--width', '8'];
  const { episodes, validateEvery, logEvery } = schedule;
  if (episodes !== undefined) flags.push('--episodes', String(episodes));
  if (validateEvery !== undefined) flags.push('--validate-every', String(validateEvery));
  if (logEvery !== undefined) flags.push('--log-every', String(logEvery));
  return flags;
}
