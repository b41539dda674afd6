/**
 * The episodic training loop: one episode per step, Adam with a step-halving learning rate,
 * validation on a frozen suite, early stopping, the best checkpoint kept, and resume after a kill
 * that ends with the same weights as an uninterrupted run (episode i is a function of the seed
 * and i; weights, optimizer moments and counters are restored from the last checkpoint).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FewShotDataset, imageBatch } from '../data/dataset.js';
import { EpisodeSampler, Episode, EpisodeShape } from '../episodes/sampler.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from '../models/checkpoint.js';
import { evaluateEpisodes } from '../eval/evaluate.js';
import { writeFileAtomic } from '../atomic.js';

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

/** What one training step minimises, given the episode's embeddings in training mode. */
export interface Objective {
  /**
   * @param images support then query images of the episode, class-major
   * @returns the loss to minimise and named scalar terms to log (all created inside the call)
   */
  (images: tf.Tensor4D, episode: Episode, shape: EpisodeShape): { loss: tf.Scalar; terms: Record<string, tf.Scalar> };
}

export interface Validation {
  readonly dataset: FewShotDataset;
  readonly episodes: readonly Episode[];
}

export interface LogLine {
  readonly episode: number;
  readonly lr: number;
  readonly episodesPerSecond: number;
  readonly tensors: number;
  /** Resident memory of the process, MiB. */
  readonly rssMB: number;
  /** Mean of each logged term (loss, accuracy, ...) over the interval. */
  readonly [term: string]: number | string | undefined;
}

export interface TrainState {
  /** Episodes completed. */
  episode: number;
  bestValAccuracy: number;
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
  /** The run folder: checkpoint/ (latest), best/, log.jsonl. */
  readonly dir: string;
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

export const runPaths = (dir: string) => ({
  checkpoint: path.join(dir, 'checkpoint'),
  best: path.join(dir, 'best'),
  log: path.join(dir, 'log.jsonl'),
});

/** Only the trained model's variables: a teacher's, also on the tape, stay as they are. */
function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

function learningRate(schedule: TrainSchedule, episode: number): number {
  return schedule.lr * 0.5 ** Math.floor(episode / schedule.lrHalveEvery);
}

function readLog(file: string, upTo: number): LogLine[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as LogLine)
    .filter((l) => l.episode <= upTo);
}

export async function trainEpisodic(run: TrainRun): Promise<TrainResult> {
  const { model, objective, dataset, shape, schedule, dir } = run;
  if (schedule.validateEvery % schedule.logEvery !== 0) {
    throw new Error(`validateEvery (${schedule.validateEvery}) must be a multiple of logEvery (${schedule.logEvery})`);
  }
  const paths = runPaths(dir);
  fs.mkdirSync(dir, { recursive: true });
  const sampler = new EpisodeSampler(dataset, shape, schedule.seed);
  const optimizer = tf.train.adam(schedule.lr);
  let state: TrainState = { episode: 0, bestValAccuracy: -1, bestEpisode: 0, sinceBest: 0, stopped: false };

  if (run.resume && hasCheckpoint(paths.checkpoint)) {
    const saved = await loadCheckpoint<TrainState>(paths.checkpoint);
    model.setWeights(saved.model.getWeights());
    saved.model.dispose();
    // Adam creates its moment variables on the first step: make them, then overwrite them.
    if (saved.optimizerWeights) {
      await optimizer.setWeights(saved.optimizerWeights);
      tf.dispose(saved.optimizerWeights.map((w) => w.tensor));
    }
    state = saved.state!;
  }
  // (Resuming a run killed before its first checkpoint starts it over: it had nothing to keep.)
  const log = readLog(paths.log, state.episode);
  writeFileAtomic(paths.log, [Buffer.from(log.map((l) => JSON.stringify(l) + '\n').join(''))]);

  const started = Date.now();
  let intervalStart = Date.now();
  let sums: Record<string, number> = {};
  let counted = 0;
  const checkpoint = () => saveCheckpoint(paths.checkpoint, model, state, optimizer);

  while (!state.stopped && state.episode < schedule.episodes) {
    const e = state.episode;
    const lr = learningRate(schedule, e);
    (optimizer as unknown as { learningRate: number }).learningRate = lr;
    const episode = sampler.episode(e);
    const images = imageBatch(dataset, [...episode.support, ...episode.query]);
    let terms: Record<string, tf.Scalar> = {};
    const loss = optimizer.minimize(() => {
      const out = objective(images, episode, shape);
      terms = Object.fromEntries(Object.entries(out.terms).map(([k, v]) => [k, tf.keep(v)]));
      return out.loss;
    }, true, trainableVariables(model));
    for (const [k, v] of Object.entries({ loss: loss!, ...terms })) sums[k] = (sums[k] ?? 0) + v.dataSync()[0];
    tf.dispose([images, loss!, ...Object.values(terms)]);
    counted++;
    state.episode = e + 1;
    run.onEpisode?.(state.episode);

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
        line.valAccuracy = val.mean;
        line.valCi95 = val.ci95;
        if (val.mean > state.bestValAccuracy) {
          Object.assign(state, { bestValAccuracy: val.mean, bestEpisode: state.episode, sinceBest: 0 });
          await saveCheckpoint(paths.best, model, { episode: state.episode, valAccuracy: val.mean, valCi95: val.ci95 });
        } else if (schedule.patience > 0 && ++state.sinceBest >= schedule.patience) {
          state.stopped = true;
        }
      }
      const logLine = line as unknown as LogLine;
      log.push(logLine);
      fs.appendFileSync(paths.log, JSON.stringify(logLine) + '\n');
      run.onLog?.(logLine);
      sums = {};
      counted = 0;
      intervalStart = Date.now();
      if (state.episode % schedule.validateEvery === 0 || state.stopped || state.episode === schedule.episodes) {
        await checkpoint();
      }
    }
  }
  // Without validation the final model is the one to keep.
  if (!run.validation) await saveCheckpoint(paths.best, model, { episode: state.episode });
  optimizer.dispose();
  return { state, log, seconds: (Date.now() - started) / 1000 };
}
