/** `fewshot plot RUN... --out DIR`: the training curves of runs (their log.jsonl) as SVG and PNG. */
import { Command } from 'commander';
import { COMMANDS } from './commands.js';
import { plotCurves } from '../report/curves.js';

export function registerPlotCommand(program: Command): void {
  program
    .command('plot')
    .description(COMMANDS.plot.description)
    .argument(
      '<runs...>',
      'run folders (a recipe with select/ and final/, a distillation with gen<g>/, or one stage), results folders, or log.jsonl files',
    )
    .requiredOption('--out <dir>', 'folder to write <name>.svg and <name>.png into')
    .option('--name <name>', "the files' name", 'curves')
    .option('--label <names...>', 'one name per run, in order (default: the last parts of their paths that differ)')
    .option('--title <text>', 'the plot\'s title (default: "Training curves: " and the runs\' names)')
    .option(
      '--tensorboard <dir>',
      'also write TensorBoard event files there, a folder per run and stage (tensorboard --logdir DIR)',
    )
    .option('--json', "print the files written and each run's stages as one JSON object")
    .action(async function (
      this: Command,
      runs: string[],
      opts: { out: string; name: string; label?: string[]; title?: string; tensorboard?: string; json?: boolean },
    ) {
      // A wrong count of names is a usage error (exit 2), named before any log is read.
      if (opts.label !== undefined && opts.label.length !== runs.length)
        this.error(`--label: ${opts.label.length} names for ${runs.length} runs (one per run, in order)`, {
          exitCode: 2,
          code: 'fewshot.usage',
        });
      const plotted = await plotCurves(runs, {
        out: opts.out,
        name: opts.name,
        labels: opts.label,
        title: opts.title,
        tensorboard: opts.tensorboard,
      });
      for (const n of plotted.notes) console.error(n);
      if (opts.json) {
        console.log(
          JSON.stringify({
            files: plotted.files,
            notes: plotted.notes,
            runs: plotted.runs.map((r) => ({
              run: r.run,
              stages: r.markers.map((m) => ({ stage: m.stage, startsAt: m.episode })),
              lastEpisode: Math.max(0, ...r.points.map((p) => p.episode)),
            })),
          }),
        );
        return;
      }
      console.log(`wrote ${plotted.files.join(', ')}`);
    });
}
