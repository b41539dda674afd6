import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { randomCifarContent, writeCifarArchives } from './cifar-archives.js';
import { ROOT, requireNative, tempDir } from './helpers.js';

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
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    // The dependencies come from npm's cache, filled by the project's own install.
    const installed = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app);
    expect(installed.code, installed.out).to.equal(0);
  });

  it('packs everything the native build needs: installed into another project, it runs with the native kernels', function () {
    const trained = run(
      path.join(app, 'node_modules', '.bin', 'fewshot'),
      [
        'train',
        '--dataset',
        'synthetic',
        '--episodes',
        '2',
        '--log-every',
        '1',
        '--validate-every',
        '2',
        '--way',
        '5',
        '--shot',
        '1',
        '--width',
        '8',
        '--out',
        'run',
      ],
      app,
    );
    expect(trained.code, trained.out).to.equal(0);
    expect(trained.out).to.match(
      /^backend: wasm \(@tensorflow\/tfjs-backend-wasm \+ native kernels [\w-]+, \d+ threads?\)/m,
    );
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
});
