/**
 * The episodic training loop: one episode per step, Adam with a step-halving learning rate,
 * validation on a frozen suite, early stopping, the best checkpoint kept, and resume after a kill
 * that ends bit-identical to an uninterrupted run (episode i is a function of the seed and i;
 * weights, optimizer moments and counters are restored from the last checkpoint). A non-finite
 * loss stops the run before it can touch a checkpoint.
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { AugmentationName, augmentEpisode } from '../data/augment.js';
import { FewShotDataset, imageBatch } from '../data/dataset.js';
import { EpisodeSampler, Episode, EpisodeShape } from '../episodes/sampler.js';
import { hasCheckpoint, saveCheckpoint } from '../models/checkpoint.js';
import { Adam } from './adam.js';
import { ensureBackend } from '../backend.js';
import { evaluateEpisodes } from '../eval/evaluate.js';
import {
  LogLine,
  appendLog,
  assertFiniteWeights,
  restartLog,
  restoreTrainingCheckpoint,
  runPaths,
  saveTrainingCheckpoint,
} from './run-folder.js';
import { Objective, trainStep, trainableVariables } from './step.js';

export interface TrainSchedule {
  /** Training episodes in all (the run may stop earlier on patience). */
  readonly episodes: number;
  readonly lr: number;
  /** The learning rate halves every this many episodes. */
  readonly lrHalveEvery: number;
  /** Validate and checkpoint every this many episodes; a multiple of logEvery. */
  readonly validateEvery: number;
  /** Stop after this many validations without improvement (0: never). */
  readonly patience: number;
  /** Which validation figure picks the best model: mean loss (lower) or mean accuracy (higher). */
  readonly selectBy?: 'loss' | 'accuracy';
  readonly logEvery: number;
  /** Seeds the training episode stream. */
  readonly seed: number;
}

export const DEFAULT_SCHEDULE: TrainSchedule = {
  episodes: 10000,
  lr: 1e-3,
  lrHalveEvery: 2000,
  validateEvery: 500,
  patience: 0,
  logEvery: 50,
  seed: 0,
};

export interface Validation {
  readonly dataset: FewShotDataset;
  readonly episodes: readonly Episode[];
}

export interface TrainState {
  /** Episodes completed (= Adam steps taken). */
  episode: number;
  /** Validation accuracy and loss of the best model so far (-1 and Infinity before the first). */
  bestValAccuracy: number;
  bestValLoss?: number;
  bestEpisode: number;
  /** Validations since the best one. */
  sinceBest: number;
  stopped: boolean;
  [key: string]: unknown;
}

export interface TrainRun {
  /** The model trained and checkpointed. */
  readonly model: tf.LayersModel;
  readonly objective: Objective;
  readonly dataset: FewShotDataset;
  readonly shape: EpisodeShape;
  readonly schedule: TrainSchedule;
  readonly validation?: Validation;
  /** Augmentation of the training episodes' images (none by default); validation images are never augmented. */
  readonly augment?: AugmentationName;
  /**
   * The run folder: checkpoint/ (latest), best/, log.jsonl. Without one nothing is written, and
   * with validation the model ends with the weights of its best validation.
   */
  readonly dir?: string;
  readonly resume?: boolean;
  readonly onLog?: (line: LogLine) => void;
  /** Called after each episode; may throw to stop (tests simulate a kill this way). */
  readonly onEpisode?: (episode: number) => void;
}

export interface TrainResult {
  readonly state: TrainState;
  readonly log: readonly LogLine[];
  readonly seconds: number;
}

export function learningRate(schedule: TrainSchedule, episode: number): number {
  return schedule.lr * 0.5 ** Math.floor(episode / schedule.lrHalveEvery);
}

/** Is validation result `val` better than the best so far? */
function improves(state: TrainState, val: { mean: number; loss: number }, selectBy: 'loss' | 'accuracy'): boolean {
  return selectBy === 'loss' ? val.loss < (state.bestValLoss ?? Infinity) : val.mean > state.bestValAccuracy;
}

/**
 * Everything about a run that can be checked before anything is written: the schedule, the episode
 * shape against the dataset, and that the dataset has pixels to read. A run folder is only made
 * once these hold, so a failed start leaves nothing that refuses the corrected command.
 */
export function checkRun(dataset: FewShotDataset, shape: EpisodeShape, schedule: TrainSchedule): EpisodeSampler {
  // The library's callers pass plain objects: a missing field would train 0 episodes or never log.
  for (const key of ['episodes', 'lrHalveEvery', 'validateEvery', 'logEvery'] as const) {
    const v = schedule[key];
    if (!Number.isInteger(v) || v < 1) throw new Error(`${key} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(schedule.patience) || schedule.patience < 0)
    throw new Error(`patience must be a non-negative integer, got ${schedule.patience}`);
  if (!(schedule.lr > 0 && Number.isFinite(schedule.lr)))
    throw new Error(`lr must be a positive number, got ${schedule.lr}`);
  if (schedule.validateEvery % schedule.logEvery !== 0) {
    throw new Error(
      `--validate-every (${schedule.validateEvery}) must be a multiple of --log-every (${schedule.logEvery})`,
    );
  }
  const sampler = new EpisodeSampler(dataset, shape, schedule.seed);
  // A catalog (ids only) or a broken cache fails here, not after the run folder is made.
  imageBatch(dataset, sampler.episode(0).support.slice(0, 1)).dispose();
  return sampler;
}

export async function trainEpisodic(run: TrainRun): Promise<TrainResult> {
  await ensureBackend();
  const { model, objective, dataset, shape, schedule, dir } = run;
  const selectBy = schedule.selectBy ?? 'accuracy';
  const sampler = checkRun(dataset, shape, schedule);
  if (dir !== undefined) fs.mkdirSync(dir, { recursive: true });
  // Without a run folder, the best model's weights are kept here.
  let bestWeights: tf.Tensor[] | undefined;
  const variables = trainableVariables(model);
  const optimizer = new Adam(variables);
  let state: TrainState = {
    episode: 0,
    bestValAccuracy: -1,
    bestValLoss: Infinity,
    bestEpisode: 0,
    sinceBest: 0,
    stopped: false,
  };
  if (run.resume && dir !== undefined && hasCheckpoint(runPaths(dir).checkpoint)) {
    const saved = await restoreTrainingCheckpoint<TrainState>(dir, model, optimizer);
    state = { ...saved, bestValLoss: saved.bestValLoss ?? Infinity };
  }
  // (Resuming a run killed before its first checkpoint starts it over: it had nothing to keep.)
  const log = dir !== undefined ? restartLog(dir, state.episode) : [];

  const started = Date.now();
  let intervalStart = Date.now();
  let sums: Record<string, number> = {};
  let counted = 0;

  try {
    while (!state.stopped && state.episode < schedule.episodes) {
      const e = state.episode;
      const lr = learningRate(schedule, e);
      const episode = sampler.episode(e);
      const refs = [...episode.support, ...episode.query];
      const images = imageBatch(dataset, refs, (pixels) =>
        augmentEpisode(run.augment ?? 'none', pixels, dataset.imageShape, refs.length, schedule.seed, e),
      );
      let values: Record<string, number>;
      try {
        values = trainStep(objective, variables, optimizer, lr, images, episode, shape);
      } finally {
        images.dispose();
      }
      for (const [k, v] of Object.entries(values)) sums[k] = (sums[k] ?? 0) + v;
      counted++;
      state.episode = e + 1;
      run.onEpisode?.(state.episode);
      // Lets timers run between steps (a sweep's lock refresh, signal handlers).
      await new Promise<void>((resolve) => setImmediate(resolve));

      if (state.episode % schedule.logEvery === 0 || state.episode === schedule.episodes) {
        const seconds = (Date.now() - intervalStart) / 1000;
        const line: Record<string, number> = { episode: state.episode, lr };
        for (const [k, v] of Object.entries(sums)) line[k] = v / counted;
        line.episodesPerSecond = counted / Math.max(seconds, 1e-9);
        // Live tensors: flat across a healthy run, growing when something leaks.
        line.tensors = tf.memory().numTensors;
        // Process memory: wasm's heap never shrinks, so a leak or fragmentation shows here first.
        line.rssMB = Math.round(process.memoryUsage().rss / 2 ** 20);
        if ((state.episode % schedule.validateEvery === 0 || state.episode === schedule.episodes) && run.validation) {
          const val = await evaluateEpisodes(model, run.validation.dataset, run.validation.episodes);
          Object.assign(line, { valAccuracy: val.mean, valCi95: val.ci95, valLoss: val.loss });
          if (improves(state, val, selectBy)) {
            assertFiniteWeights(model, state.episode);
            Object.assign(state, {
              bestValAccuracy: val.mean,
              bestValLoss: val.loss,
              bestEpisode: state.episode,
              sinceBest: 0,
            });
            if (dir !== undefined)
              await saveCheckpoint(runPaths(dir).best, model, {
                episode: state.episode,
                valAccuracy: val.mean,
                valCi95: val.ci95,
                valLoss: val.loss,
              });
            else {
              tf.dispose(bestWeights);
              bestWeights = model.getWeights().map((w) => w.clone());
            }
          } else if (schedule.patience > 0 && ++state.sinceBest >= schedule.patience) {
            state.stopped = true;
          }
        }
        const logLine = line as unknown as LogLine;
        log.push(logLine);
        if (dir !== undefined) appendLog(dir, logLine);
        run.onLog?.(logLine);
        sums = {};
        counted = 0;
        intervalStart = Date.now();
        if (state.episode % schedule.validateEvery === 0 || state.stopped || state.episode === schedule.episodes) {
          if (dir !== undefined) await saveTrainingCheckpoint(dir, model, state, optimizer, state.episode);
        }
      }
    }
    // Without validation the final model is the one to keep.
    if (!run.validation && dir !== undefined) {
      assertFiniteWeights(model, state.episode);
      await saveCheckpoint(runPaths(dir).best, model, { episode: state.episode });
    }
    if (bestWeights) model.setWeights(bestWeights);
  } finally {
    optimizer.dispose();
    tf.dispose(bestWeights);
  }
  return { state, log, seconds: (Date.now() - started) / 1000 };
}
