/** Options and helpers shared by the commands. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { BACKEND_CHOICES, BackendChoice, describeBackend, initBackend } from '../backend.js';
import { parseDecimal, parseInteger } from '../decimal.js';

export { defaultCacheRoot } from '../data/open.js';

export function backendOption(): Option {
  return new Option('--backend <name>', 'TensorFlow.js backend').choices(BACKEND_CHOICES).default('auto');
}

/** Initialises the backend and says which one runs, on stderr so stdout stays parseable. */
export async function startBackend(choice: BackendChoice): Promise<string> {
  const info = await initBackend(choice, { quiet: true });
  const text = describeBackend(info);
  console.error(`backend: ${text}`);
  return text;
}

export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = parseInteger(value);
    if (!Number.isInteger(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive integer, got '${value}'`);
    return n;
  };
}

export function nonNegativeInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = parseInteger(value);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a non-negative integer, got '${value}'`);
    return n;
  };
}

export function positiveNumber(name: string): (value: string) => number {
  return (value: string) => {
    const n = parseDecimal(value);
    if (!(n > 0) || !Number.isFinite(n))
      throw new InvalidArgumentError(`${name} must be a finite positive number, got '${value}'`);
    return n;
  };
}

export function nonNegativeNumber(name: string): (value: string) => number {
  return (value: string) => {
    const n = parseDecimal(value);
    if (!(n >= 0) || !Number.isFinite(n))
      throw new InvalidArgumentError(`${name} must be a finite non-negative number, got '${value}'`);
    return n;
  };
}

export type { Command };
