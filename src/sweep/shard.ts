/**
 * Shards: `i/n` (0-based, 0 <= i < n) takes the points whose index mod n is i, so that n jobs of
 * any scheduler (a Slurm array `--array=0-3` with `--shard $SLURM_ARRAY_TASK_ID/4`) cover every
 * point exactly once, and their CSVs merge into the whole sweep.
 */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const [index, count] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(count >= 1 && index < count)) {
    throw new Error(`--shard must be i/n with 0 <= i < n (0-based: 0/4 .. 3/4), got '${text}'`);
  }
  return { index, count };
}

export function shardPoints<P extends { readonly index: number }>(points: readonly P[], shard?: Shard): P[] {
  return shard ? points.filter((p) => p.index % shard.count === shard.index) : [...points];
}
