/**
 * Writes that either appear complete or not at all: into a temporary sibling, then renamed into
 * place. A crash or an error leaves the previous version (or nothing), never half a file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HOST_ID, deadHere } from './host.js';

/**
 * The name of a temporary sibling of `target` (`kind` tmp: being written; old: moved aside), of this
 * host and process: on a file system several hosts share, a pid alone does not say whose it is.
 */
export function temporaryPath(target: string, kind: 'tmp' | 'old' = 'tmp'): string {
  return `${target}.${kind}-${HOST_ID}-${process.pid}`;
}

/** The siblings of `target` that are temporaries of `kind` left by dead processes of this host. */
function deadTemporaries(target: string, kind: 'tmp' | 'old'): string[] {
  const parent = path.dirname(path.resolve(target));
  const prefix = `${path.basename(target)}.${kind}-${HOST_ID}-`;
  let entries: string[];
  try {
    entries = fs.readdirSync(parent);
  } catch {
    return [];
  }
  return entries
    .filter((entry) => {
      const pid = entry.slice(prefix.length);
      return entry.startsWith(prefix) && /^\d+$/.test(pid) && deadHere(HOST_ID, Number(pid));
    })
    .map((entry) => path.join(parent, entry));
}

/**
 * Removes the temporaries of this module's writes left by dead processes of this host (a kill -9
 * mid-write): only names of exactly that form; other hosts' and live processes' are left alone.
 */
export function removeStaleTemporaries(target: string): void {
  for (const file of deadTemporaries(target, 'tmp')) fs.rmSync(file, { recursive: true, force: true });
}

/**
 * An error of the file system as one line naming `file` (Node's own messages for ENOSPC, EIO and
 * the like name only the system call).
 */
export function fileError(file: string, err: unknown, doing = 'cannot write it'): Error {
  const e = err as NodeJS.ErrnoException;
  if (e?.message?.startsWith(`${file}:`)) return e;
  const reason = e?.code
    ? `${e.message.replace(/^\w+: /, '').replace(/, \w+( '.*')?$/, '')} (${e.code})`
    : String(e?.message ?? e);
  return new Error(`${file}: ${doing}: ${reason}`, { cause: err });
}

/**
 * Writes every byte of `bytes` at the descriptor's position. write(2) may write fewer bytes than
 * asked without an error (a nearly full disk, a file size limit); the rest is retried until it
 * either goes or fails with the reason.
 */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) {
    const n = fs.writeSync(fd, bytes, done, bytes.length - done);
    if (n <= 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    done += n;
  }
}

/** Writes `chunks` to `file` (created or truncated), all of them, and syncs them to disk. */
export function writeFileComplete(file: string, chunks: readonly Uint8Array[]): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (const chunk of chunks) writeAll(fd, chunk);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes `dir` and its parents if absent, or fails naming it (a read-only file system, a file in the way). */
export function makeFolder(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw fileError(dir, err, 'cannot make the folder');
  }
}

export function writeFileAtomic(file: string, chunks: readonly Uint8Array[]): void {
  makeFolder(path.dirname(file));
  removeStaleTemporaries(file);
  const tmp = temporaryPath(file);
  try {
    writeFileComplete(tmp, chunks);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw fileError(file, err, 'not written, the previous version is unchanged');
  }
}

/**
 * Appends `text` to `file` whole or not at all: a write that fails part-way (a full disk) is cut
 * back off, so the file ends where it ended before, and the error names the file.
 */
export function appendWhole(file: string, text: string | Uint8Array): void {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  let fd: number;
  try {
    fd = fs.openSync(file, 'a');
  } catch (err) {
    throw fileError(file, err, 'cannot append to it');
  }
  const size = fs.fstatSync(fd).size;
  try {
    writeAll(fd, bytes);
    fs.fsyncSync(fd);
  } catch (err) {
    try {
      fs.ftruncateSync(fd, size);
    } catch {
      // The append failed and so did cutting it back: the reader drops a torn last line.
    }
    throw fileError(file, err, 'not appended, the file is as it was');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Fills a temporary folder with `fill`, then swaps it in for `dir`. The old folder is moved aside
 * first and removed last, so that at every moment one complete version exists (see `recoverFolder`).
 */
export async function writeFolderAtomic(dir: string, fill: (tmp: string) => Promise<void> | void): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  removeStaleTemporaries(dir);
  recoverFolder(dir);
  const tmp = temporaryPath(dir);
  const old = temporaryPath(dir, 'old');
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    fs.mkdirSync(tmp);
    await fill(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw (err as NodeJS.ErrnoException).code
      ? fileError(dir, err, 'not written, the previous version is unchanged')
      : err;
  }
  const hadOld = fs.existsSync(dir);
  if (hadOld) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  if (hadOld) fs.rmSync(old, { recursive: true, force: true });
}

/**
 * After a crash between the two renames of `writeFolderAtomic`, puts the old folder back; after a
 * crash past them, removes the old folder left aside.
 */
export function recoverFolder(dir: string): void {
  const aside = deadTemporaries(dir, 'old');
  if (!fs.existsSync(dir) && aside.length > 0 && fs.existsSync(path.dirname(path.resolve(dir))))
    fs.renameSync(aside.shift()!, dir);
  for (const old of aside) fs.rmSync(old, { recursive: true, force: true });
}
