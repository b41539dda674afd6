/**
 * A run folder: config.json (the settings and provenance), log.jsonl (one line per log interval),
 * checkpoint/ (the latest weights, optimizer moments and loop state) and best/ (the model to keep).
 * What the training loop reads and writes between steps, so that a killed run resumes exactly.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { appendWhole, writeFileAtomic } from '../atomic.js';
import { currentBackendLine } from '../backend.js';
import { loadCheckpoint, saveCheckpoint } from '../models/checkpoint.js';
import { provenance } from '../provenance.js';
import type { Adam } from './adam.js';
import { DivergedError } from './step.js';
import { readTextFile } from '../files.js';

export const runPaths = (dir: string) => ({
  checkpoint: path.join(dir, 'checkpoint'),
  best: path.join(dir, 'best'),
  log: path.join(dir, 'log.jsonl'),
});

/** The loop state saved with a run's last checkpoint (episode, best episode, stopped); undefined before the first. */
export function readRunState(dir: string): { episode: number; bestEpisode: number; stopped: boolean } | undefined {
  const file = path.join(runPaths(dir).checkpoint, 'state.json');
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(readTextFile(file));
  } catch (err) {
    throw new Error(`${file}: not a checkpoint state (${(err as Error).message})`, { cause: err });
  }
}

/** Reads a run folder's config.json (what `--resume` continues). */
export function readRunConfig<C>(dir: string): C {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new Error(`${dir}: not a run folder (no config.json)`);
  try {
    const config = JSON.parse(readTextFile(file));
    if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new Error('not a JSON object');
    return config as C;
  } catch (err) {
    throw new Error(`${file}: not a run config (${(err as Error).message}); the run cannot be resumed from it`, {
      cause: err,
    });
  }
}

/**
 * Refuses to start a new run in a folder that holds one: it would overwrite its config and log and
 * mix with its checkpoints. The caller asks for --resume, or another folder.
 */
export function refuseExistingRun(dir: string): void {
  if (dir.trim() === '') throw new Error('--out: an empty folder name');
  if (fs.existsSync(path.join(dir, 'config.json'))) {
    throw new Error(`${dir}: already holds a run (config.json); add --resume to continue it, or choose another --out`);
  }
}

/**
 * The error of a run that diverged, after removing its folder if the run reached no checkpoint
 * and the folder holds nothing but the run's own config and logs: there is nothing to keep, and
 * the corrected command (the lower --lr the error suggests) can start in the same place.
 */
export function divergedRun(dir: string, err: unknown): unknown {
  if (!(err instanceof DivergedError) || !fs.existsSync(dir)) return err;
  const entries = fs.readdirSync(dir, { recursive: true, withFileTypes: true });
  const progress = entries.some((e) => e.isDirectory() && (e.name === 'checkpoint' || e.name === 'best'));
  const ownFiles = entries.every((e) => e.isDirectory() || e.name === 'config.json' || e.name === 'log.jsonl');
  if (progress || !ownFiles) return err;
  fs.rmSync(dir, { recursive: true });
  return new Error(
    `training diverged at episode ${err.episode}: ${err.term} is ${err.value}, before the first checkpoint: ` +
      `nothing to keep, ${dir} removed (lower --lr, or check the data)`,
    { cause: err },
  );
}

/** Writes a run's config.json, with the provenance of the process that started the run. */
export function writeRunConfig(dir: string, config: object): void {
  const { provenance: _previous, ...settings } = config as { provenance?: unknown };
  writeFileAtomic(path.join(dir, 'config.json'), [
    Buffer.from(JSON.stringify({ ...settings, provenance: provenance(currentBackendLine()) }, null, 2) + '\n'),
  ]);
}

/**
 * Checks the budget a resumed run is given against what it has trained, and records a new one in
 * its config.json (students' budgets and reports read it there). A run may be extended, not
 * shortened, and one that stopped on patience has nothing more to train.
 */
export function resumeBudget(dir: string, episodes: number): void {
  const saved = readRunConfig<{ episodes: number }>(dir);
  const state = readRunState(dir);
  if (episodes === saved.episodes) return;
  if (episodes < saved.episodes || (state && episodes < state.episode))
    throw new Error(
      `${dir}: --episodes ${episodes} would shorten the run (of ${saved.episodes} episodes${state ? `, ${state.episode} trained` : ''}): a run is extended, not shortened; start a new run`,
    );
  if (state?.stopped)
    throw new Error(
      `${dir}: stopped on patience at episode ${state.episode} (no validation gain): more episodes would train nothing`,
    );
  writeFileAtomic(path.join(dir, 'config.json'), [Buffer.from(JSON.stringify({ ...saved, episodes }, null, 2) + '\n')]);
}

/** A log line: the interval's mean of each term, its speed and the process's memory. */
export interface LogLine {
  readonly episode: number;
  readonly lr: number;
  /** Mean training loss over the interval (each term of it is logged under its own name too). */
  readonly loss: number;
  readonly episodesPerSecond: number;
  readonly tensors: number;
  /** Resident memory of the process, MiB. */
  readonly rssMB: number;
  /** Mean of each logged term (loss, accuracy, ...) over the interval. */
  readonly [term: string]: number | string | undefined;
}

function readLog(file: string, upTo: number): LogLine[] {
  if (!fs.existsSync(file)) return [];
  const text = readTextFile(file);
  // A last line without its newline was torn by a kill mid-append: it is past any checkpoint.
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((l, i) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        throw new Error(`${file}:${i + 1}: not a JSON log line (a torn write?)`);
      }
    })
    .filter((l) => l.episode <= upTo);
}

/**
 * The log up to `episode` (a resumed run drops the lines its last checkpoint did not reach), written
 * back so that appended lines follow it.
 */
export function restartLog(dir: string, episode: number): LogLine[] {
  const file = runPaths(dir).log;
  const log = readLog(file, episode);
  writeFileAtomic(file, [Buffer.from(log.map((l) => JSON.stringify(l) + '\n').join(''))]);
  return log;
}

export function appendLog(dir: string, line: LogLine): void {
  appendWhole(runPaths(dir).log, JSON.stringify(line) + '\n');
}

/** Throws unless every weight of the model is finite (checked before any checkpoint is written). */
export function assertFiniteWeights(model: tf.LayersModel, episode: number): void {
  const bad = model.weights.find((w) => tf.tidy(() => !tf.all(tf.isFinite(w.read())).dataSync()[0]));
  if (bad) throw new DivergedError(episode, `weight ${bad.name}`, NaN);
}

/** Saves the latest state to checkpoint/, with the provenance of the code that wrote it. */
export async function saveTrainingCheckpoint(
  dir: string,
  model: tf.LayersModel,
  state: object,
  optimizer: Adam,
  episode: number,
): Promise<void> {
  assertFiniteWeights(model, episode);
  // Each checkpoint says which code wrote it (a run resumed across versions shows it here).
  await saveCheckpoint(
    runPaths(dir).checkpoint,
    model,
    { ...state, provenance: provenance(currentBackendLine()) },
    optimizer.weights(),
  );
}

/**
 * Restores weights and optimizer moments from checkpoint/ into `model` and `optimizer`; returns the
 * loop state saved with them.
 */
export async function restoreTrainingCheckpoint<S extends { episode: number }>(
  dir: string,
  model: tf.LayersModel,
  optimizer: Adam,
): Promise<S> {
  const file = runPaths(dir).checkpoint;
  const saved = await loadCheckpoint<S>(file);
  model.setWeights(saved.model.getWeights());
  saved.model.dispose();
  if (!saved.state) throw new Error(`${file}: no state.json (not a training checkpoint)`);
  if (saved.optimizerWeights) {
    optimizer.restore(saved.optimizerWeights, saved.state.episode);
    tf.dispose(saved.optimizerWeights.map((w) => w.tensor));
  }
  return saved.state;
}
