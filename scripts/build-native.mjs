// Builds the native kernels (src/native) with node-gyp at install. They are an accelerator for the
// wasm backend: when there is no compiler (or FEWSHOT_NATIVE=0), the install goes on without them
// and the wasm kernels serve. `npm run build:native` builds them again.
//
// Portable by default: on x86-64 the code is compiled for named ISA levels, never -march=native:
// x86-64-v4 (AVX-512: its kernels use 16-float registers) and x86-64-v3 (AVX2 + FMA, any x86 CPU
// since 2013-2015), and the building CPU's own level where it is lower. Each level is its own addon
// (build/Release/fewshot_native-<level>.node); the levels and the CPU flags each needs are written to
// build/Release/target.json. At load the best level this CPU has is used; on a CPU that has none
// the kernels are refused with a one-line warning (no SIGILL when a build made on one machine runs
// on another). FEWSHOT_NATIVE_MARCH=native (or any -march value) builds that one level alone.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'native');

/** ISA levels of x86-64 and the /proc/cpuinfo flags each needs (psABI levels), best first. */
const V3_FLAGS = ['avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave', 'sse4_2', 'popcnt', 'ssse3'];
const X86_LEVELS = [
  { march: 'x86-64-v4', flags: [...V3_FLAGS, 'avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl'] },
  { march: 'x86-64-v3', flags: V3_FLAGS },
  { march: 'x86-64-v2', flags: ['sse4_1', 'sse4_2', 'popcnt', 'ssse3', 'cx16'] },
  { march: 'x86-64', flags: [] },
];

function cpuFlags() {
  try {
    const line = fs
      .readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => /^(flags|Features)\s*:/.test(l));
    return line ? new Set(line.split(':')[1].trim().split(/\s+/)) : undefined;
  } catch {
    return undefined;
  }
}

/** The levels to build, best first, with the CPU flags a machine must have to run each. */
function chooseTargets() {
  const override = process.env.FEWSHOT_NATIVE_MARCH;
  const flags = cpuFlags();
  if (override) {
    // A named x86 level keeps its check; 'native' and others record the building CPU's flags as needed.
    const level = X86_LEVELS.find((l) => l.march === override);
    return [{ march: override, requires: level ? level.flags : override === 'native' && flags ? [...flags] : [] }];
  }
  if (os.arch() !== 'x64') return [{ march: '', requires: [] }]; // the compiler's baseline for the architecture
  // From x86-64-v4 down to x86-64-v3, or to the building CPU's level where that is lower.
  const own = X86_LEVELS.findIndex((l) => !flags || l.flags.every((f) => flags.has(f)));
  return X86_LEVELS.slice(0, Math.max(own, 1) + 1).map((l) => ({ march: l.march, requires: l.flags }));
}

/** node-gyp rebuild for one -march; returns its error lines, or undefined when it built. */
function build(march) {
  // npm puts its own node-gyp on the PATH of install scripts; binding.gyp reads the level from the environment.
  const built = spawnSync('node-gyp', ['rebuild', '--jobs', 'max', '--directory', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    shell: true,
    encoding: 'utf8',
    env: { ...process.env, FEWSHOT_NATIVE_MARCH_FLAG: march ? `-march=${march}` : '-O3' },
  });
  if (built.status === 0) return undefined;
  return (built.stderr ?? '')
    .split('\n')
    .filter((l) => /error/i.test(l))
    .slice(0, 3)
    .join('\n');
}

if (process.env.FEWSHOT_NATIVE === '0') {
  console.log('fewshot-rkd: FEWSHOT_NATIVE=0, native kernels not built');
} else {
  const release = path.join(dir, 'build', 'Release');
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'fewshot-native-'));
  const variants = [];
  let why;
  // Each rebuild starts from a clean build folder: keep each level's addon (and the CPU probe) aside.
  for (const target of chooseTargets()) {
    why = build(target.march);
    if (why !== undefined) continue;
    const file = `fewshot_native-${target.march || 'default'}.node`;
    fs.copyFileSync(path.join(release, 'fewshot_native.node'), path.join(staging, file));
    fs.copyFileSync(path.join(release, 'fewshot_cpu.node'), path.join(staging, 'fewshot_cpu.node'));
    variants.push({ march: target.march || 'default', requires: target.requires, file });
  }
  if (variants.length) {
    fs.mkdirSync(release, { recursive: true });
    fs.rmSync(path.join(release, 'fewshot_native.node'), { force: true });
    for (const file of fs.readdirSync(staging)) fs.copyFileSync(path.join(staging, file), path.join(release, file));
    const record = { arch: os.arch(), variants, builtOn: os.cpus()[0]?.model ?? 'unknown' };
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
