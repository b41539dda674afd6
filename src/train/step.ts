/**
 * One training step, nothing else: the objective's gradients on one episode, a check that every
 * loss term is finite, one Adam update. The loop around it (episodic.ts) and the run folder it
 * writes (run-folder.ts) are elsewhere.
 */
import * as tf from '@tensorflow/tfjs';
import type { Episode, EpisodeShape } from '../episodes/sampler.js';
import type { Adam } from './adam.js';

/** What one training step minimises, given the episode's embeddings in training mode. */
export interface Objective {
  /**
   * @param images support then query images of the episode, class-major
   * @returns the loss to minimise and named scalar terms to log (all created inside the call)
   */
  (images: tf.Tensor4D, episode: Episode, shape: EpisodeShape): { loss: tf.Scalar; terms: Record<string, tf.Scalar> };
}

/** A loss that stopped being a number: the run stops and its checkpoints stay as they were. */
export class DivergedError extends Error {
  constructor(
    readonly episode: number,
    readonly term: string,
    readonly value: number,
  ) {
    super(
      `training diverged at episode ${episode}: ${term} is ${value}; the last checkpoint and best model are kept ` +
        '(lower --lr, or check the data)',
    );
  }
}

/** Only the trained model's variables: a teacher's, also on the tape, stay as they are. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/**
 * One training step: gradients of the objective on one episode, checked for finite loss terms,
 * then one Adam update. Returns the loss terms' values.
 */
export function trainStep(
  objective: Objective,
  variables: tf.Variable[],
  optimizer: Adam,
  lr: number,
  images: tf.Tensor4D,
  episode: Episode,
  shape: EpisodeShape,
): Record<string, number> {
  let names: string[] = [];
  let termValues: tf.Tensor1D | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const out = objective(images, episode, shape);
    names = ['loss', ...Object.keys(out.terms)];
    // One read of every term per step: stacked, kept past the gradient's tidy.
    termValues = tf.keep(tf.stack([out.loss, ...Object.values(out.terms)]) as tf.Tensor1D);
    return out.loss;
  }, variables);
  const read = termValues!.dataSync();
  tf.dispose([value, termValues!]);
  const values = Object.fromEntries(names.map((n, i) => [n, read[i]]));
  const bad = names.find((n) => !Number.isFinite(values[n]));
  if (bad) {
    tf.dispose(Object.values(grads));
    throw new DivergedError(optimizer.step + 1, bad, values[bad]);
  }
  optimizer.apply(
    variables.map((v) => grads[v.name]),
    lr,
  );
  tf.dispose(Object.values(grads));
  return values;
}
