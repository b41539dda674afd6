/** `fewshot report SWEEP.csv`: Markdown tables and vega-lite plots (SVG and PNG) of a sweep. */
import * as path from 'node:path';
import { Command } from 'commander';
import { COMMANDS } from './commands.js';
import { writeSweepReport } from '../report/report.js';
import { formatTable } from './format.js';

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description(COMMANDS.report.description)
    .argument('<csv>', 'sweep CSV (from `fewshot sweep` or `fewshot sweep merge`)')
    .option('--out <dir>', "folder to write (default: the CSV's folder)")
    .option('--x <setting>', 'the swept setting on the x axis (default: the first swept setting but the seed)')
    .option('--logs <dirs...>', "run folders whose log.jsonl to plot (default: the runs behind the CSV's checkpoints)")
    .option('--allow-mixed-code', 'report rows made by different code versions together (refused by default)')
    .option(
      '--baseline <label>',
      "the same-budget baseline's label: each other label against it, paired on episodes seed by seed, and over seeds",
    )
    .option(
      '--episodes <dir>',
      "folder of <key>/<suite>.episodes.csv for --baseline (default: each point's eval/ in its run folder)",
    )
    .option('--json', 'print the tables and the files written as one JSON object')
    .action(
      async (
        csv: string,
        opts: {
          out?: string;
          x?: string;
          logs?: string[];
          allowMixedCode?: boolean;
          baseline?: string;
          episodes?: string;
          json?: boolean;
        },
      ) => {
        const report = await writeSweepReport(csv, {
          out: opts.out ?? path.dirname(csv),
          x: opts.x,
          logs: opts.logs,
          allowMixedCode: opts.allowMixedCode,
          baseline: opts.baseline,
          episodes: opts.episodes,
        });
        if (opts.json) {
          console.log(
            JSON.stringify({
              files: report.files,
              notes: report.notes,
              points: report.tables.points,
              seeds: report.tables.seeds,
              paired: report.paired && { perSeed: report.paired.perSeed, overSeeds: report.paired.overSeeds },
            }),
          );
          return;
        }
        for (const t of [report.tables.points, report.tables.seeds, report.paired?.perSeed, report.paired?.overSeeds]) {
          if (t) console.log(`${t.title}:\n\n${formatTable(t.headers, t.rows)}\n`);
        }
        for (const n of report.notes) console.error(n);
        console.log(`wrote ${report.files.join(', ')}`);
      },
    );
}
