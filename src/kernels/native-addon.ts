/**
 * The native addon (src/native, an N-API addon built by node-gyp at install for the building CPU's
 * ISA level, with OpenMP threads) as TypeScript sees it: the parameter interfaces and kernel
 * signatures that src/native/params.h and binding.cc define, and its loading, refused where it was
 * not built, is turned off (FEWSHOT_NATIVE=0) or cannot run on this CPU.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { chooseVariant, readCpuFlags } from '../native/cpu-levels.mjs';

/*
 * The kernels' parameters, one interface per kernel family: the structs of src/native/params.h, field
 * for field (the addon reads them by these names). Shapes are NHWC.
 */

/** A convolution, stride 1, no dilation: x [n, h, w, cin] * filter [kh, kw, cin, cout] -> [n, outHeight, outWidth, cout]. */
export interface ConvParams {
  n: number;
  h: number;
  w: number;
  cin: number;
  kh: number;
  kw: number;
  cout: number;
  outHeight: number;
  outWidth: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
}

/** A max-pool of x [n, h, w, c] into [n, outHeight, outWidth, c]. */
export interface PoolParams {
  n: number;
  h: number;
  w: number;
  c: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/** Batch norm -> ReLU -> 2x2 max-pool of z [n, h, w, c]; the moments take any z as [pixels, 1, 1, c]. */
export interface BatchNormParams {
  n: number;
  h: number;
  w: number;
  c: number;
}

/** RKD-D and RKD-A between a student's n embeddings of dimS and a teacher's of dimT. */
export interface RkdParams {
  n: number;
  dimS: number;
  dimT: number;
}
export interface ProtoLogitsParams {
  rows: number;
  dim: number;
  n: number;
  way: number;
  shot: number;
  query: number;
}

export type Arrays<Name extends string> = Record<Name, Float32Array>;

/** The RKD kernels' arrays: the student's (s) and teacher's (t) embeddings in, the loss and ds out. */
type RkdArray = 's' | 't' | 'loss' | 'ds';

/**
 * The addon: every kernel is called as kernel(arrays, params), arrays by name (the kernel's inputs,
 * as tfjs names them, then its outputs, written in place). It checks every array's length against
 * the params and throws a RangeError naming the kernel and the array or field on a mismatch.
 */
export interface NativeAddon {
  conv2d(arrays: Arrays<'x' | 'filter' | 'out'> & { bias: Float32Array | null }, params: ConvParams): void;
  filterGrad(arrays: Arrays<'x' | 'dy' | 'dw'>, params: ConvParams): void;
  maxPoolGrad(arrays: Arrays<'x' | 'dy' | 'dx'>, params: PoolParams): void;
  channelMoments(arrays: Arrays<'z' | 'center' | 's1' | 's2'>, params: BatchNormParams): void;
  /** xhat null: inference (the moving statistics), y alone in one pass. */
  bnReluPool(
    arrays: Arrays<'z' | 'mean' | 'invStd' | 'gamma' | 'beta' | 'y'> & { xhat: Float32Array | null },
    params: BatchNormParams,
  ): void;
  bnGradSums(arrays: Arrays<'xhat' | 'gamma' | 'beta' | 'dy' | 'dBeta' | 'dGamma'>, params: BatchNormParams): void;
  bnGradInput(
    arrays: Arrays<'xhat' | 'gamma' | 'beta' | 'dy' | 'mBeta' | 'mGamma' | 'scale' | 'dz'>,
    params: BatchNormParams,
  ): void;
  /** The first Conv-4 block, its convolution recomputed ('same' padding, cout a multiple of 8). */
  inputBlockMoments(arrays: Arrays<'x' | 'kernel' | 'bias' | 'mean' | 'variance'>, params: ConvParams): void;
  inputBlockForward(
    arrays: Arrays<'x' | 'kernel' | 'bias' | 'mean' | 'invStd' | 'gamma' | 'beta' | 'y'>,
    params: ConvParams,
  ): void;
  inputBlockGradSums(
    arrays: Arrays<'x' | 'kernel' | 'bias' | 'mean' | 'invStd' | 'gamma' | 'beta' | 'dy' | 'dBeta' | 'dGamma'>,
    params: ConvParams,
  ): void;
  inputBlockGrad(
    arrays: Arrays<
      'x' | 'kernel' | 'bias' | 'mean' | 'invStd' | 'gamma' | 'beta' | 'dy' | 'mBeta' | 'mGamma' | 'scale' | 'dw'
    >,
    params: ConvParams,
  ): void;
  /** RKD-A's loss summed over the triplets (1 float) and its gradient with respect to s. */
  rkdAngle(arrays: Arrays<RkdArray>, params: RkdParams): void;
  /** RKD-D's loss (the mean over the pairs, 1 float) and its gradient with respect to s. */
  rkdDistance(arrays: Arrays<RkdArray>, params: RkdParams): void;
  /** Prototypical logits [n, way * query, way] of n episodes whose rows of the embeddings are given (Int32Arrays). */
  protoLogits(
    arrays: Arrays<'embeddings' | 'out'> & Record<'supportRows' | 'queryRows', Int32Array>,
    params: ProtoLogitsParams,
  ): void;
  threads(): number;
  /** The version of these calling conventions the addon was built with (NATIVE_ABI). */
  abi?(): number;
}

/** binding.cc's kAbi: raised with it whenever a kernel's arrays or params change. */
export const NATIVE_ABI = 2;

const BUILD = new URL('../../../src/native/build/Release/', import.meta.url);
const TARGET = new URL('target.json', BUILD);
/** Written by scripts/build-native.mjs when no level built at install: the compiler's error lines. */
const FAILURE = new URL('../install-failure.txt', BUILD);

/** Installed as another project's dependency (npm 11.16+ asks it to approve dependencies' install scripts; npm 12 skips them until then). */
const DEPENDENCY = BUILD.pathname.includes('/node_modules/');

/**
 * How to build the kernels again where this copy is: the project's own script in a clone, npm's
 * rebuild of the package (its install script) where it is a dependency of another project.
 */
export function rebuildCommand(): string {
  return DEPENDENCY ? 'npm rebuild fewshot-rkd' : 'npm run build:native';
}

/** One build of the kernels: the ISA level it was compiled for, the CPU flags that level needs, its file. */
interface NativeVariant {
  readonly march: string;
  readonly requires: readonly string[];
  readonly file: string;
}

/** What the build recorded (target.json): its levels, best first (older builds: one level, fewshot_native.node). */
interface BuildRecord {
  readonly arch: string;
  readonly variants?: readonly NativeVariant[];
  readonly march?: string;
  readonly requires?: readonly string[];
  readonly builtOn?: string;
  /** The building CPU's level, and where the build read its flags (the CPUID probe, else /proc/cpuinfo). */
  readonly builtOnLevel?: string;
  readonly cpuFlagsFrom?: string;
}

/** The level in use: the best one this CPU has (or, when it has none or its flags are unknown, the lowest built). */
export interface NativeTarget {
  readonly arch: string;
  readonly march: string;
  readonly requires: readonly string[];
  /** Every level built, best first. */
  readonly built: readonly string[];
  readonly builtOn?: string;
}

export interface NativeStatus {
  readonly loaded: boolean;
  /** Why the kernels are not in use (absent when loaded). */
  readonly reason?: string;
  readonly target?: NativeTarget;
  readonly addonPath: string;
}

const CPU_PROBE = new URL('fewshot_cpu.node', BUILD);

/**
 * This CPU's feature flags, as CPUID reports them to this process (a baseline-compiled probe built
 * beside the kernels); /proc/cpuinfo where the probe is absent. FEWSHOT_CPU_FLAGS stands in for both
 * in tests. (An emulator or hypervisor may show the host's /proc/cpuinfo while hiding features.)
 */
export function cpuFlags(): Set<string> | undefined {
  const given = process.env.FEWSHOT_CPU_FLAGS;
  if (given !== undefined) return new Set(given.split(/\s+/).filter(Boolean));
  // As the build read the building CPU's (src/native/cpu-levels.mjs): the same flags, the same levels.
  return readCpuFlags(
    () => (createRequire(import.meta.url)(CPU_PROBE.pathname) as { features(): string[] }).features(),
    () => fs.readFileSync('/proc/cpuinfo', 'utf8'),
  ).flags;
}

let addon: NativeAddon | undefined | null = null;
let status: NativeStatus | undefined;
const calls: Record<string, number> = {};

/** Calls of each native entry point so far: tests assert the native path ran, not a silent fallback. */
export function nativeCalls(): Readonly<Record<string, number>> {
  return { ...calls };
}

/** The addon with each entry point counting its calls (a few hundred calls per step: no cost). */
function counted(raw: NativeAddon): NativeAddon {
  // (The addon's exports are not all enumerable: list them by name.)
  return Object.fromEntries(
    Object.getOwnPropertyNames(raw)
      .map((name) => [name, (raw as unknown as Record<string, unknown>)[name]])
      .map(([name, f]) => [
        name,
        typeof f !== 'function'
          ? f
          : (...args: unknown[]) => {
              calls[name as string] = (calls[name as string] ?? 0) + 1;
              return (f as (...a: unknown[]) => unknown)(...args);
            },
      ]),
  ) as unknown as NativeAddon;
}

/**
 * Why an addon cannot serve this code, when it was built from older sources (updated without
 * `npm run build:native`): its kernels' arrays may have changed since. Undefined when it can.
 */
export function staleBuild(addon: Pick<NativeAddon, 'abi'>): string | undefined {
  const abi = typeof addon.abi === 'function' ? addon.abi() : 1; // 1: before abi() existed
  return abi === NATIVE_ABI
    ? undefined
    : `built from older sources (calling conventions ${abi}, the code needs ${NATIVE_ABI}; ${rebuildCommand()})`;
}

function load(): { addon?: NativeAddon; status: NativeStatus } {
  const refuse = (reason: string, addonPath = BUILD.pathname, target?: NativeTarget) => ({
    status: { loaded: false, reason, addonPath, target },
  });
  if (process.env.FEWSHOT_NATIVE === '0') return refuse('turned off (FEWSHOT_NATIVE=0)');
  const addons = fs.existsSync(BUILD) ? fs.readdirSync(BUILD).filter((f) => /^fewshot_native.*\.node$/.test(f)) : [];
  if (!addons.length) {
    // npm hides install output: a failed build is only seen here.
    const failure = fs.existsSync(FAILURE) ? fs.readFileSync(FAILURE, 'utf8').trim().split('\n')[0] : undefined;
    return refuse(
      failure
        ? `the build at install failed: ${failure} (all of it: ${FAILURE.pathname}; then ${rebuildCommand()})`
        : `not built (${DEPENDENCY ? 'npm skipped its install script (approve it: npm install-scripts approve fewshot-rkd), ' : ''}no compiler at install, or FEWSHOT_NATIVE=0 then; ${rebuildCommand()})`,
    );
  }
  let record: BuildRecord;
  try {
    record = JSON.parse(fs.readFileSync(TARGET, 'utf8')) as BuildRecord;
  } catch {
    // A build without its record may have been made for any CPU: running it could fault.
    return refuse(`built without ${TARGET.pathname} (its CPU target is unknown; ${rebuildCommand()})`);
  }
  const variants = record.variants ?? [
    { march: record.march ?? 'unknown', requires: record.requires ?? [], file: 'fewshot_native.node' },
  ];
  // The best level built that this CPU has; where its flags cannot be read, the lowest built.
  const { chosen, missing } = chooseVariant(variants, cpuFlags());
  const target: NativeTarget = {
    arch: record.arch,
    march: chosen.march,
    requires: chosen.requires,
    built: variants.map((v) => v.march),
    builtOn: record.builtOn,
  };
  const addonPath = new URL(chosen.file, BUILD).pathname;
  if (missing.length)
    return refuse(
      `built for ${chosen.march}, this CPU lacks ${missing.join(' ')} (rebuild here: ${rebuildCommand()})`,
      addonPath,
      target,
    );
  let raw: NativeAddon;
  try {
    raw = createRequire(import.meta.url)(addonPath) as NativeAddon;
  } catch (err) {
    return refuse(`failed to load: ${(err as Error).message.split('\n')[0]}`, addonPath, target);
  }
  const stale = staleBuild(raw);
  if (stale) return refuse(stale, addonPath, target);
  return { addon: counted(raw), status: { loaded: true, target, addonPath } };
}

/** The addon, or undefined when it was not built, is turned off, or cannot run on this CPU. */
export function nativeAddon(): NativeAddon | undefined {
  if (addon === null) {
    const loaded = load();
    addon = loaded.addon;
    status = loaded.status;
  }
  return addon;
}

/** Whether the native kernels are in use, and if not, why. */
export function nativeStatus(): NativeStatus {
  nativeAddon();
  return status!;
}
