/**
 * The Conv-4 backbone of Snell et al. 2017: blocks of [3x3 conv, same padding -> batch norm ->
 * ReLU -> 2x2 max-pool], flattened. 64-d on 28x28x1 and 1600-d on 84x84x3 at the default width.
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageShape } from '../data/dataset.js';
import { LeanBatchNormalization } from './batch-norm.js';
import { hasNativeBlockKernels } from '../kernels/native.js';
import { ConvState, convState } from '../tfjs-internals.js';
import { chunkSize } from './blocks/block.js';
import { convBlockInference } from './blocks/inference-block.js';
import { convBlockTraining } from './blocks/training-block.js';

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
  // Each block halves the sides (flooring): smaller images leave a 0-wide embedding.
  const side = 2 ** blocks;
  if (Math.min(inputShape[0], inputShape[1]) < side)
    throw new Error(
      `a ${inputShape[0]}x${inputShape[1]} input is too small for ${blocks} pooling blocks (at least ${side}x${side})`,
    );
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

/**
 * The [conv, batch norm, ReLU, 2x2 max-pool] groups of a Conv-4, or undefined for another model.
 * The batch norm is any tf.layers one over the channels with gamma and beta (a loaded checkpoint
 * has the parent class); training also needs the lean layer (hasFusedTraining).
 */
function conv4Blocks(model: tf.LayersModel): [ConvState, tf.layers.Layer][] | undefined {
  const layers = model.layers;
  const blocks: [ConvState, tf.layers.Layer][] = [];
  for (let i = 0; i + 4 <= layers.length; i += 4) {
    const [conv, bn, relu, pool] = layers.slice(i, i + 4);
    const c = convState(conv);
    const p = pool.getConfig();
    const b = bn.getConfig();
    const ok =
      conv.getClassName() === 'Conv2D' &&
      c.kernelSize.join() === '3,3' &&
      c.strides.join() === '1,1' &&
      c.padding === 'same' &&
      c.dilationRate.join() === '1,1' &&
      c.activation.getClassName() === 'linear' &&
      c.bias !== undefined &&
      bn.getClassName() === 'BatchNormalization' &&
      (b.axis === -1 || b.axis === 3) &&
      b.center !== false &&
      b.scale !== false &&
      relu.getClassName() === 'ReLU' &&
      relu.getConfig().maxValue == null &&
      pool.getClassName() === 'MaxPooling2D' &&
      String(p.poolSize) === '2,2' &&
      String(p.strides) === '2,2' &&
      p.padding === 'valid';
    if (!ok) return undefined;
    blocks.push([c, bn]);
  }
  const rest = layers.slice(4 * blocks.length);
  return blocks.length > 0 && rest.length === 1 && rest[0].getClassName() === 'Flatten' ? blocks : undefined;
}

/** Whether embedTraining runs `model` as fused blocks (a Conv-4 of conv4()'s layers). */
export function hasFusedTraining(model: tf.LayersModel): boolean {
  return conv4Blocks(model)?.every(([, bn]) => bn instanceof LeanBatchNormalization) ?? false;
}

/** The image shape [h, w, c] a model takes, as text (`28x28x1`). */
export function modelImageShape(model: tf.LayersModel): string {
  return model.inputs[0].shape.slice(1).join('x');
}

/**
 * Refuses images of another shape than the model's input, before any kernel sees them: the fused
 * native paths bypass the layers' own shape checks.
 * @param what names the model and the data in the message (e.g. `runs/a/best on omniglot/test`)
 */
export function checkImageShape(model: tf.LayersModel, imageShape: readonly number[], what = 'the model'): void {
  const expected = model.inputs[0].shape.slice(1);
  if (expected.length !== imageShape.length || expected.some((d, i) => d !== null && d !== imageShape[i])) {
    throw new Error(`${what}: the model takes ${expected.join('x')} images, the data has ${imageShape.join('x')}`);
  }
}

/** How a Conv-4 runs its blocks. */
export interface EmbedOptions {
  /** Whether the native block kernels run; by default, where they are registered (wasm with the addon). */
  readonly native?: boolean;
  /** Images per chunk of a training block (blocks/block.ts); by default, as memory allows. */
  readonly chunk?: number;
}

/**
 * Inference-mode embeddings, as `model.apply(images, { training: false })`; with the native
 * kernels, a Conv-4 (built by conv4() or loaded) runs as fused blocks (blocks/inference-block.ts).
 */
export function embedInference(model: tf.LayersModel, images: tf.Tensor4D, options: EmbedOptions = {}): tf.Tensor2D {
  checkImageShape(model, images.shape.slice(1));
  const blocks = conv4Blocks(model);
  if (!blocks || !(options.native ?? hasNativeBlockKernels()))
    return model.apply(images, { training: false }) as tf.Tensor2D;
  return tf.tidy(() => {
    let x = images;
    for (const [conv, bn] of blocks) {
      const [gamma, beta, mean, variance] = bn.getWeights() as tf.Tensor1D[];
      const params = { kernel: conv.kernel.read() as tf.Tensor4D, bias: conv.bias!.read() as tf.Tensor1D, gamma, beta };
      x = convBlockInference(x, params, { mean, variance, epsilon: bn.getConfig().epsilon as number });
    }
    return tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
  });
}

/**
 * Training-mode embeddings, as `model.apply(images, { training: true })`, updating the batch-norm
 * moving averages too; a Conv-4 built by conv4() runs as fused blocks (blocks/training-block.ts)
 * that train a 400-image 84x84x3 episode within wasm's 4 GB.
 */
export function embedTraining(model: tf.LayersModel, images: tf.Tensor4D, options: EmbedOptions = {}): tf.Tensor2D {
  checkImageShape(model, images.shape.slice(1));
  const blocks = conv4Blocks(model);
  if (!blocks || !hasFusedTraining(model)) return model.apply(images, { training: true }) as tf.Tensor2D;
  return tf.tidy(() => {
    let x = images;
    (blocks as [ConvState, LeanBatchNormalization][]).forEach(([conv, bn], b) => {
      const kernel = conv.kernel.read() as tf.Tensor4D;
      const { gamma, beta, epsilon } = bn.trainingParams();
      const [n, h, w] = x.shape;
      const chunk = options.chunk ?? chunkSize(n, h * w, kernel.shape[3]);
      const params = { kernel, bias: conv.bias!.read() as tf.Tensor1D, gamma, beta };
      const out = convBlockTraining(x, params, {
        epsilon,
        chunk,
        inputGrad: b > 0,
        native: options.native ?? hasNativeBlockKernels(),
      });
      bn.updateMovingAverages(out.mean, out.variance);
      x = out.y;
    });
    return tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
  });
}
