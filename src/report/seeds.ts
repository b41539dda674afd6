/**
 * Across training seeds: each seed's mean test accuracy is one observation. The episode interval
 * of one run says nothing of how much another seed would move it, so a sweep with several seeds is
 * also summarised by the mean over seeds, their sample standard deviation, and a t-based 95%
 * interval, t(0.975, n - 1) * std / sqrt(n): with a handful of seeds 1.96 would be far too narrow.
 */
import { Interval, meanInterval } from '../eval/stats.js';
import { SweepRow } from '../sweep/csv.js';

/** Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t(0.975, df); past 30, 1.96 + 2.4 / df (within 0.003 of the exact value). */
export function t975(df: number): number {
  if (!(df >= 1)) return NaN;
  return df <= 30 ? T975[Math.floor(df) - 1] : 1.96 + 2.4 / df;
}

export interface SeedInterval extends Interval {
  /** Half-width of the t-based 95% interval across seeds (NaN for one seed). */
  readonly t95: number;
}

export function acrossSeeds(values: readonly number[]): SeedInterval {
  const i = meanInterval(values);
  return { ...i, t95: (t975(i.n - 1) * i.std) / Math.sqrt(i.n) };
}

export interface SeedGroup {
  /** The group's settings among those that vary, but the seed. */
  readonly settings: Readonly<Record<string, string>>;
  readonly suite: string;
  readonly seeds: readonly string[];
  /** Over seeds of the per-seed mean accuracies. */
  readonly accuracy: SeedInterval;
  /** Mean of the seeds' own 95% episode intervals, for comparison. */
  readonly episodeCi95: number;
  readonly rows: readonly SweepRow[];
}

/** Rows grouped by (varying settings but `seed`, suite), in order of first appearance. */
export function groupSeeds(rows: readonly SweepRow[], varying: readonly string[]): SeedGroup[] {
  const names = varying.filter((n) => n !== 'seed');
  const groups = new Map<string, SweepRow[]>();
  for (const row of rows) {
    const id = JSON.stringify([...names.map((n) => row[n]), row.suite]);
    const members = groups.get(id);
    if (members) members.push(row);
    else groups.set(id, [row]);
  }
  return [...groups.values()].map((members) => ({
    settings: Object.fromEntries(names.map((n) => [n, members[0][n]])),
    suite: members[0].suite,
    seeds: members.map((r) => r.seed),
    accuracy: acrossSeeds(members.map((r) => Number(r.accuracy))),
    episodeCi95: members.reduce((sum, r) => sum + Number(r.ci95), 0) / members.length,
    rows: members,
  }));
}
