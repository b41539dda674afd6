/** The built command line, run as a user runs it, for the tests of what it prints and how it exits. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ROOT, tempDir } from './helpers.js';

/** The command line's entry point in the build (tests run from dist/test). */
export const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** What a run of the command line gave: its exit code (null when ended by a signal), stdout and stderr. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `fewshot ARGS` in a process of its own, with a FEWSHOT_CACHE of its own so that no run sees another's
 * downloads or datasets; `timeout` (ms) ends one that hangs. stderr as written: one runner for every test of the CLI.
 */
export function runCli(args: readonly string[], timeout?: number): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, FEWSHOT_CACHE: tempDir() },
    timeout,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `fewshot ARGS` as runCli runs it, its stderr trimmed: the form the tests compare messages in. */
export function fewshot(...args: string[]): CliRun {
  const r = runCli(args);
  return { ...r, stderr: r.stderr.trim() };
}
