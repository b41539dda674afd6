#!/usr/bin/env node
/** The `fewshot` command line: a thin face over the library, one file per command. */
import { Command, CommanderError } from 'commander';
import { COMMANDS } from './commands.js';
import { codeLabel } from '../provenance.js';

const program = new Command('fewshot')
  .description('Few-shot episodic learning with Prototypical Networks and Relational Knowledge Distillation')
  .version(codeLabel(), '-v, --version', 'the package version (and git commit, in a checkout)')
  // Usage errors: one line and exit 2 (commands made after this inherit it), not the help page.
  .exitOverride()
  .configureOutput({ outputError: () => undefined });

// FEWSHOT_DRY_RUN=1: parse and check the command line (command, options, their values), run nothing.
// The README's commands are checked this way (test/readme.test.ts).
if (process.env.FEWSHOT_DRY_RUN === '1') {
  program.hook('preAction', (_program, action) => {
    console.log(`ok: fewshot ${action.name()}`);
    process.exit(0);
  });
}

/** Registers the command the line names (`fewshot help train` names train), or a light entry for each. */
async function registerCommands(args: readonly string[]): Promise<void> {
  const words = args.filter((a) => !a.startsWith('-'));
  const named = COMMANDS[words[0] === 'help' ? (words[1] ?? '') : (words[0] ?? '')];
  if (named) {
    (await named.load())(program);
    return;
  }
  // No command (or an unknown one): `fewshot --help` lists them all without loading any.
  for (const [name, c] of Object.entries(COMMANDS)) program.command(name).description(c.description);
}

registerCommands(process.argv.slice(2))
  .then(() => program.parseAsync(process.argv))
  .catch(async (err: unknown) => {
    if (err instanceof CommanderError) {
      // --help and --version end here too, having printed what was asked.
      if (err.exitCode === 0) return;
      if (err.code === 'commander.help') {
        process.exitCode = 2; // no command given: the help went to stderr
        return;
      }
      const command =
        err.code === 'commander.unknownCommand' ? undefined : process.argv.slice(2).find((a) => !a.startsWith('-'));
      console.error(
        `fewshot: ${err.message.replace(/^error: /, '')} (see 'fewshot ${command ? `${command} ` : ''}--help')`,
      );
      process.exitCode = 2;
      return;
    }
    // A command's bar left running would print over the error and keep the process alive.
    (await import('./progress.js')).stopProgress();
    // One line naming what went wrong; the stack only when asked for.
    const { boundedMessage } = await import('./format.js');
    console.error(`fewshot: ${boundedMessage(String((err as Error)?.message ?? err))}`);
    if (process.env.FEWSHOT_DEBUG) console.error(err);
    process.exitCode = 1;
  });
