/** Locks: one process per run folder and per sweep CSV, on one host or several sharing a file system. */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { HOST_ID } from '../src/host.js';
import { tryLock, withRunFolder } from '../src/lock.js';
import { tempDir } from './helpers.js';
import { CLI } from './run-cli.js';
import { tinyTrainFlags } from './tiny-runs.js';

const DEAD_PID = 2 ** 22 + 1; // past Linux's pid_max default: no such process

/** A lock folder as another process would have left it, refreshed `age` seconds ago. */
function fakeLock(
  lockPath: string,
  owner: { host: string; hostId?: string; pid: number; staleSeconds: number },
  age = 0,
): void {
  fs.mkdirSync(lockPath);
  fs.writeFileSync(path.join(lockPath, 'owner.json'), JSON.stringify(owner));
  const when = new Date(Date.now() - age * 1000);
  fs.utimesSync(lockPath, when, when);
}

describe('locks', function () {
  this.timeout(120_000);

  it('a lock of a dead process of this host is taken at once; another host pid is not judged here', async () => {
    const dir = tempDir();
    const mine = path.join(dir, 'a.lock');
    fakeLock(mine, { host: os.hostname(), hostId: HOST_ID, pid: DEAD_PID, staleSeconds: 300 });
    const taken = await tryLock(mine, 300);
    expect(taken, 'taken from the dead process').to.not.equal(undefined);
    expect(JSON.parse(fs.readFileSync(path.join(mine, 'owner.json'), 'utf8'))).to.include({ pid: process.pid });
    expect(taken!.lost()).to.equal(undefined);
    await taken!.release();
    expect(fs.existsSync(mine), 'released (the owner file with it)').to.equal(false);

    const theirs = path.join(dir, 'b.lock');
    fakeLock(theirs, { host: 'another-node', hostId: 'another-node', pid: DEAD_PID, staleSeconds: 300 });
    expect(await tryLock(theirs, 300)).to.equal(undefined);
    // A host of the same name (a container of the same image, a node cloned from one disk): its pids are its own.
    const twin = path.join(dir, 'd.lock');
    fakeLock(twin, { host: os.hostname(), hostId: `${os.hostname()}.00000000`, pid: DEAD_PID, staleSeconds: 300 });
    expect(await tryLock(twin, 300)).to.equal(undefined);
  });

  it("the holder's own stale time counts: a taker with a shorter one does not take a live lock", async () => {
    const dir = tempDir();
    const lock = path.join(dir, 'c.lock');
    // Refreshed 30 s ago by a holder that refreshes every 60 s (stale time 600 s): live.
    fakeLock(lock, { host: 'another-node', pid: 1, staleSeconds: 600 }, 30);
    expect(await tryLock(lock, 5)).to.equal(undefined);
    // Not refreshed for longer than its own stale time: dead, taken over.
    const when = new Date(Date.now() - 700_000);
    fs.utimesSync(lock, when, when);
    const taken = await tryLock(lock, 5);
    expect(taken).to.not.equal(undefined);
    await taken!.release();
  });

  it('a lock that cannot be made (no such folder, read-only) fails at once, naming it', async () => {
    const missing = path.join(tempDir(), 'no-such-folder', 'x.csv.lock');
    const started = Date.now();
    let message = '';
    await tryLock(missing, 300, 600).then(
      () => expect.fail('locked'),
      (err: Error) => (message = err.message),
    );
    expect(message).to.match(/x\.csv\.lock: cannot take the lock: no such file or directory \(ENOENT\)$/);
    expect(Date.now() - started, 'no retries').to.be.lessThan(2000);
  });

  it('withRunFolder: a second holder of a run folder is refused naming the first; a lock taken over is lost', async () => {
    const run = path.join(tempDir(), 'runs', 'r');
    await withRunFolder(run, async (check) => {
      check();
      let refused = '';
      await withRunFolder(run, async () => undefined).catch((err: Error) => (refused = err.message));
      expect(refused).to.match(
        new RegExp(`^${run}: in use by process ${process.pid} on ${os.hostname()} \\(${run}\\.lock\\)`),
      );
      // Another process took it over (this one stalled past the stale time).
      const owner = path.join(`${run}.lock`, 'owner.json');
      fs.writeFileSync(owner, JSON.stringify({ host: 'another-node', pid: 7, staleSeconds: 300 }));
      expect(check).to.throw(/its lock was lost \(taken over by process 7 on another-node\); stopped/);
    });
    expect(fs.existsSync(`${run}.lock`)).to.equal(false);
  });

  it('`fewshot train`: a second process on a running run folder (--resume or not) is refused, the first finishes', async () => {
    const run = path.join(tempDir(), 'run');
    const tiny = [...tinyTrainFlags(), '--backend', 'wasm'];
    const first = spawn(process.execPath, [CLI, 'train', ...tiny, '--episodes', '300', '--out', run], {
      stdio: 'ignore',
    });
    const exit = new Promise<number | null>((resolve) => first.on('exit', resolve));
    for (let i = 0; i < 600 && !fs.existsSync(path.join(run, 'config.json')); i++)
      await new Promise((r) => setTimeout(r, 100));
    for (const resume of [['--resume'], []]) {
      const second = spawnSync(
        process.execPath,
        [CLI, 'train', ...tiny, '--episodes', '300', '--out', run, ...resume],
        {
          encoding: 'utf8',
        },
      );
      const lines = second.stderr.split('\n').filter((l) => l && !l.startsWith('backend:'));
      expect(second.status, second.stderr).to.equal(1);
      expect(lines).to.deep.equal([
        `fewshot: ${run}: in use by process ${first.pid} on ${os.hostname()} (${run}.lock); wait for it to end (a holder that died is taken over after 300 s without a refresh)`,
      ]);
    }
    expect(await exit).to.equal(0);
    const log = fs.readFileSync(path.join(run, 'log.jsonl'), 'utf8').trim().split('\n');
    const episodes = log.map((l) => JSON.parse(l).episode as number);
    expect(episodes, 'one writer: no doubled log lines').to.deep.equal([...new Set(episodes)].sort((a, b) => a - b));
    expect(fs.existsSync(`${run}.lock`)).to.equal(false);
  });
});
