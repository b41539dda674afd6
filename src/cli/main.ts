#!/usr/bin/env node
/** The `fewshot` command line: a thin face over the library, one file per command. */
import { Command } from 'commander';
import { registerBenchCommand } from './bench.js';
import { registerCompareCommand } from './compare.js';
import { registerDataCommands } from './data.js';
import { registerDemoCommand } from './demo.js';
import { registerDistillCommand } from './distill.js';
import { registerDoctorCommand } from './doctor.js';
import { registerEpisodeCommands } from './episodes.js';
import { registerEvalCommand } from './eval.js';
import { registerReportCommand } from './report.js';
import { registerSweepCommand } from './sweep.js';
import { registerTrainCommand } from './train.js';

const program = new Command('fewshot')
  .description('Few-shot episodic learning with Prototypical Networks and Relational Knowledge Distillation')
  .showHelpAfterError();

registerDemoCommand(program);
registerDataCommands(program);
registerEpisodeCommands(program);
registerTrainCommand(program);
registerDistillCommand(program);
registerEvalCommand(program);
registerCompareCommand(program);
registerBenchCommand(program);
registerSweepCommand(program);
registerReportCommand(program);
registerDoctorCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // One line naming what went wrong; the stack only when asked for.
  console.error(`fewshot: ${(err as Error)?.message ?? err}`);
  if (process.env.FEWSHOT_DEBUG) console.error(err);
  process.exitCode = 1;
});
