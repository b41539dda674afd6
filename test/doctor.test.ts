import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { X86_LEVELS, chooseVariant } from '../src/native/cpu-levels.mjs';
import { BARE, HASWELL, ZEN2 } from './cpu-shapes.js';
import { ROOT, requireNative, tempDir } from './helpers.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const doctor = (env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [CLI, 'doctor', '--json'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  expect(r.status, r.stderr).to.equal(0);
  return JSON.parse(r.stdout);
};
const GPU_PACKAGE = path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node-gpu');

describe('fewshot doctor', function () {
  it('reports each backend tried with its reason, the CUDA libraries, the native kernels and the versions', () => {
    const report = doctor();
    expect(report.packages.map((p: { package: string }) => p.package)).to.deep.equal([
      '@tensorflow/tfjs-node-gpu',
      '@tensorflow/tfjs-node',
    ]);
    expect(Object.keys(report.gpuLibraries)).to.include.members(['libcudart.so.11.0', 'libcudnn.so.8']);
    expect(report.provenance).to.include({ package: 'fewshot-rkd', node: process.version });
    expect(report.provenance.tfjs).to.match(/^4\./);
    if (fs.existsSync(path.join(ROOT, '.git'))) expect(report.provenance.gitCommit).to.match(/^[0-9a-f]{40}$/);
    if (!fs.existsSync(GPU_PACKAGE))
      expect(report.packages[0]).to.deep.equal({
        package: '@tensorflow/tfjs-node-gpu',
        usable: false,
        detail: '@tensorflow/tfjs-node-gpu not installed',
      });
  });

  it('names the loader error of a GPU package that fails to load, and the backend line carries it', function () {
    // A stand-in for tfjs-node-gpu whose libtensorflow is missing, as on a machine without its download.
    if (fs.existsSync(GPU_PACKAGE)) this.skip(); // the real package is installed here: leave it alone
    fs.mkdirSync(GPU_PACKAGE, { recursive: true });
    try {
      fs.writeFileSync(
        path.join(GPU_PACKAGE, 'package.json'),
        JSON.stringify({ name: '@tensorflow/tfjs-node-gpu', version: '0.0.0-stand-in', main: 'index.js' }),
      );
      fs.writeFileSync(
        path.join(GPU_PACKAGE, 'index.js'),
        "throw new Error('libtensorflow.so.2: cannot open shared object file: No such file or directory');\n",
      );
      const report = doctor();
      expect(report.packages[0]).to.deep.equal({
        package: '@tensorflow/tfjs-node-gpu',
        usable: false,
        detail:
          '@tensorflow/tfjs-node-gpu failed to load: libtensorflow.so.2: cannot open shared object file: No such file or directory',
      });
      expect(report.backend).to.include('not tensorflow: @tensorflow/tfjs-node-gpu failed to load: libtensorflow.so.2');
    } finally {
      fs.rmSync(GPU_PACKAGE, { recursive: true, force: true });
    }
  });

  // The levels a build has depend on the machine that built it (v4 and v3, and down to the building
  // CPU's own level): the expectations are read from its record, never assumed.
  const RECORD = path.join(ROOT, 'src', 'native', 'build', 'Release', 'target.json');
  type Variant = { march: string; requires: string[]; file: string };
  /** As the build on issue 26's AMD EPYC left it, its /proc/cpuinfo hiding abm: this build plus x86-64-v2. */
  const withV2 = (record: { variants: Variant[] }) => ({
    ...record,
    variants: [
      ...record.variants.filter((v) => v.march.startsWith('x86-64-v') && v.march !== 'x86-64-v2'),
      { march: 'x86-64-v2', requires: X86_LEVELS[2].flags, file: 'fewshot_native-x86-64-v2.node' },
    ],
  });

  for (const [shape, edit] of [
    ['as built here', undefined],
    ['as built where /proc/cpuinfo hid abm (a third level, x86-64-v2)', withV2],
  ] as const)
    it(`on a CPU without the build's flags, refuses the native kernels in one line and runs on wasm (${shape})`, function () {
      requireNative(this, fs.existsSync(RECORD));
      const original = fs.readFileSync(RECORD, 'utf8');
      const record = JSON.parse(original);
      if (edit && (process.arch !== 'x64' || !record.variants)) this.skip(); // (the x86-64 levels' case)
      const variants: Variant[] = (edit ? edit(record) : record).variants;
      // A CPU older than the lowest level built (a bare x86-64: SSE3 at most).
      const { chosen, missing } = chooseVariant(variants, new Set(BARE.cpuid.split(' ')));
      if (!missing.length) this.skip(); // built down to the baseline: every CPU runs it
      if (edit) fs.writeFileSync(RECORD, JSON.stringify(edit(record)));
      try {
        const report = doctor({ FEWSHOT_CPU_FLAGS: BARE.cpuid });
        expect(report.native.loaded).to.equal(false);
        expect(report.native.target.march).to.equal(chosen.march);
        expect(report.native.missingCpuFlags).to.deep.equal(missing);
        expect(report.native.reason).to.equal(
          `built for ${chosen.march}, this CPU lacks ${missing.join(' ')} (rebuild here: npm run build:native)`,
        );
        expect(report.backend).to.match(/^wasm \(@tensorflow\/tfjs-backend-wasm, 1 thread\); /);
        expect(report.backend).to.include(`native kernels not used: built for ${chosen.march}, this CPU lacks`);
      } finally {
        fs.writeFileSync(RECORD, original);
      }
    });

  it('runs the best level built that this CPU has: x86-64-v3 on an AVX2 CPU without AVX-512 (a Haswell, a Zen 2/3)', function () {
    requireNative(this, fs.existsSync(RECORD));
    const built = JSON.parse(fs.readFileSync(RECORD, 'utf8')).variants?.map((v: { march: string }) => v.march);
    if (process.arch !== 'x64' || !built?.includes('x86-64-v3')) this.skip(); // (FEWSHOT_NATIVE_MARCH builds one level)
    expect(built[0]).to.equal('x86-64-v4'); // every x86-64 build has the AVX-512 level too
    for (const cpu of [HASWELL, ZEN2]) {
      const report = doctor({ FEWSHOT_CPU_FLAGS: cpu.cpuid });
      expect(report.native.loaded, report.native.reason).to.equal(true);
      expect(report.native.target.march).to.equal('x86-64-v3');
      expect(report.native.addonPath).to.match(/fewshot_native-x86-64-v3\.node$/);
      expect(report.backend).to.match(/native kernels x86-64-v3, \d threads?\)/);
    }
  });

  it('refuses an addon whose build left no record of its CPU target', function () {
    const build = path.join(ROOT, 'src', 'native', 'build', 'Release');
    requireNative(this, fs.existsSync(path.join(build, 'target.json')));
    const copy = path.join(tempDir(), 'target.json');
    fs.copyFileSync(path.join(build, 'target.json'), copy);
    fs.rmSync(path.join(build, 'target.json'));
    try {
      expect(doctor().native.reason).to.match(
        /built without .*target\.json \(its CPU target is unknown; npm run build:native\)/,
      );
    } finally {
      fs.copyFileSync(copy, path.join(build, 'target.json'));
    }
  });
});

describe('the native boundary', function () {
  it('refuses an addon built from older sources, whose calling conventions differ, saying how to rebuild', async () => {
    const { NATIVE_ABI, staleBuild } = await import('../src/kernels/native-addon.js');
    expect(staleBuild({})).to.equal(
      `built from older sources (calling conventions 1, the code needs ${NATIVE_ABI}; npm run build:native)`,
    );
    expect(staleBuild({ abi: () => NATIVE_ABI + 1 })).to.match(/^built from older sources/);
    expect(staleBuild({ abi: () => NATIVE_ABI })).to.equal(undefined);
  });

  it('refuses arrays whose length disagrees with their params, and params that are not ints, naming the kernel and the array or field', async function () {
    const { nativeAddon } = await import('../src/kernels/native-addon.js');
    const native = nativeAddon();
    requireNative(this, native !== undefined);
    const params = {
      n: 1,
      h: 5,
      w: 5,
      cin: 2,
      kh: 3,
      kw: 3,
      cout: 4,
      outHeight: 5,
      outWidth: 5,
      padTop: 1,
      padBottom: 1,
      padLeft: 1,
      padRight: 1,
    };
    const arrays = { x: new Float32Array(50), filter: new Float32Array(72), bias: null, out: new Float32Array(100) };
    expect(() => native!.conv2d(arrays, params)).to.not.throw();
    expect(() => native!.conv2d({ ...arrays, x: new Float32Array(49) }, params)).to.throw(
      RangeError,
      'conv2d: x holds 49 floats, its params need 50',
    );
    expect(() => native!.conv2d({ ...arrays, bias: new Float32Array(3) }, params)).to.throw(
      RangeError,
      'conv2d: bias holds 3 floats, its params need 4',
    );
    const { padRight: _, ...missing } = params;
    expect(() => native!.conv2d(arrays, missing as typeof params)).to.throw(
      RangeError,
      'conv2d: params.padRight is not a non-negative int',
    );
    expect(() => native!.conv2d(arrays, { ...params, outHeight: 6 })).to.throw(
      RangeError,
      /conv2d: output size does not follow/,
    );
    const rkd = { s: new Float32Array(6), t: new Float32Array(9), loss: new Float32Array(1) };
    expect(() => native!.rkdAngle(rkd as typeof rkd & { ds: Float32Array }, { n: 3, dimS: 2, dimT: 3 })).to.throw(
      RangeError,
      'rkdAngle: ds is not a Float32Array',
    );
    expect(() => native!.rkdDistance({ ...rkd, ds: new Float32Array(6) }, { n: 3, dimS: 2, dimT: 2 })).to.throw(
      RangeError,
      'rkdDistance: t holds 9 floats, its params need 6',
    );
    // The first block's kernels read whole registers of 8 output channels: anything else is refused, not read past.
    const block = {
      x: new Float32Array(50),
      kernel: new Float32Array(72),
      bias: new Float32Array(4),
      mean: new Float32Array(4),
      variance: new Float32Array(4),
    };
    expect(() => native!.inputBlockMoments(block, params)).to.throw(
      RangeError,
      'inputBlockMoments: cout must be a multiple of 8',
    );
    // protoLogits: rows of the embeddings only, read from Int32Arrays. 10 rows of 4; one 2-way 1-shot 1-query episode.
    const proto = {
      embeddings: new Float32Array(40),
      supportRows: Int32Array.from([0, 9]),
      queryRows: Int32Array.from([1, 2]),
      out: new Float32Array(4),
    };
    const shape = { rows: 10, dim: 4, n: 1, way: 2, shot: 1, query: 1 };
    expect(() => native!.protoLogits(proto, shape)).to.not.throw();
    expect(() => native!.protoLogits({ ...proto, supportRows: Int32Array.from([0, 10]) }, shape)).to.throw(
      RangeError,
      'protoLogits: supportRows[1] = 10 is out of range',
    );
    expect(() => native!.protoLogits({ ...proto, queryRows: Int32Array.from([-1, 2]) }, shape)).to.throw(
      RangeError,
      'protoLogits: queryRows[0] = -1 is out of range',
    );
    expect(() =>
      native!.protoLogits({ ...proto, queryRows: new Float32Array(2) as unknown as Int32Array }, shape),
    ).to.throw(RangeError, 'protoLogits: queryRows is not an Int32Array');
    expect(() => native!.protoLogits({ ...proto, out: new Float32Array(3) }, shape)).to.throw(
      RangeError,
      'protoLogits: out holds 3 floats, its params need 4',
    );
    expect(() => native!.protoLogits(proto, { ...shape, way: 0 })).to.throw(
      RangeError,
      'protoLogits: way, shot and query must be positive',
    );
  });

  it('a model is refused on data of another image shape, in one line naming both (native path included)', async () => {
    // A Conv-4 for 28x28x3 images (as one trained on colour glyphs), evaluated on 28x28x1 episodes.
    const { conv4 } = await import('../src/models/conv4.js');
    const { saveCheckpoint } = await import('../src/models/checkpoint.js');
    const model = path.join(tempDir(), 'colour');
    const colour = conv4({ inputShape: [28, 28, 3], width: 8, seed: 0 });
    await saveCheckpoint(model, colour);
    colour.dispose();
    const r = spawnSync(process.execPath, [CLI, 'eval', model, 'synthetic-test-5w1s'], { encoding: 'utf8' });
    expect(r.status).to.equal(1);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('backend:'));
    expect(lines).to.deep.equal([
      `fewshot: ${model} on synthetic-test-5w1s (synthetic/test): the model takes 28x28x3 images, the data has 28x28x1`,
    ]);
  });
});
