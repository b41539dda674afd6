/**
 * Locks: one process per output. A run folder `<dir>` is locked as `<dir>.lock` by whoever trains
 * in it (`train`, `distill`, a sweep worker on its point: two `--resume`s of one run, two array
 * tasks given the same `--out`, a requeued task beside its first attempt); a sweep's CSV is read
 * and appended under a lock of its own.
 *
 * proper-lockfile makes a lock a folder (mkdir is atomic, also on NFS) whose mtime its holder
 * refreshes. A holder that exits releases it, also on SIGTERM/SIGINT (Slurm's scancel, requeue and
 * preemption); one that was killed outright stops refreshing, and after `staleSeconds` the lock is
 * taken over.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import lockfile from 'proper-lockfile';
import { fileError, makeFolder } from './atomic.js';
import { HOST_ID, HOST_NAME, deadHere } from './host.js';

/** How long a lock may go unrefreshed before it is taken over (the holder refreshes it every tenth). */
export const DEFAULT_LOCK_STALE_SECONDS = 300;

export interface HeldLock {
  /** Why the lock was lost (its folder went stale or was removed), if it was: the holder must stop. */
  lost(): Error | undefined;
  release(): Promise<void>;
}

/** Who holds a lock, written into its folder by the holder. */
interface LockOwner {
  /** The host's name, for messages. */
  readonly host: string;
  /** The host as no other names itself (HOST_ID): whose pid this is (absent in older versions' locks). */
  readonly hostId?: string;
  readonly pid: number;
  /** The holder's own stale time: a taker with a shorter one must not take a live lock. */
  readonly staleSeconds: number;
}
const OWNER_FILE = 'owner.json';

function readOwner(lockPath: string): LockOwner | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(lockPath, OWNER_FILE), 'utf8')) as LockOwner;
  } catch {
    return undefined; // no lock, or one taken a moment ago (or by an older version)
  }
}

/**
 * Writes the owner file, keeping the folder's mtime: proper-lockfile compares it with the one it set
 * to tell whether the lock is still its own.
 */
function writeOwner(lockPath: string, staleSeconds: number): void {
  const { mtime } = fs.statSync(lockPath);
  const owner: LockOwner = { host: HOST_NAME, hostId: HOST_ID, pid: process.pid, staleSeconds };
  fs.writeFileSync(path.join(lockPath, OWNER_FILE), JSON.stringify(owner) + '\n');
  fs.utimesSync(lockPath, mtime, mtime);
}

// proper-lockfile removes a lock folder with rmdir: ours hold the owner file.
const lockFs = {
  ...fs,
  rmdir: (dir: string, callback: (err: NodeJS.ErrnoException | null) => void) =>
    fs.rm(dir, { recursive: true, force: true }, callback),
  rmdirSync: (dir: string) => fs.rmSync(dir, { recursive: true, force: true }),
};

function options(staleSeconds: number, onCompromised: (err: Error) => void) {
  const stale = Math.max(5, staleSeconds) * 1000;
  return { stale, update: Math.max(1000, stale / 10), realpath: false, onCompromised, fs: lockFs };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Takes the lock folder `lockPath` if it is free (or stale), trying `retries` times more with
 * backoff while another process holds it; undefined when it is still held. A lock is stale when
 * its holder has not refreshed it for the longer of its own stale time and `staleSeconds`, or at
 * once when its holder was a process on this host that is gone (a kill -9). Any other error (a
 * missing or read-only folder) fails at once, naming the lock.
 */
export async function tryLock(
  lockPath: string,
  staleSeconds = DEFAULT_LOCK_STALE_SECONDS,
  retries = 0,
): Promise<HeldLock | undefined> {
  for (let attempt = 0; ; attempt++) {
    const owner = readOwner(lockPath);
    if (owner && deadHere(owner.hostId, owner.pid)) {
      // Only the lock of that dead process: not one another process took meanwhile.
      if (readOwner(lockPath)?.pid === owner.pid) fs.rmSync(lockPath, { recursive: true, force: true });
    }
    const stale = Math.max(staleSeconds, owner?.staleSeconds ?? 0);
    let lost: Error | undefined;
    try {
      // proper-lockfile locks a file `f` as the folder `f.lock`; lockfilePath names that folder itself.
      const release = await lockfile.lock(lockPath, {
        ...options(stale, (err) => {
          lost = err;
        }),
        lockfilePath: lockPath,
        retries: 0,
      });
      writeOwner(lockPath, staleSeconds);
      // Also lost when another process took it over (or removed it) before the refresh timer noticed.
      const taken = (): Error | undefined => {
        const now = readOwner(lockPath);
        if (now?.hostId === HOST_ID && now.pid === process.pid) return undefined;
        return new Error(now ? `taken over by process ${now.pid} on ${now.host}` : `${lockPath} was removed`);
      };
      return { lost: () => lost ?? taken(), release: () => (lost ? Promise.resolve() : release()) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ELOCKED') throw fileError(lockPath, err, 'cannot take the lock');
      if (attempt >= retries) return undefined;
      await sleep(Math.min(1000, 20 * 2 ** attempt));
    }
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

/** Who holds a lock, as words ('process 123 on node7'), if it says. */
export function lockHolder(lockPath: string): string | undefined {
  const owner = readOwner(lockPath);
  return owner && `process ${owner.pid} on ${owner.host}`;
}

/**
 * Runs `fn` holding the run folder `dir` (its lock `<dir>.lock`, beside it): a second process on
 * the same run is refused at once, naming the holder. `fn` gets a check to call between steps,
 * which throws if the lock was lost meanwhile (this process stalled past the stale time and
 * another took the run over).
 */
export async function withRunFolder<T>(dir: string, fn: (check: () => void) => Promise<T>): Promise<T> {
  if (dir.trim() === '') throw new Error('--out: an empty folder name');
  const lockPath = `${dir.replace(/\/+$/, '')}.lock`;
  makeFolder(path.dirname(lockPath));
  const lock = await tryLock(lockPath);
  if (!lock)
    throw new Error(
      `${dir}: in use by ${lockHolder(lockPath) ?? 'another process'} (${lockPath}); wait for it to end` +
        ` (a holder that died is taken over after ${DEFAULT_LOCK_STALE_SECONDS} s without a refresh)`,
    );
  try {
    return await fn(() => {
      const lost = lock.lost();
      if (lost) throw new Error(`${dir}: its lock was lost (${lost.message}); stopped`);
    });
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
