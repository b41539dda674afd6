/**
 * Suites: small JSON specs (in the top-level `episodes/` folder) of a frozen episode set: dataset,
 * split, way, shot, query, episode count, seed, and the sha256 of the manifest they generate.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FewShotDataset } from '../data/dataset.js';
import { fileError, writeFileAtomic } from '../atomic.js';
import { Episode, EpisodeSampler, EpisodeShape, checkEpisodeShape } from './sampler.js';
import { FrozenEpisodes, manifestText, readManifest, sha256 } from './manifest.js';
import { readRegularFile, readTextFile } from '../files.js';

export interface Suite extends EpisodeShape {
  readonly name: string;
  readonly description?: string;
  readonly dataset: string;
  readonly split: string;
  readonly episodes: number;
  readonly seed: string | number;
  /** sha256 of the manifest CSV; absent until the suite is first frozen. */
  readonly sha256?: string;
}

/** The suites shipped with the package (the top-level `episodes/` folder). */
export const SHIPPED_SUITES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'episodes');

/** A suite argument as a file: a path that exists, else the name of a shipped suite (`omniglot-test-5w1s`). */
export function resolveSuite(nameOrFile: string): string {
  if (fs.existsSync(nameOrFile)) return nameOrFile;
  const shipped = path.join(SHIPPED_SUITES_DIR, `${nameOrFile.replace(/\.json$/i, '')}.json`);
  if (!nameOrFile.includes('/') && fs.existsSync(shipped)) return shipped;
  throw new Error(`${nameOrFile}: no such suite file, nor a shipped suite of that name (see ${SHIPPED_SUITES_DIR})`);
}

/** The most episodes a suite may have: 100 times the usual 1000, well short of exhausting memory. */
export const MAX_SUITE_EPISODES = 100_000;

const SUITE_FIELDS = ['name', 'description', 'dataset', 'split', 'way', 'shot', 'query', 'episodes', 'seed', 'sha256'];

export function readSuite(file: string): Suite {
  let raw: unknown;
  try {
    raw = JSON.parse(readTextFile(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw code ? fileError(file, err, 'cannot read suite') : new Error(`${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: a suite must be a JSON object`);
  const s = raw as Record<string, unknown>;
  const unknown = Object.keys(s).filter((k) => !SUITE_FIELDS.includes(k));
  if (unknown.length) throw new Error(`${file}: unknown field '${unknown[0]}' (a suite has ${SUITE_FIELDS.join(', ')})`);
  const need = (key: string, type: string) => {
    if (typeof s[key] !== type) throw new Error(`${file}: field '${key}' must be a ${type}`);
  };
  for (const key of ['name', 'dataset', 'split']) need(key, 'string');
  if (s.description !== undefined) need('description', 'string');
  for (const key of ['way', 'shot', 'query', 'episodes']) need(key, 'number');
  // The name becomes file names (`<name>.episodes.csv`): nothing that could point elsewhere.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s.name as string)) throw new Error(`${file}: field 'name' must be letters, digits, '.', '_' or '-'`);
  if (typeof s.seed !== 'string' && typeof s.seed !== 'number') throw new Error(`${file}: field 'seed' must be a string or number`);
  if (s.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(String(s.sha256))) throw new Error(`${file}: field 'sha256' is not a sha256 hex digest`);
  const suite = s as unknown as Suite;
  try {
    checkEpisodeShape(suite);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!Number.isInteger(suite.episodes) || suite.episodes < 1 || suite.episodes > MAX_SUITE_EPISODES) {
    throw new Error(`${file}: field 'episodes' must be an integer from 1 to ${MAX_SUITE_EPISODES} (a suite's episodes are held in memory)`);
  }
  return suite;
}

export function writeSuite(file: string, suite: Suite): void {
  writeFileAtomic(file, [Buffer.from(JSON.stringify(suite, null, 2) + '\n', 'utf8')]);
}

/** Where a suite's frozen manifest lives by default: beside it, `.json` -> `.csv`. */
export function suiteManifestPath(suiteFile: string): string {
  return suiteFile.replace(/\.json$/i, '') + '.csv';
}

export function suiteSampler(suite: Suite, dataset: FewShotDataset): EpisodeSampler {
  return new EpisodeSampler(dataset, suite, suite.seed);
}

/** Samples the suite's episodes and renders its manifest; the hash is what `sha256` records. */
export async function sampleSuite(suite: Suite, dataset: FewShotDataset): Promise<{ episodes: Episode[]; text: string; sha256: string }> {
  const episodes = [...suiteSampler(suite, dataset).episodes(0, suite.episodes)];
  const text = await manifestText(dataset, episodes);
  return { episodes, text, sha256: sha256(text) };
}

/**
 * The suite's episodes, exactly as recorded: from its frozen manifest when one is beside it, else
 * sampled afresh; either way checked against the recorded sha256.
 */
export async function loadSuiteEpisodes(suiteFile: string, dataset: FewShotDataset): Promise<FrozenEpisodes & { sha256: string }> {
  const suite = readSuite(suiteFile);
  const csv = suiteManifestPath(suiteFile);
  if (fs.existsSync(csv)) {
    const bytes = readRegularFile(csv);
    const digest = sha256(bytes);
    if (suite.sha256 && digest !== suite.sha256) {
      throw new Error(`${csv}: sha256 ${digest.slice(0, 12)}... differs from ${suiteFile}'s ${suite.sha256.slice(0, 12)}...`);
    }
    const frozen = await readManifest(csv, dataset, bytes);
    // A manifest edited (or replaced) along with its suite's sha256 must still be the suite it names.
    const { way, shot, query } = frozen.shape;
    if (way !== suite.way || shot !== suite.shot || query !== suite.query || frozen.episodes.length !== suite.episodes) {
      throw new Error(`${csv}: ${frozen.episodes.length} episodes of ${way}-way ${shot}-shot ${query}-query, but ${suiteFile} says ` +
        `${suite.episodes} of ${suite.way}-way ${suite.shot}-shot ${suite.query}-query`);
    }
    return { ...frozen, sha256: digest };
  }
  const { episodes, sha256: digest } = await sampleSuite(suite, dataset);
  if (suite.sha256 && digest !== suite.sha256) {
    throw new Error(`${suiteFile}: sampling now gives sha256 ${digest.slice(0, 12)}..., the suite records ${suite.sha256.slice(0, 12)}...`);
  }
  return { shape: suite, episodes, sha256: digest };
}

/** Frozen episodes from a suite JSON or a manifest CSV, with the dataset they draw from. */
export interface EpisodeSource {
  readonly dataset: FewShotDataset;
  readonly frozen: FrozenEpisodes;
  /** The suite's name, or the manifest's file name. */
  readonly name: string;
  /** sha256 of the episodes' manifest text (what a suite records): their identity. */
  readonly sha256: string;
}

/**
 * Opens a suite (`.json`) or a manifest (`.csv`, which needs the dataset and split it draws from).
 * @param openDataset opens a dataset split by name (the data layer's `openDataset`)
 */
export async function openEpisodeSource(
  file: string,
  openDataset: (dataset: string, split: string) => FewShotDataset,
  manifestDataset?: { dataset: string; split: string },
): Promise<EpisodeSource> {
  if (file.toLowerCase().endsWith('.json')) {
    const suite = readSuite(file);
    const dataset = openDataset(suite.dataset, suite.split);
    const { sha256: digest, ...frozen } = await loadSuiteEpisodes(file, dataset);
    return { dataset, frozen, name: suite.name, sha256: digest };
  }
  if (!manifestDataset) throw new Error(`${file}: a manifest CSV needs the dataset and split it draws from`);
  const dataset = openDataset(manifestDataset.dataset, manifestDataset.split);
  let bytes: Buffer;
  try {
    bytes = readRegularFile(file);
  } catch (err) {
    throw fileError(file, err, 'cannot read it');
  }
  return {
    dataset, frozen: await readManifest(file, dataset, bytes), name: file.split('/').pop()!.replace(/\.csv$/i, ''),
    sha256: sha256(bytes),
  };
}
