import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import * as vega from 'vega';
import { TopLevelSpec, compile } from 'vega-lite';
import { curvesSpec, findRunLogs, plotCurves, readLogLines, runCurves, runLabels } from '../src/report/curves.js';
import { crc32c } from '../src/report/tensorboard.js';
import { ROOT, tempDir } from './helpers.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

function fewshot(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

/** A log.jsonl of `lines` log intervals of 10 episodes; `extra(e)` adds fields to the line of episode e. */
function writeLog(file: string, lines: number, extra: (e: number) => object = () => ({})): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const text = Array.from({ length: lines }, (_, i) => {
    const episode = 10 * (i + 1);
    return JSON.stringify({ episode, lr: 1e-3, loss: 2 / (i + 1), accuracy: 0.5 + i / 100, ...extra(episode) });
  });
  fs.writeFileSync(file, text.map((l) => l + '\n').join(''));
}

describe('training curves (fewshot plot)', function () {
  this.timeout(60_000);

  it("draws a recipe's stages end to end, each start marked, the validation only where it was logged", () => {
    const dir = tempDir();
    writeLog(path.join(dir, 'select', 'log.jsonl'), 5, (e) => (e % 20 === 0 ? { valAccuracy: 0.9, valLoss: 0.3 } : {}));
    writeLog(path.join(dir, 'final', 'log.jsonl'), 3);
    const logs = findRunLogs(dir);
    expect(logs.stages.map((s) => s.name)).to.deep.equal(['select', 'final']);
    const curves = runCurves(logs, 'teacher');
    expect(curves.markers).to.deep.equal([
      { run: 'teacher', stage: 'select', episode: 0 },
      { run: 'teacher', stage: 'final', episode: 50 },
    ]);
    const loss = curves.points.filter((p) => p.metric === 'training loss (total)');
    expect(loss.map((p) => [p.stage, p.episode])).to.deep.equal([
      ['select', 10],
      ['select', 20],
      ['select', 30],
      ['select', 40],
      ['select', 50],
      ['final', 60],
      ['final', 70],
      ['final', 80],
    ]);
    // Fractions become percent; validation points are those of its lines only.
    const val = curves.points.filter((p) => p.metric === 'validation accuracy %');
    expect(val.map((p) => [p.episode, p.value])).to.deep.equal([
      [20, 90],
      [40, 90],
    ]);
    expect(Math.max(...curves.points.filter((p) => p.metric === 'training accuracy %').map((p) => p.value))).to.equal(
      54,
    );
    // A stage alone is a run of one stage: no markers.
    expect(runCurves(findRunLogs(path.join(dir, 'final')), 'final').markers).to.deep.equal([]);
  });

  it("orders a distillation's generations by number, each term in its own panel", () => {
    const dir = tempDir();
    for (const g of [1, 2, 10])
      writeLog(path.join(dir, `gen${g}`, 'log.jsonl'), g === 10 ? 1 : 2, () => ({ proto: 1, rkdD: 0.01, rkdA: 0.02 }));
    fs.mkdirSync(path.join(dir, 'gen3')); // started, no log yet: nothing to draw
    const curves = runCurves(findRunLogs(dir), 'student');
    expect(curves.markers.map((m) => [m.stage, m.episode])).to.deep.equal([
      ['gen1', 0],
      ['gen2', 20],
      ['gen10', 40],
    ]);
    expect([...new Set(curves.points.map((p) => p.metric))]).to.deep.equal([
      'training loss (total)',
      'prototypical loss',
      'RKD-D term (before its weight)',
      'RKD-A term (before its weight)',
      'training accuracy %',
      'learning rate',
    ]);
  });

  it("reads the scripts' results folders (select-log.jsonl, train-log.jsonl) and names runs by what tells them apart", () => {
    const dir = tempDir();
    writeLog(path.join(dir, '1shot', 'teacher', 'select-log.jsonl'), 2);
    writeLog(path.join(dir, '1shot', 'teacher', 'train-log.jsonl'), 2);
    writeLog(path.join(dir, '1shot', 'rkd-da', 'train-log.jsonl'), 2);
    expect(findRunLogs(path.join(dir, '1shot', 'teacher')).stages.map((s) => s.name)).to.deep.equal([
      'select',
      'final',
    ]);
    expect(findRunLogs(path.join(dir, '1shot', 'rkd-da')).stages.map((s) => s.name)).to.deep.equal(['']);
    expect(
      runLabels([
        path.join(dir, '1shot', 'teacher'),
        path.join(dir, '5shot', 'teacher'),
        path.join(dir, '1shot', 'rkd-da', 'train-log.jsonl'),
        path.join(dir, 'runs', 'a', 'log.jsonl'),
      ]),
    ).to.deep.equal(['1shot/teacher', '5shot/teacher', 'rkd-da/train', 'runs/a']);
  });

  it('leaves out a torn last line with a note, and names a bad line elsewhere', () => {
    const dir = tempDir();
    const file = path.join(dir, 'log.jsonl');
    writeLog(file, 2);
    fs.appendFileSync(file, '{"episode":30,"lo');
    const read = readLogLines(file);
    expect(read.lines).to.have.length(2);
    expect(read.notes).to.deep.equal([
      `${file}:3: the last line has no newline and is not whole JSON (being written, or cut by a kill): left out`,
    ]);
    fs.appendFileSync(file, 'ss":1}\n{"lr":1}\n');
    expect(() => readLogLines(file)).to.throw(`${file}:4: no episode number (not a training log line)`);
    fs.writeFileSync(file, '{"episode":10}\nnot json\n');
    expect(() => readLogLines(file)).to.throw(`${file}:2: not a JSON log line`);
  });

  it('writes the SVG and PNG through the command line; bad input is one line naming it, exit 2 for usage', async () => {
    const dir = tempDir();
    writeLog(path.join(dir, 'teacher', 'select', 'log.jsonl'), 4, () => ({ valAccuracy: 0.95, valLoss: 0.2 }));
    writeLog(path.join(dir, 'teacher', 'final', 'log.jsonl'), 4);
    writeLog(path.join(dir, 'student', 'gen1', 'log.jsonl'), 4, () => ({ proto: 1, rkdD: 0.01 }));
    const out = path.join(dir, 'plots');
    const ok = fewshot('plot', path.join(dir, 'teacher'), path.join(dir, 'student'), '--out', out, '--json');
    expect(ok.code, ok.stderr).to.equal(0);
    const result = JSON.parse(ok.stdout);
    expect(result.files).to.deep.equal([path.join(out, 'curves.svg'), path.join(out, 'curves.png')]);
    expect(result.runs.map((r: { run: string }) => r.run)).to.deep.equal(['teacher', 'student']);
    expect(fs.readdirSync(out).sort()).to.deep.equal(['curves.png', 'curves.svg']); // no temporaries left
    const svg = fs.readFileSync(path.join(out, 'curves.svg'), 'utf8');
    for (const text of ['select', 'final', 'validation accuracy %', 'RKD-D term (before its weight)', 'learning rate'])
      expect(svg).to.include(`>${text}<`);
    expect((await sharp(path.join(out, 'curves.png')).metadata()).format).to.equal('png');

    const missing = fewshot('plot', path.join(dir, 'nope'), '--out', out);
    expect([missing.code, missing.stderr]).to.deep.equal([
      1,
      `fewshot: ${path.join(dir, 'nope')}: no such file or folder`,
    ]);
    const notRun = fewshot('plot', out, '--out', out);
    expect(notRun.code).to.equal(1);
    expect(notRun.stderr).to.match(
      /^fewshot: .*plots: not a run folder \(no log\.jsonl, here or in select\/, final\/ or gen<g>\//,
    );
    const labels = fewshot('plot', path.join(dir, 'teacher'), path.join(dir, 'student'), '--out', out, '--label', 'a');
    expect(labels.code).to.equal(2);
    expect(labels.stderr.split('\n')).to.have.length(1);
    expect(labels.stderr).to.match(/^fewshot: --label: 1 names for 2 runs/);
    const noOut = fewshot('plot', path.join(dir, 'teacher'));
    expect(noOut.code).to.equal(2);
    expect(noOut.stderr).to.match(/^fewshot: required option '--out <dir>' not specified/);
  });

  it('writes nothing when any run cannot be read', async () => {
    const dir = tempDir();
    writeLog(path.join(dir, 'a', 'log.jsonl'), 2);
    fs.mkdirSync(path.join(dir, 'b'));
    fs.writeFileSync(path.join(dir, 'b', 'log.jsonl'), '{"episode":10}\n{"episode":\n{"episode":30}\n');
    const out = path.join(dir, 'out');
    await plotCurves([path.join(dir, 'a'), path.join(dir, 'b')], { out }).then(
      () => expect.fail('a bad log was plotted'),
      (err: Error) => expect(err.message).to.equal(`${path.join(dir, 'b', 'log.jsonl')}:2: not a JSON log line`),
    );
    expect(fs.existsSync(out)).to.equal(false);
    fs.writeFileSync(path.join(dir, 'b', 'log.jsonl'), '');
    await plotCurves([path.join(dir, 'b')], { out }).then(
      () => expect.fail('an empty log was plotted'),
      (err: Error) => expect(err.message).to.match(/log\.jsonl: no log lines/),
    );
  });

  it('keeps accuracy axes within 0-100% (nice rounding included)', async () => {
    const dir = tempDir();
    writeLog(path.join(dir, 'a', 'log.jsonl'), 30, (e) => ({
      accuracy: Math.min(1, 0.9 + e / 1000),
      valAccuracy: 0.9996,
    }));
    const spec = curvesSpec([runCurves(findRunLogs(path.join(dir, 'a')), 'a')], { title: 'a' });
    const domains = await yDomains(spec);
    const titles = (spec as unknown as { concat: { title: { text: string } }[] }).concat.map((p) => p.title.text);
    const percent = titles.flatMap((t, i) => (t.endsWith('%') ? [domains[i]] : []));
    expect(percent).to.have.length(2);
    for (const [lo, hi] of percent) {
      expect(hi).to.be.at.most(100);
      expect(lo).to.be.at.least(0);
    }
    expect(percent[0][1]).to.equal(100); // training accuracy reaches 100%: the axis ends there, not at 105 or 120
  });
});

describe('training curves as TensorBoard event files', function () {
  this.timeout(120_000);

  it('frames records with CRC-32C (its check value)', () => {
    expect(crc32c(Buffer.from('123456789'))).to.equal(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).to.equal(0x8a9136aa);
  });

  // TensorBoard's own reader: TENSORBOARD_PYTHON, or python3 where it imports tensorboard.
  it("reads back with TensorBoard's reader, a run per stage, at the end-to-end episode steps", async function () {
    const candidates = [process.env.TENSORBOARD_PYTHON, 'python3'].filter((p): p is string => !!p);
    const python = candidates.find((p) => spawnSync(p, ['-c', 'import tensorboard']).status === 0);
    if (!python) {
      console.log('      (skipped: no Python with tensorboard here; set TENSORBOARD_PYTHON to one)');
      this.skip();
    }
    const dir = tempDir();
    writeLog(path.join(dir, 'teacher', 'select', 'log.jsonl'), 4, (e) => ({
      episodesPerSecond: 2,
      ...(e % 20 === 0 ? { valAccuracy: 0.9, valLoss: 0.3 } : {}),
    }));
    writeLog(path.join(dir, 'teacher', 'final', 'log.jsonl'), 2, () => ({ episodesPerSecond: 5 }));
    writeLog(path.join(dir, 'student', 'gen1', 'log.jsonl'), 2, () => ({ proto: 1.5, rkdA: 0.01 }));
    const logdir = path.join(dir, 'tb');
    const { files } = await plotCurves([path.join(dir, 'teacher'), path.join(dir, 'student')], {
      out: dir,
      tensorboard: logdir,
    });
    expect(
      files.filter((f) => f.includes('tfevents')).map((f) => path.relative(logdir, path.dirname(f))),
    ).to.deep.equal([path.join('teacher', 'select'), path.join('teacher', 'final'), 'student']);
    const reader = `
import json, sys
from tensorboard.backend.event_processing import event_multiplexer
m = event_multiplexer.EventMultiplexer()
m.AddRunsFromDirectory(sys.argv[1])
m.Reload()
print(json.dumps({run: {tag: [[e.step, e.value, e.wall_time] for e in m.Scalars(run, tag)] for tag in tags['scalars']}
                  for run, tags in m.Runs().items()}))
`;
    const r = spawnSync(python!, ['-c', reader, logdir], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    const runs = JSON.parse(r.stdout);
    expect(Object.keys(runs).sort()).to.deep.equal(['student', 'teacher/final', 'teacher/select']);
    expect(Object.keys(runs['teacher/select']).sort()).to.deep.equal([
      'lr',
      'train/accuracy',
      'train/loss',
      'val/accuracy',
      'val/loss',
    ]);
    // Steps end to end; values as logged (float32), accuracies in percent; wall time from the speeds.
    expect(runs['teacher/select']['train/loss'].map((e: number[]) => e[0])).to.deep.equal([10, 20, 30, 40]);
    expect(runs['teacher/final']['train/loss'].map((e: number[]) => e.slice(0, 1))).to.deep.equal([[50], [60]]);
    expect(runs['teacher/final']['train/loss'][1][1]).to.be.closeTo(1, 1e-6);
    expect(runs['teacher/select']['val/accuracy'].map((e: number[]) => [e[0], e[2]])).to.deep.equal([
      [20, 10],
      [40, 20],
    ]);
    expect(runs['teacher/select']['val/accuracy'][0][1]).to.be.closeTo(90, 1e-4);
    expect(runs['teacher/final']['lr'].map((e: number[]) => e[2])).to.deep.equal([22, 24]);
    expect(runs.student['train/rkdA'].map((e: number[]) => e[1])).to.have.length(2);
  });
});

/** The y domain of each panel of a concatenated spec, as vega computes it (nice rounding included). */
export async function yDomains(spec: TopLevelSpec): Promise<number[][]> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    await view.runAsync();
    const n = (spec as unknown as { concat?: unknown[] }).concat?.length;
    return n === undefined
      ? [view.scale('y').domain()]
      : Array.from({ length: n }, (_, i) => view.scale(`concat_${i}_y`).domain());
  } finally {
    view.finalize();
  }
}
