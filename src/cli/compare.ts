/** `fewshot compare A.csv B.csv`: paired comparison of two models on the same frozen episodes. */
import { Command, Option } from 'commander';
import { PairedComparison, comparePaired } from '../eval/compare.js';
import { readEpisodeAccuracies } from '../eval/results.js';
import { formatTable } from './format.js';

const pct = (x: number) => (100 * x).toFixed(2);

export function comparisonRows(names: [string, string], c: PairedComparison): string[][] {
  return [
    [names[0], `${pct(c.a.mean)} +- ${pct(c.a.ci95)}`],
    [names[1], `${pct(c.b.mean)} +- ${pct(c.b.ci95)}`],
    [`${names[1]} - ${names[0]} (paired)`, `${c.difference.mean >= 0 ? '+' : ''}${pct(c.difference.mean)} +- ${pct(c.difference.ci95)}`],
    ['episodes won / lost / tied', `${c.won} / ${c.lost} / ${c.tied}`],
  ];
}

export function registerCompareCommand(program: Command): void {
  program
    .command('compare')
    .description('paired comparison of per-episode accuracies (from `fewshot eval --out`) on the same suite')
    .argument('<a>', 'per-episode CSV of model A')
    .argument('<b>', 'per-episode CSV of model B')
    .option('--label <names...>', 'names of A and B in the output (default: the file names); one name labels A only')
    .addOption(new Option('--json', 'print the comparison as JSON'))
    .action(async (a: string, b: string, opts: { json?: boolean; label?: string[] }) => {
      const label = opts.label ?? [];
      if (label.length > 2) throw new Error(`--label: at most two names (A and B), got ${label.length}`);
      const names: [string, string] = [label[0] ?? a, label[1] ?? b];
      const c = comparePaired(await readEpisodeAccuracies(a), await readEpisodeAccuracies(b), names);
      console.log(opts.json ? JSON.stringify({ files: [a, b], labels: names, ...c }) : formatTable(['', 'accuracy % (95% CI)'], comparisonRows(names, c)));
    });
}
