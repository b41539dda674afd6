/**
 * A model over frozen episodes -> per-episode accuracies. With batch norm in inference mode an
 * image's embedding does not depend on its episode, so each distinct image is embedded once and
 * every episode is scored from those embeddings.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../atomic.js';
import { openDataset } from '../data/open.js';
import { openEpisodeSource } from '../episodes/suite.js';
import { loadModel } from '../models/checkpoint.js';
import { writeEpisodeAccuracies } from './results.js';
import { FewShotDataset, ImageRef, imageBatch } from '../data/dataset.js';
import type { Episode } from '../episodes/sampler.js';
import { prototypicalLoss } from '../losses/protonet.js';
import { Interval, meanInterval } from './stats.js';

export interface EvaluationResult extends Interval {
  /** Accuracy of each episode, in the order given. */
  readonly accuracies: readonly number[];
  readonly episodeIndices: readonly number[];
  readonly seconds: number;
  readonly distinctImages: number;
}

export interface EvaluateOptions {
  /** Images per forward pass when embedding. */
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Embeds images in inference mode, `batchSize` at a time; returns [n, D]. */
export function embedImages(
  model: tf.LayersModel,
  dataset: FewShotDataset,
  refs: readonly ImageRef[],
  batchSize = 256,
  onBatch?: (done: number) => void,
): tf.Tensor2D {
  const parts: tf.Tensor2D[] = [];
  for (let start = 0; start < refs.length; start += batchSize) {
    parts.push(tf.tidy(() => {
      const x = imageBatch(dataset, refs.slice(start, start + batchSize));
      return model.apply(x, { training: false }) as tf.Tensor2D;
    }));
    onBatch?.(Math.min(start + batchSize, refs.length));
  }
  const all = tf.concat(parts, 0);
  tf.dispose(parts);
  return all;
}

export async function evaluateEpisodes(
  model: tf.LayersModel,
  dataset: FewShotDataset,
  episodes: readonly Episode[],
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const started = Date.now();
  if (episodes.length === 0) throw new Error('no episodes to evaluate');
  const rowOf = new Map<string, number>();
  const refs: ImageRef[] = [];
  const key = (r: ImageRef) => `${r.classIndex}:${r.imageIndex}`;
  for (const ep of episodes) {
    for (const r of [...ep.support, ...ep.query]) {
      if (!rowOf.has(key(r))) {
        rowOf.set(key(r), refs.length);
        refs.push(r);
      }
    }
  }
  const total = refs.length + episodes.length;
  const embeddings = embedImages(model, dataset, refs, options.batchSize, (done) => options.onProgress?.(done, total));
  const accuracies: number[] = [];
  try {
    for (const [i, ep] of episodes.entries()) {
      const rows = (list: readonly ImageRef[]) => tf.tensor1d(list.map((r) => rowOf.get(key(r))!), 'int32');
      const accuracy = tf.tidy(() => {
        const support = tf.gather(embeddings, rows(ep.support)) as tf.Tensor2D;
        const query = tf.gather(embeddings, rows(ep.query)) as tf.Tensor2D;
        return prototypicalLoss(support, query, ep.classes.length).accuracy;
      });
      accuracies.push((await accuracy.data())[0]);
      accuracy.dispose();
      if (i % 50 === 49) options.onProgress?.(refs.length + i + 1, total);
    }
  } finally {
    embeddings.dispose();
  }
  options.onProgress?.(total, total);
  return {
    ...meanInterval(accuracies),
    accuracies,
    episodeIndices: episodes.map((e) => e.index),
    seconds: (Date.now() - started) / 1000,
    distinctImages: refs.length,
  };
}

export interface SuiteScore {
  suite: string;
  way: number;
  shot: number;
  query: number;
  episodes: number;
  accuracy: number;
  ci95: number;
  std: number;
  seconds: number;
  backend: string;
  episodesCsv?: string;
}

/** Evaluates the model folder on each source; writes `<out>/<suite>.episodes.csv` when `out` is given. */
export async function evaluateCheckpoint(
  modelDir: string,
  sources: readonly string[],
  options: {
    data?: string; dataset?: string; split?: string; out?: string; backend: string;
    onProgress?: (suite: string, done: number, total: number) => void;
  },
): Promise<SuiteScore[]> {
  const model = await loadModel(modelDir);
  const scores: SuiteScore[] = [];
  try {
    for (const file of sources) {
      const manifestOf = options.dataset && options.split ? { dataset: options.dataset, split: options.split } : undefined;
      const source = await openEpisodeSource(file, (d, s) => openDataset(d, s, options.data), manifestOf);
      const result = await evaluateEpisodes(model, source.dataset, source.frozen.episodes, {
        onProgress: (done, total) => options.onProgress?.(source.name, done, total),
      });
      let episodesCsv: string | undefined;
      if (options.out) {
        episodesCsv = path.join(options.out, `${source.name}.episodes.csv`);
        await writeEpisodeAccuracies(episodesCsv, result);
      }
      scores.push({
        suite: source.name, ...source.frozen.shape, episodes: result.n,
        accuracy: result.mean, ci95: result.ci95, std: result.std, seconds: result.seconds,
        backend: options.backend, episodesCsv,
      });
    }
  } finally {
    model.dispose();
  }
  if (options.out) {
    writeFileAtomic(path.join(options.out, 'summary.json'), [Buffer.from(JSON.stringify({ model: modelDir, scores }, null, 2) + '\n')]);
  }
  return scores;
}
