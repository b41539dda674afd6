import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { randomCifarContent, writeCifarArchives } from './cifar-archives.js';
import { cpuFlags } from '../src/kernels/native-addon.js';
import { levelsToBuild } from '../src/native/cpu-levels.mjs';
import { ROOT, requireNative, tempDir } from './helpers.js';
import { tinyTrainFlags } from './tiny-runs.js';

const run = (command: string, args: string[], cwd: string) => {
  const r = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, FEWSHOT_CACHE: path.join(cwd, '.cache') },
  });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
};

describe('the npm package', function () {
  let dir: string;
  let app: string;
  let tarball: string;

  // Packed and installed into another project once, for every test here.
  before(function () {
    // Where no compiler built the kernels here, none will build them in the installed copy either.
    requireNative(this, fs.existsSync(path.join(ROOT, 'src', 'native', 'build', 'Release', 'target.json')));
    dir = tempDir('fewshot-pack-');
    const packed = run('npm', ['pack', '--silent', '--pack-destination', dir], ROOT);
    expect(packed.code, packed.out).to.equal(0);
    tarball = path.join(
      dir,
      fs.readdirSync(dir).find((f) => f.endsWith('.tgz'))!,
    );
    app = path.join(dir, 'app');
    fs.mkdirSync(app);
    // As the README says: the install script (the native build) approved, which npm 12 requires.
    fs.writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', private: true, allowScripts: { 'fewshot-rkd': true } }),
    );
    // The dependencies come from npm's cache, filled by the project's own install.
    // (@types/node for the TypeScript consumer below.)
    const installed = run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, '@types/node@^20.19'],
      app,
    );
    expect(installed.code, installed.out).to.equal(0);
  });

  it('packs everything the native build needs: installed into another project, it runs with the native kernels', function () {
    const trained = run(
      path.join(app, 'node_modules', '.bin', 'fewshot'),
      ['train', ...tinyTrainFlags({ episodes: 2, validateEvery: 2, logEvery: 1 }), '--out', 'run'],
      app,
    );
    expect(trained.code, trained.out).to.equal(0);
    expect(trained.out).to.match(
      /^backend: wasm \(@tensorflow\/tfjs-backend-wasm \+ native kernels [\w-]+, \d+ threads?\)/m,
    );
    // The installed build read this CPU as the loader reads it (the CPUID probe, shipped and built first): the same levels.
    const record = JSON.parse(
      fs.readFileSync(
        path.join(app, 'node_modules', 'fewshot-rkd', 'src', 'native', 'build', 'Release', 'target.json'),
        'utf8',
      ),
    );
    if (process.arch === 'x64' && !process.env.FEWSHOT_NATIVE_MARCH) {
      expect(record.cpuFlagsFrom).to.equal('cpuid');
      expect(record.variants.map((v: { march: string }) => v.march)).to.deep.equal(
        levelsToBuild(cpuFlags(), { arch: 'x64' }).map((t) => t.march),
      );
    }
    // A shipped suite resolves by name from the installed package.
    const evaluated = run(
      path.join(app, 'node_modules', '.bin', 'fewshot'),
      ['eval', 'run/best', 'synthetic-test-5w1s'],
      app,
    );
    expect(evaluated.code, evaluated.out).to.equal(0);
    expect(evaluated.out).to.match(/synthetic-test-5w1s\s+5\s+1\s+600/);
    // The library through the package's exports (the root and subpaths), as an app imports it.
    fs.copyFileSync(path.join(ROOT, 'dist', 'examples', 'distill.js'), path.join(app, 'distill.mjs'));
    const library = run(process.execPath, ['distill.mjs', '2'], app);
    expect(library.code, library.out).to.equal(0);
    expect(library.out).to.match(/^student - teacher \(paired\): /m);
  });

  it('serves CommonJS and ESM consumers: require and import of the root and every subpath', function () {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    const names = Object.keys(manifest.exports)
      .filter((k) => k !== './package.json')
      .map((k) => k.replace(/^\./, 'fewshot-rkd'));
    const checks = names.map((n) => `[${JSON.stringify(n)}, Object.keys(require(${JSON.stringify(n)})).length]`);
    const required = run(process.execPath, ['-e', `console.log(JSON.stringify([${checks.join(',')}]))`], app);
    expect(required.code, required.out).to.equal(0);
    const imports = names.map((n) => `[${JSON.stringify(n)}, Object.keys(await import(${JSON.stringify(n)})).length]`);
    const imported = run(
      process.execPath,
      ['--input-type=module', '-e', `console.log(JSON.stringify([${imports.join(',')}]))`],
      app,
    );
    expect(imported.code, imported.out).to.equal(0);
    const counts = (out: string) => JSON.parse(out.trim().split('\n')[0]) as [string, number][];
    expect(counts(required.out)).to.deep.equal(counts(imported.out));
    for (const [name, exported] of counts(required.out)) expect(exported, name).to.be.greaterThan(0);
  });

  it("compiles a strict TypeScript consumer with the README's settings and runs it as CommonJS and as ESM", function () {
    // The settings the README recommends, read from it: they are what users copy.
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const block = /```json\n(\{\n\s+"compilerOptions"[\s\S]*?)```/.exec(readme);
    expect(block, 'a tsconfig block in README.md').to.not.equal(null);
    const consumer = `import * as path from 'node:path';
import { conv4, initBackend, openDataset, type BackendInfo } from 'fewshot-rkd';
import { resolveSuite } from 'fewshot-rkd/episodes';
import { writeSweepReport } from 'fewshot-rkd/report';

async function main(): Promise<void> {
  const info: BackendInfo = await initBackend('cpu');
  const data = openDataset('synthetic', 'val');
  const model = conv4({ inputShape: data.imageShape, width: 4, seed: 0 });
  console.log(\`\${info.name} \${model.countParams()} \${path.basename(resolveSuite('synthetic-test-5w1s'), '.json')} \${typeof writeSweepReport}\`);
}
void main();
`;
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    for (const type of ['commonjs', 'module']) {
      const project = path.join(dir, `consumer-${type}`);
      fs.mkdirSync(project);
      fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: `consumer-${type}`, type }));
      fs.writeFileSync(path.join(project, 'tsconfig.json'), block![1]);
      fs.writeFileSync(path.join(project, 'main.ts'), consumer);
      // The installed package and @types/node, as the consumer's own node_modules would have them.
      fs.symlinkSync(path.join(app, 'node_modules'), path.join(project, 'node_modules'));
      const compiled = run(process.execPath, [tsc, '-p', '.'], project);
      expect(compiled.code, `${type}: ${compiled.out}`).to.equal(0);
      const emitted = fs.readFileSync(path.join(project, 'main.js'), 'utf8');
      expect(emitted).to.include(type === 'commonjs' ? 'require("fewshot-rkd")' : "from 'fewshot-rkd'");
      const ran = run(process.execPath, ['main.js'], project);
      expect(ran.code, `${type}: ${ran.out}`).to.equal(0);
      expect(ran.out).to.match(/^cpu \d+ synthetic-test-5w1s function$/m);
    }
  });

  it('ships what the README and docs link to: every relative link resolves in the installed package', function () {
    const listed = new Set(
      run('tar', ['-tzf', tarball], dir)
        .out.split('\n')
        .filter((f) => f.startsWith('package/'))
        .map((f) => f.slice('package/'.length)),
    );
    const exists = (p: string) => listed.has(p) || [...listed].some((f) => f.startsWith(p.endsWith('/') ? p : `${p}/`));
    const pages = [...listed].filter((f) => f === 'README.md' || /^docs\/[^/]+\.md$/.test(f));
    expect(pages.length).to.be.greaterThan(5);
    const broken: string[] = [];
    for (const page of pages) {
      const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(page), target));
        if (!exists(resolved)) broken.push(`${page}: ${target}`);
      }
    }
    expect(broken).to.deep.equal([]);
  });

  it('ships the CIFAR-FS and FC100 class lists: an installed copy imports CIFAR-100', async function () {
    const listed = run('tar', ['-tzf', tarball], dir).out.split('\n');
    for (const b of ['cifar-fs', 'fc100'])
      for (const f of ['train.txt', 'val.txt', 'test.txt', 'LICENSE'])
        expect(listed).to.include(`package/src/data/splits/${b}/${f}`);
    await writeCifarArchives(path.join(dir, 'cifar'), randomCifarContent(3, 2));
    const imported = run(
      path.join(app, 'node_modules', '.bin', 'fewshot'),
      ['data', 'cifar100', '--from', path.join(dir, 'cifar', 'cifar-100-binary.tar.gz'), '--out', 'caches'],
      app,
    );
    expect(imported.code, imported.out).to.equal(0);
    expect(imported.out).to.include('cifar-fs: train 64 classes / 192 images, val 16 classes / 48 images');
  });
  it('ships the model zoo: an installed copy lists, shows and loads its models by name, refusing tampered weights', function () {
    const bin = path.join(app, 'node_modules', '.bin', 'fewshot');
    const listed = run(bin, ['models'], app);
    expect(listed.code, listed.out).to.equal(0);
    for (const name of [
      'protonet-cifar-fs-1shot',
      'protonet-cifar-fs-5shot',
      'protonet-fc100-1shot',
      'protonet-fc100-5shot',
    ])
      expect(listed.out).to.match(new RegExp(`^${name} `, 'm'));
    const shown = run(bin, ['models', 'show', 'protonet-cifar-fs-1shot', '--json'], app);
    expect(shown.code, shown.out).to.equal(0);
    const card = JSON.parse(shown.out.slice(0, shown.out.lastIndexOf('}') + 1));
    // The card's committed files ship with it.
    const installed = path.join(app, 'node_modules', 'fewshot-rkd');
    for (const file of [card.training.log.file, ...card.results.map((r: { episodesCsv: string }) => r.episodesCsv)])
      expect(fs.existsSync(path.join(installed, file)), file).to.equal(true);
    // The library's loader takes the name (the weights checked against the card).
    const load = `import { initBackend, loadModel } from 'fewshot-rkd';
await initBackend('cpu');
const model = await loadModel('protonet-cifar-fs-1shot');
console.log('params', model.countParams(), JSON.stringify(model.inputs[0].shape));`;
    const loaded = run(process.execPath, ['--input-type=module', '-e', load], app);
    expect(loaded.code, loaded.out).to.equal(0);
    expect(loaded.out).to.match(/^params \d+ \[null,32,32,3\]$/m);
    // Where this machine has the CIFAR-FS cache, the installed copy reproduces the committed CSV by name.
    const cache = process.env.FEWSHOT_CACHE ?? path.join(os.homedir(), '.cache', 'fewshot-rkd');
    if (fs.existsSync(path.join(cache, 'cifar-fs', 'test.bin'))) {
      const r = spawnSync(bin, ['eval', 'protonet-cifar-fs-1shot', 'cifar-fs-test-5w1s', '--out', 'zoo-eval'], {
        cwd: app,
        encoding: 'utf8',
        env: { ...process.env, FEWSHOT_CACHE: cache, OMP_NUM_THREADS: '1' },
      });
      expect(r.status, r.stderr).to.equal(0);
      const csv = 'cifar-fs-test-5w1s.episodes.csv';
      expect(
        fs
          .readFileSync(path.join(app, 'zoo-eval', csv))
          .equals(fs.readFileSync(path.join(installed, card.results[0].episodesCsv))),
      ).to.equal(true);
    }
    // A tampered installed model is refused, naming its file.
    const weights = path.join(installed, 'models', 'protonet-cifar-fs-1shot', 'weights.bin');
    const original = fs.readFileSync(weights);
    try {
      fs.writeFileSync(weights, original.subarray(0, original.length - 4));
      const refused = run(process.execPath, ['--input-type=module', '-e', load], app);
      expect(refused.code).to.equal(1);
      expect(refused.out).to.include(`${weights}: sha256 `).and.include('a tampered or truncated model, refused');
    } finally {
      fs.writeFileSync(weights, original);
    }
  });

  // Last: it leaves the installed copy without its kernels.
  it('a native build that fails at install (npm hides its output) is named by doctor, the backend line and the library', function () {
    // A compiler that fails, as a machine without a working one would.
    const failed = spawnSync('npm', ['rebuild', 'fewshot-rkd'], {
      cwd: app,
      encoding: 'utf8',
      env: { ...process.env, CXX: 'false', CC: 'false' },
    });
    expect(failed.status, failed.stderr).to.equal(0); // the install goes on without the kernels
    const bin = path.join(app, 'node_modules', '.bin', 'fewshot');
    const doctor = run(bin, ['doctor'], app);
    expect(doctor.out).to.match(
      /native kernels not used: the build at install failed: .*install-failure\.txt; then npm rebuild fewshot-rkd\)/,
    );
    const train = run(
      bin,
      ['train', '--episodes', '1', '--width', '4', '--way', '3', '--shot', '1', '--query', '1', '--out', 'run-without'],
      app,
    );
    expect(train.code, train.out).to.equal(0);
    expect(train.out).to.match(
      /^backend: wasm .*native kernels not used: the build at install failed: .*npm rebuild fewshot-rkd\)$/m,
    );
    const library = run(
      process.execPath,
      ['--input-type=module', '-e', "import { initBackend } from 'fewshot-rkd'; await initBackend();"],
      app,
    );
    expect(library.code, library.out).to.equal(0);
    expect(
      library.out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('fewshot-rkd:')),
    ).to.have.length(1);
    expect(library.out).to.match(/^fewshot-rkd: native kernels not used: the build at install failed: /m);
    // No build at all, as npm 12 leaves a dependency whose install script was not approved.
    fs.rmSync(path.join(app, 'node_modules', 'fewshot-rkd', 'src', 'native', 'build'), {
      recursive: true,
      force: true,
    });
    expect(run(bin, ['doctor'], app).out).to.match(
      /native kernels not used: not built \(npm skipped its install script \(approve it: npm install-scripts approve fewshot-rkd\), .*; npm rebuild fewshot-rkd\)/,
    );
  });
});
