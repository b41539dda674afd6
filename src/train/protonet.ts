/** Training a Prototypical Network: Conv-4 + prototypical loss in the episodic loop. */
import * as tf from '@tensorflow/tfjs';
import type { AugmentationName } from '../data/augment.js';
import { openDataset } from '../data/open.js';
import { FewShotDataset, checkSameImageShape } from '../data/dataset.js';
import type { EpisodeShape } from '../episodes/sampler.js';
import { openEpisodeSource, resolveSuite } from '../episodes/suite.js';
import { prototypicalLoss } from '../losses/protonet.js';
import { conv4, embedTraining } from '../models/conv4.js';
import { ensureBackend } from '../backend.js';
import { DEFAULT_SCHEDULE, TrainResult, TrainSchedule, Validation, checkRun, trainEpisodic } from './episodic.js';
import type { LogLine } from './run-folder.js';
import type { Objective } from './step.js';
import { writeRunConfig } from './run-folder.js';

export interface ProtoNetConfig extends TrainSchedule, EpisodeShape {
  readonly dataset: string;
  readonly split: string;
  /** The dataset's cache folder (not needed for synthetic). */
  readonly dataDir?: string;
  /** A suite JSON to validate on. */
  readonly valSuite?: string;
  readonly width: number;
  /** Augmentation of training images (`crop-flip` for CIFAR); none when absent. */
  readonly augment?: AugmentationName;
}

export const DEFAULT_PROTONET: Omit<ProtoNetConfig, 'dataset' | 'split'> = {
  ...DEFAULT_SCHEDULE,
  way: 60,
  shot: 5,
  query: 5,
  width: 64,
};

/** The prototypical loss over a model's training-mode embeddings; logs accuracy too. */
export function prototypicalObjective(model: tf.LayersModel): Objective {
  return (images, _episode, shape) => {
    const embeddings = embedTraining(model, images);
    const supportCount = shape.way * shape.shot;
    const support = tf.slice(embeddings, [0, 0], [supportCount, -1]);
    const query = tf.slice(embeddings, [supportCount, 0], [-1, -1]);
    const out = prototypicalLoss(support, query, shape.way);
    return { loss: out.loss, terms: { accuracy: out.accuracy } };
  };
}

export interface RunOptions {
  readonly resume?: boolean;
  readonly onLog?: (line: LogLine) => void;
  readonly onEpisode?: (episode: number) => void;
}

/** Opens a dataset split (`openDataset`, or a memoised one when many configs are checked at once). */
export type DatasetOpener = (dataset: string, split: string, dataDir?: string) => FewShotDataset;

/** The validation episodes a config names (a suite file, or a shipped suite by name), if any. */
export async function openValidation(
  config: ProtoNetConfig,
  open: DatasetOpener = openDataset,
): Promise<Validation | undefined> {
  if (!config.valSuite) return undefined;
  const source = await openEpisodeSource(resolveSuite(config.valSuite), (d, s) => open(d, s, config.dataDir));
  return { dataset: source.dataset, episodes: source.frozen.episodes };
}

/**
 * What a run of `config` reads (its dataset split and validation suite), opened and checked against
 * the episode shape and each other: everything that can fail before a run folder is written.
 */
export async function openRun(
  config: ProtoNetConfig,
  open: DatasetOpener = openDataset,
): Promise<{ dataset: FewShotDataset; validation?: Validation }> {
  const dataset = open(config.dataset, config.split, config.dataDir);
  const validation = await openValidation(config, open);
  checkRun(dataset, config, config);
  if (validation) checkSameImageShape(`--val-suite ${config.valSuite}`, validation.dataset, dataset);
  return { dataset, validation };
}

/** Trains a ProtoNet into the run folder `dir` (config.json, log.jsonl, checkpoint/, best/). */
export async function trainProtoNet(
  config: ProtoNetConfig,
  dir: string,
  options: RunOptions = {},
): Promise<TrainResult> {
  await ensureBackend();
  const { dataset, validation } = await openRun(config);
  if (!options.resume) writeRunConfig(dir, config);
  const model = conv4({ inputShape: dataset.imageShape, width: config.width, seed: config.seed });
  try {
    return await trainEpisodic({
      model,
      objective: prototypicalObjective(model),
      dataset,
      shape: config,
      schedule: config,
      validation,
      augment: config.augment,
      dir,
      ...options,
    });
  } finally {
    model.dispose();
  }
}
