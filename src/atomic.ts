/**
 * Writes that either appear complete or not at all: into a temporary sibling, then renamed into
 * place. A crash or an error leaves the previous version (or nothing), never half a file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Whether a process of this id runs on this machine. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the `<name>.tmp-<pid>` leftovers of this module's writes whose
 * process is dead (a kill -9 mid-write): only names of exactly that form, only of dead processes.
 */
export function removeStaleTemporaries(target: string): void {
  const parent = path.dirname(path.resolve(target));
  const base = path.basename(target);
  let entries: string[];
  try {
    entries = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const entry of entries) {
    const match = entry.startsWith(`${base}.tmp-`) && /^\d+$/.exec(entry.slice(base.length + 5));
    if (match && Number(match[0]) !== process.pid && !alive(Number(match[0]))) {
      fs.rmSync(path.join(parent, entry), { recursive: true, force: true });
    }
  }
}

export function writeFileAtomic(file: string, chunks: readonly Uint8Array[]): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  removeStaleTemporaries(file);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      for (const chunk of chunks) fs.writeSync(fd, chunk);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
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
  const tmp = `${dir}.tmp-${process.pid}`;
  const old = `${dir}.old-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    fs.mkdirSync(tmp);
    await fill(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const hadOld = fs.existsSync(dir);
  if (hadOld) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  if (hadOld) fs.rmSync(old, { recursive: true, force: true });
}

/** After a crash between the two renames of `writeFolderAtomic`, puts the old folder back. */
export function recoverFolder(dir: string): void {
  if (fs.existsSync(dir)) return;
  const parent = path.dirname(path.resolve(dir));
  if (!fs.existsSync(parent)) return;
  const base = path.basename(dir);
  const aside = fs.readdirSync(parent).filter((name) => name.startsWith(`${base}.old-`));
  if (aside.length > 0) fs.renameSync(path.join(parent, aside[0]), dir);
}
