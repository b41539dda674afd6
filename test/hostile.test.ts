/**
 * Regressions of the second hostile audit (issue 27): outputs another process or a hand edit got to
 * first, budgets that drift on resume, models and teachers that are not what they were, files that
 * are devices. Each failed on the code before its fix.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend.js';
import { parseDecimal, parseInteger } from '../src/decimal.js';
import { openDataset } from '../src/data/open.js';
import { evaluateEpisodes } from '../src/eval/evaluate.js';
import { prototypicalLoss } from '../src/losses/protonet.js';
import { loadCheckpoint, loadModel } from '../src/models/checkpoint.js';
import { conv4 } from '../src/models/conv4.js';
import { appendNewSweepRows, readSweepCsv } from '../src/sweep/csv.js';
import { runSweep } from '../src/sweep/run.js';
import { slurmShard } from '../src/sweep/shard.js';
import { readSweepSpec } from '../src/sweep/spec.js';
import { DEFAULT_PROTONET, trainProtoNet } from '../src/train/protonet.js';
import { resumeBudget, runPaths } from '../src/train/run-folder.js';
import { tempDir } from './helpers.js';
import { runCli } from './run-cli.js';
import { TINY, writeTinySweep } from './tiny-runs.js';

/** The command line, ended after 60 s (a device or a FIFO read whole would hang); stderr's lines but the backend's. */
function fewshot(...args: string[]) {
  const r = runCli(args, 60_000);
  const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('backend:'));
  return { code: r.code, stdout: r.stdout, lines };
}

/** A tiny 5-way run on the command line. */
const TINY_ARGS = [
  '--dataset',
  'synthetic',
  '--way',
  '5',
  '--width',
  '4',
  '--episodes',
  '4',
  '--validate-every',
  '2',
  '--log-every',
  '2',
];

/** A finished tiny sweep of two points in `dir`: its spec file and CSV. */
async function tinySweep(dir: string): Promise<{ spec: string; out: string }> {
  const { spec, out } = writeTinySweep(dir, TINY, [0, 1]);
  await runSweep(readSweepSpec(spec), { out, backend: 'test' });
  return { spec, out };
}

describe('hostile cases (issue 27)', function () {
  this.timeout(120_000);
  before(() => initBackend('wasm'));

  it('sweep --out FILE of another spec: refused, the file left whole (its last line was cut before)', async () => {
    const { spec } = await tinySweep(tempDir());
    const other = path.join(tempDir(), 'other.csv');
    fs.writeFileSync(other, 'a,b\n1,2');
    const r = fewshot('sweep', spec, '--out', other);
    expect(r.code).to.equal(1);
    expect(r.lines).to.have.length(1);
    expect(r.lines[0]).to.match(/other\.csv:1: not a sweep CSV/);
    expect(fs.readFileSync(other, 'utf8')).to.equal('a,b\n1,2');
  });

  it("rows are re-checked under the CSV's lock: a point's rows once, a torn tail cut first, a deleted CSV made again with its header", async () => {
    const { out } = await tinySweep(tempDir());
    const table = await readSweepCsv(out);
    const whole = fs.readFileSync(out, 'utf8');
    // A stalled worker's rows for points another worker finished meanwhile.
    expect(await appendNewSweepRows(out, table.headers, table.rows)).to.deep.equal([]);
    expect(fs.readFileSync(out, 'utf8')).to.equal(whole);
    // A worker killed mid-append left half a line: the next append does not run onto it.
    const [first, second] = whole.trimEnd().split('\n').slice(1);
    const upToFirst = whole.slice(0, whole.indexOf(second));
    fs.writeFileSync(out, upToFirst + second.slice(0, 20));
    expect(await appendNewSweepRows(out, table.headers, [table.rows[1]])).to.have.length(1);
    expect(fs.readFileSync(out, 'utf8')).to.equal(whole);
    // Deleted while the sweep ran: made again, header first.
    fs.rmSync(out);
    await appendNewSweepRows(out, table.headers, [table.rows[0]]);
    expect(fs.readFileSync(out, 'utf8')).to.equal(`${table.headers.join(',')}\n${first}\n`);
  });

  it('a resumed budget: extended and recorded (provenance kept), never shortened, nothing to add after patience', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'checkpoint'), { recursive: true });
    const config = { episodes: 10, provenance: { code: 'the starting code' } };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    const state = (s: object) =>
      fs.writeFileSync(
        path.join(dir, 'checkpoint', 'state.json'),
        JSON.stringify({ episode: 6, bestEpisode: 4, ...s }),
      );
    state({ stopped: false });
    expect(() => resumeBudget(dir, 8)).to.throw(/--episodes 8 would shorten the run \(of 10 episodes, 6 trained\)/);
    state({ stopped: true });
    expect(() => resumeBudget(dir, 20)).to.throw(
      /stopped on patience at episode 6 .*: more episodes would train nothing/,
    );
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))).to.deep.equal(config);
    state({ stopped: false });
    resumeBudget(dir, 20);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))).to.deep.equal({
      ...config,
      episodes: 20,
    });
  });

  it('train --resume --recipe OTHER is refused, not ignored', async () => {
    const run = path.join(tempDir(), 'run');
    await trainProtoNet({ ...DEFAULT_PROTONET, ...TINY }, run);
    const r = fewshot('train', '--resume', '--out', run, '--recipe', 'protonet-cifar-fs-1shot');
    expect(r.code).to.equal(1);
    expect(r.lines).to.deep.equal([
      `fewshot: ${run}: --resume continues the run as configured; --recipe protonet-cifar-fs-1shot (the run has none) would change it: start a new run instead`,
    ]);
  });

  it('a NaN model is refused by eval and as a teacher; a teacher changed under a distillation is refused on resume', async () => {
    const root = tempDir();
    const teacher = path.join(root, 'teacher');
    await trainProtoNet({ ...DEFAULT_PROTONET, ...TINY, way: 5, split: 'train' }, teacher);
    const best = runPaths(teacher).best;
    const nan = path.join(root, 'nan');
    fs.cpSync(best, nan, { recursive: true });
    const weights = fs.readFileSync(path.join(nan, 'weights.bin'));
    weights.writeFloatLE(NaN, 4);
    fs.writeFileSync(path.join(nan, 'weights.bin'), weights);
    const refused = new RegExp(
      `${path.join(nan, 'weights.bin')}: weight \\S+ is not finite \\(NaN or infinity\\): a diverged or corrupt model, refused`,
    );
    const evaluated = fewshot('eval', nan, 'synthetic-test-5w1s');
    expect(evaluated.code).to.equal(1);
    expect(evaluated.lines).to.have.length(1);
    expect(evaluated.lines[0]).to.match(refused);
    const student = path.join(root, 'student');
    const distilled = fewshot('distill', '--teacher', nan, ...TINY_ARGS, '--out', student);
    expect(distilled.code).to.equal(1);
    expect(distilled.lines[0]).to.match(refused);
    expect(fs.existsSync(student), 'no run folder').to.equal(false);

    // A distillation from the good teacher, whose weights then change (retrained in place, say).
    expect(fewshot('distill', '--teacher', best, ...TINY_ARGS, '--out', student).code).to.equal(0);
    const recorded = JSON.parse(fs.readFileSync(path.join(student, 'config.json'), 'utf8')).teacherWeights;
    expect(recorded).to.match(/^[0-9a-f]{64}$/);
    const good = fs.readFileSync(path.join(best, 'weights.bin'));
    const changed = Buffer.from(good);
    changed.writeFloatLE(changed.readFloatLE(0) + 1, 0);
    fs.writeFileSync(path.join(best, 'weights.bin'), changed);
    const resumed = fewshot('distill', '--resume', '--out', student, '--episodes', '6');
    expect(resumed.code).to.equal(1);
    expect(resumed.lines.filter((l) => !l.includes('extending'))).to.deep.equal([
      `fewshot: ${student}: its teacher ${best} changed since the run started (weights sha256 ${digest12(changed)}, recorded ${recorded.slice(0, 12)}): resuming would distil from two teachers`,
    ]);
  });

  it('a weights file that is a device, or a suite that is a FIFO, is refused by name at once', async () => {
    const root = tempDir();
    const run = path.join(root, 'run');
    await trainProtoNet({ ...DEFAULT_PROTONET, ...TINY }, run);
    const model = runPaths(run).best;
    fs.rmSync(path.join(model, 'weights.bin'));
    fs.symlinkSync('/dev/zero', path.join(model, 'weights.bin'));
    const started = Date.now();
    const r = fewshot('eval', model, 'synthetic-test-5w1s');
    expect(r.code).to.equal(1);
    expect(r.lines).to.deep.equal([
      `fewshot: ${path.join(model, 'weights.bin')}: a device, not a regular file: refused`,
    ]);
    const fifo = path.join(root, 'suite.json');
    if (spawnSync('mkfifo', [fifo]).status === 0) {
      const f = fewshot('episodes', 'show', fifo);
      expect(f.code).to.equal(1);
      expect(f.lines).to.deep.equal([`fewshot: ${fifo}: a FIFO, not a regular file: refused`]);
    }
    expect(Date.now() - started).to.be.lessThan(30_000);
  });
});

describe('hostile cases (issue 27): checkpoints, leftovers and the library', function () {
  this.timeout(120_000);
  before(() => initBackend('wasm'));

  it('a torn state.json or optimizer.bin, or a shape edited in model.json, is named', async () => {
    const run = path.join(tempDir(), 'run');
    await trainProtoNet({ ...DEFAULT_PROTONET, ...TINY }, run);
    const checkpoint = runPaths(run).checkpoint;
    const state = path.join(checkpoint, 'state.json');
    const whole = fs.readFileSync(state, 'utf8');
    fs.writeFileSync(state, whole.slice(0, 30));
    await loadCheckpoint(checkpoint).then(
      () => expect.fail('loaded'),
      (err: Error) =>
        expect(err.message).to.match(
          new RegExp(`^${state}: not a checkpoint state \\(.*\\): a torn or edited checkpoint$`),
        ),
    );
    fs.writeFileSync(state, whole);
    const optimizer = path.join(checkpoint, 'optimizer.bin');
    fs.truncateSync(optimizer, 100);
    await loadCheckpoint(checkpoint).then(
      () => expect.fail('loaded'),
      (err: Error) =>
        expect(err.message).to.match(
          new RegExp(
            `^${optimizer}: 100 bytes, state.json's optimizer needs \\d+ \\(a truncated or torn checkpoint\\)$`,
          ),
        ),
    );
    // The same number of values in another shape: sizes agree, tfjs refuses, naming nothing.
    const best = runPaths(run).best;
    const modelJson = path.join(best, 'model.json');
    const json = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
    const kernel = json.weightsManifest[0].weights[0];
    kernel.shape = [kernel.shape.reduce((a: number, b: number) => a * b, 1)];
    fs.writeFileSync(modelJson, JSON.stringify(json));
    await loadModel(best).then(
      () => expect.fail('loaded'),
      (err: Error) =>
        expect(err.message).to.match(
          new RegExp(`^${modelJson}: does not load as a model \\(.+\\): an edited or foreign checkpoint$`),
        ),
    );
  });

  it('a failed recipe start leaves no folder; a run diverged before its first checkpoint is removed; a torn last log line does not block resume', async () => {
    const root = tempDir();
    const recipeRun = path.join(root, 'recipe');
    const failed = fewshot(
      'train',
      '--recipe',
      'protonet-cifar-fs-1shot',
      '--data',
      path.join(root, 'none'),
      '--out',
      recipeRun,
    );
    expect(failed.code).to.equal(1);
    // The importer writes <out>/cifar-fs: a cache folder of another name is named with the way to one.
    expect(failed.lines).to.deep.equal([
      `fewshot: ${path.join(root, 'none')}: no cifar-fs cache here; run \`fewshot data cifar100 --from PATH --out DIR\`, then give --data DIR/cifar-fs`,
    ]);
    expect(fs.existsSync(recipeRun), 'no run folder').to.equal(false);

    // Diverged before its first checkpoint: nothing to keep, so nothing kept, and the lower --lr runs.
    const diverged = path.join(root, 'diverged');
    const blown = fewshot('train', ...TINY_ARGS, '--lr', '1e30', '--out', diverged);
    expect(blown.code).to.equal(1);
    expect(blown.lines).to.have.length(1);
    expect(blown.lines[0]).to.match(
      new RegExp(
        `^fewshot: training diverged at episode 1?\\d: .*, before the first checkpoint: nothing to keep, ${diverged} removed \\(lower --lr`,
      ),
    );
    expect(fs.existsSync(diverged), 'run folder removed').to.equal(false);
    const again = fewshot('train', ...TINY_ARGS, '--lr', '0.0001', '--out', diverged);
    expect(again.code, again.lines.join('\n')).to.equal(0);

    // Killed mid-append after its last checkpoint: half a log line at the end.
    fs.appendFileSync(path.join(diverged, 'log.jsonl'), '{"episode": 5, "lr": 0.00');
    const resumed = fewshot('train', '--resume', '--out', diverged, '--episodes', '6');
    expect(resumed.code, resumed.lines.join('\n')).to.equal(0);
    const log = fs
      .readFileSync(path.join(diverged, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).episode);
    expect(log).to.deep.equal([2, 4, 6]);
  });

  it('numbers from flags, files and the environment are decimal: 0x5, blank, Infinity are refused', () => {
    for (const ok of ['5', '-3', '+2', '0.5', '.5', '1e-3', '2E+2']) expect(parseDecimal(ok), ok).to.equal(Number(ok));
    for (const bad of ['', ' ', '0x5', '0b1', '0o7', 'Infinity', '1e', '--1', '1,5', '5 '])
      expect(parseDecimal(bad), `'${bad}'`).to.be.NaN;
    expect(parseInteger('12')).to.equal(12);
    for (const bad of ['1e3', '1.0', '', '0x5']) expect(parseInteger(bad), `'${bad}'`).to.be.NaN;
    const out = path.join(tempDir(), 'run');
    const r = fewshot('train', '--dataset', 'synthetic', '--way', '0x5', '--out', out);
    expect(r.code).to.equal(2);
    expect(r.lines).to.deep.equal([
      `fewshot: option '--way <n>' argument '0x5' is invalid. --way must be a positive integer, got '0x5' (see 'fewshot train --help')`,
    ]);
    expect(fs.existsSync(out)).to.equal(false);
    const env = {
      SLURM_ARRAY_TASK_ID: '0x1',
      SLURM_ARRAY_TASK_MIN: '0',
      SLURM_ARRAY_TASK_MAX: '3',
      SLURM_ARRAY_TASK_COUNT: '4',
    };
    expect(() => slurmShard(env)).to.throw(/not in a Slurm array task/);
    expect(slurmShard({ ...env, SLURM_ARRAY_TASK_ID: '1' })).to.deep.equal({ index: 1, count: 4 });
  });

  it('the library refuses what would train or score nonsense: uneven or empty queries, no episodes, no budget, a too-small image', async () => {
    const support = tf.zeros([5, 4]) as tf.Tensor2D;
    expect(() => prototypicalLoss(support, tf.zeros([7, 4]) as tf.Tensor2D, 5)).to.throw(/query: 7 rows for 5 classes/);
    expect(() => prototypicalLoss(support, tf.zeros([0, 4]) as tf.Tensor2D, 5)).to.throw(/query: 0 rows for 5 classes/);
    const model = conv4({ inputShape: [28, 28, 1], width: 4 });
    const dataset = await openDataset('synthetic', 'val');
    await evaluateEpisodes(model, dataset, []).then(
      () => expect.fail('evaluated'),
      (err: Error) => expect(err.message).to.equal('no episodes to evaluate'),
    );
    const config = { ...DEFAULT_PROTONET, ...TINY, episodes: undefined as unknown as number };
    const dir = path.join(tempDir(), 'run');
    await trainProtoNet(config, dir).then(
      () => expect.fail('trained'),
      (err: Error) => expect(err.message).to.equal('episodes must be a positive integer, got undefined'),
    );
    expect(fs.existsSync(dir), 'no run folder').to.equal(false);
    expect(() => conv4({ inputShape: [8, 8, 1] })).to.throw(
      /a 8x8 input is too small for 4 pooling blocks \(at least 16x16\)/,
    );
    model.dispose();
  });
});

function digest12(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 12);
}
