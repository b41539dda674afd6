/** Folder swaps interrupted by a kill: what the next writer finds and what it does with it. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { recoverFolder, writeFolderAtomic } from '../src/atomic.js';
import { HOST_ID } from '../src/host.js';
import { tempDir } from './helpers.js';

const DEAD_PID = 2 ** 22 + 1; // past Linux's pid_max default: no such process
const host = HOST_ID;

function folder(dir: string, content: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'file'), content);
}

describe('atomic folder swaps', () => {
  it('killed between the two renames: the folder moved aside is put back', () => {
    const dir = path.join(tempDir(), 'cache');
    folder(`${dir}.old-${host}-${DEAD_PID}`, 'previous');
    recoverFolder(dir);
    expect(fs.readFileSync(path.join(dir, 'file'), 'utf8')).to.equal('previous');
    expect(fs.readdirSync(path.dirname(dir))).to.deep.equal(['cache']);
  });

  it('killed after the swap: the old folder left aside is removed, unless its process lives or another host made it (one of the same name too)', async () => {
    const root = tempDir();
    const dir = path.join(root, 'cache');
    folder(dir, 'current');
    const dead = `${dir}.old-${host}-${DEAD_PID}`;
    const live = `${dir}.old-${host}-${process.ppid}`;
    const elsewhere = `${dir}.old-another-node-${DEAD_PID}`;
    const twin = `${dir}.old-${os.hostname()}.00000000-${DEAD_PID}`;
    for (const d of [dead, live, elsewhere, twin]) folder(d, 'old');
    await writeFolderAtomic(dir, (tmp) => fs.writeFileSync(path.join(tmp, 'file'), 'new'));
    expect(fs.readFileSync(path.join(dir, 'file'), 'utf8')).to.equal('new');
    expect(fs.existsSync(dead), "a dead process's").to.equal(false);
    expect(fs.existsSync(live), "a live process's").to.equal(true);
    expect(fs.existsSync(elsewhere), "another host's").to.equal(true);
    expect(fs.existsSync(twin), "another host's of the same name").to.equal(true);
    expect(HOST_ID.startsWith(`${os.hostname()}.`), 'on Linux: the name and its pid space').to.equal(
      process.platform === 'linux',
    );
  });
});
