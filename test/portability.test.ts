import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { ROOT, requireNative, tempDir } from './helpers.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const QEMU = ['/usr/bin/qemu-x86_64', '/usr/local/bin/qemu-x86_64'].find((f) => fs.existsSync(f));

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
    requireNative(this, fs.existsSync(path.join(ROOT, 'src', 'native', 'build', 'Release', 'target.json')));
    if (!QEMU) {
      console.log("      (skipped: needs qemu-x86_64 from Debian's qemu-user, absent here)");
      this.skip();
    }
  });

  const train = (out: string) => [
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
    out,
  ];

  it('on a CPU without AVX2 (Nehalem): refused in one line, training runs on wasm, no SIGILL', () => {
    const r = onCpu('Nehalem', ...train(path.join(tempDir(), 'run')));
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(
      /^backend: wasm \(@tensorflow\/tfjs-backend-wasm, 1 thread\); .*native kernels not used: built for x86-64-v3, this CPU lacks avx avx2 .*\(rebuild here: npm run build:native\)$/m,
    );
  });

  it("on a CPU of the build's level (Haswell): the native kernels run", () => {
    const r = onCpu('Haswell', ...train(path.join(tempDir(), 'run')));
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(
      /^backend: wasm \(@tensorflow\/tfjs-backend-wasm \+ native kernels x86-64-v3, \d threads?\)/m,
    );
  });
});

describe('native kernels at every ISA level built', function () {
  const record = path.join(ROOT, 'src', 'native', 'build', 'Release', 'target.json');
  const AVX2_ONLY = 'pni ssse3 cx16 sse4_1 sse4_2 movbe popcnt xsave avx fma f16c bmi1 avx2 bmi2 abm';

  it('train to the same weights on x86-64-v4 (AVX-512) as on x86-64-v3', function () {
    requireNative(this, fs.existsSync(record));
    const built: string[] = JSON.parse(fs.readFileSync(record, 'utf8')).variants?.map(
      (v: { march: string }) => v.march,
    );
    // Both levels run only on an AVX-512 CPU.
    const flags = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
    if (!built?.includes('x86-64-v4') || !/\bavx512vl\b/.test(flags)) this.skip();
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
    expect(weights('x86-64-v4').equals(weights('x86-64-v3', AVX2_ONLY))).to.equal(true);
  });
});
