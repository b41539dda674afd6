/**
 * Reading files that may not be what they claim: a path a user gives (or a symlink in a run folder)
 * can lead to a device, a FIFO or a folder. Reading /dev/zero never ends and a FIFO blocks, so
 * only regular files are read.
 */
import * as fs from 'node:fs';

/** Throws, naming `file`, unless it is (or its symlink leads to) a regular file. */
export function assertRegularFile(file: string, stats: fs.Stats = fs.statSync(file)): void {
  if (!stats.isFile()) {
    const kind = stats.isDirectory()
      ? 'a folder'
      : stats.isFIFO()
        ? 'a FIFO'
        : stats.isSocket()
          ? 'a socket'
          : 'a device';
    throw Object.assign(new Error(`${file}: ${kind}, not a regular file: refused`), { code: 'ENOTREGULAR' });
  }
}

/** The bytes of a regular file (anything else is refused by name, without blocking or reading it). */
export function readRegularFile(file: string): Buffer {
  // Non-blocking, so that opening a FIFO returns at once to be refused.
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const stats = fs.fstatSync(fd);
    assertRegularFile(file, stats);
    const bytes = Buffer.allocUnsafe(stats.size);
    let done = 0;
    while (done < bytes.length) {
      const n = fs.readSync(fd, bytes, done, bytes.length - done, done);
      if (n === 0) break; // shrank while being read: what is there
      done += n;
    }
    return done === bytes.length ? bytes : bytes.subarray(0, done);
  } finally {
    fs.closeSync(fd);
  }
}

/** The text (UTF-8) of a regular file. */
export function readTextFile(file: string): string {
  return readRegularFile(file).toString('utf8');
}
