import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { ROOT, tempDir } from './helpers.js';
import { CLI, CliRun, fewshot } from './run-cli.js';
import { tinyTrainFlags, writeTinySuite } from './tiny-runs.js';

/** A failure is one line on stderr starting `fewshot:`, and a non-zero exit code. */
function expectOneLineError(r: CliRun, pattern: RegExp): void {
  expect(r.code, r.stderr).to.not.equal(0);
  const lines = r.stderr.split('\n').filter((l) => !l.startsWith('backend:'));
  expect(lines, r.stderr).to.have.length(1);
  expect(lines[0]).to.match(pattern);
}

/** The modules (file URLs) a run of the command line resolves, recorded by a module resolve hook. */
function loadedModules(...args: string[]): string[] {
  const dir = tempDir();
  const hooks = path.join(dir, 'hooks.mjs');
  const list = path.join(dir, 'loaded.txt');
  fs.writeFileSync(
    hooks,
    `import * as fs from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  fs.appendFileSync(${JSON.stringify(list)}, resolved.url + '\\n');
  return resolved;
}\n`,
  );
  const register = `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`;
  const r = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(register)}`, CLI, ...args],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).to.equal(0);
  return fs.readFileSync(list, 'utf8').trim().split('\n');
}

describe('command line', function () {
  it('--json on every command that prints results: one JSON value on stdout', () => {
    const dir = tempDir();
    const json = (...args: string[]) => {
      const r = fewshot(...args, '--json');
      expect(r.code, r.stderr).to.equal(0);
      return JSON.parse(r.stdout);
    };
    const shipped = (name: string) => path.join(ROOT, 'episodes', `${name}.json`);
    const verified = json('episodes', 'verify', shipped('synthetic-test-5w1s'), shipped('miniimagenet-test-5w1s'));
    expect(verified.map((v: { status: string }) => v.status)).to.deep.equal(['ok', 'not checked']);
    expect(json('episodes', 'show', shipped('synthetic-val-5w1s'), '--episode', '3')).to.include({
      episodes: 100,
      way: 5,
      episode: 3,
    });
    const demo = json('demo', '--episodes', '2', '--width', '4', '--out', path.join(dir, 'demo'), '--backend', 'wasm');
    expect(demo.suites.map((s: { suite: string }) => s.suite)).to.deep.equal([
      'synthetic-test-5w1s',
      'synthetic-test-5w5s',
    ]);
    expect(demo.suites[0].difference.n).to.equal(600);
    const suite = writeTinySuite(dir, { name: 'tiny', seed: 1 });
    const spec = path.join(dir, 'spec.json');
    fs.writeFileSync(
      spec,
      JSON.stringify({
        runs: path.join(dir, 'runs'),
        suites: [suite],
        base: { split: 'val', way: 3, shot: 1, query: 2, width: 4, episodes: 2, logEvery: 1, validateEvery: 2 },
      }),
    );
    const swept = json('sweep', spec, '--out', path.join(dir, 'sweep.csv'), '--backend', 'wasm');
    expect(swept).to.include({ points: 1, skipped: 0 });
    expect(swept.rows).to.have.length(1);
    expect(json('sweep', 'merge', path.join(dir, 'sweep.csv'), '--out', path.join(dir, 'all.csv'))).to.include({
      rows: 1,
      points: 1,
    });
    expect(json('report', path.join(dir, 'all.csv'), '--out', path.join(dir, 'report')).files).to.include(
      path.join(dir, 'report', 'report.md'),
    );
  });

  it('-v prints the version as --version does; a dataset that does not exist is a usage error before anything starts', () => {
    const version = fewshot('--version');
    expect(version.code).to.equal(0);
    expect(fewshot('-v')).to.deep.equal(version);
    const out = path.join(tempDir(), 'run');
    const r = fewshot('train', '--dataset', 'imagenet', '--out', out);
    expect(r.code, r.stderr).to.equal(2);
    // One line, no backend line: nothing was started.
    expect(r.stderr.split('\n'), r.stderr).to.have.length(1);
    expect(r.stderr).to.match(
      /^fewshot: option '--dataset <name>' argument 'imagenet' is invalid\. Allowed choices are synthetic, omniglot, .*\(see 'fewshot train --help'\)$/,
    );
    expect(fs.existsSync(out)).to.equal(false);
  });

  it("the README's ways to call it after the set-up: npm link --ignore-scripts, and npm run fewshot --", function () {
    const version = fewshot('--version').stdout;
    const prefix = tempDir();
    const env = { ...process.env, npm_config_prefix: prefix };
    const linked = spawnSync('npm', ['link', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    expect(linked.status, linked.stderr).to.equal(0);
    const bin = spawnSync(path.join(prefix, 'bin', 'fewshot'), ['--version'], { encoding: 'utf8' });
    expect(bin.stdout).to.equal(version);
    const script = spawnSync('npm', ['run', '-s', 'fewshot', '--', '--version'], { cwd: ROOT, encoding: 'utf8' });
    expect(script.stdout).to.equal(version);
  });

  it('data subcommands are described as every command is: in lower case', () => {
    const help = fewshot('data', '--help').stdout;
    const described = help
      .split('Commands:')[1]
      .split('\n')
      .map((l) => /^ {2}\S+(?: \[options\])?(?: <\w+>)?\s{2,}(\S.*)$/.exec(l)?.[1])
      .filter((d): d is string => d !== undefined);
    expect(described.length).to.be.greaterThan(4);
    for (const d of described) expect(d[0], d).to.equal(d[0].toLowerCase());
  });

  it('--help and --version load no command module (nor TensorFlow.js); a command loads its own', () => {
    for (const flag of ['--help', '--version']) {
      const loaded = loadedModules(flag);
      expect(
        loaded
          .filter((u) => u.includes('/dist/src/'))
          .map((u) => u.replace(/.*\/dist\/src\//, ''))
          .sort(),
        flag,
      ).to.deep.equal(['cli/commands.js', 'cli/main.js', 'provenance.js']);
      expect(
        loaded.filter((u) => u.includes('@tensorflow')),
        flag,
      ).to.deep.equal([]);
    }
    const compare = loadedModules('compare', '--help').map((u) => u.replace(/.*\/dist\/src\//, ''));
    expect(compare).to.include('cli/compare.js');
    expect(compare).to.not.include('cli/train.js');
  });

  it('freezes a suite, then verifies it', () => {
    const dir = tempDir();
    const suite = writeTinySuite(dir, { name: 'tiny', episodes: 5, seed: 9 });
    const frozen = fewshot('episodes', 'freeze', suite);
    expect(frozen.code, frozen.stderr).to.equal(0);
    expect(JSON.parse(fs.readFileSync(suite, 'utf8')).sha256).to.match(/^[0-9a-f]{64}$/);
    expect(fs.readFileSync(path.join(dir, 'tiny.csv'), 'utf8').split('\n')).to.have.length(1 + 5 * 9 + 1);
    const verified = fewshot('episodes', 'verify', suite);
    expect(verified.code, verified.stderr).to.equal(0);
    expect(verified.stdout).to.match(/^ok\t/);
  });

  it('refuses a way larger than the split, naming it', () => {
    const suite = writeTinySuite(tempDir(), { name: 'wide', way: 100, episodes: 5, seed: 0 });
    expectOneLineError(
      fewshot('episodes', 'freeze', suite),
      /^fewshot: way 100 exceeds the 64 classes of synthetic\/val$/,
    );
    expect(fs.existsSync(suite.replace('.json', '.csv'))).to.equal(false);
  });

  it('refuses a malformed suite, naming the file and field', () => {
    const suite = path.join(tempDir(), 'bad.json');
    fs.writeFileSync(
      suite,
      JSON.stringify({
        name: 'bad',
        dataset: 'synthetic',
        split: 'val',
        way: '5',
        shot: 1,
        query: 2,
        episodes: 5,
        seed: 0,
      }),
    );
    expectOneLineError(fewshot('episodes', 'verify', suite), /bad\.json: field 'way' must be a number/);
  });

  it('names a missing Omniglot cache and says how to make one', () => {
    expectOneLineError(
      fewshot('episodes', 'show', path.join(ROOT, 'episodes', 'omniglot-test-5w1s.json')),
      /fewshot data omniglot --from/,
    );
  });

  it('refuses to start a new run over an existing one, leaving it as it was', () => {
    const run = tempDir();
    fs.writeFileSync(path.join(run, 'config.json'), '{"episodes": 7}\n');
    fs.writeFileSync(path.join(run, 'log.jsonl'), '{"episode": 5}\n');
    for (const command of [['train'], ['distill', '--teacher', run]]) {
      expectOneLineError(
        fewshot(...command, '--out', run, '--dataset', 'synthetic'),
        new RegExp(`^fewshot: ${run}: already holds a run \\(config.json\\); add --resume`),
      );
    }
    expect(fs.readFileSync(path.join(run, 'config.json'), 'utf8')).to.equal('{"episodes": 7}\n');
    expect(fs.readFileSync(path.join(run, 'log.jsonl'), 'utf8')).to.equal('{"episode": 5}\n');
  });

  it('demo: a re-run replaces the previous run, student included', () => {
    const out = tempDir();
    const episodesOf = (run: string) =>
      JSON.parse(fs.readFileSync(path.join(out, run, 'checkpoint', 'state.json'), 'utf8')).episode;
    const first = fewshot('demo', '--out', out, '--episodes', '6', '--width', '8');
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/synthetic-test-5w1s\s+600\s+\d+\.\d\d \+- /);
    expect([episodesOf('teacher'), episodesOf('student/gen1')]).to.deep.equal([6, 6]);
    const second = fewshot('demo', '--out', out, '--episodes', '4', '--width', '8');
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout).to.include(`replacing the previous demo run in ${out}`);
    // The backend line once, whole; the table's heading names the backend alone (no fallbacks).
    const all = `${second.stdout}\n${second.stderr}`;
    expect(all.match(/^backend: .*$/gm)).to.have.length(1);
    expect(/^backend: .*$/m.exec(all)![0].length).to.be.lessThan(150);
    expect(all).to.match(/^Accuracy % with 95% intervals on frozen synthetic test episodes \([^;]+, \d+ s in all\):$/m);
    expect([episodesOf('teacher'), episodesOf('student/gen1')]).to.deep.equal([4, 4]);
  });

  it('on the cpu backend stderr holds the backend line alone (no tfjs banner)', () => {
    const r = fewshot(
      ...['train', '--dataset', 'synthetic', '--way', '5', '--shot', '1', '--width', '4', '--episodes', '2'],
      ...['--backend', 'cpu', '--out', path.join(tempDir(), 'run')],
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.equal('backend: cpu (@tensorflow/tfjs-backend-cpu, 1 thread)');
  });

  it('on a terminal, a command failing after its progress bar started prints its error and exits', function () {
    // util-linux `script` gives the command a terminal, so that its bar runs.
    if (spawnSync('script', ['--version']).error) this.skip();
    const dir = tempDir();
    const train = ['train', '--dataset', 'synthetic', '--way', '5', '--shot', '1', '--width', '4', '--episodes', '2'];
    expect(fewshot(...train, '--out', path.join(dir, 'teacher')).code).to.equal(0);
    const distill = [
      CLI,
      'distill',
      ...train.slice(1),
      // Checked before the bar starts now (the command resolves its inputs first): a diverging step fails after it.
      '--lr',
      '1e38',
      '--teacher',
      path.join(dir, 'teacher', 'best'),
    ];
    const command = [process.execPath, ...distill, '--out', path.join(dir, 'student')].map((a) => `'${a}'`).join(' ');
    const { CI: _ci, ...env } = process.env;
    const r = spawnSync('script', ['-qec', command, '/dev/null'], {
      encoding: 'utf8',
      env: { ...env, FEWSHOT_CACHE: tempDir() },
      timeout: 60_000,
    });
    expect(r.error, 'the process did not end').to.equal(undefined);
    expect(r.status).to.equal(1);
    expect(r.stdout).to.match(/distill \[/);
    expect(r.stdout).to.match(/\nfewshot: training diverged at episode \d+: /);
  });

  it('a one-stage recipe reports its selection stage once', () => {
    const dir = tempDir();
    const r = fewshot(
      ...['train', '--recipe', 'protonet-cifar-fs-1shot', '--dataset', 'synthetic', '--split', 'val'],
      ...['--val-suite', 'synthetic-val-5w1s', '--way', '3', '--query', '2', '--width', '4', '--episodes', '4'],
      ...['--validate-every', '2', '--log-every', '2', '--json', '--out', dir],
    );
    expect(r.code, r.stderr).to.equal(0);
    const done = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(done).to.include({ done: true, episodes: 4 });
    expect(done).to.not.have.property('finalEpisodes');
    expect(r.stdout).to.match(
      /^recipe protonet-cifar-fs-1shot: stage 1 on val \(best by validation accuracy on synthetic-val-5w1s\), one stage$/m,
    );
    expect(fs.existsSync(path.join(dir, 'final'))).to.equal(false);
  });

  it('refuses bad numbers in options', () => {
    const r = fewshot('train', '--out', tempDir(), '--way', '0');
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/--way must be a positive integer, got '0'/);
    for (const lr of ['Infinity', 'NaN', '-1']) {
      const bad = fewshot('train', '--out', tempDir(), '--lr', lr);
      expect(bad.code).to.not.equal(0);
      expect(bad.stderr).to.include(`--lr must be a finite positive number, got '${lr}'`);
    }
  });

  it('a diverging run stops with one line naming the episode, exit 1', () => {
    const out = tempDir();
    const tiny = tinyTrainFlags({ episodes: 8, validateEvery: 4, logEvery: 2 });
    const r = fewshot('train', ...tiny, '--lr', '1e38', '--backend', 'wasm', '--out', out);
    expectOneLineError(
      r,
      new RegExp(
        `^fewshot: training diverged at episode [1-3]: \\S+( \\S+)? is (NaN|-?Infinity), before the first checkpoint: nothing to keep, ${out} removed \\(lower --lr`,
      ),
    );
    expect(r.code).to.equal(1);
    // Nothing to resume: the corrected command may start in the same folder.
    expect(fs.existsSync(out)).to.equal(false);
  });
});
