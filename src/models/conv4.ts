/**
 * The Conv-4 backbone of Snell et al. 2017: blocks of [3x3 conv, same padding -> batch norm ->
 * ReLU -> 2x2 max-pool], flattened. 64-d on 28x28x1 and 1600-d on 84x84x3 at the default width.
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageShape } from '../data/dataset.js';
import { LeanBatchNormalization } from './batch-norm.js';

export interface Conv4Options {
  readonly inputShape: ImageShape;
  /** Filters per block (64 in the paper; narrower for smaller students). */
  readonly width?: number;
  readonly blocks?: number;
  /** Seeds the weight initialisers, so that a run is a function of its arguments. */
  readonly seed?: number;
}

export function conv4(options: Conv4Options): tf.LayersModel {
  const { inputShape, width = 64, blocks = 4, seed = 0 } = options;
  const model = tf.sequential({ name: `conv${blocks}_w${width}` });
  for (let b = 0; b < blocks; b++) {
    model.add(
      tf.layers.conv2d({
        ...(b === 0 ? { inputShape: [...inputShape] } : {}),
        filters: width,
        kernelSize: 3,
        padding: 'same',
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 1000 + b }),
      }),
    );
    // PyTorch's BatchNorm2d defaults (momentum 0.1 there is 0.9 here, eps 1e-5), as the paper's code;
    // the lean layer trains in a fraction of tf.layers' memory and saves as the same layer.
    model.add(new LeanBatchNormalization({ momentum: 0.9, epsilon: 1e-5 }));
    model.add(tf.layers.reLU());
    model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  }
  model.add(tf.layers.flatten());
  return model;
}

/** The embedding size of a model: its output's last dimension. */
export function embeddingSize(model: tf.LayersModel): number {
  const shape = model.outputs[0].shape;
  return shape[shape.length - 1] as number;
}
