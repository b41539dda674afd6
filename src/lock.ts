/**
 * Locks for sweep workers that share a runs folder and a CSV: two array tasks given the same
 * `--out`, or a requeued task beside its first attempt. A point is trained by one worker at a time,
 * and the CSV is read and appended under a lock of its own.
 *
 * proper-lockfile makes a lock a folder (mkdir is atomic, also on NFS) whose mtime its holder
 * refreshes. A holder that exits releases it, also on SIGTERM/SIGINT (Slurm's scancel, requeue and
 * preemption); one that was killed outright stops refreshing, and after `staleSeconds` the lock is
 * taken over.
 */
import * as fs from 'node:fs';
import lockfile from 'proper-lockfile';

/** How long a lock may go unrefreshed before it is taken over (the holder refreshes it every tenth). */
export const DEFAULT_LOCK_STALE_SECONDS = 300;

export interface HeldLock {
  /** Why the lock was lost (its folder went stale or was removed), if it was: the holder must stop. */
  lost(): Error | undefined;
  release(): Promise<void>;
}

function options(staleSeconds: number, onCompromised: (err: Error) => void) {
  const stale = Math.max(5, staleSeconds) * 1000;
  return { stale, update: Math.max(1000, stale / 10), realpath: false, onCompromised };
}

/**
 * Takes the lock folder `lockPath` if it is free (or stale), trying `retries` times more with
 * backoff while another process holds it; undefined when it is still held.
 */
export async function tryLock(
  lockPath: string,
  staleSeconds = DEFAULT_LOCK_STALE_SECONDS,
  retries = 0,
): Promise<HeldLock | undefined> {
  let lost: Error | undefined;
  try {
    // proper-lockfile locks a file `f` as the folder `f.lock`; lockfilePath names that folder itself.
    const release = await lockfile.lock(lockPath, {
      ...options(staleSeconds, (err) => {
        lost = err;
      }),
      lockfilePath: lockPath,
      retries: { retries, minTimeout: 20, maxTimeout: 1000 },
    });
    return { lost: () => lost, release: () => (lost ? Promise.resolve() : release()) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') return undefined;
    throw new Error(`${lockPath}: cannot take the lock (${(err as Error).message})`, { cause: err });
  }
}

/** Runs `fn` holding `lockPath` (held only for moments, as the CSV's is), waiting for another process to release it. */
export async function withLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  staleSeconds = DEFAULT_LOCK_STALE_SECONDS,
): Promise<T> {
  // Backoff from 20 ms to 1 s: 600 tries span the stale time and more, after which the lock is taken over.
  const lock = await tryLock(lockPath, staleSeconds, 600);
  if (!lock) throw new Error(`${lockPath}: still locked by another process after 600 tries (about 10 minutes)`);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** Seconds since a lock folder was last refreshed by its holder (undefined: no lock there). */
export function lockAge(lockPath: string): number | undefined {
  try {
    return (Date.now() - fs.statSync(lockPath).mtimeMs) / 1000;
  } catch {
    return undefined;
  }
}
