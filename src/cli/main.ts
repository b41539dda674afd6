#!/usr/bin/env node
/** The `fewshot` command line: a thin face over the library, one file per command. */
import { Command } from 'commander';
import { registerDataCommands } from './data.js';

const program = new Command('fewshot')
  .description('Few-shot episodic learning with Prototypical Networks and Relational Knowledge Distillation')
  .showHelpAfterError();

registerDataCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // One line naming what went wrong; the stack only when asked for.
  console.error(`fewshot: ${(err as Error)?.message ?? err}`);
  if (process.env.FEWSHOT_DEBUG) console.error(err);
  process.exitCode = 1;
});
