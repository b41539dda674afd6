/** Training a Prototypical Network: Conv-4 + prototypical loss in the episodic loop. */
import * as tf from '@tensorflow/tfjs';
import type { AugmentationName } from '../data/augment.js';
import type { EpisodeShape } from '../episodes/sampler.js';
import { prototypicalLoss } from '../losses/protonet.js';
import { conv4, embedTraining } from '../models/conv4.js';
import { ensureBackend } from '../backend.js';
import { DEFAULT_SCHEDULE, TrainResult, TrainSchedule, trainEpisodic } from './episodic.js';
import { RunInputs, openRun } from './inputs.js';
import type { LogLine } from './run-folder.js';
import type { Objective } from './step.js';
import { resumeBudget, writeRunConfig } from './run-folder.js';

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

/**
 * Trains a ProtoNet into the run folder `dir` (config.json, log.jsonl, checkpoint/, best/), on the
 * `inputs` given (else those its config names, opened by `openRun`).
 */
export async function trainProtoNet(
  config: ProtoNetConfig,
  dir: string,
  options: RunOptions & { readonly inputs?: RunInputs } = {},
): Promise<TrainResult> {
  await ensureBackend();
  const { inputs, ...run } = options;
  const { dataset, validation } = inputs ?? (await openRun(config));
  if (options.resume) resumeBudget(dir, config.episodes);
  else writeRunConfig(dir, config);
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
      ...run,
    });
  } finally {
    model.dispose();
  }
}
