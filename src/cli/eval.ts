/** `fewshot eval`: a checkpoint over suites or manifests -> mean accuracy with 95% CI, per-episode CSV. */
import { Command, Option } from 'commander';
import { COMMANDS } from './commands.js';
import { DATASETS } from '../data/open.js';
import { SuiteScore, evaluateCheckpoint } from '../eval/evaluate.js';
import { formatTable } from './format.js';
import { backendOption, startBackend } from './options.js';
import { progressBar } from './progress.js';

export function scoreTable(scores: readonly SuiteScore[], label?: (s: SuiteScore) => string): string {
  return formatTable(
    [...(label ? ['model'] : []), 'suite', 'way', 'shot', 'episodes', 'accuracy % (95% CI)', 'seconds'],
    scores.map((s) => [
      ...(label ? [label(s)] : []),
      s.suite,
      String(s.way),
      String(s.shot),
      String(s.episodes),
      `${(100 * s.accuracy).toFixed(2)} +- ${(100 * s.ci95).toFixed(2)}`,
      s.seconds.toFixed(1),
    ]),
  );
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description(COMMANDS.eval.description)
    .argument('<checkpoint>', "model folder (a run's best/ or checkpoint/), or a zoo model's name (fewshot models)")
    .argument('<episodes...>', 'suite JSON files or manifest CSVs')
    .option('--data <dir>', "the dataset's cache folder (default: <cache root>/<dataset>)")
    .addOption(new Option('--dataset <name>', 'dataset of manifest CSVs').choices(DATASETS))
    .option('--split <name>', 'split of manifest CSVs')
    .option('--out <dir>', 'write per-episode accuracies (<suite>.episodes.csv) and summary.json here')
    .addOption(new Option('--json', 'print the scores as one JSON array'))
    .addOption(backendOption())
    .action(async (checkpoint: string, files: string[], opts) => {
      const backend = await startBackend(opts.backend);
      let bar: ReturnType<typeof progressBar> | undefined;
      let current = '';
      const scores = await evaluateCheckpoint(checkpoint, files, {
        ...opts,
        backend,
        onProgress: (suite, done, total) => {
          if (suite !== current) {
            bar?.stop();
            bar = progressBar(`${suite}: embedding`, total, 'images');
            current = suite;
          }
          bar!.update(done);
        },
      });
      bar?.stop();
      console.log(opts.json ? JSON.stringify(scores) : scoreTable(scores));
    });
}
