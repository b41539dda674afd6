/**
 * A sweep CSV as tables: one row per (point, suite) with its episode interval, and, where seeds
 * vary, one row per (setting, suite) across seeds. Rendered as Markdown for reports and with
 * formatTable for the terminal, from the same cells.
 */
import { SweepRow, SweepTable, settingNames } from '../sweep/csv.js';
import { varyingSettings } from '../sweep/spec.js';
import { SeedGroup, groupSeeds } from './seeds.js';

export interface Table {
  readonly title: string;
  /** What the numbers are, in a sentence. */
  readonly note: string;
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export interface SweepTables {
  /** Settings whose value differs between rows, in column order. */
  readonly varying: readonly string[];
  /** The others, with their one value (on the rows that have them). */
  readonly fixed: Readonly<Record<string, string>>;
  readonly points: Table;
  /** Where seeds vary. */
  readonly seeds?: Table;
  readonly seedGroups: readonly SeedGroup[];
}

const pct = (x: number, digits = 2) => (Number.isFinite(x) ? (100 * x).toFixed(digits) : '-');

/** Numbers as numbers, the rest as text. */
const compareValues = (a: string, b: string) =>
  a !== '' && b !== '' && Number.isFinite(Number(a)) && Number.isFinite(Number(b))
    ? Number(a) - Number(b)
    : a.localeCompare(b);

export function sweepTables(unsorted: SweepTable): SweepTables {
  const names = settingNames(unsorted.headers);
  const varying = varyingSettings(unsorted.rows, names);
  // Shards merge in any order: rows sorted by the swept settings, then the suite.
  const order = [...legendSettings(varying), 'suite'];
  const rows = [...unsorted.rows].sort((a, b) => order.reduce((c, n) => c || compareValues(a[n], b[n]), 0));
  const table = { ...unsorted, rows };
  const fixed: Record<string, string> = {};
  for (const n of names.filter((m) => !varying.includes(m))) {
    const value = table.rows.find((r) => r[n] !== '')?.[n];
    if (value !== undefined) fixed[n] = value;
  }
  const points: Table = {
    title: 'Accuracy per point and suite',
    note: "Mean accuracy (%) over each suite's frozen test episodes, with its 95% interval 1.96 * std / sqrt(episodes).",
    headers: [...varying, 'suite', 'accuracy %', '95% CI', 'episodes', 'train episodes', 'train s'],
    rows: table.rows.map((r: SweepRow) => [
      ...varying.map((n) => r[n]),
      r.suite,
      pct(Number(r.accuracy)),
      pct(Number(r.ci95)),
      r.testEpisodes,
      r.trainEpisodes,
      r.trainSeconds,
    ]),
  };
  const seedGroups = varying.includes('seed') ? groupSeeds(table.rows, varying) : [];
  const groupNames = varying.filter((n) => n !== 'seed');
  const seeds: Table | undefined =
    seedGroups.length === 0
      ? undefined
      : {
          title: 'Across seeds',
          note:
            "Mean over training seeds of each seed's mean accuracy (%); std is the sample standard deviation across seeds " +
            '(percentage points); the interval is t-based, t(0.975, n - 1) * std / sqrt(n) for n seeds. ' +
            "The last column is the mean of the seeds' own episode intervals: seed-to-seed spread that it does not show.",
          headers: [...groupNames, 'suite', 'seeds', 'mean %', 'std', '95% CI (t, seeds)', 'mean episode CI'],
          rows: seedGroups.map((g) => [
            ...groupNames.map((n) => g.settings[n]),
            g.suite,
            String(g.seeds.length),
            pct(g.accuracy.mean),
            pct(g.accuracy.std),
            pct(g.accuracy.t95),
            pct(g.episodeCi95),
          ]),
        };
  return { varying, fixed, points, seeds, seedGroups };
}

/** The settings that tell rows apart in plot legends: `method` goes when a `label` names the variant. */
export const legendSettings = (varying: readonly string[]) =>
  varying.filter((n) => !(n === 'method' && varying.includes('label')));

export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}
