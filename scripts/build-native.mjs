// Builds the native kernels (src/native) with node-gyp at install. They are an accelerator for the
// wasm backend: when there is no compiler (or FEWSHOT_NATIVE=0), the install goes on without them
// and the wasm kernels serve. `npm run build:native` builds them again.
//
// Portable by default: on x86-64 the code is compiled for a named ISA level (x86-64-v3: AVX2 + FMA,
// any x86 CPU since 2013-2015; x86-64-v2 where the building CPU lacks AVX2), never -march=native, and
// the level and the CPU flags it needs are written to build/Release/target.json. At load the kernels
// are refused, with a one-line warning, on a CPU that lacks any of them (no SIGILL when a build made
// on one machine runs on another). FEWSHOT_NATIVE_MARCH=native (or any -march value) overrides.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'native');

/** ISA levels of x86-64 and the /proc/cpuinfo flags each needs (psABI levels). */
const X86_LEVELS = [
  {
    march: 'x86-64-v3',
    flags: ['avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave', 'sse4_2', 'popcnt', 'ssse3'],
  },
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

/** The -march to build for and the CPU flags a machine must have to run the result. */
function chooseTarget() {
  const override = process.env.FEWSHOT_NATIVE_MARCH;
  const flags = cpuFlags();
  if (override) {
    // A named x86 level keeps its check; 'native' and others record the building CPU's flags as needed.
    const level = X86_LEVELS.find((l) => l.march === override);
    return { march: override, requires: level ? level.flags : override === 'native' && flags ? [...flags] : [] };
  }
  if (os.arch() !== 'x64') return { march: '', requires: [] }; // the compiler's baseline for the architecture
  const level = X86_LEVELS.find((l) => !flags || l.flags.every((f) => flags.has(f)));
  return { march: level.march, requires: level.flags };
}

if (process.env.FEWSHOT_NATIVE === '0') {
  console.log('fewshot-rkd: FEWSHOT_NATIVE=0, native kernels not built');
} else {
  const target = chooseTarget();
  // npm puts its own node-gyp on the PATH of install scripts; binding.gyp reads the level from the environment.
  const built = spawnSync('node-gyp', ['rebuild', '--directory', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    shell: true,
    encoding: 'utf8',
    env: { ...process.env, FEWSHOT_NATIVE_MARCH_FLAG: target.march ? `-march=${target.march}` : '-O3' },
  });
  if (built.status === 0) {
    const record = {
      arch: os.arch(),
      march: target.march || 'default',
      requires: target.requires,
      builtOn: os.cpus()[0]?.model ?? 'unknown',
    };
    fs.writeFileSync(path.join(dir, 'build', 'Release', 'target.json'), JSON.stringify(record, null, 2) + '\n');
    console.log(`fewshot-rkd: native kernels built for ${record.march} (src/native/build)`);
  } else {
    const why = (built.stderr ?? '')
      .split('\n')
      .filter((l) => /error/i.test(l))
      .slice(0, 3)
      .join('\n');
    console.warn(`fewshot-rkd: native kernels not built, the wasm kernels will serve${why ? `:\n${why}` : ''}`);
  }
}
