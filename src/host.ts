/**
 * Which machine a process is on, as files record it: the temporaries `<file>.tmp-<host>-<pid>` and the
 * owners of locks. A pid says whether its process lives only where it was given, so a process judges
 * only pids of its own host, and the host must be told apart from every other one writing to a
 * shared file system, also from one with the same name (the containers of one image, nodes cloned
 * from one disk): on Linux its id is the host name plus a digest of the boot and the pid namespace.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';

/** The host name, for messages. */
export const HOST_NAME = os.hostname();

function hostId(): string {
  try {
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pids = fs.readlinkSync('/proc/self/ns/pid');
    return `${HOST_NAME}.${createHash('sha256').update(`${boot} ${pids}`).digest('hex').slice(0, 8)}`;
  } catch {
    return HOST_NAME; // not Linux (or no /proc): the name is what there is
  }
}

/** This host, as no other host sharing a file system names itself: the pid space this process's pid belongs to. */
export const HOST_ID = hostId();

/** Whether a process of this id runs on this machine. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `pid` of host `host` (a HOST_ID) is another process of this host, one that is gone (a kill -9). */
export function deadHere(host: string | undefined, pid: number): boolean {
  return host === HOST_ID && pid !== process.pid && !processAlive(pid);
}
