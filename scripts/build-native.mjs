// Builds the native kernels (src/native) with node-gyp at install. They are an accelerator for the
// wasm backend: when there is no compiler (or FEWSHOT_NATIVE=0), the install goes on without them
// and the wasm kernels serve. `npm run build:native` builds them again.
//
// Portable by default: on x86-64 the code is compiled for named ISA levels, never -march=native:
// x86-64-v4 (AVX-512: its kernels use 16-float registers) and x86-64-v3 (AVX2 + FMA, any x86 CPU
// since 2013-2015), and the building CPU's own level where it is lower. The building CPU's level is
// read as the loader reads it at run time: the CPUID probe (cpu.cc, built first, for the baseline
// ISA), /proc/cpuinfo only where the probe cannot be built; the levels and their flags are one table,
// src/native/cpu-levels.mjs, shared with the loader. Each level is its own addon
// (build/Release/fewshot_native-<level>.node); the levels and the CPU flags each needs are written to
// build/Release/target.json. At load the best level this CPU has is used; on a CPU that has none
// the kernels are refused with a one-line warning (no SIGILL when a build made on one machine runs
// on another). FEWSHOT_NATIVE_MARCH=native (or any -march value) builds that one level alone.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { levelOf, levelsToBuild, readCpuFlags } from '../src/native/cpu-levels.mjs';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'native');
/** The CPUID probe's own node-gyp project (probe/binding.gyp): built before the levels are chosen. */
const probeDir = path.join(dir, 'probe');

/** node-gyp rebuild of one project; returns its error lines, or undefined when it built. */
function nodeGyp(directory, env) {
  // npm puts its own node-gyp on the PATH of install scripts.
  const built = spawnSync('node-gyp', ['rebuild', '--jobs', 'max', '--directory', directory], {
    stdio: ['ignore', 'ignore', 'pipe'],
    shell: true,
    encoding: 'utf8',
    env,
  });
  if (built.status === 0) return undefined;
  return (built.stderr ?? '')
    .split('\n')
    .filter((l) => /error/i.test(l))
    .slice(0, 3)
    .join('\n');
}

/** The kernels for one -march (binding.gyp reads it from the environment). */
const build = (march) => nodeGyp(dir, { ...process.env, FEWSHOT_NATIVE_MARCH_FLAG: march ? `-march=${march}` : '-O3' });

/**
 * The probe, for the baseline ISA whatever the environment asks (CFLAGS/CXXFLAGS such as
 * -march=native come after binding.gyp's flags and would win): asking must never fault. Its path,
 * or undefined where it did not build.
 */
function buildProbe() {
  const { CFLAGS: _c, CXXFLAGS: _cxx, ...env } = process.env;
  if (nodeGyp(probeDir, env) !== undefined) return undefined;
  const file = path.join(probeDir, 'build', 'Release', 'fewshot_cpu.node');
  return fs.existsSync(file) ? file : undefined;
}

if (process.env.FEWSHOT_NATIVE === '0') {
  console.log('fewshot-rkd: FEWSHOT_NATIVE=0, native kernels not built');
} else {
  const release = path.join(dir, 'build', 'Release');
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'fewshot-native-'));
  const probe = buildProbe();
  const cpu = readCpuFlags(
    () => createRequire(import.meta.url)(probe ?? 'the probe did not build').features(),
    () => fs.readFileSync('/proc/cpuinfo', 'utf8'),
  );
  if (probe) fs.copyFileSync(probe, path.join(staging, 'fewshot_cpu.node'));
  fs.rmSync(path.join(probeDir, 'build'), { recursive: true, force: true });
  const variants = [];
  let why;
  // Each rebuild starts from a clean build folder: keep each level's addon aside.
  for (const target of levelsToBuild(cpu.flags, { arch: os.arch(), override: process.env.FEWSHOT_NATIVE_MARCH })) {
    why = build(target.march);
    if (why !== undefined) continue;
    const file = `fewshot_native-${target.march || 'default'}.node`;
    fs.copyFileSync(path.join(release, 'fewshot_native.node'), path.join(staging, file));
    variants.push({ march: target.march || 'default', requires: target.requires, file });
  }
  if (variants.length) {
    fs.mkdirSync(release, { recursive: true });
    fs.rmSync(path.join(release, 'fewshot_native.node'), { force: true });
    for (const file of fs.readdirSync(staging)) fs.copyFileSync(path.join(staging, file), path.join(release, file));
    // The building CPU's level and where its flags were read: what decided the levels below v3.
    const record = {
      arch: os.arch(),
      variants,
      builtOn: os.cpus()[0]?.model ?? 'unknown',
      builtOnLevel: os.arch() === 'x64' ? (levelOf(cpu.flags) ?? 'unknown') : undefined,
      cpuFlagsFrom: cpu.from,
    };
    fs.writeFileSync(path.join(release, 'target.json'), JSON.stringify(record, null, 2) + '\n');
    console.log(`fewshot-rkd: native kernels built for ${variants.map((v) => v.march).join(', ')} (src/native/build)`);
  } else {
    // npm shows install scripts' output only when they fail: this is kept for the run-time warning.
    const lines = why || 'node-gyp failed without an error line (is python3, make and a C++ compiler there?)';
    fs.mkdirSync(path.join(dir, 'build'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'build', 'install-failure.txt'), lines + '\n');
    console.warn(`fewshot-rkd: native kernels not built, the wasm kernels will serve:\n${lines}`);
  }
  fs.rmSync(staging, { recursive: true, force: true });
}
