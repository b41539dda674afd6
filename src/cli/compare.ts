/** `fewshot compare A.csv B.csv`: paired comparison of two models on the same frozen episodes. */
import { Command, Option } from 'commander';
import { COMMANDS } from './commands.js';
import { PairedComparison, comparePaired } from '../eval/compare.js';
import { EpisodeAccuracies, readEpisodeAccuracies } from '../eval/results.js';
import { formatTable } from './format.js';

const pct = (x: number) => (100 * x).toFixed(2);

export function comparisonRows(names: [string, string], c: PairedComparison): string[][] {
  return [
    [names[0], `${pct(c.a.mean)} +- ${pct(c.a.ci95)}`],
    [names[1], `${pct(c.b.mean)} +- ${pct(c.b.ci95)}`],
    [
      `${names[1]} - ${names[0]} (paired)`,
      `${c.difference.mean >= 0 ? '+' : ''}${pct(c.difference.mean)} +- ${pct(c.difference.ci95)}`,
    ],
    ['episodes won / lost / tied', `${c.won} / ${c.lost} / ${c.tied}`],
  ];
}

export function registerCompareCommand(program: Command): void {
  program
    .command('compare')
    .description(COMMANDS.compare.description)
    .argument('<a>', 'per-episode CSV of model A')
    .argument('<b>', 'per-episode CSV of model B')
    .option('--label <names...>', 'names of A and B in the output (default: the file names); one name labels A only')
    .option(
      '--assume-same-suite',
      'pair files that do not name their suite (written by versions before 0.1.0), trusting that they hold the same one',
    )
    .addOption(new Option('--json', 'print the comparison as JSON'))
    .action(async (a: string, b: string, opts: { json?: boolean; label?: string[]; assumeSameSuite?: boolean }) => {
      const label = opts.label ?? [];
      if (label.length > 2) throw new Error(`--label: at most two names (A and B), got ${label.length}`);
      const names: [string, string] = [label[0] ?? a, label[1] ?? b];
      const [ra, rb] = [await readEpisodeAccuracies(a), await readEpisodeAccuracies(b)];
      // Without the suite's identity, two different suites of equal length would pair silently.
      const unnamed = [
        [a, ra],
        [b, rb],
      ].find(([, r]) => !(r as EpisodeAccuracies).suite)?.[0];
      if (unnamed && !opts.assumeSameSuite) {
        throw new Error(
          `${unnamed}: does not name its suite (an older per-episode file): evaluate again with \`fewshot eval ... --out\`, ` +
            'or pass --assume-same-suite if both files hold the same frozen suite',
        );
      }
      const c = comparePaired(ra, rb, names);
      console.log(
        opts.json
          ? JSON.stringify({ files: [a, b], labels: names, ...c })
          : formatTable(['', 'accuracy % (95% CI)'], comparisonRows(names, c)),
      );
    });
}
