/**
 * Seeded N-way K-shot Q-query episodes. Episode i has its own random stream, derived from the seed
 * and i alone, so it is the same whatever was drawn before it: a suite can be resumed or split.
 */
import seedrandom from 'seedrandom';
import type { FewShotDataset, ImageRef } from '../data/dataset.js';

export interface EpisodeShape {
  readonly way: number;
  readonly shot: number;
  readonly query: number;
}

export interface Episode {
  readonly index: number;
  /** Dataset class indices, in episode label order. */
  readonly classes: readonly number[];
  /** way * shot images, class-major (label = position / shot). */
  readonly support: readonly ImageRef[];
  /** way * query images, class-major (label = position / query). */
  readonly query: readonly ImageRef[];
}

/** What the sampler needs of a dataset: ids and counts, no pixels. */
export type ClassCatalog = Pick<FewShotDataset, 'name' | 'classIds' | 'imageCount'>;

/**
 * The first `k` entries of a seeded Fisher-Yates shuffle of 0..n-1: k draws without replacement.
 * Only the moved entries are kept (a 20-way episode draws 20 of 1692 Omniglot test classes): step
 * i swaps position i with a later one and never touches i again, so out[i] is final at once.
 */
export function drawWithoutReplacement(n: number, k: number, rng: () => number): number[] {
  const moved = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng() * (n - i));
    out.push(moved.get(j) ?? j);
    moved.set(j, moved.get(i) ?? i);
  }
  return out;
}

export function checkEpisodeShape(shape: EpisodeShape): void {
  // Queries too: an episode without them has nothing to score or learn from.
  for (const key of ['way', 'shot', 'query'] as const) {
    const v = shape[key];
    if (!Number.isInteger(v) || v < 1) throw new Error(`${key} must be a positive integer, got ${v}`);
  }
}

export class EpisodeSampler {
  constructor(
    readonly dataset: ClassCatalog,
    readonly shape: EpisodeShape,
    readonly seed: string | number,
  ) {
    checkEpisodeShape(shape);
    const { way, shot, query } = shape;
    const classes = dataset.classIds.length;
    if (way > classes) {
      throw new Error(`way ${way} exceeds the ${classes} classes of ${dataset.name}`);
    }
    for (let c = 0; c < classes; c++) {
      if (dataset.imageCount(c) < shot + query) {
        throw new Error(
          `shot ${shot} + query ${query} exceeds the ${dataset.imageCount(c)} images of class ` +
            `${dataset.classIds[c]} in ${dataset.name}`,
        );
      }
    }
  }

  episode(index: number): Episode {
    const { way, shot, query } = this.shape;
    const rng = seedrandom(`${this.seed}/episode/${index}`);
    const classes = drawWithoutReplacement(this.dataset.classIds.length, way, rng);
    const support: ImageRef[] = [];
    const queries: ImageRef[] = [];
    for (const classIndex of classes) {
      const images = drawWithoutReplacement(this.dataset.imageCount(classIndex), shot + query, rng);
      images.forEach((imageIndex, i) => (i < shot ? support : queries).push({ classIndex, imageIndex }));
    }
    // Class-major query order: the loop above already groups each class's queries.
    return { index, classes, support, query: queries };
  }

  *episodes(start: number, count: number): Generator<Episode> {
    for (let i = start; i < start + count; i++) yield this.episode(i);
  }
}
