import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { cpuFlags } from '../src/kernels/native-addon.js';
import { chooseVariant } from '../src/native/cpu-levels.mjs';
import { HASWELL, WESTMERE } from './cpu-shapes.js';
import { ROOT, requireNative, tempDir } from './helpers.js';
import { CLI } from './run-cli.js';
import { tinyTrainFlags } from './tiny-runs.js';

const QEMU = ['/usr/bin/qemu-x86_64', '/usr/local/bin/qemu-x86_64'].find((f) => fs.existsSync(f));
const RECORD = path.join(ROOT, 'src', 'native', 'build', 'Release', 'target.json');
/** The levels built here (they depend on the building CPU: v4, v3 and down to its own level). */
const variants = (): { march: string; requires: string[]; file: string }[] =>
  JSON.parse(fs.readFileSync(RECORD, 'utf8')).variants ?? [];

/** Runs the CLI under QEMU's user-mode emulation of another x86-64 CPU model: what a build meets on another machine. */
function onCpu(model: string, ...args: string[]) {
  const r = spawnSync(QEMU!, ['-cpu', model, process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 240_000 });
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr
      .split('\n')
      .filter((l) => !l.startsWith('qemu-x86_64: warning'))
      .join('\n'),
  };
}

describe('native kernels on another CPU', function () {
  before(function () {
    if (process.arch !== 'x64') this.skip();
    requireNative(this, fs.existsSync(RECORD));
    if (!QEMU) {
      console.log("      (skipped: needs qemu-x86_64 from Debian's qemu-user, absent here)");
      this.skip();
    }
  });

  const train = (out: string) => [
    'train',
    ...tinyTrainFlags({ episodes: 2, validateEvery: 2, logEvery: 1 }),
    '--out',
    out,
  ];

  it('on a CPU without AVX2 (Nehalem): the x86-64-v2 kernels where built, else refused in one line and training runs on wasm; no SIGILL', () => {
    const r = onCpu('Nehalem', ...train(path.join(tempDir(), 'run')));
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code, r.stderr).to.equal(0);
    // QEMU's Nehalem has the flags of x86-64-v2: what it runs depends on the levels built here.
    const { chosen, missing } = chooseVariant(variants(), new Set(WESTMERE.cpuid.split(' ')));
    if (missing.length)
      expect(r.stderr).to.include(
        `native kernels not used: built for ${chosen.march}, this CPU lacks ${missing.join(' ')} (rebuild here: npm run build:native)\n`,
      );
    else
      expect(r.stderr).to.match(
        new RegExp(`^backend: wasm .*\\+ native kernels ${chosen.march}, \\d threads?\\)`, 'm'),
      );
  });

  it('on an AVX2 CPU without AVX-512 (Haswell): the x86-64-v3 kernels run', function () {
    if (!variants().some((v) => v.march === 'x86-64-v3')) this.skip(); // (FEWSHOT_NATIVE_MARCH builds one level)
    const r = onCpu('Haswell', ...train(path.join(tempDir(), 'run')));
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(
      /^backend: wasm \(@tensorflow\/tfjs-backend-wasm \+ native kernels x86-64-v3, \d threads?\)/m,
    );
  });
});

describe('native kernels at every ISA level built', function () {
  it('train to the same weights on x86-64-v4 (AVX-512) as on x86-64-v3', function () {
    requireNative(this, fs.existsSync(RECORD));
    const v4 = variants().find((v) => v.march === 'x86-64-v4');
    // Both levels run only on an AVX-512 CPU (as the loader reads its flags: the CPUID probe).
    const flags = cpuFlags();
    if (!v4 || !flags || !v4.requires.every((f) => flags.has(f))) this.skip();
    const weights = (level: string, cpuFlags?: string) => {
      const out = path.join(tempDir(), 'run');
      const r = spawnSync(
        process.execPath,
        [
          CLI,
          'train',
          '--dataset',
          'synthetic',
          '--episodes',
          '4',
          '--validate-every',
          '4',
          '--log-every',
          '2',
          '--way',
          '10',
          '--out',
          out,
        ],
        { encoding: 'utf8', env: { ...process.env, ...(cpuFlags ? { FEWSHOT_CPU_FLAGS: cpuFlags } : {}) } },
      );
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.include(`native kernels ${level},`);
      return fs.readFileSync(path.join(out, 'best', 'weights.bin'));
    };
    expect(weights('x86-64-v4').equals(weights('x86-64-v3', HASWELL.cpuid))).to.equal(true);
  });
});
