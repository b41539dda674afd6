import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import {
  X86_LEVELS,
  chooseVariant,
  cpuinfoFlags,
  levelOf,
  levelsToBuild,
  readCpuFlags,
} from '../src/native/cpu-levels.mjs';
import {
  BARE,
  CPU_SHAPES,
  HASWELL,
  SKYLAKE_SP,
  WESTMERE,
  ZEN2,
  ZEN4,
  ZEN4_CPUINFO_WITHOUT_ABM,
  CpuShape,
} from './cpu-shapes.js';
import { ROOT } from './helpers.js';

// The level choice of the build and of the loader, on fake flag sets: nothing here depends on the
// CPU of the machine running it, nor on the levels built there.
const flagsOf = (cpu: CpuShape) => new Set(cpu.cpuid.split(' '));
const x64 = { arch: 'x64' };
/** What the build makes on a machine with these flags, as the loader reads target.json's variants. */
const builtOn = (flags: ReadonlySet<string> | undefined) =>
  levelsToBuild(flags, x64).map((t) => ({ ...t, file: `fewshot_native-${t.march}.node` }));
const marches = (targets: readonly { march: string }[]) => targets.map((t) => t.march);

describe('x86-64 levels (src/native/cpu-levels.mjs, shared by the build and the loader)', function () {
  it('follow psABI: best first, each needing every flag of the levels below, all of them flags the CPUID probe reports', () => {
    expect(marches(X86_LEVELS)).to.deep.equal(['x86-64-v4', 'x86-64-v3', 'x86-64-v2', 'x86-64']);
    for (let i = 0; i + 1 < X86_LEVELS.length; i++)
      expect(X86_LEVELS[i].flags).to.include.members(X86_LEVELS[i + 1].flags);
    const probe = fs.readFileSync(path.join(ROOT, 'src', 'native', 'cpu.cc'), 'utf8');
    const reported = new Set([...probe.matchAll(/add\([^;]*"(\w+)"\);/g)].map((m) => m[1]));
    expect([...reported]).to.include.members(X86_LEVELS[0].flags as string[]);
  });

  for (const cpu of CPU_SHAPES)
    it(`${cpu.name}: ${cpu.level}; the build makes v4, v3 and down to its level, and the loader runs its level`, () => {
      const flags = flagsOf(cpu);
      expect(levelOf(flags)).to.equal(cpu.level);
      const built = builtOn(flags);
      const down = ['x86-64-v4', 'x86-64-v3', 'x86-64-v2', 'x86-64'];
      expect(marches(built)).to.deep.equal(down.slice(0, Math.max(down.indexOf(cpu.level) + 1, 2)));
      // The build and the loader read one CPU alike: on the building machine the loader runs the level the build saw.
      const { chosen, missing } = chooseVariant(built, flags);
      expect(chosen.march).to.equal(cpu.level);
      expect(missing).to.deep.equal([]);
    });

  it('an AMD Zen 4 EPYC whose /proc/cpuinfo hides abm (issue 26): the build asks CPUID, as the loader does, and builds v4 and v3 alone', () => {
    const cpuinfo = cpuinfoFlags(ZEN4_CPUINFO_WITHOUT_ABM)!;
    // The old build's reading: /proc/cpuinfo alone, which lacks abm (LZCNT), makes this CPU an x86-64-v2 ...
    expect(cpuinfo.has('abm')).to.equal(false);
    expect(levelOf(cpuinfo)).to.equal('x86-64-v2');
    expect(marches(builtOn(cpuinfo))).to.deep.equal(['x86-64-v4', 'x86-64-v3', 'x86-64-v2']);
    // ... while the probe at run time reports LZCNT and loads x86-64-v4. Now the build reads the probe first.
    const read = readCpuFlags(
      () => ZEN4.cpuid.split(' '),
      () => ZEN4_CPUINFO_WITHOUT_ABM,
    );
    expect(read.from).to.equal('cpuid');
    expect(levelOf(read.flags)).to.equal('x86-64-v4');
    const built = builtOn(read.flags);
    expect(marches(built)).to.deep.equal(['x86-64-v4', 'x86-64-v3']);
    expect(chooseVariant(built, read.flags).chosen.march).to.equal('x86-64-v4');
    // Where the probe cannot be built or loaded, both fall back to /proc/cpuinfo: a third level, but still one reading.
    const noProbe = readCpuFlags(
      () => {
        throw new Error('Cannot find module fewshot_cpu.node');
      },
      () => ZEN4_CPUINFO_WITHOUT_ABM,
    );
    expect(noProbe.from).to.equal('/proc/cpuinfo');
    const fallback = builtOn(noProbe.flags);
    expect(chooseVariant(fallback, noProbe.flags)).to.deep.equal({ chosen: fallback[2], missing: [] });
  });

  it('flags unreadable: the build goes down to the baseline x86-64, and the loader, unable to read them either, runs that one', () => {
    const read = readCpuFlags(
      () => {
        throw new Error('no probe');
      },
      () => {
        throw new Error('ENOENT: /proc/cpuinfo');
      },
    );
    expect(read).to.deep.equal({ flags: undefined, from: 'unknown' });
    expect(levelOf(undefined)).to.equal(undefined);
    const built = builtOn(undefined);
    expect(marches(built)).to.deep.equal(['x86-64-v4', 'x86-64-v3', 'x86-64-v2', 'x86-64']);
    expect(chooseVariant(built, undefined)).to.deep.equal({ chosen: built[3], missing: [] });
  });

  it('a build made on one CPU, run on another: the best level built that the CPU has, else refused naming what it lacks', () => {
    // Built on an AVX-512 Xeon (v4, v3): a Zen 2 runs v3, a Westmere has neither.
    const xeon = builtOn(flagsOf(SKYLAKE_SP));
    expect(chooseVariant(xeon, flagsOf(ZEN2)).chosen.march).to.equal('x86-64-v3');
    expect(chooseVariant(xeon, flagsOf(ZEN4)).chosen.march).to.equal('x86-64-v4');
    const refused = chooseVariant(xeon, flagsOf(WESTMERE));
    expect(refused.chosen.march).to.equal('x86-64-v3');
    expect(refused.missing).to.deep.equal(['avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave']);
    // Built on a Westmere (v4, v3, v2): a Haswell runs v3, a Skylake-SP v4, a bare x86-64 lacks even v2's flags.
    const westmere = builtOn(flagsOf(WESTMERE));
    expect(chooseVariant(westmere, flagsOf(HASWELL)).chosen.march).to.equal('x86-64-v3');
    expect(chooseVariant(westmere, flagsOf(SKYLAKE_SP)).chosen.march).to.equal('x86-64-v4');
    expect(chooseVariant(westmere, flagsOf(BARE))).to.deep.include({
      missing: ['ssse3', 'sse4_1', 'sse4_2', 'popcnt', 'cx16', 'lahf_lm'],
    });
    // Built on a bare x86-64 (every level): every CPU runs something, a Westmere v2.
    const bare = builtOn(flagsOf(BARE));
    expect(chooseVariant(bare, flagsOf(WESTMERE))).to.deep.equal({ chosen: bare[2], missing: [] });
    expect(chooseVariant(bare, flagsOf(BARE))).to.deep.equal({ chosen: bare[3], missing: [] });
  });

  it('FEWSHOT_NATIVE_MARCH builds one level: a named one needs its flags, native the building CPU’s; not x86-64: the baseline', () => {
    const zen2 = flagsOf(ZEN2);
    expect(levelsToBuild(zen2, { arch: 'x64', override: 'x86-64-v3' })).to.deep.equal([
      { march: 'x86-64-v3', requires: X86_LEVELS[1].flags },
    ]);
    expect(levelsToBuild(zen2, { arch: 'x64', override: 'native' })).to.deep.equal([
      { march: 'native', requires: [...zen2] },
    ]);
    expect(levelsToBuild(undefined, { arch: 'x64', override: 'native' })).to.deep.equal([
      { march: 'native', requires: [] },
    ]);
    expect(levelsToBuild(zen2, { arch: 'x64', override: 'znver2' })).to.deep.equal([{ march: 'znver2', requires: [] }]);
    expect(levelsToBuild(new Set(['fp', 'asimd']), { arch: 'arm64' })).to.deep.equal([{ march: '', requires: [] }]);
  });

  it("reads /proc/cpuinfo's flags line (Features on ARM); the probe's answer first, unless it reports nothing (not x86)", () => {
    expect([...cpuinfoFlags('processor\t: 0\nflags\t\t: fpu sse2  pni\n')!]).to.deep.equal(['fpu', 'sse2', 'pni']);
    expect([...cpuinfoFlags('processor\t: 0\nFeatures\t: fp asimd\n')!]).to.deep.equal(['fp', 'asimd']);
    expect(cpuinfoFlags('processor\t: 0\n')).to.equal(undefined);
    const arm = 'Features\t: fp asimd\n';
    expect(
      readCpuFlags(
        () => ['avx'],
        () => arm,
      ),
    ).to.deep.equal({ flags: new Set(['avx']), from: 'cpuid' });
    expect(
      readCpuFlags(
        () => [],
        () => arm,
      ),
    ).to.deep.equal({ flags: new Set(['fp', 'asimd']), from: '/proc/cpuinfo' });
  });
});
