// The x86-64 ISA levels the native kernels are built for and the CPU flags each needs: the one table
// that both the build (scripts/build-native.mjs: which levels to build) and the loader
// (src/kernels/native-addon.ts: which level to run) use, so the two cannot disagree about a CPU.
// Flag names are the CPUID probe's (cpu.cc), which spells them as /proc/cpuinfo does. Plain
// JavaScript: the build runs at install, before TypeScript is compiled; tsc copies it into dist.

/** psABI's x86-64 micro-architecture levels, best first; each needs every flag of the levels below. */
const V2 = ['pni', 'ssse3', 'sse4_1', 'sse4_2', 'popcnt', 'cx16', 'lahf_lm'];
const V3 = [...V2, 'avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave'];
const V4 = [...V3, 'avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl'];

/** @typedef {{ readonly march: string, readonly flags: readonly string[] }} Level */
/** @typedef {{ readonly march: string, readonly requires: readonly string[] }} Target */

/** @type {readonly Level[]} */
export const X86_LEVELS = Object.freeze([
  { march: 'x86-64-v4', flags: V4 },
  { march: 'x86-64-v3', flags: V3 },
  { march: 'x86-64-v2', flags: V2 },
  { march: 'x86-64', flags: [] },
]);

/** Built on every x86-64 machine whatever its CPU (a build made on one machine serves others): v4 and v3. */
const ALWAYS_BUILT = 2;

/**
 * The flags of the `flags`/`Features` line of a /proc/cpuinfo text; undefined when it has none.
 * @param {string} text
 * @returns {Set<string> | undefined}
 */
export function cpuinfoFlags(text) {
  const line = text.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
  return line ? new Set(line.split(':')[1].trim().split(/\s+/).filter(Boolean)) : undefined;
}

/**
 * This CPU's flags for the build and the loader alike: the CPUID probe's (what this process may use;
 * /proc/cpuinfo can differ, e.g. a hypervisor that hides `abm` there while CPUID has LZCNT), else
 * /proc/cpuinfo's where the probe cannot be built or loaded, or reports nothing (not x86).
 * @param {() => readonly string[]} probe the probe's features(); throws where there is no probe
 * @param {() => string} cpuinfo the text of /proc/cpuinfo; throws where it cannot be read
 * @returns {{ flags: Set<string> | undefined, from: 'cpuid' | '/proc/cpuinfo' | 'unknown' }}
 */
export function readCpuFlags(probe, cpuinfo) {
  try {
    const features = probe();
    if (features.length) return { flags: new Set(features), from: 'cpuid' };
  } catch {
    // no probe: /proc/cpuinfo
  }
  try {
    const flags = cpuinfoFlags(cpuinfo());
    if (flags) return { flags, from: '/proc/cpuinfo' };
  } catch {
    // unreadable
  }
  return { flags: undefined, from: 'unknown' };
}

/**
 * The best x86-64 level a CPU with these flags runs (`x86-64` when it has none above the baseline);
 * undefined when its flags are unknown.
 * @param {ReadonlySet<string> | undefined} flags
 * @returns {string | undefined}
 */
export function levelOf(flags) {
  return flags && X86_LEVELS.find((l) => l.flags.every((f) => flags.has(f))).march;
}

/**
 * The levels to build, best first, each with the flags a CPU must have to run it. On x86-64: v4 and
 * v3 always, then every level down to the building CPU's own where it is lower; where its flags are
 * unknown, down to the baseline x86-64, so that the level the loader falls back to there (the
 * lowest) runs on any CPU.
 * Elsewhere: the compiler's baseline for the architecture (march ''). `override` (FEWSHOT_NATIVE_MARCH)
 * builds that one level: a named x86-64 level needs its flags, `native` all the building CPU's.
 * @param {ReadonlySet<string> | undefined} flags the building CPU's (readCpuFlags)
 * @param {{ arch: string, override?: string }} options
 * @returns {Target[]}
 */
export function levelsToBuild(flags, { arch, override }) {
  if (override) {
    const level = X86_LEVELS.find((l) => l.march === override);
    return [{ march: override, requires: level ? level.flags : override === 'native' && flags ? [...flags] : [] }];
  }
  if (arch !== 'x64') return [{ march: '', requires: [] }];
  // Where the flags are unknown: down to the baseline, which the loader (unable to read them either) runs.
  const own = flags ? X86_LEVELS.findIndex((l) => l.march === levelOf(flags)) : X86_LEVELS.length - 1;
  const levels = X86_LEVELS.slice(0, Math.max(own + 1, ALWAYS_BUILT));
  return levels.map((l) => ({ march: l.march, requires: l.flags }));
}

/**
 * The build to load, of those built (best first): the best whose flags this CPU has; where it has
 * none, the lowest, with the flags it lacks (then refused); where its flags are unknown, the lowest
 * (the one least likely to fault), lacking nothing known.
 * @template {Target} T
 * @param {readonly T[]} variants
 * @param {ReadonlySet<string> | undefined} flags
 * @returns {{ chosen: T, missing: string[] }}
 */
export function chooseVariant(variants, flags) {
  const missing = (/** @type {T} */ v) => (flags ? v.requires.filter((f) => !flags.has(f)) : []);
  const lowest = variants[variants.length - 1];
  const chosen = (flags && variants.find((v) => missing(v).length === 0)) || lowest;
  return { chosen, missing: missing(chosen) };
}
