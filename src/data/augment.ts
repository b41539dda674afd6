/**
 * Seeded data augmentation of training episodes. `crop-flip` is the standard CIFAR one (MetaOptNet's
 * `RandomCrop(32, padding=4)` and `RandomHorizontalFlip()`): each image is padded with zeros by 4
 * pixels on every side, a window of its own size is cut at a random offset, and it is mirrored left
 * to right with probability 1/2. Episode i's draws come from their own stream, derived from the run's
 * seed and i alone, so a resumed run augments exactly as an uninterrupted one.
 */
import seedrandom from 'seedrandom';
import type { ImageShape } from './dataset.js';

export const AUGMENTATIONS = ['none', 'crop-flip'] as const;
export type AugmentationName = (typeof AUGMENTATIONS)[number];

/** Zero padding of the random crop, in pixels (4 for 32x32 CIFAR images). */
export const CROP_PADDING = 4;

/** Checks a name read from a command line or a config. */
export function checkAugmentation(name: string, what = '--augment'): AugmentationName {
  if (!(AUGMENTATIONS as readonly string[]).includes(name)) {
    throw new Error(`${what}: unknown augmentation '${name}' (one of ${AUGMENTATIONS.join(', ')})`);
  }
  return name as AugmentationName;
}

/**
 * Augments `count` images of `shape` in place in `pixels` (H*W*C floats each), with the draws of
 * episode `episode` of a run seeded `seed`.
 */
export function augmentEpisode(
  name: AugmentationName,
  pixels: Float32Array,
  shape: ImageShape,
  count: number,
  seed: string | number,
  episode: number,
): void {
  if (name === 'none') return;
  const rng = seedrandom(`${seed}/augment/${episode}`);
  const [h, w, c] = shape;
  const size = h * w * c;
  const source = new Float32Array(size);
  for (let i = 0; i < count; i++) {
    const image = pixels.subarray(i * size, (i + 1) * size);
    // Offsets of the crop window in the padded image, 0..2*padding each; then the flip.
    const dy = Math.floor(rng() * (2 * CROP_PADDING + 1)) - CROP_PADDING;
    const dx = Math.floor(rng() * (2 * CROP_PADDING + 1)) - CROP_PADDING;
    const flip = rng() < 0.5;
    source.set(image);
    // Element by element: a subarray per pixel would allocate 100,000 views an episode.
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      for (let x = 0; x < w; x++) {
        const sx = (flip ? w - 1 - x : x) + dx;
        const at = (y * w + x) * c;
        const from = (sy * w + sx) * c;
        const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        for (let ch = 0; ch < c; ch++) image[at + ch] = inside ? source[from + ch] : 0;
      }
    }
  }
}
