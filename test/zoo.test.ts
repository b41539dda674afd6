/**
 * The model zoo: models by name (list, show, eval, distill --teacher, the library's loader), their
 * weights checked against the card (tampered or truncated: refused, naming the file), and each
 * shipped model reproducing its committed per-episode CSVs byte for byte where its data is here.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { loadModel } from '../src/models/checkpoint.js';
import { ModelCard, readCard, zooDir, zooNames } from '../src/models/zoo.js';
import { addToZoo } from '../src/train/zoo-add.js';
import { recipeTeacher } from '../src/train/recipe.js';
import { ROOT, SHARED, tempDir } from './helpers.js';
import { CLI } from './run-cli.js';
import { tinyTrainFlags } from './tiny-runs.js';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function fewshot(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l && !l.startsWith('backend:'))
    .join('\n');
  return { code: r.status, stdout: r.stdout, stderr };
}

const TINY = tinyTrainFlags({ logEvery: 2 });

describe('the model zoo', function () {
  this.timeout(600_000);

  describe('a zoo of one tiny model (synthetic glyphs), made as the shipped ones are', function () {
    let dir: string;
    let zoo: string;
    let env: Record<string, string>;
    let card: ModelCard;
    const NAME = 'tiny-synthetic-5w1s';

    before(async () => {
      dir = tempDir('fewshot-zoo-');
      zoo = path.join(dir, 'zoo');
      env = { FEWSHOT_ZOO: zoo, FEWSHOT_CACHE: path.join(dir, 'cache') };
      const run = path.join(dir, 'run');
      const results = path.join(dir, 'results');
      const trained = fewshot(env, 'train', ...TINY, '--episodes', '4', '--validate-every', '2', '--out', run);
      expect(trained.code, trained.stderr).to.equal(0);
      const evaluated = fewshot(env, 'eval', path.join(run, 'best'), 'synthetic-test-5w1s', '--out', results);
      expect(evaluated.code, evaluated.stderr).to.equal(0);
      fs.copyFileSync(path.join(run, 'log.jsonl'), path.join(results, 'train-log.jsonl'));
      card = await addToZoo({ run, results, name: NAME, zoo, root: dir, command: 'fewshot train (the test)' });
    });

    it('writes the card from the run: weights, log and per-episode CSV hashes, the reproduce command', () => {
      expect(card.weights.sha256).to.equal(sha256(path.join(zoo, NAME, 'weights.bin')));
      expect(card.training.log).to.deep.include({ file: 'results/train-log.jsonl' });
      expect(card.results).to.have.length(1);
      expect(card.results[0]).to.deep.include({
        suite: 'synthetic-test-5w1s',
        episodesCsv: 'results/synthetic-test-5w1s.episodes.csv',
        episodesCsvSha256: sha256(path.join(dir, 'results', 'synthetic-test-5w1s.episodes.csv')),
      });
      expect(card.results[0].reproduce).to.match(new RegExp(`fewshot eval ${NAME} synthetic-test-5w1s --out `));
      expect(fs.readdirSync(path.join(zoo, NAME)).sort()).to.deep.equal([
        'README.md',
        'card.json',
        'model.json',
        'state.json',
        'weights.bin',
      ]);
      expect(readCard(NAME, zoo)).to.deep.equal(card);
    });

    it('fewshot models lists it, fewshot models show shows its card', () => {
      const list = fewshot(env, 'models');
      expect(list.code, list.stderr).to.equal(0);
      expect(list.stdout).to.match(new RegExp(`^${NAME} +- +synthetic-test-5w1s +\\d+\\.\\d\\d \\+- `, 'm'));
      const show = fewshot(env, 'models', 'show', NAME);
      expect(show.code, show.stderr).to.equal(0);
      expect(show.stdout).to.include(`# ${NAME}`).and.include(card.weights.sha256);
      const json = fewshot(env, 'models', 'show', NAME, '--json');
      expect(JSON.parse(json.stdout)).to.deep.equal(card);
    });

    it('evaluated by name, it writes the committed per-episode CSV byte for byte', () => {
      const out = path.join(dir, 'again');
      const r = fewshot(env, 'eval', NAME, 'synthetic-test-5w1s', '--out', out);
      expect(r.code, r.stderr).to.equal(0);
      const csv = 'synthetic-test-5w1s.episodes.csv';
      expect(fs.readFileSync(path.join(out, csv))).to.deep.equal(fs.readFileSync(path.join(dir, 'results', csv)));
    });

    it('teaches by name: fewshot distill --teacher NAME', () => {
      const out = path.join(dir, 'student');
      const r = fewshot(
        env,
        'distill',
        ...TINY,
        '--episodes',
        '2',
        '--validate-every',
        '2',
        '--teacher',
        NAME,
        '--out',
        out,
      );
      expect(r.code, r.stderr).to.equal(0);
      const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
      expect(config.teacher).to.equal(NAME);
      // Its identity recorded as for a folder (a resume or a sweep row is checked against it).
      expect(config.teacherWeights).to.equal(readCard(NAME, zoo).weights.sha256);
    });

    it('loads by name in the library (loadModel), the weights checked', async () => {
      const before = process.env.FEWSHOT_ZOO;
      process.env.FEWSHOT_ZOO = zoo;
      try {
        const model = await loadModel(NAME);
        expect(model.getWeights().length).to.be.greaterThan(0);
        model.dispose();
      } finally {
        if (before === undefined) delete process.env.FEWSHOT_ZOO;
        else process.env.FEWSHOT_ZOO = before;
      }
    });

    it('refuses a tampered or a truncated model, naming its weights file; an unknown name in one line', () => {
      const copy = path.join(dir, 'zoo2');
      fs.cpSync(zoo, copy, { recursive: true });
      const weights = path.join(copy, NAME, 'weights.bin');
      const original = fs.readFileSync(weights);
      const refused = (what: string) => {
        const r = fewshot({ ...env, FEWSHOT_ZOO: copy }, 'eval', NAME, 'synthetic-test-5w1s');
        expect(r.code, what).to.equal(1);
        expect(r.stderr.split('\n'), what).to.have.length(1);
        expect(r.stderr, what).to.match(
          new RegExp(
            `^fewshot: ${weights.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: sha256 [0-9a-f]{64} \\(\\d+ bytes\\), its model card \\(card\\.json\\) says ${card.weights.sha256}: a tampered or truncated model, refused$`,
          ),
        );
      };
      const tampered = Buffer.from(original);
      tampered[100] ^= 1; // one bit of one weight: the model would still load and run
      fs.writeFileSync(weights, tampered);
      refused('tampered');
      fs.writeFileSync(weights, original.subarray(0, original.length - 4));
      refused('truncated');
      // As a teacher too.
      fs.writeFileSync(weights, tampered);
      const teacher = fewshot(
        { ...env, FEWSHOT_ZOO: copy },
        'distill',
        ...TINY,
        '--episodes',
        '2',
        '--teacher',
        NAME,
        '--out',
        path.join(dir, 'refused'),
      );
      expect(teacher.code).to.equal(1);
      expect(teacher.stderr).to.include(`${weights}: sha256`).and.include('a tampered or truncated model, refused');
      expect(fs.existsSync(path.join(dir, 'refused'))).to.equal(false);

      const unknown = fewshot(env, 'eval', 'no-such-model', 'synthetic-test-5w1s');
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.equal(
        `fewshot: no-such-model: neither a model folder nor a zoo model (the zoo has ${NAME}; 'fewshot models' lists them)`,
      );
      const show = fewshot(env, 'models', 'show', 'no-such-model');
      expect(show.code).to.equal(1);
      expect(show.stderr.split('\n')).to.have.length(1);
    });

    describe('a run of a code version that recorded no provenance (commit a6d8ad5 and before)', function () {
      const LEGACY = 'tiny-legacy-5w1s';
      const COMMIT = 'a6d8ad5aa019e85f248a141f25259e6c7a2d4c40';
      let old: string;
      let oldResults: string;
      let oldZoo: string;
      let oldEnv: Record<string, string>;

      before(() => {
        // The run as those versions wrote it: config.json and checkpoint/state.json without provenance.
        old = path.join(dir, 'legacy-run');
        oldResults = path.join(dir, 'legacy-results');
        oldZoo = path.join(dir, 'legacy-zoo');
        oldEnv = { ...env, FEWSHOT_ZOO: oldZoo };
        fs.cpSync(path.join(dir, 'run'), old, { recursive: true });
        fs.cpSync(path.join(dir, 'results'), oldResults, { recursive: true });
        for (const file of ['config.json', path.join('checkpoint', 'state.json')]) {
          const { provenance, ...rest } = JSON.parse(fs.readFileSync(path.join(old, file), 'utf8'));
          expect(provenance, file).to.be.an('object');
          fs.writeFileSync(path.join(old, file), JSON.stringify(rest, null, 2) + '\n');
        }
      });

      it('is refused without --code-commit, naming its config.json', () => {
        const r = fewshot(oldEnv, 'models', 'add', old, '--results', oldResults, '--name', LEGACY);
        expect(r.code).to.equal(1);
        expect(r.stderr).to.equal(
          `fewshot: ${path.join(old, 'config.json')}: records no provenance (a run of a code version before runs recorded it); give the git commit of the code that trained it (--code-commit) to add it`,
        );
        expect(fs.existsSync(oldZoo)).to.equal(false);
      });

      it('with --code-commit, gets a card that says so and times the training from its log', async () => {
        const card = await addToZoo({
          run: old,
          results: oldResults,
          name: LEGACY,
          zoo: oldZoo,
          root: dir,
          codeCommit: COMMIT,
          command: 'fewshot train (the test)',
        });
        expect(card.provenance).to.equal('not recorded by this code version');
        expect(card.trainedOn).to.deep.equal({});
        expect(card.code).to.deep.equal({ package: 'fewshot-rkd', gitCommit: COMMIT, gitCommitFrom: 'given' });
        expect(card.training).to.not.have.any.keys('started', 'ended', 'wallSeconds');
        // By hand: each log line's episodes since the line before at its episodesPerSecond.
        const lines = fs
          .readFileSync(path.join(oldResults, 'train-log.jsonl'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { episode: number; episodesPerSecond: number });
        expect(lines.map((l) => l.episode)).to.deep.equal([2, 4]);
        const seconds = 2 / lines[0].episodesPerSecond + 2 / lines[1].episodesPerSecond;
        expect(card.training.trainingSeconds).to.equal(Math.round(seconds * 10) / 10);
        expect(card.training.trainingSecondsFrom).to.match(
          /^computed from the training log \(training\.log\): the sum over its lines/,
        );
        // The rest as for any run: the same model, its log and evaluation.
        expect(card.weights).to.deep.equal(readCard(NAME, zoo).weights);
        expect(card.training.log).to.deep.equal({
          ...readCard(NAME, zoo).training.log,
          file: 'legacy-results/train-log.jsonl',
        });
        expect(readCard(LEGACY, oldZoo)).to.deep.equal(card);
      });

      it('fewshot models lists it, fewshot models show says what it did not record', () => {
        const card = readCard(LEGACY, oldZoo);
        const list = fewshot(oldEnv, 'models');
        expect(list.code, list.stderr).to.equal(0);
        expect(list.stdout).to.match(new RegExp(`^${LEGACY} +- +synthetic-test-5w1s +\\d+\\.\\d\\d \\+- `, 'm'));
        const show = fewshot(oldEnv, 'models', 'show', LEGACY);
        expect(show.code, show.stderr).to.equal(0);
        const hours = (card.training.trainingSeconds! / 3600).toFixed(2);
        expect(show.stdout.split('\n')).to.include.members([
          `- Code: fewshot-rkd (commit ${COMMIT}); provenance not recorded by this code version (no backend, machine or times)`,
          // (The tiny run has no validation suite: its model is the last episode's.)
          `- Training: 4 episodes, model of episode 4; ${hours} h of training, computed from the training log's rates (validations not timed)`,
        ]);
        expect(show.stdout).to.not.include('undefined');
        expect(fs.readFileSync(path.join(oldZoo, LEGACY, 'README.md'), 'utf8').trimEnd()).to.equal(
          show.stdout.trimEnd(),
        );
      });
    });
  });

  describe('the shipped zoo', function () {
    const names = zooNames(path.join(ROOT, 'models'));

    it('has the four CIFAR-FS/FC100 teachers, each card holding for the committed files', () => {
      expect(zooDir()).to.equal(
        process.env.FEWSHOT_ZOO ? path.resolve(process.env.FEWSHOT_ZOO) : path.join(ROOT, 'models'),
      );
      expect(names).to.include.members([
        'protonet-cifar-fs-1shot',
        'protonet-cifar-fs-5shot',
        'protonet-fc100-1shot',
        'protonet-fc100-5shot',
      ]);
      for (const name of names) {
        const card = readCard(name, path.join(ROOT, 'models'));
        expect(sha256(path.join(ROOT, 'models', name, card.weights.file)), name).to.equal(card.weights.sha256);
        expect(sha256(path.join(ROOT, card.training.log.file)), name).to.equal(card.training.log.sha256);
        for (const r of card.results)
          expect(sha256(path.join(ROOT, r.episodesCsv)), `${name} ${r.suite}`).to.equal(r.episodesCsvSha256);
      }
    });

    it("hands a recipe distillation its teacher's budget: distill --recipe R --teacher NAME", () => {
      const given = recipeTeacher('protonet-cifar-fs-1shot');
      expect(given.model).to.equal('protonet-cifar-fs-1shot');
      expect(given.episodes).to.equal(6000);
      expect(given.config.recipe).to.equal('protonet-cifar-fs-1shot');
    });

    /**
     * The datasets' cache root for `dataset`: the user's cache where it holds the dataset, else (CIFAR
     * in CI) the cache imported from the CIFAR-100 records beside the clone, once; undefined: skip.
     */
    const imported = new Map<string, string>();
    function dataFor(dataset: string): string | undefined {
      const root = process.env.FEWSHOT_CACHE ?? path.join(os.homedir(), '.cache', 'fewshot-rkd');
      if (fs.existsSync(path.join(root, dataset, 'test.bin'))) return root;
      const records = path.join(SHARED, 'data', 'cifar100');
      if (!['cifar-fs', 'fc100'].includes(dataset) || !fs.existsSync(path.join(records, 'by-class'))) return undefined;
      if (!imported.has('cifar100')) {
        // The records rebuilt into the official binary layout and imported (about 20 s).
        const dir = tempDir('fewshot-zoo-cifar-');
        const made = spawnSync(
          process.execPath,
          [path.join(ROOT, 'scripts', 'make-cifar100-archives.mjs'), dir, records],
          {
            encoding: 'utf8',
          },
        );
        expect(made.status, made.stderr).to.equal(0);
        const cache = path.join(dir, 'cache');
        const r = fewshot({}, 'data', 'cifar100', '--from', path.join(dir, 'cifar-100-binary'), '--out', cache);
        expect(r.code, r.stderr).to.equal(0);
        imported.set('cifar100', cache);
      }
      return imported.get('cifar100');
    }

    for (const name of names) {
      it(`${name} reproduces its committed per-episode CSVs byte for byte`, function () {
        const card = readCard(name, path.join(ROOT, 'models'));
        const dataset = String(card.config.dataset);
        const data = dataFor(dataset);
        if (!data) {
          console.log(
            `      (skipped: needs the ${dataset} cache or ${path.relative(process.cwd(), SHARED)}/data, absent here)`,
          );
          this.skip();
        }
        const out = tempDir('fewshot-zoo-eval-');
        // As the committed evaluation ran: the threads its backend line records (the same bytes with 2).
        const threads = /, (\d+) threads?\)/.exec(card.results[0].backend)?.[1] ?? '1';
        const r = fewshot(
          { FEWSHOT_CACHE: data!, FEWSHOT_ZOO: path.join(ROOT, 'models'), OMP_NUM_THREADS: threads },
          'eval',
          name,
          ...card.results.map((s) => s.suite),
          '--out',
          out,
        );
        expect(r.code, r.stderr).to.equal(0);
        for (const s of card.results) {
          const again = fs.readFileSync(path.join(out, `${s.suite}.episodes.csv`));
          expect(again.equals(fs.readFileSync(path.join(ROOT, s.episodesCsv))), `${name} on ${s.suite}`).to.equal(true);
        }
      });
    }
  });
});
