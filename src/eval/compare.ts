/**
 * Paired comparison of two models on the same frozen episodes: each mean with its interval, and
 * the per-episode difference (B - A) with its own 95% interval, plus episodes won, lost and tied.
 */
import { EpisodeAccuracies } from './results.js';
import { Interval, meanInterval } from './stats.js';

export interface PairedComparison {
  readonly a: Interval;
  readonly b: Interval;
  /** Per-episode B - A. */
  readonly difference: Interval;
  /** Episodes where B beats A, loses to it, ties with it. */
  readonly won: number;
  readonly lost: number;
  readonly tied: number;
}

export function comparePaired(a: EpisodeAccuracies, b: EpisodeAccuracies, names = ['A', 'B']): PairedComparison {
  if (a.suite && b.suite && a.suite !== b.suite) {
    throw new Error(
      `${names[0]} holds suite ${a.suite}, ${names[1]} suite ${b.suite}: a paired comparison needs the same frozen suite`,
    );
  }
  const byEpisode = new Map(b.episodeIndices.map((e, i) => [e, b.accuracies[i]]));
  if (a.episodeIndices.length !== b.episodeIndices.length || a.episodeIndices.some((e) => !byEpisode.has(e))) {
    throw new Error(
      `${names[0]} and ${names[1]} do not cover the same episodes (${a.episodeIndices.length} and ${b.episodeIndices.length}): a paired comparison needs the same frozen suite`,
    );
  }
  const diffs = a.episodeIndices.map((e, i) => byEpisode.get(e)! - a.accuracies[i]);
  return {
    a: meanInterval(a.accuracies),
    b: meanInterval(a.episodeIndices.map((e) => byEpisode.get(e)!)),
    difference: meanInterval(diffs),
    won: diffs.filter((d) => d > 0).length,
    lost: diffs.filter((d) => d < 0).length,
    tied: diffs.filter((d) => d === 0).length,
  };
}
