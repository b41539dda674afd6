import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { sha256 } from '../src/episodes/manifest.js';
import { runPaths } from '../src/train/run-folder.js';
import { DEFAULT_PROTONET, trainProtoNet } from '../src/train/protonet.js';
import {
  RESULT_COLUMNS,
  SweepRow,
  appendNewSweepRows,
  openSweepCsv,
  readSweepCsv,
  rowId,
  settingNames,
  writeSweepCsv,
} from '../src/sweep/csv.js';
import { mergeSweeps } from '../src/sweep/merge.js';
import { runSweep } from '../src/sweep/run.js';
import { parseShard, shardPoints } from '../src/sweep/shard.js';
import { canonicalJson, expandSweep, readSweepSpec } from '../src/sweep/spec.js';
import { findRecipe, recipeConfig, recipeTeacher, trainRecipe } from '../src/train/recipe.js';
import { ROOT, tempDir } from './helpers.js';
import { TINY, writeTinySuite } from './tiny-runs.js';

/** Two tiny synthetic suites (3-way 1- and 2-shot, 4 episodes) in `dir`. */
function tinySuites(dir: string): string[] {
  return [1, 2].map((shot) => writeTinySuite(dir, { shot }));
}

function writeSpec(dir: string, spec: object, name = 'spec.json'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(spec));
  return file;
}

describe('sweep specs', () => {
  it('expands variants x grid into points with stable keys, one per distinct setting', () => {
    const dir = tempDir();
    const suites = tinySuites(dir);
    const spec = {
      suites,
      base: TINY,
      variants: [{ label: 'ProtoNet' }, { label: 'RKD', method: 'distill', teacher: 't/best' }],
      grid: { lambdaD: [0, 25], seed: [0, 1, 2] },
    };
    const points = expandSweep(readSweepSpec(writeSpec(dir, spec)));
    // ProtoNet carries no lambdaD: its 2 x 3 grid points are 3 distinct ones; RKD has all 6.
    expect(points).to.have.length(9);
    expect(points.map((p) => p.index)).to.deep.equal([...points.keys()]);
    expect(new Set(points.map((p) => p.key)).size).to.equal(9);
    expect(points[0].settings).to.not.have.property('lambdaD');
    // Grid combinations outermost: (lambdaD 0, seed 0) gives ProtoNet then RKD.
    expect(points[1].settings).to.include({
      method: 'distill',
      lambdaD: 0,
      lambdaA: 25,
      seed: 0,
      width: 4,
      episodes: 4,
      lr: DEFAULT_PROTONET.lr,
    });
    for (const p of points) expect(p.key).to.equal(sha256(canonicalJson(p.settings)).slice(0, 16));
    // The key depends on the settings, not on how the spec orders or spells them.
    const reordered = {
      grid: { seed: [0, 1, 2], lambdaD: [0, 25] },
      variants: spec.variants,
      base: Object.fromEntries(Object.entries(TINY).reverse()),
      suites,
    };
    const again = expandSweep(readSweepSpec(writeSpec(dir, reordered, 'again.json')));
    expect(new Set(again.map((p) => p.key))).to.deep.equal(new Set(points.map((p) => p.key)));
  });

  it("takes a recipe and its teacher's run: students get the teacher's budget and model, a baseline the budget", async function () {
    this.timeout(120_000);
    await initBackend('wasm');
    const dir = tempDir();
    const suites = tinySuites(dir);
    const recipe = 'protonet-cifar-fs-1shot';
    const { episodes: _episodes, ...tiny } = TINY;
    const small = { ...tiny, valSuite: 'synthetic-val-5w1s' };
    const teacherRun = path.join(dir, 'teacher');
    await trainRecipe(recipeConfig(findRecipe(recipe), { ...small, episodes: 6, patience: 0 }), teacherRun);
    const teacher = recipeTeacher(teacherRun);
    const spec = {
      suites,
      base: { ...small, recipe, teacher: teacherRun },
      variants: [{ label: 'baseline' }, { label: 'RKD-DA', method: 'distill' }],
      grid: { seed: [1, 2] },
    };
    const points = expandSweep(readSweepSpec(writeSpec(dir, spec)));
    // Each seed's baseline and student together.
    expect(points.map((p) => `${p.settings.label} ${p.settings.seed}`)).to.deep.equal([
      'baseline 1',
      'RKD-DA 1',
      'baseline 2',
      'RKD-DA 2',
    ]);
    // The recipe's student budget and schedule, not the teacher's.
    expect(teacher.episodes).to.equal(6000);
    const fromRecipe = {
      recipe,
      episodes: 6000,
      lrHalveEvery: 2000,
      patience: 0,
      augment: 'crop-flip',
      selectBy: 'accuracy',
    };
    expect(points[0].settings).to.include({ ...fromRecipe, method: 'protonet', dataset: 'synthetic' });
    expect(points[0].settings).to.not.have.property('teacher');
    expect(points[1].settings).to.include({ ...fromRecipe, method: 'distill', teacher: teacher.model });
    // A teacher run that is not there (or not finished) is refused before anything runs.
    const missing = { ...spec, base: { ...spec.base, teacher: path.join(dir, 'nothing') } };
    expect(() => expandSweep(readSweepSpec(writeSpec(dir, missing, 'missing.json')))).to.throw(
      /missing\.json: .*nothing: not a run folder/,
    );
    const other = { ...spec, base: { ...spec.base, recipe: 'protonet-fc100-1shot' } };
    expect(() => expandSweep(readSweepSpec(writeSpec(dir, other, 'other.json')))).to.throw(
      /other\.json: teacher .*: trained by recipe protonet-cifar-fs-1shot, not protonet-fc100-1shot/,
    );
  });

  it('refuses bad specs, naming the file and the field', () => {
    const dir = tempDir();
    const suites = tinySuites(dir);
    const bad = (spec: object) => () => expandSweep(readSweepSpec(writeSpec(dir, spec, 'bad.json')));
    expect(bad({ suites, grid: { widht: [4] } })).to.throw(/bad\.json: unknown setting 'grid\.widht'/);
    expect(bad({ suites, base: { width: 0 } })).to.throw(/bad\.json: field 'base\.width' must be positive, got 0/);
    expect(bad({ suites, grid: { seed: [] } })).to.throw(/bad\.json: field 'grid\.seed' must be a non-empty array/);
    expect(bad({ suites: [] })).to.throw(/bad\.json: field 'suites' must be a non-empty array/);
    expect(bad({ suites: [path.join(dir, 'nope.json')] })).to.throw(
      /bad\.json: field 'suites\[0\]': .*nope\.json: no such suite file/,
    );
    expect(bad({ suites, base: { method: 'distill' } })).to.throw(/bad\.json: point 0 .*needs 'teacher'/);
    expect(bad({ suites, base: { validateEvery: 3, logEvery: 2 } })).to.throw(
      /bad\.json: point 0 .*'validateEvery' \(3\) must be a multiple of 'logEvery' \(2\)/,
    );
    expect(bad({ suites, grids: {} })).to.throw(/bad\.json: unknown field 'grids'/);
  });

  it('names shipped suites by name, as the other commands do', () => {
    const dir = tempDir();
    const spec = readSweepSpec(writeSpec(dir, { suites: ['synthetic-test-5w1s', tinySuites(dir)[0]], base: TINY }));
    expect(spec.suites[0]).to.equal(path.join(ROOT, 'episodes', 'synthetic-test-5w1s.json'));
    expect(() => readSweepSpec(writeSpec(dir, { suites: ['synthetic-test-9w9s'], base: TINY }, 'bad.json'))).to.throw(
      /bad\.json: field 'suites\[0\]': synthetic-test-9w9s: no such suite file, nor a shipped suite/,
    );
  });

  it('shards cover every point exactly once', () => {
    const points = Array.from({ length: 11 }, (_, index) => ({ index }));
    for (const n of [1, 2, 3, 4, 12]) {
      const seen = Array.from({ length: n }, (_, i) => shardPoints(points, parseShard(`${i}/${n}`)))
        .flat()
        .map((p) => p.index);
      expect(
        seen.sort((a, b) => a - b),
        `n = ${n}`,
      ).to.deep.equal(points.map((p) => p.index));
    }
    for (const text of ['4/4', '1-4', '-1/2', '0/0', 'a/2'])
      expect(() => parseShard(text)).to.throw(/--shard must be i\/n with 0 <= i < n/);
  });
});

describe('sweeps', function () {
  let dir: string;
  let spec: string;
  let expected: string[];
  const shards = [0, 1].map((i) => () => path.join(dir, `shard-${i}.csv`));
  const ids = (rows: readonly SweepRow[]) => rows.map(rowId).sort();
  const killed = (run: Promise<unknown>) =>
    run.then(
      () => expect.fail('not killed'),
      (e: Error) => expect(e.message).to.equal('killed'),
    );
  const kill = () => {
    throw new Error('killed');
  };

  before(async () => {
    await initBackend('wasm');
    dir = tempDir();
    const teacher = path.join(dir, 'teacher');
    await trainProtoNet({ ...DEFAULT_PROTONET, ...TINY, episodes: 2, validateEvery: 2 }, teacher);
    const suites = tinySuites(dir);
    spec = writeSpec(dir, {
      name: 'tiny',
      runs: path.join(dir, 'runs'),
      suites,
      base: TINY,
      variants: [
        { label: 'ProtoNet', seed: 0 },
        { label: 'ProtoNet', seed: 1 },
        { label: 'RKD-DA', method: 'distill', teacher: runPaths(teacher).best, seed: 0 },
      ],
    });
    expected = expandSweep(readSweepSpec(spec))
      .flatMap((p) => ['tiny-3w1s', 'tiny-3w2s'].map((s) => `${p.key}|${s}`))
      .sort();
  });

  it('killed after a point, or mid-training, then re-run: no duplicate, no lost row, training resumed', async () => {
    // Shard 0/2 holds points 0 and 2 (the distillation). Killed once point 0's rows are written...
    const [out, other] = [shards[0](), shards[1]()];
    await killed(runSweep(readSweepSpec(spec), { out, backend: 'test', shard: parseShard('0/2'), onPointDone: kill }));
    const first = fs.readFileSync(out, 'utf8');
    expect((await readSweepCsv(out)).rows).to.have.length(2);
    // ...then in point 2's training, after its checkpoint at episode 2.
    await killed(
      runSweep(readSweepSpec(spec), {
        out,
        backend: 'test',
        shard: parseShard('0/2'),
        onEpisode: (p, e) => p.index === 2 && e === 3 && kill(),
      }),
    );
    expect(fs.readFileSync(out, 'utf8')).to.equal(first);

    const generations: string[] = [];
    const summary = await runSweep(readSweepSpec(spec), {
      out,
      backend: 'test',
      shard: parseShard('0/2'),
      onGeneration: (p, g) => generations.push(`point ${p.index} generation ${g}`),
    });
    expect([summary.points, summary.skipped, summary.rows.length]).to.deep.equal([2, 1, 2]);
    expect(generations).to.deep.equal(['point 2 generation 1']);
    const table = await readSweepCsv(out);
    expect(fs.readFileSync(out, 'utf8').startsWith(first)).to.equal(true);
    expect(new Set(ids(table.rows)).size).to.equal(4);
    const resumed = table.rows[2];
    expect([resumed.label, resumed.method, resumed.trainEpisodes, resumed.resumedFrom]).to.deep.equal([
      'RKD-DA',
      'distill',
      '4',
      '2',
    ]);
    for (const r of table.rows)
      expect(fs.existsSync(path.join(r.checkpoint, 'model.json')), r.checkpoint).to.equal(true);

    // A kill in the middle of an append leaves half a line: it is dropped and that row made again.
    const whole = fs.readFileSync(out, 'utf8');
    fs.writeFileSync(out, whole.slice(0, whole.length - 40));
    expect((await readSweepCsv(out)).dropped).to.have.length(
      whole.slice(0, -40).length - whole.slice(0, -40).lastIndexOf('\n') - 1,
    );
    const again = await runSweep(readSweepSpec(spec), { out, backend: 'test', shard: parseShard('0/2') });
    expect([again.skipped, again.rows.length]).to.deep.equal([1, 1]);
    const repaired = await readSweepCsv(out);
    expect(repaired.dropped).to.equal(undefined);
    expect(ids(repaired.rows)).to.deep.equal(ids(table.rows));

    // The other shard, run separately: with shard 0 it is the whole sweep, each row once.
    await runSweep(readSweepSpec(spec), { out: other, backend: 'test', shard: parseShard('1/2') });
    expect(ids((await mergeSweeps([out, other])).rows)).to.deep.equal(expected);
  });

  it("rows record their suite's episodes and teacher's weights; a teacher retrained in its folder is refused before anything trains", async () => {
    const out = shards[0]();
    const { headers, rows } = await readSweepCsv(out);
    const teacher = rows.find((r) => r.method === 'distill')!.teacher;
    const weights = path.join(teacher, 'weights.bin');
    const original = fs.readFileSync(weights);
    for (const r of rows) {
      expect(r.teacherSha256).to.equal(r.method === 'distill' ? sha256(original) : '');
      expect(r.suiteSha256).to.match(/^[0-9a-f]{64}$/);
    }
    const bySuite = new Map(rows.map((r) => [r.suite, r.suiteSha256]));
    expect(rows.every((r) => r.suiteSha256 === bySuite.get(r.suite))).to.equal(true);
    expect(new Set(bySuite.values()).size).to.equal(2);

    // The teacher retrained (here: one weight changed) in the folder the spec names.
    const changed = Buffer.from(original);
    changed.writeFloatLE(changed.readFloatLE(0) + 1, 0);
    fs.writeFileSync(weights, changed);
    try {
      const before = fs.readFileSync(out, 'utf8');
      const runs = fs.readdirSync(path.join(dir, 'runs')).sort();
      // A new student of that teacher would sit in one table with the old teacher's: refused, nothing trained.
      const spec2 = JSON.parse(fs.readFileSync(spec, 'utf8'));
      spec2.variants.push({ ...spec2.variants[2], seed: 1 });
      const grown = readSweepSpec(writeSpec(dir, spec2, 'grown.json'));
      await runSweep(grown, { out, backend: 'test' }).then(
        () => expect.fail('ran'),
        (e: Error) =>
          expect(e.message).to.match(
            /shard-0\.csv:\d: teacher .*teacher.best has weights sha256 [0-9a-f]{12}, but [0-9a-f]{12} at .*teacher.best now: results of two different teachers under one name/,
          ),
      );
      expect(fs.readFileSync(out, 'utf8')).to.equal(before);
      expect(fs.readdirSync(path.join(dir, 'runs')).sort()).to.deep.equal(runs);
      // Changed while a sweep ran: a point's rows naming other weights are not appended.
      const late = rows
        .filter((r) => r.method === 'distill')
        .map((r) => ({ ...r, key: 'f'.repeat(16), teacherSha256: sha256(changed) }));
      await appendNewSweepRows(out, headers, late).then(
        () => expect.fail('appended'),
        (e: Error) =>
          expect(e.message).to.match(/^point f{16} on suite tiny-3w1s, not written: teacher .* at .*shard-0\.csv:\d/),
      );
      expect(fs.readFileSync(out, 'utf8')).to.equal(before);
    } finally {
      fs.writeFileSync(weights, original);
    }
  });

  it('CSVs written before rows recorded identities are read and merged, not appended to', async () => {
    const { headers, rows } = await readSweepCsv(shards[1]());
    const old = headers.slice(0, -2);
    expect(headers.slice(-2)).to.deep.equal(['suiteSha256', 'teacherSha256']);
    const file = path.join(dir, 'unidentified.csv');
    await writeSweepCsv(file, old, rows);
    const table = await readSweepCsv(file);
    expect(settingNames(table.headers)).to.deep.equal(settingNames(headers));
    expect((await mergeSweeps([file])).rows).to.have.length(rows.length);
    await openSweepCsv(file, headers).then(
      () => expect.fail('opened'),
      (e: Error) =>
        expect(e.message).to.match(/unidentified\.csv: written by an earlier version, whose rows do not record/),
    );
    expect(RESULT_COLUMNS.slice(-3)).to.deep.equal(['checkpoint', 'suiteSha256', 'teacherSha256']);
  });

  it('merge refuses a duplicate, a conflicting shard, a point run twice, a point with two settings, a suite with two identities', async () => {
    const [a, b] = [shards[0](), shards[1]()];
    const rows = (await readSweepCsv(b)).rows;
    const headers = (await readSweepCsv(b)).headers;
    const edited = async (name: string, edit: (rows: SweepRow[]) => SweepRow[]) => {
      await writeSweepCsv(path.join(dir, name), headers, edit([...rows]));
      return path.join(dir, name);
    };
    const refused = (files: string[], pattern: RegExp) =>
      mergeSweeps(files).then(
        () => expect.fail('merged'),
        (e: Error) => expect(e.message).to.match(pattern),
      );
    await refused(
      [a, a],
      /shard-0\.csv:2: point [0-9a-f]{16} on suite tiny-3w1s is also at .*shard-0\.csv:2 \(a duplicate\)/,
    );
    const other = await edited('other.csv', (r) => r.map((row, i) => (i === 0 ? { ...row, accuracy: '0.123' } : row)));
    await refused([a, b, other], /other\.csv:2: .* is also at .*shard-1\.csv:2 \(with another accuracy: '0\.123' vs/);
    const moved = await edited('moved.csv', (r) => [{ ...r[0], suite: 'another-suite' }]);
    await refused(
      [b, moved],
      /moved\.csv:2: point .* also has rows at .*shard-1\.csv:2: the same point run in two shards/,
    );
    const refrozen = await edited('refrozen.csv', (r) => [
      { ...r[0], key: 'e'.repeat(16), suiteSha256: '0'.repeat(64) },
    ]);
    await refused(
      [b, refrozen],
      /refrozen\.csv:2: suite tiny-3w1s has episodes sha256 000000000000, but [0-9a-f]{12} at .*shard-1\.csv:2: results of two different suites under one name/,
    );
    const settings = await edited('settings.csv', (r) => r.map((row, i) => (i === 1 ? { ...row, width: '8' } : row)));
    await refused(
      [settings],
      /settings\.csv:3: point .* has width '8' but '4' at .*settings\.csv:2: the same point with different settings or results/,
    );
  });

  it('`fewshot sweep merge` refuses a conflicting shard in one line; a bad spec names its field', () => {
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8' });
    const r = cli('sweep', 'merge', shards[1](), path.join(dir, 'other.csv'), '--out', path.join(dir, 'all.csv'));
    expect(r.status).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^fewshot: .*other\.csv:2: point .* \(with another accuracy/);
    expect(fs.existsSync(path.join(dir, 'all.csv'))).to.equal(false);
    const bad = writeSpec(dir, { suites: tinySuites(dir), base: { lambdaX: 1 } }, 'typo.json');
    expect(cli('sweep', bad).stderr.trim()).to.match(/^fewshot: .*typo\.json: unknown setting 'base\.lambdaX'/);
  });
});
