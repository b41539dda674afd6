/**
 * Shards: `i/n` (0-based, 0 <= i < n) takes the points whose index mod n is i, so that n jobs of
 * any scheduler (a Slurm array `--array=0-3` with `--shard $SLURM_ARRAY_TASK_ID/4`) cover every
 * point exactly once, and their CSVs merge into the whole sweep. `--shard slurm` reads i and n from the
 * array task's environment.
 */
import { parseInteger } from '../decimal.js';

export interface Shard {
  readonly index: number;
  readonly count: number;
}

/**
 * The shard of a Slurm array task: its index in the array (from 0, whatever the array's first
 * index) of the array's task count, so that the count is written once, in `--array`.
 */
export function slurmShard(env: NodeJS.ProcessEnv = process.env): Shard {
  const [id, min, max, count] = ['ID', 'MIN', 'MAX', 'COUNT'].map((k) => parseInteger(env[`SLURM_ARRAY_TASK_${k}`]));
  if (![id, min, max, count].every(Number.isInteger)) {
    throw new Error(
      '--shard slurm: not in a Slurm array task (SLURM_ARRAY_TASK_ID, _MIN, _MAX and _COUNT are not all set to decimal integers)',
    );
  }
  if (max - min + 1 !== count)
    throw new Error(
      `--shard slurm: the array ${min}-${max} has ${count} tasks: use a contiguous --array without a step or a list`,
    );
  return { index: id - min, count };
}

export function parseShard(text: string): Shard {
  if (text.trim() === 'slurm') return slurmShard();
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const [index, count] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(count >= 1 && index < count)) {
    throw new Error(`--shard must be i/n with 0 <= i < n (0-based: 0/4 .. 3/4) or 'slurm', got '${text}'`);
  }
  return { index, count };
}

export function shardPoints<P extends { readonly index: number }>(points: readonly P[], shard?: Shard): P[] {
  return shard ? points.filter((p) => p.index % shard.count === shard.index) : [...points];
}
