/**
 * Students against their same-budget baseline, over training seeds. For each seed the two models of
 * a pair (same seed, suite and other swept settings; one of them the baseline's variant) are
 * compared episode by episode on the same frozen suite (comparePaired); over seeds, each seed's
 * difference of means is one observation, with a t-based 95% interval: the spread a reviewer asks
 * about ("would another seed of the baseline close the gap?").
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PairedComparison, comparePaired } from '../eval/compare.js';
import { readEpisodeAccuracies } from '../eval/results.js';
import { SweepRow } from '../sweep/csv.js';
import { SeedInterval, acrossSeeds } from './seeds.js';
import type { Table } from './tables.js';

/** What makes a variant: the settings a baseline and its students may differ in, besides the label. */
const METHOD_SETTINGS = ['label', 'method', 'teacher', 'generations', 'lambdaD', 'lambdaA', 'lambdaKD', 'temperature'];

export interface PairedSeed extends PairedComparison {
  readonly seed: string;
}

export interface PairedGroup {
  /** The student variant's label, and the suite. */
  readonly label: string;
  readonly suite: string;
  /** The other swept settings the pairs share (but the seed), described. */
  readonly settings: string;
  readonly seeds: readonly PairedSeed[];
  /** Over seeds of the per-seed differences (student - baseline). */
  readonly difference: SeedInterval;
}

/**
 * A row's per-episode file: `<episodes>/<key>/<suite>.episodes.csv` when a folder of them is given
 * (results copied off the runs), else the sweep's own `<runs>/<key>/eval/<suite>.episodes.csv`,
 * found through the row's checkpoint path.
 */
export function episodesFile(row: SweepRow, episodesDir?: string): string {
  if (episodesDir !== undefined) return path.join(episodesDir, row.key, `${row.suite}.episodes.csv`);
  const parts = path.normalize(row.checkpoint).split(path.sep);
  const at = parts.lastIndexOf(row.key);
  if (at < 0)
    throw new Error(`row ${row.key} on ${row.suite}: its checkpoint ${row.checkpoint} is not in its point's folder`);
  return path.join(parts.slice(0, at + 1).join(path.sep), 'eval', `${row.suite}.episodes.csv`);
}

/**
 * Pairs every row of another label with the `baseline` row of the same seed, suite and other
 * settings, compares them episode by episode, and summarises each label's differences over seeds.
 */
export async function pairAgainstBaseline(
  rows: readonly SweepRow[],
  varying: readonly string[],
  baseline: string,
  episodesDir?: string,
): Promise<PairedGroup[]> {
  if (!rows.some((r) => r.label === baseline)) {
    const labels = [...new Set(rows.map((r) => r.label))].join(', ');
    throw new Error(`--baseline '${baseline}': no row has that label (labels: ${labels || 'none'})`);
  }
  const shared = varying.filter((n) => n !== 'seed' && !METHOD_SETTINGS.includes(n));
  const pairKey = (r: SweepRow) => JSON.stringify([r.seed, r.suite, ...shared.map((n) => r[n])]);
  const baselines = new Map(rows.filter((r) => r.label === baseline).map((r) => [pairKey(r), r]));
  const read = (r: SweepRow) => {
    const file = episodesFile(r, episodesDir);
    if (!fs.existsSync(file)) throw new Error(`${file}: missing (the per-episode results of point ${r.key})`);
    return readEpisodeAccuracies(file);
  };
  const groups = new Map<string, { label: string; suite: string; settings: string; seeds: PairedSeed[] }>();
  for (const row of rows) {
    if (row.label === baseline) continue;
    const base = baselines.get(pairKey(row));
    if (!base) continue;
    const comparison = comparePaired(await read(base), await read(row), [base.key, row.key]);
    const settings = shared.map((n) => `${n}=${row[n]}`).join(' ');
    const id = JSON.stringify([row.label, row.suite, settings]);
    if (!groups.has(id)) groups.set(id, { label: row.label, suite: row.suite, settings, seeds: [] });
    groups.get(id)!.seeds.push({ seed: row.seed, ...comparison });
  }
  return [...groups.values()].map((g) => {
    const seeds = [...g.seeds].sort((a, b) => Number(a.seed) - Number(b.seed));
    return { ...g, seeds, difference: acrossSeeds(seeds.map((s) => s.difference.mean)) };
  });
}

const points = (x: number, digits = 2) =>
  Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(digits)}` : '-';
const pct = (x: number) => (100 * x).toFixed(2);

/** The paired groups as two tables: each seed's pair, and each label's differences over seeds. */
export function pairedTables(groups: readonly PairedGroup[], baseline: string): { perSeed: Table; overSeeds: Table } {
  const withSettings = groups.some((g) => g.settings !== '');
  const lead = (g: PairedGroup) => [g.label, ...(withSettings ? [g.settings] : []), g.suite];
  const leadHeaders = ['label', ...(withSettings ? ['settings'] : []), 'suite'];
  return {
    perSeed: {
      title: `Against ${baseline}, seed by seed`,
      note:
        `Each student and the ${baseline} model of the same seed on the same frozen episodes: both accuracies (%), ` +
        'the mean per-episode difference (points) with its 95% episode interval, and episodes won/lost/tied.',
      headers: [...leadHeaders, 'seed', `${baseline} %`, 'student %', 'difference', '95% CI', 'won/lost/tied'],
      rows: groups.flatMap((g) =>
        g.seeds.map((s) => [
          ...lead(g),
          s.seed,
          pct(s.a.mean),
          pct(s.b.mean),
          points(s.difference.mean),
          pct(s.difference.ci95),
          `${s.won}/${s.lost}/${s.tied}`,
        ]),
      ),
    },
    overSeeds: {
      title: `Against ${baseline}, over seeds`,
      note:
        "Each seed's difference (student - baseline, points) is one observation: their mean, sample standard " +
        'deviation and t-based 95% interval, t(0.975, n - 1) * std / sqrt(n); and how many seeds have a paired ' +
        'episode interval above zero.',
      headers: [...leadHeaders, 'seeds', 'mean difference', 'std', '95% CI (t, seeds)', 'seeds above 0'],
      rows: groups.map((g) => [
        ...lead(g),
        String(g.seeds.length),
        points(g.difference.mean),
        pct(g.difference.std),
        Number.isFinite(g.difference.t95) ? pct(g.difference.t95) : '-',
        `${g.seeds.filter((s) => s.difference.mean - s.difference.ci95 > 0).length}/${g.seeds.length}`,
      ]),
    },
  };
}
