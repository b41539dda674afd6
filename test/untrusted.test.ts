/** Regression tests for hostile or broken inputs: each names the file, exits non-zero, writes nothing. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { RESULT_COLUMNS } from '../src/sweep/csv.js';
import { writeMiniImageNet } from './image-fixtures.js';
import { ROOT, tempDir } from './helpers.js';
import { CliRun, fewshot } from './run-cli.js';
import { tinyTrainFlags } from './tiny-runs.js';

function expectRefused(r: CliRun, pattern: RegExp, code = 1): void {
  const lines = r.stderr.split('\n').filter((l) => !l.startsWith('backend:') && !l.includes('extending the run'));
  expect(lines, r.stderr).to.have.length(1);
  expect(lines[0]).to.match(pattern);
  expect(r.code, r.stderr).to.equal(code);
}
const tiny = tinyTrainFlags({ episodes: 4, validateEvery: 2, logEvery: 2 });

/** A sweep CSV's header, and a row of it: setting `way` 5, suite 's', every other result 1. */
const header = ['key', 'way', ...RESULT_COLUMNS].join(',');
const row = (key: string, accuracy = '0.5') =>
  [key, '5', ...RESULT_COLUMNS.map((c) => (c === 'suite' ? 's' : c === 'accuracy' ? accuracy : '1'))].join(',');

describe('untrusted inputs', function () {
  let model: string;
  let results: string;

  before(() => {
    const run = path.join(tempDir(), 'run');
    const trained = fewshot('train', ...tiny, '--backend', 'wasm', '--out', run);
    expect(trained.code, trained.stderr).to.equal(0);
    model = path.join(run, 'best');
    results = tempDir();
    const evaluated = fewshot('eval', model, 'synthetic-test-5w1s', 'synthetic-test-5w5s', '--out', results);
    expect(evaluated.code, evaluated.stderr).to.equal(0);
  });

  it('compare --label names the two models in the table and the JSON', () => {
    const a = path.join(results, 'synthetic-test-5w1s.episodes.csv');
    const table = fewshot('compare', a, a, '--label', 'teacher', 'student');
    expect(table.code, table.stderr).to.equal(0);
    expect(table.stdout).to.match(/^teacher +\d+\.\d\d \+- /m);
    expect(table.stdout).to.match(/^student - teacher \(paired\) +\+0\.00 \+- 0\.00/m);
    const json = JSON.parse(fewshot('compare', a, a, '--label', 'teacher', '--json').stdout);
    expect(json.labels).to.deep.equal(['teacher', a]);
    expectRefused(
      fewshot('compare', a, a, '--label', 'x', 'y', 'z'),
      /^fewshot: --label: at most two names \(A and B\), got 3$/,
    );
  });

  it('compare reads the committed results without flags: their suite comes from the summary.json beside them', () => {
    const paper = path.join(ROOT, 'scripts', 'results', 'omniglot-paper', '1shot');
    const file = (model: string, suite: string) => path.join(paper, model, `${suite}.episodes.csv`);
    expect(fs.readFileSync(file('teacher', 'omniglot-test-5w1s'), 'utf8').split('\n')[0]).to.equal('episode,accuracy');
    const r = fewshot('compare', file('teacher', 'omniglot-test-5w1s'), file('rkd-da', 'omniglot-test-5w1s'), '--json');
    expect(r.code, r.stderr).to.equal(0);
    const c = JSON.parse(r.stdout);
    // The README's table: 98.68 and 98.73.
    expect([(100 * c.a.mean).toFixed(2), (100 * c.b.mean).toFixed(2)]).to.deep.equal(['98.68', '98.73']);
    expectRefused(
      fewshot('compare', file('teacher', 'omniglot-test-5w1s'), file('rkd-da', 'omniglot-test-20w1s')),
      /holds suite omniglot-test-5w1s@316fdb6235d14d4f, .* suite omniglot-test-20w1s@[0-9a-f]{16}: a paired comparison needs the same frozen suite$/,
    );
    // A summary.json that does not describe the file beside it is not trusted.
    const copy = tempDir();
    fs.copyFileSync(path.join(paper, 'teacher', 'summary.json'), path.join(copy, 'summary.json'));
    const lines = fs.readFileSync(file('teacher', 'omniglot-test-5w1s'), 'utf8').split('\n');
    const short = path.join(copy, 'omniglot-test-5w1s.episodes.csv');
    fs.writeFileSync(short, lines.slice(0, 11).join('\n') + '\n');
    expectRefused(
      fewshot('compare', short, short),
      new RegExp(`^fewshot: ${short}: 10 episodes, but ${path.join(copy, 'summary.json')} records 1000 for it$`),
    );
  });

  it('compare refuses per-episode files of two different suites, and repeated episodes', () => {
    const [a, b] = ['5w1s', '5w5s'].map((s) => path.join(results, `synthetic-test-${s}.episodes.csv`));
    expect(fs.readFileSync(a, 'utf8').split('\n')[0]).to.equal('episode,accuracy,suite');
    expectRefused(
      fewshot('compare', a, b),
      /holds suite synthetic-test-5w1s@[0-9a-f]{16}, .* suite synthetic-test-5w5s@[0-9a-f]{16}: a paired comparison needs the same frozen suite$/,
    );
    // A file without the suite column (older versions wrote `episode,accuracy`) is not paired blindly.
    const old = path.join(tempDir(), 'old.csv');
    fs.writeFileSync(
      old,
      fs
        .readFileSync(a, 'utf8')
        .split('\n')
        .map((l) => l.split(',').slice(0, 2).join(','))
        .join('\n'),
    );
    expectRefused(
      fewshot('compare', old, b),
      /old\.csv: does not name its suite \(an older per-episode file\): evaluate again .* or pass --assume-same-suite/,
    );
    expect(fewshot('compare', old, a, '--assume-same-suite').code).to.equal(0);
    const repeated = path.join(tempDir(), 'repeated.csv');
    const lines = fs.readFileSync(a, 'utf8').trim().split('\n');
    fs.writeFileSync(repeated, [...lines, lines[1]].join('\n') + '\n');
    expectRefused(
      fewshot('compare', a, repeated),
      new RegExp(`^fewshot: ${repeated}:${lines.length + 1}: episode 0 repeated \\(first on line 2\\)$`),
    );
    const empty = path.join(tempDir(), 'empty.csv');
    fs.writeFileSync(empty, 'episode,accuracy,suite\n');
    expectRefused(
      fewshot('compare', a, empty),
      new RegExp(`^fewshot: ${empty}: no episodes \\(an empty result file\\)$`),
    );
  });

  it('a suite is validated field by field: no zero queries, no unknown fields, no null, no path in its name', () => {
    const dir = tempDir();
    const base = { name: 'bad', dataset: 'synthetic', split: 'val', way: 5, shot: 1, query: 2, episodes: 3, seed: 0 };
    const cases: [object | null, RegExp][] = [
      [{ ...base, query: 0 }, /query must be a positive integer, got 0/],
      [{ ...base, queries: 2 }, /unknown field 'queries'/],
      [null, /a suite must be a JSON object/],
      [{ ...base, name: '../../x' }, /field 'name' must be letters, digits/],
    ];
    for (const [suite, pattern] of cases) {
      const file = path.join(dir, 'bad.json');
      fs.writeFileSync(file, JSON.stringify(suite));
      expectRefused(fewshot('eval', model, file), new RegExp(`^fewshot: ${file}: .*${pattern.source}`));
    }
  });

  it('a start that fails leaves no run folder behind, so the corrected command runs', async () => {
    const out = path.join(tempDir(), 'run');
    expectRefused(
      fewshot('train', ...tiny, '--way', '500', '--out', out),
      /^fewshot: way 500 exceeds the \d+ classes of synthetic\/train$/,
    );
    expectRefused(
      fewshot('train', ...tiny, '--validate-every', '3', '--out', out),
      /^fewshot: --validate-every \(3\) must be a multiple of --log-every \(2\)$/,
    );
    expectRefused(
      fewshot('distill', ...tiny, '--teacher', path.join(out, 'nowhere'), '--out', out),
      /^fewshot: --teacher .*nowhere: no model there/,
    );
    const torn = path.join(tempDir(), 'torn');
    fs.mkdirSync(torn);
    fs.writeFileSync(path.join(torn, 'model.json'), '{');
    expectRefused(
      fewshot('distill', ...tiny, '--teacher', torn, '--out', out),
      /^fewshot: --teacher .*torn: cannot load the model \(.*model\.json: not valid JSON/,
    );
    // A catalog (class and image ids, no pixels) is enough to freeze suites, not to train.
    const from = tempDir();
    await writeMiniImageNet(from);
    const catalog = path.join(tempDir(), 'catalog');
    expect(fewshot('data', 'miniimagenet', '--from', from, '--csv-only', '--out', catalog).code).to.equal(0);
    expectRefused(
      fewshot(
        'train',
        ...tiny,
        '--way',
        '2',
        '--query',
        '1',
        '--dataset',
        'miniimagenet',
        '--data',
        catalog,
        '--out',
        out,
      ),
      /^fewshot: .*train\.catalog\.json: class and image ids only, no pixels/,
    );
    expect(fs.existsSync(out)).to.equal(false);
    expectRefused(fewshot('train', ...tiny, '--out', ''), /^fewshot: --out: an empty folder name$/);
    expect(fs.existsSync(path.join(process.cwd(), 'config.json'))).to.equal(false);
    expect(fewshot('train', ...tiny, '--out', out).code).to.equal(0);
  });

  it('--resume refuses a run of the other kind, and settings that would change the run; more --episodes extends it', () => {
    const run = path.dirname(model);
    expectRefused(
      fewshot('distill', '--resume', '--out', run),
      /holds a training run, not a distillation; resume it with 'fewshot train --resume/,
    );
    expectRefused(
      fewshot('train', '--resume', '--out', run, '--lr', '0.01'),
      /--resume continues the run as configured; --lr 0.01 \(the run has 0.001\) would change it/,
    );
    const extended = fewshot('train', '--resume', '--out', run, '--episodes', '6');
    expect(extended.code, extended.stderr).to.equal(0);
    expect(extended.stderr).to.include('extending the run from 4 to 6 episodes');
    expect(JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')).episodes).to.equal(6);
  });

  it('a truncated or corrupt checkpoint is named, with what is wrong', () => {
    const copy = path.join(tempDir(), 'best');
    fs.cpSync(model, copy, { recursive: true });
    const weights = path.join(copy, 'weights.bin');
    fs.truncateSync(weights, 616);
    expectRefused(
      fewshot('eval', copy, 'synthetic-test-5w1s'),
      new RegExp(
        `^fewshot: ${weights}: 616 bytes, model.json's weights need \\d+ \\(a truncated or torn checkpoint\\)$`,
      ),
    );
    fs.writeFileSync(path.join(copy, 'model.json'), '{"modelTopology": ');
    expectRefused(
      fewshot('eval', copy, 'synthetic-test-5w1s'),
      new RegExp(`^fewshot: ${path.join(copy, 'model.json')}: not valid JSON`),
    );
    const run = tempDir();
    fs.writeFileSync(path.join(run, 'config.json'), '{"episodes": ');
    expectRefused(
      fewshot('train', '--resume', '--out', run),
      new RegExp(`^fewshot: ${path.join(run, 'config.json')}: not a run config`),
    );
  });

  it('report refuses a sweep CSV whose complete last row lacks its newline, and duplicate rows', () => {
    const csv = path.join(tempDir(), 'sweep.csv');
    fs.writeFileSync(csv, `${header}\n${row('0123456789abcdef')}\n${row('0123456789abcde0')}`);
    expectRefused(
      fewshot('report', csv, '--out', tempDir()),
      new RegExp(`^fewshot: ${csv}:3: the last line has no newline`),
    );
    fs.writeFileSync(csv, `${header}\n${row('0123456789abcdef')}\n${row('0123456789abcdef')}\n`);
    expectRefused(fewshot('report', csv, '--out', tempDir()), /a duplicate/);
  });

  it('a 10 MB cell is quoted in a bounded line that names the file and line', () => {
    const csv = path.join(tempDir(), 'sweep.csv');
    fs.writeFileSync(csv, `${header}\n${row('0123456789abcdef', '9'.repeat(10_000_000))}\n`);
    const r = fewshot('report', csv, '--out', tempDir());
    expectRefused(
      r,
      new RegExp(
        `^fewshot: ${csv}:2: accuracy '9{199}\\.\\.\\.\\(9999782 characters cut\\)\\.\\.\\.9{19}' is not in \\[0, 1\\]$`,
      ),
    );
    expect(r.stderr.length).to.be.below(1000);
  });

  it('eval refuses two suites of one name before it writes: their results would share a name and a CSV', () => {
    const dir = tempDir();
    const suites = [1, 2].map((shot) => {
      const file = path.join(dir, `shot-${shot}.json`);
      fs.writeFileSync(
        file,
        JSON.stringify({
          name: 'same',
          dataset: 'synthetic',
          split: 'val',
          way: 3,
          shot,
          query: 2,
          episodes: 4,
          seed: 5,
        }),
      );
      return file;
    });
    const out = path.join(dir, 'results');
    expectRefused(
      fewshot('eval', model, ...suites, '--out', out),
      new RegExp(`^fewshot: ${suites[1]}: suite name 'same' is also ${suites[0]}'s`),
    );
    expect(fs.existsSync(out), 'nothing written').to.equal(false);
  });

  it('a folder loop or a folder reached twice through symlinks is refused by name, not walked until memory runs out', () => {
    const from = tempDir();
    const character = path.join(from, 'images_background', 'Alpha', 'character01');
    fs.mkdirSync(character, { recursive: true });
    fs.symlinkSync(path.join('..', '..'), path.join(character, 'up'));
    expectRefused(
      fewshot('data', 'omniglot', '--from', from, '--out', path.join(tempDir(), 'cache')),
      new RegExp(`^fewshot: ${character}/up: reaches ${path.join(from, 'images_background')} again through a symlink`),
    );
    // Two links to one class folder would import its images twice.
    const folder = tempDir();
    fs.mkdirSync(path.join(folder, 'images_background', 'Alpha', 'character01'), { recursive: true });
    fs.symlinkSync(
      path.join(folder, 'images_background', 'Alpha', 'character01'),
      path.join(folder, 'images_background', 'Alpha', 'character02'),
    );
    expectRefused(
      fewshot('data', 'omniglot', '--from', folder, '--out', path.join(tempDir(), 'cache')),
      /character02: reaches .*character01 again through a symlink/,
    );
  });

  it('an image cache header is checked field by field before it sizes anything', async () => {
    const { readPackedImages } = await import('../src/data/cache.js');
    const file = path.join(tempDir(), 'images.bin');
    const write = (header: unknown, pixels = 0, length?: number) => {
      const json = Buffer.from(JSON.stringify(header));
      const size = Buffer.alloc(4);
      size.writeUInt32LE(length ?? json.length);
      fs.writeFileSync(file, Buffer.concat([Buffer.from('FSRKDIMG'), size, json, Buffer.alloc(pixels)]));
      return () => readPackedImages(file);
    };
    const head = { format: 1, source: 'x', shape: [28, 28, 1], classes: [{ id: 'a', images: ['1'] }] };
    expect(write(head, 784)().classes).to.have.length(1);
    expect(write(null)).to.throw(/images\.bin: image cache header: not a JSON object/);
    expect(write({ ...head, shape: [100000, 100000, 3], classes: [] })).to.throw(
      /shape \[100000,100000,3\] is not \[height, width, 1 or 3\] with sides 1\.\.4096/,
    );
    expect(write({ ...head, shape: [0.5, 2, 1] })).to.throw(/shape \[0\.5,2,1\]/);
    expect(write({ ...head, classes: 5 })).to.throw(/'classes' is not an array/);
    expect(write({ ...head, classes: [{ id: 'a', images: 7 }] })).to.throw(
      /class 0 is not \{ id, images: \[names\] \}/,
    );
    expect(
      write(
        {
          ...head,
          classes: [
            { id: 'a', images: ['1'] },
            { id: 'a', images: ['2'] },
          ],
        },
        1568,
      ),
    ).to.throw(/class 'a' appears twice/);
    expect(write(head, 784, 2 ** 32 - 1)).to.throw(/header of 4294967295 bytes runs past the file's end/);
  });

  it('a manifest that disagrees with its suite, a suite of absurd size, an image file too large to be one', async () => {
    const dir = tempDir();
    // A suite and a manifest of another shape, its sha256 updated to match: the suite's name would lie.
    for (const ext of ['json', 'csv'])
      fs.copyFileSync(path.join(ROOT, 'episodes', `synthetic-test-5w5s.${ext}`), path.join(dir, `lying.${ext}`));
    const suite = JSON.parse(fs.readFileSync(path.join(ROOT, 'episodes', 'synthetic-test-5w1s.json'), 'utf8'));
    fs.writeFileSync(
      path.join(dir, 'lying.json'),
      JSON.stringify({ ...suite, sha256: JSON.parse(fs.readFileSync(path.join(dir, 'lying.json'), 'utf8')).sha256 }),
    );
    expectRefused(
      fewshot('eval', model, path.join(dir, 'lying.json')),
      /lying\.csv: 600 episodes of 5-way 5-shot 15-query, but .*lying\.json says 600 of 5-way 1-shot 15-query$/,
    );
    fs.writeFileSync(
      path.join(dir, 'huge.json'),
      JSON.stringify({ ...suite, name: 'huge', episodes: 1e9, sha256: undefined }),
    );
    expectRefused(
      fewshot('eval', model, path.join(dir, 'huge.json')),
      /huge\.json: field 'episodes' must be an integer from 1 to 100000/,
    );
    // A sparse file: 65 MiB by its size, nothing on disk.
    const images = path.join(dir, 'folder', 'a');
    fs.mkdirSync(images, { recursive: true });
    fs.writeFileSync(path.join(images, 'big.png'), '');
    fs.truncateSync(path.join(images, 'big.png'), 65 * 2 ** 20);
    expectRefused(
      fewshot('data', 'folder', '--from', path.join(dir, 'folder'), '--out', path.join(dir, 'cache')),
      /big\.png: 68157440 bytes, more than any image of a dataset/,
    );
  });

  it('usage errors are one line with exit 2, not the help page', () => {
    expectRefused(
      fewshot('train', '--way', '0'),
      /^fewshot: option '--way <n>' argument '0' is invalid\. --way must be a positive integer, got '0' \(see 'fewshot train --help'\)$/,
      2,
    );
    expectRefused(fewshot('frobnicate'), /^fewshot: unknown command 'frobnicate' \(see 'fewshot --help'\)$/, 2);
    const version = fewshot('--version');
    expect(version.code).to.equal(0);
    expect(version.stdout.trim()).to.match(/^\d+\.\d+\.\d+(\+[0-9a-f]{7}(-dirty)?)?$/);
  });
});
