/**
 * Commands on a nearly full disk (a small tmpfs, mounted where this process may: root on Linux):
 * each fails in one line naming a file, and leaves every file under its outputs as it was.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { appendWhole, writeFileAtomic } from '../src/atomic.js';
import { randomCifarContent, writeCifarArchives } from './cifar-archives.js';
import { tempDir } from './helpers.js';
import { CLI } from './run-cli.js';
import { tinyTrainFlags } from './tiny-runs.js';

function fewshot(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, FEWSHOT_CACHE: path.join(cwd, 'cache-root') },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

/** Every file under `dir` but the filler, by relative path, with its sha256. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (entry.isFile() && entry.name !== 'filler')
      files[path.relative(dir, file)] = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  }
  return files;
}

describe('a nearly full disk', function () {
  this.timeout(180_000);
  let disk = '';
  let work = '';
  let mounted = false;

  /** Grows or shrinks the filler so that exactly `spare` bytes are left on the disk. */
  function leave(spare: number): void {
    const filler = path.join(disk, 'filler');
    fs.rmSync(filler, { force: true });
    const { bavail, bsize } = fs.statfsSync(disk);
    fs.writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - spare)));
  }

  before(function () {
    disk = tempDir('fewshot-tmpfs-');
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'fewshot-full-disk', disk], { encoding: 'utf8' });
    if (r.status !== 0) {
      console.log(`      (skipped: cannot mount a small tmpfs here: ${(r.stderr || r.error?.message || '').trim()})`);
      this.skip();
    }
    mounted = true;
    work = tempDir();
  });

  after(() => {
    if (mounted) spawnSync('umount', [disk]);
  });

  it('writeFileAtomic and appendWhole: a short write fails naming the file, the old bytes stay', () => {
    const file = path.join(disk, 'a.txt');
    writeFileAtomic(file, [Buffer.from('old\n')]);
    leave(4096);
    const big = Buffer.alloc(64 * 1024, 'x');
    expect(() => writeFileAtomic(file, [big])).to.throw(new RegExp(`^${file}: .*no space left on device \\(ENOSPC\\)`));
    expect(() => appendWhole(file, big)).to.throw(new RegExp(`^${file}: not appended.*ENOSPC`));
    expect(fs.readFileSync(file, 'utf8')).to.equal('old\n');
    expect(fs.readdirSync(disk).sort()).to.deep.equal(['a.txt', 'filler']);
    fs.rmSync(file);
    leave(1 << 22);
  });

  it('eval --out, episodes freeze, data cifar100, sweep, sweep merge, report: refused, nothing changed', async () => {
    // Inputs on the ordinary disk; outputs on the small one, made once while it has room.
    const run = path.join(work, 'run');
    const tiny = tinyTrainFlags({ episodes: 4 });
    const trained = fewshot(work, 'train', ...tiny, '--validate-every', '2', '--log-every', '2', '--out', run);
    expect(trained.code, trained.stderr).to.equal(0);
    const archives = path.join(work, 'archives');
    await writeCifarArchives(archives, randomCifarContent(3, 2));
    const suite = {
      name: 'tiny',
      dataset: 'synthetic',
      split: 'test',
      way: 5,
      shot: 1,
      query: 15,
      episodes: 200,
      seed: 3,
    };
    fs.mkdirSync(path.join(disk, 'suites'));
    for (const name of ['frozen', 'fresh'])
      fs.writeFileSync(path.join(disk, 'suites', `${name}.json`), JSON.stringify({ ...suite, name }));
    const spec = (seeds: number[]) =>
      JSON.stringify({
        suites: ['synthetic-test-5w1s'],
        runs: path.join(work, 'sweep-runs'),
        base: { dataset: 'synthetic', way: 5, shot: 1, query: 5, width: 4, episodes: 2, logEvery: 1, validateEvery: 2 },
        variants: [{ label: 'ProtoNet' }],
        grid: { seed: seeds },
      });
    fs.writeFileSync(path.join(work, 'one.json'), spec([0]));
    fs.writeFileSync(path.join(work, 'two.json'), spec([0, 1]));
    const first: string[][] = [
      ['eval', path.join(run, 'best'), 'synthetic-test-5w1s', '--out', path.join(disk, 'eval')],
      ['episodes', 'freeze', path.join(disk, 'suites', 'frozen.json')],
      ['data', 'cifar100', '--from', path.join(archives, 'cifar-100-binary.tar.gz'), '--out', path.join(disk, 'cifar')],
      ['sweep', path.join(work, 'one.json'), '--out', path.join(disk, 'sweep.csv')],
      ['sweep', 'merge', path.join(disk, 'sweep.csv'), '--out', path.join(disk, 'merged.csv')],
      ['report', path.join(disk, 'sweep.csv'), '--out', path.join(disk, 'report')],
    ];
    for (const args of first) {
      const r = fewshot(work, ...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
    }
    // The same outputs again (other content where a command would skip its work), with 4 KB left:
    // every output is larger, so the writes are cut short, as on the disk the issue found.
    const again: [string[], number][] = [
      [['eval', path.join(run, 'best'), 'synthetic-test-5w5s', '--out', path.join(disk, 'eval')], 4096],
      [['episodes', 'freeze', path.join(disk, 'suites', 'fresh.json')], 4096],
      [
        [
          'data',
          'cifar100',
          '--from',
          path.join(archives, 'cifar-100-python.tar.gz'),
          '--out',
          path.join(disk, 'cifar'),
        ],
        4096,
      ],
      [['sweep', path.join(work, 'two.json'), '--out', path.join(disk, 'sweep.csv')], 0],
      [['sweep', 'merge', path.join(disk, 'sweep.csv'), '--out', path.join(disk, 'merged-2.csv')], 0],
      [['report', path.join(disk, 'sweep.csv'), '--out', path.join(disk, 'report')], 0],
    ];
    for (const [args, spare] of again) {
      const before = snapshot(disk);
      leave(spare);
      const r = fewshot(work, ...args);
      const lines = r.stderr.split('\n').filter((l) => !l.startsWith('backend:'));
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(1);
      expect(lines, args.join(' ')).to.have.length(1);
      expect(lines[0], args.join(' ')).to.match(new RegExp(`^fewshot: ${disk}/\\S+: .*\\(ENOSPC\\)`));
      expect(snapshot(disk), args.join(' ')).to.deep.equal(before);
      expect(
        fs.readdirSync(disk).filter((n) => n.includes('.tmp-')),
        args.join(' '),
      ).to.deep.equal([]);
      leave(1 << 22);
    }
  });
});
