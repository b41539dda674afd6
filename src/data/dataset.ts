/**
 * The one interface every image source implements: class ids, images per class, pixels.
 * The episode sampler only needs ids and counts; models get pixels through `imageBatch`.
 */
import * as tf from '@tensorflow/tfjs';

/** Height, width, channels of every image of a dataset. */
export type ImageShape = readonly [height: number, width: number, channels: number];

/** One image, by position: class index into `classIds`, image index within the class. */
export interface ImageRef {
  readonly classIndex: number;
  readonly imageIndex: number;
}

export interface FewShotDataset {
  /** Human-readable name, e.g. `omniglot/test` or `synthetic/train`. */
  readonly name: string;
  readonly imageShape: ImageShape;
  /** Stable class ids, e.g. `Alphabet/character01/rot090`. */
  readonly classIds: readonly string[];
  imageCount(classIndex: number): number;
  /** Stable image id, `<classId>/<imageName>`, e.g. `Alphabet/character01/rot090/0709_01`. */
  imageId(ref: ImageRef): string;
  /** The inverse of `imageId`; undefined for an id this dataset does not hold. */
  findImage(imageId: string): ImageRef | undefined;
  /** Writes the image's pixels, scaled to [0, 1], as H*W*C floats into `out` from `offset`. */
  readPixels(ref: ImageRef, out: Float32Array, offset: number): void;
}

/** Refuses `other` (what `what` names: a validation or test suite) when its images are not `training`'s shape. */
export function checkSameImageShape(what: string, other: FewShotDataset, training: FewShotDataset): void {
  const [a, b] = [other.imageShape.join('x'), training.imageShape.join('x')];
  if (a !== b)
    throw new Error(
      `${what}: its images (${other.name}, ${a}) are not the shape of the training images (${training.name}, ${b})`,
    );
}

/** Number of floats in one image. */
export function imageSize(shape: ImageShape): number {
  return shape[0] * shape[1] * shape[2];
}

/**
 * The images as one float32 tensor [n, H, W, C] in [0, 1]; `transform` may change the pixels in
 * place first (training's augmentation).
 */
export function imageBatch(
  dataset: FewShotDataset,
  refs: readonly ImageRef[],
  transform?: (pixels: Float32Array) => void,
): tf.Tensor4D {
  const [h, w, c] = dataset.imageShape;
  const size = h * w * c;
  const data = new Float32Array(refs.length * size);
  refs.forEach((ref, i) => dataset.readPixels(ref, data, i * size));
  transform?.(data);
  return tf.tensor4d(data, [refs.length, h, w, c]);
}
