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
import { batchLogits, classMajorLabels } from '../losses/protonet.js';
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
    parts.push(
      tf.tidy(() => {
        const x = imageBatch(dataset, refs.slice(start, start + batchSize));
        return embedInference(model, x);
      }),
    );
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

/** Embeds every distinct image of the episodes (of one dataset) once; dispose `embeddings` after. */
export function embedEpisodes(
  model: tf.LayersModel,
  dataset: FewShotDataset,
  episodes: readonly Episode[],
  options: EvaluateOptions = {},
): EmbeddingTable {
  // Rows by the image's position in the dataset: a number, not a string key per image mention
  // (the four Omniglot test suites mention 900k images).
  const classStart: number[] = [];
  let total = 0;
  for (let c = 0; c < dataset.classIds.length; c++) {
    classStart.push(total);
    total += dataset.imageCount(c);
  }
  const rows = new Int32Array(total).fill(-1);
  const refs: ImageRef[] = [];
  for (const ep of episodes) {
    for (const list of [ep.support, ep.query]) {
      for (const r of list) {
        const at = classStart[r.classIndex] + r.imageIndex;
        if (rows[at] < 0) {
          rows[at] = refs.length;
          refs.push(r);
        }
      }
    }
  }
  const embeddings = embedImages(model, dataset, refs, options.batchSize, (done) =>
    options.onProgress?.(done, refs.length),
  );
  return { embeddings, rowOf: (ref) => rows[classStart[ref.classIndex] + ref.imageIndex] };
}

/** Floats of the largest intermediate ([episodes, queries, way, D]) of one batch of episodes. */
const SCORE_BATCH_FLOATS = 1 << 23;

/**
 * Scores every episode from embedded images: per-episode accuracy, mean and 95% interval.
 * Episodes of one shape are scored in batches (`batchLogits`: each episode's logits the same floats
 * as `prototypicalLoss` computes on it alone, and so its accuracy and loss), one download per batch
 * instead of a gather, a dozen kernels and a download per episode.
 */
export async function scoreEpisodes(
  table: EmbeddingTable,
  episodes: readonly Episode[],
): Promise<Omit<EvaluationResult, 'seconds' | 'distinctImages'>> {
  if (episodes.length === 0) throw new Error('no episodes to evaluate');
  const accuracies: number[] = [];
  let lossSum = 0;
  const dim = table.embeddings.shape[1];
  for (let start = 0; start < episodes.length;) {
    const first = episodes[start];
    const way = first.classes.length;
    const [shot, query] = [first.support.length / way, first.query.length / way];
    const perEpisode = Math.max(1, Math.floor(SCORE_BATCH_FLOATS / (way * query * way * dim)));
    let end = start + 1;
    while (end < episodes.length && end - start < perEpisode && sameShape(episodes[end], first)) end++;
    const batch = episodes.slice(start, end);
    const [accuracy, loss] = await scoreBatch(table, batch, way, shot, query);
    for (let i = 0; i < batch.length; i++) {
      accuracies.push(accuracy[i]);
      lossSum += loss[i];
    }
    start = end;
  }
  return {
    ...meanInterval(accuracies),
    accuracies,
    loss: lossSum / episodes.length,
    episodeIndices: episodes.map((e) => e.index),
  };
}

const sameShape = (a: Episode, b: Episode) =>
  a.classes.length === b.classes.length && a.support.length === b.support.length && a.query.length === b.query.length;

/** Accuracy and loss of each of a batch of episodes of one shape (`prototypicalLoss`, batched). */
async function scoreBatch(
  table: EmbeddingTable,
  batch: readonly Episode[],
  way: number,
  shot: number,
  query: number,
): Promise<[Float32Array, Float32Array]> {
  const rows = (pick: (ep: Episode) => readonly ImageRef[]) => {
    const out = new Int32Array(batch.length * pick(batch[0]).length);
    let i = 0;
    for (const ep of batch) for (const ref of pick(ep)) out[i++] = table.rowOf(ref);
    return out;
  };
  const scored = tf.tidy(() => {
    const logits = batchLogits(
      table.embeddings,
      rows((ep) => ep.support),
      rows((ep) => ep.query),
      { way, shot, query },
    );
    const labels = classMajorLabels(way, query);
    // As prototypicalLoss, along one more (leading) axis.
    const loss = tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(labels, way), tf.logSoftmax(logits)), 2), 1));
    const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 2), labels), 'float32'), 1);
    return tf.stack([accuracy, loss]);
  });
  const values = (await scored.data()) as Float32Array;
  scored.dispose();
  return [values.subarray(0, batch.length), values.subarray(batch.length)];
}

export async function evaluateEpisodes(
  model: tf.LayersModel,
  dataset: FewShotDataset,
  episodes: readonly Episode[],
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  await ensureBackend();
  // Before any tensor: an empty list would fail inside tfjs with a message about shapes.
  if (episodes.length === 0) throw new Error('no episodes to evaluate');
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
    data?: string;
    dataset?: string;
    split?: string;
    out?: string;
    /** The backend line recorded with the scores (default: this process's). */
    backend?: string;
    onProgress?: (suite: string, done: number, total: number) => void;
  },
): Promise<SuiteScore[]> {
  const backend = options.backend ?? describeBackend(await ensureBackend());
  const model = await loadModel(modelDir);
  const manifestOf = options.dataset && options.split ? { dataset: options.dataset, split: options.split } : undefined;
  const opened = await Promise.all(
    sources.map((file) => openEpisodeSource(resolveSuite(file), (d, s) => openDataset(d, s, options.data), manifestOf)),
  );
  const scores: SuiteScore[] = [];
  try {
    // Results are named by suite (the table, summary.json, <suite>.episodes.csv): one name, one suite.
    opened.forEach((source, i) => {
      const first = opened.findIndex((o) => o.name === source.name);
      if (first < i)
        throw new Error(
          `${sources[i]}: suite name '${source.name}' is also ${sources[first]}'s: their results would share a name (and one per-episode CSV); rename one`,
        );
    });
    for (const source of opened)
      checkImageShape(model, source.dataset.imageShape, `${modelDir} on ${source.name} (${source.dataset.name})`);
    // Suites of the same split share most images (Omniglot's four test suites: nearly all 33,840):
    // embed the union once per dataset split.
    const byDataset = new Map<string, EpisodeSource[]>();
    for (const source of opened)
      byDataset.set(source.dataset.name, [...(byDataset.get(source.dataset.name) ?? []), source]);
    for (const group of byDataset.values()) {
      const started = Date.now();
      const label = group.map((g) => g.name).join('+');
      const table = embedEpisodes(
        model,
        group[0].dataset,
        group.flatMap((g) => g.frozen.episodes),
        {
          onProgress: (done, total) => options.onProgress?.(label, done, total),
        },
      );
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
            suite: source.name,
            way: source.frozen.shape.way,
            shot: source.frozen.shape.shot,
            query: source.frozen.shape.query,
            sha256: source.sha256,
            episodes: result.n,
            accuracy: result.mean,
            ci95: result.ci95,
            std: result.std,
            // The shared embedding time is split evenly over the group's suites.
            seconds: (Date.now() - t0) / 1000 + embedSeconds / group.length,
            backend,
            episodesCsv: episodesCsv && recordedPath(episodesCsv),
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
