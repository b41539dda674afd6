/**
 * A model over frozen episodes -> per-episode accuracies. With batch norm in inference mode an
 * image's embedding does not depend on its episode, so each distinct image is embedded once and
 * every episode is scored from those embeddings.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../atomic.js';
import { describeBackend, ensureBackend } from '../backend.js';
import { provenance, recordedPath } from '../provenance.js';
import { openDataset } from '../data/open.js';
import { EpisodeSource, openEpisodeSource, resolveSuite } from '../episodes/suite.js';
import { loadModel } from '../models/checkpoint.js';
import { checkImageShape, embedInference } from '../models/conv4.js';
import { suiteIdentity, writeEpisodeAccuracies } from './results.js';
import { FewShotDataset, ImageRef, imageBatch } from '../data/dataset.js';
import type { Episode } from '../episodes/sampler.js';
import { prototypicalLoss } from '../losses/protonet.js';
import { Interval, meanInterval } from './stats.js';

export interface EvaluationResult extends Interval {
  /** Accuracy of each episode, in the order given. */
  readonly accuracies: readonly number[];
  /** Mean prototypical loss (query cross-entropy) over the episodes. */
  readonly loss: number;
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
      return embedInference(model, x);
    }));
    onBatch?.(Math.min(start + batchSize, refs.length));
  }
  const all = tf.concat(parts, 0);
  tf.dispose(parts);
  return all;
}

/** Each distinct image of some episodes, embedded once: row `rowOf(ref)` of `embeddings`. */
export interface EmbeddingTable {
  readonly embeddings: tf.Tensor2D;
  rowOf(ref: ImageRef): number;
}

const refKey = (r: ImageRef) => `${r.classIndex}:${r.imageIndex}`;

/** Embeds every distinct image of the episodes (of one dataset) once; dispose `embeddings` after. */
export function embedEpisodes(
  model: tf.LayersModel,
  dataset: FewShotDataset,
  episodes: readonly Episode[],
  options: EvaluateOptions = {},
): EmbeddingTable {
  const rows = new Map<string, number>();
  const refs: ImageRef[] = [];
  for (const ep of episodes) {
    for (const r of [...ep.support, ...ep.query]) {
      if (!rows.has(refKey(r))) {
        rows.set(refKey(r), refs.length);
        refs.push(r);
      }
    }
  }
  const embeddings = embedImages(model, dataset, refs, options.batchSize, (done) => options.onProgress?.(done, refs.length));
  return { embeddings, rowOf: (ref) => rows.get(refKey(ref))! };
}

/** Scores every episode from embedded images: per-episode accuracy, mean and 95% interval. */
export async function scoreEpisodes(table: EmbeddingTable, episodes: readonly Episode[]): Promise<Omit<EvaluationResult, 'seconds' | 'distinctImages'>> {
  if (episodes.length === 0) throw new Error('no episodes to evaluate');
  const accuracies: number[] = [];
  let lossSum = 0;
  for (const ep of episodes) {
    const rows = (list: readonly ImageRef[]) => tf.tensor1d(list.map(table.rowOf), 'int32');
    const scored = tf.tidy(() => {
      const support = tf.gather(table.embeddings, rows(ep.support)) as tf.Tensor2D;
      const query = tf.gather(table.embeddings, rows(ep.query)) as tf.Tensor2D;
      const out = prototypicalLoss(support, query, ep.classes.length);
      return tf.stack([out.accuracy, out.loss]);
    });
    const [accuracy, loss] = await scored.data();
    scored.dispose();
    accuracies.push(accuracy);
    lossSum += loss;
  }
  return { ...meanInterval(accuracies), accuracies, loss: lossSum / episodes.length, episodeIndices: episodes.map((e) => e.index) };
}

export async function evaluateEpisodes(
  model: tf.LayersModel,
  dataset: FewShotDataset,
  episodes: readonly Episode[],
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  await ensureBackend();
  const started = Date.now();
  const table = embedEpisodes(model, dataset, episodes, options);
  try {
    const scored = await scoreEpisodes(table, episodes);
    return { ...scored, seconds: (Date.now() - started) / 1000, distinctImages: table.embeddings.shape[0] };
  } finally {
    table.embeddings.dispose();
  }
}

export interface SuiteScore {
  suite: string;
  /** sha256 of the suite's manifest: which episodes these are. */
  sha256: string;
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
    data?: string; dataset?: string; split?: string; out?: string;
    /** The backend line recorded with the scores (default: this process's). */
    backend?: string;
    onProgress?: (suite: string, done: number, total: number) => void;
  },
): Promise<SuiteScore[]> {
  const backend = options.backend ?? describeBackend(await ensureBackend());
  const model = await loadModel(modelDir);
  const manifestOf = options.dataset && options.split ? { dataset: options.dataset, split: options.split } : undefined;
  const opened = await Promise.all(sources.map((file) => openEpisodeSource(resolveSuite(file), (d, s) => openDataset(d, s, options.data), manifestOf)));
  const scores: SuiteScore[] = [];
  try {
    for (const source of opened) checkImageShape(model, source.dataset.imageShape, `${modelDir} on ${source.name} (${source.dataset.name})`);
    // Suites of the same split share most images (Omniglot's four test suites: nearly all 33,840):
    // embed the union once per dataset split.
    const byDataset = new Map<string, EpisodeSource[]>();
    for (const source of opened) byDataset.set(source.dataset.name, [...(byDataset.get(source.dataset.name) ?? []), source]);
    for (const group of byDataset.values()) {
      const started = Date.now();
      const label = group.map((g) => g.name).join('+');
      const table = embedEpisodes(model, group[0].dataset, group.flatMap((g) => g.frozen.episodes), {
        onProgress: (done, total) => options.onProgress?.(label, done, total),
      });
      const embedSeconds = (Date.now() - started) / 1000;
      try {
        for (const source of group) {
          const t0 = Date.now();
          const result = await scoreEpisodes(table, source.frozen.episodes);
          let episodesCsv: string | undefined;
          if (options.out) {
            episodesCsv = path.join(options.out, `${source.name}.episodes.csv`);
            await writeEpisodeAccuracies(episodesCsv, { ...result, suite: suiteIdentity(source.name, source.sha256) });
          }
          scores.push({
            suite: source.name, way: source.frozen.shape.way, shot: source.frozen.shape.shot, query: source.frozen.shape.query,
            sha256: source.sha256, episodes: result.n,
            accuracy: result.mean, ci95: result.ci95, std: result.std,
            // The shared embedding time is split evenly over the group's suites.
            seconds: (Date.now() - t0) / 1000 + embedSeconds / group.length,
            backend, episodesCsv: episodesCsv && recordedPath(episodesCsv),
          });
        }
      } finally {
        table.embeddings.dispose();
      }
    }
  } finally {
    model.dispose();
  }
  scores.sort((a, b) => opened.findIndex((o) => o.name === a.suite) - opened.findIndex((o) => o.name === b.suite));
  if (options.out) {
    const summary = { model: recordedPath(modelDir), scores, provenance: provenance(backend) };
    writeFileAtomic(path.join(options.out, 'summary.json'), [Buffer.from(JSON.stringify(summary, null, 2) + '\n')]);
  }
  return scores;
}
