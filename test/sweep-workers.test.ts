/**
 * Sweep workers as a scheduler runs them: real concurrent processes on one spec and one CSV, a
 * worker killed outright and its point taken over, provenance across shards, checks before the first point.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { readSweepCsv, rowId, writeSweepCsv } from '../src/sweep/csv.js';
import { mergeSweeps } from '../src/sweep/merge.js';
import { runSweep } from '../src/sweep/run.js';
import { parseShard, slurmShard } from '../src/sweep/shard.js';
import { expandSweep, readSweepSpec } from '../src/sweep/spec.js';
import { writeSweepReport } from '../src/report/report.js';
import { DEFAULT_PROTONET, trainProtoNet } from '../src/train/protonet.js';
import { runPaths } from '../src/train/run-folder.js';
import { importFolder } from '../src/data/folder.js';
import { randomImage } from './image-fixtures.js';
import { tempDir } from './helpers.js';
import { CLI } from './run-cli.js';
import { TINY, writeTinySweep } from './tiny-runs.js';

/** TINY over 6 episodes, validated every 3. */
const TINY_6 = { ...TINY, episodes: 6, validateEvery: 3 };

interface Worker {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exit: Promise<number | null>;
}

function worker(...args: string[]): Worker {
  const child = spawn(process.execPath, [CLI, 'sweep', ...args, '--backend', 'wasm'], {
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
  const w: Worker = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (d) => {
    w.stdout += d;
  });
  child.stderr!.on('data', (d) => {
    w.stderr += d;
  });
  return w;
}

/** The point indices a worker's output says it trained. */
const trained = (w: Worker) => [...w.stdout.matchAll(/^point (\d+) .*: training/gm)].map((m) => Number(m[1]));

function setup(seeds: number[], extra: object = {}) {
  const dir = tempDir();
  return { dir, ...writeTinySweep(dir, { ...TINY_6, ...extra }, seeds) };
}

describe('sweep workers', function () {
  this.timeout(300_000);
  before(() => initBackend('wasm'));

  it('two processes on one spec and one CSV: no point trained twice, no row twice, none lost', async () => {
    const { spec, out } = setup([0, 1, 2, 3, 4, 5, 6, 7]);
    const workers = [worker(spec, '--out', out), worker(spec, '--out', out)];
    const codes = await Promise.all(workers.map((w) => w.exit));
    expect(codes, workers.map((w) => w.stderr).join('\n')).to.deep.equal([0, 0]);
    const [a, b] = workers.map(trained);
    console.log(`      (worker 1 trained points ${a.join(' ')}; worker 2: ${b.join(' ')})`);
    expect(
      a.filter((p) => b.includes(p)),
      'points trained by both',
    ).to.deep.equal([]);
    expect([...a, ...b].sort((x, y) => x - y)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    const rows = (await readSweepCsv(out)).rows;
    expect(rows.map(rowId).sort()).to.deep.equal(
      expandSweep(readSweepSpec(spec))
        .map((p) => `${p.key}|tiny-3w1s`)
        .sort(),
    );
    // Both workers record the code that made the rows (the same checkout).
    expect(new Set(rows.map((r) => r.code)).size).to.equal(1);
    expect(rows[0].code).to.match(/^\d+\.\d+\.\d+(\+[0-9a-f]{7}(-dirty)?)?$/);
    // Each process says what it did; both finish only when every point has its rows.
    for (const w of workers) expect(w.stdout).to.match(/8 points: \d+ skipped, \d+ run; \d+ rows appended/);
  });

  it('a worker on another host killed outright (SIGKILL): a restarted one waits for its lock to go stale, then resumes its point', async () => {
    const { dir, spec, out } = setup([0], { episodes: 400, validateEvery: 3 });
    const [point] = expandSweep(readSweepSpec(spec));
    const state = path.join(dir, 'runs', point.key, 'checkpoint', 'state.json');
    // Stale after 20 s: the restarted worker must find the lock live, even on a busy machine where it starts slowly.
    const first = worker(spec, '--out', out, '--lock-stale', '20');
    // Killed once it has a checkpoint past episode 3.
    for (let i = 0; i < 600 && !(fs.existsSync(state) && JSON.parse(fs.readFileSync(state, 'utf8')).episode > 3); i++)
      await new Promise((r) => setTimeout(r, 100));
    first.child.kill('SIGKILL');
    await first.exit;
    const lock = path.join(dir, 'runs', `${point.key}.lock`);
    expect(fs.existsSync(lock), "the dead worker's lock").to.equal(true);
    // As if it ran on another node sharing the runs folder: its pid says nothing here (kept mtime: still live).
    const owner = path.join(lock, 'owner.json');
    const { mtime } = fs.statSync(lock);
    const held = { ...JSON.parse(fs.readFileSync(owner, 'utf8')), host: 'another-node', hostId: 'another-node' };
    fs.writeFileSync(owner, JSON.stringify(held));
    fs.utimesSync(lock, mtime, mtime);
    const second = worker(spec, '--out', out, '--lock-stale', '20');
    expect(await second.exit, second.stderr).to.equal(0);
    expect(second.stdout).to.match(/waiting for 1 point\(s\) held by other workers: 0 \(/);
    const [row] = (await readSweepCsv(out)).rows;
    expect(row.trainEpisodes).to.equal('400');
    expect(Number(row.resumedFrom)).to.be.greaterThan(3);
    expect(fs.existsSync(path.join(dir, 'runs', `${point.key}.lock`)), 'lock released').to.equal(false);
  });

  it('merge, report and a re-run refuse rows of different code versions, naming both, unless allowed', async () => {
    const { dir, spec, out } = setup([0, 1]);
    await runSweep(readSweepSpec(spec), { out, backend: 'test', shard: parseShard('0/2') });
    const other = path.join(dir, 'other.csv');
    await runSweep(readSweepSpec(spec), { out: other, backend: 'test', shard: parseShard('1/2') });
    const table = await readSweepCsv(other);
    await writeSweepCsv(
      other,
      table.headers,
      table.rows.map((r) => ({ ...r, code: '0.0.9+1234567' })),
    );
    const refused =
      /other\.csv:2: made by code 0\.0\.9\+1234567, but .*sweep\.csv:2 by .*: results of different code versions \(pass --allow-mixed-code/;
    await mergeSweeps([out, other]).then(
      () => expect.fail('merged'),
      (e: Error) => expect(e.message).to.match(refused),
    );
    expect((await mergeSweeps([out, other], { allowMixedCode: true })).rows).to.have.length(2);
    await writeSweepCsv(path.join(dir, 'both.csv'), table.headers, [
      ...(await readSweepCsv(out)).rows,
      ...(await readSweepCsv(other)).rows,
    ]);
    await writeSweepReport(path.join(dir, 'both.csv'), { out: dir }).then(
      () => expect.fail('reported'),
      (e: Error) => expect(e.message).to.match(/both\.csv:3: made by code 0\.0\.9/),
    );
    // Resuming the other shard's CSV with this code would mix versions in one file.
    await runSweep(readSweepSpec(spec), { out: other, backend: 'test' }).then(
      () => expect.fail('appended'),
      (e: Error) => expect(e.message).to.match(/other\.csv:2: made by code 0\.0\.9\+1234567, but this process by /),
    );
  });

  it('a missing teacher or dataset cache, or a suite of another image shape, is refused before anything trains or is written', async () => {
    const { dir, spec: _spec } = setup([0]);
    const teacher = path.join(dir, 'teacher');
    await trainProtoNet({ ...DEFAULT_PROTONET, ...TINY_6, episodes: 2, validateEvery: 2 }, teacher);
    const suite = path.join(dir, 'tiny-3w1s.json');
    const write = (name: string, variants: object[]) => {
      const file = path.join(dir, `${name}.json`);
      fs.writeFileSync(
        file,
        JSON.stringify({ name, runs: path.join(dir, name), suites: [suite], base: TINY_6, variants }),
      );
      return file;
    };
    const cases: [string, object[], RegExp][] = [
      [
        'no-teacher',
        [
          { method: 'protonet' },
          { method: 'distill', teacher: runPaths(teacher).best },
          { method: 'distill', teacher: path.join(dir, 'nope') },
        ],
        /no-teacher\.json: point 2 \([0-9a-f]{16}\): --teacher .*nope: no model there .*; nothing was trained/,
      ],
      [
        'no-cache',
        [
          { method: 'protonet' },
          { method: 'protonet', dataset: 'omniglot', split: 'train', dataDir: path.join(dir, 'no-omniglot') },
        ],
        /no-cache\.json: point 1 \([0-9a-f]{16}\): .*no-omniglot.*; nothing was trained/,
      ],
    ];
    // A suite of another image shape (a 16x16 RGB folder dataset) for models of 28x28 grey glyphs.
    const folder = path.join(dir, 'folder');
    for (const c of ['a', 'b', 'c']) {
      fs.mkdirSync(path.join(folder, c), { recursive: true });
      for (const i of [1, 2, 3])
        fs.writeFileSync(
          path.join(folder, c, `${i}.png`),
          await randomImage(`${c}${i}`, { width: 20, height: 20, channels: 3, format: 'png' }),
        );
    }
    const cache = path.join(dir, 'folder-cache');
    await importFolder({ from: folder, out: cache, size: 16 });
    const folderSuite = path.join(dir, 'folder-3w1s.json');
    fs.writeFileSync(
      folderSuite,
      JSON.stringify({
        name: 'folder-3w1s',
        dataset: 'folder',
        split: 'all',
        way: 3,
        shot: 1,
        query: 2,
        episodes: 2,
        seed: 1,
      }),
    );
    const shapes = path.join(dir, 'shapes.json');
    fs.writeFileSync(
      shapes,
      JSON.stringify({
        name: 'shapes',
        runs: path.join(dir, 'shapes'),
        suites: [suite, folderSuite],
        base: { ...TINY_6, dataDir: cache },
      }),
    );
    await runSweep(readSweepSpec(shapes), { out: path.join(dir, 'shapes.csv'), backend: 'test' }).then(
      () => expect.fail('ran'),
      (e: Error) =>
        expect(e.message).to.match(
          /shapes\.json: point 0 \([0-9a-f]{16}\): suite .*folder-3w1s\.json: its images \(folder\/all, 16x16x3\) are not the shape of the training images \(synthetic\/val, 28x28x1\)/,
        ),
    );
    expect(fs.existsSync(path.join(dir, 'shapes'))).to.equal(false);
    for (const [name, variants, message] of cases) {
      const out = path.join(dir, `${name}.csv`);
      await runSweep(readSweepSpec(write(name, variants)), { out, backend: 'test' }).then(
        () => expect.fail('ran'),
        (e: Error) => expect(e.message).to.match(message),
      );
      expect(fs.existsSync(out), `${name}: CSV`).to.equal(false);
      expect(fs.existsSync(path.join(dir, name)), `${name}: runs folder`).to.equal(false);
    }
  });

  it("--shard slurm: the array task's index from 0 and the array's task count", () => {
    const env = (id: number, min: number, max: number, count: number) => ({
      SLURM_ARRAY_TASK_ID: String(id),
      SLURM_ARRAY_TASK_MIN: String(min),
      SLURM_ARRAY_TASK_MAX: String(max),
      SLURM_ARRAY_TASK_COUNT: String(count),
    });
    expect(slurmShard(env(2, 0, 3, 4))).to.deep.equal({ index: 2, count: 4 });
    expect(slurmShard(env(5, 1, 8, 8))).to.deep.equal({ index: 4, count: 8 });
    expect(() => slurmShard(env(4, 0, 6, 4))).to.throw(/the array 0-6 has 4 tasks: use a contiguous --array/);
    expect(() => slurmShard({})).to.throw(/--shard slurm: not in a Slurm array task/);
  });
});
