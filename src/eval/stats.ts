/** Mean, standard deviation and the 95% confidence interval of per-episode accuracies. */

export interface Interval {
  readonly mean: number;
  /** Sample standard deviation (n - 1). */
  readonly std: number;
  /** Half-width of the 95% confidence interval: 1.96 * std / sqrt(n). */
  readonly ci95: number;
  readonly n: number;
}

export function meanInterval(values: readonly number[]): Interval {
  const n = values.length;
  if (n === 0) throw new Error('no values to average');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, ci95: (1.96 * std) / Math.sqrt(n), n };
}

/** `98.81 +- 0.23` (percent) for accuracies in [0, 1]. */
export function formatPercent(interval: Interval, digits = 2): string {
  return `${(100 * interval.mean).toFixed(digits)} +- ${(100 * interval.ci95).toFixed(digits)}`;
}
