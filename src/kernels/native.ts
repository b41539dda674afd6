/**
 * Native kernels (src/native, an N-API addon built by node-gyp at install with the host's SIMD and
 * OpenMP threads) stacked on the wasm backend: Conv2D, FusedConv2D (bias, no activation),
 * Conv2DBackpropFilter and Conv2DBackpropInput for NHWC, stride 1, no dilation (3x3 ones by
 * Winograd), and MaxPoolGrad; plus kernels of their own for the Conv-4 blocks (BLOCK_KERNELS).
 * They read and write the wasm heap in place. Other arguments, or a missing addon, fall through to
 * the wasm kernels. FEWSHOT_NATIVE=0 turns them off (the reference path).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { FastPath, KernelArgs, WasmBackend, convInfo, replace } from './wasm.js';

interface NativeAddon {
  /** dims: [n, h, w, cin, kh, kw, cout, outHeight, outWidth, padTop, padBottom, padLeft, padRight] */
  conv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array, dims: number[]): void;
  filterGrad(x: Float32Array, dy: Float32Array, dw: Float32Array, dims: number[]): void;
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, dims: number[]): void;
  channelMoments(z: Float32Array, dims: number[], center: Float32Array, s1: Float32Array, s2: Float32Array): void;
  bnReluPool(z: Float32Array, dims: number[], mean: Float32Array, invStd: Float32Array, gamma: Float32Array,
    beta: Float32Array, xhat: Float32Array | null, y: Float32Array): void;
  bnGradSums(xhat: Float32Array, dims: number[], gamma: Float32Array, beta: Float32Array, dy: Float32Array,
    dBeta: Float32Array, dGamma: Float32Array): void;
  bnGradInput(xhat: Float32Array, dims: number[], gamma: Float32Array, beta: Float32Array, dy: Float32Array,
    mBeta: Float32Array, mGamma: Float32Array, scale: Float32Array, dz: Float32Array): void;
  /** The first Conv-4 block, its convolution recomputed: arrays as named in BLOCK_KERNELS' inputs,
   * then the outputs; dims: [n, h, w, cin, kh, kw, cout, padTop, padBottom, padLeft, padRight]. */
  inputBlockMoments(arrays: Float32Array[], dims: number[]): void;
  inputBlockForward(arrays: Float32Array[], dims: number[]): void;
  inputBlockGradSums(arrays: Float32Array[], dims: number[]): void;
  inputBlockGrad(arrays: Float32Array[], dims: number[]): void;
  /** RKD-A's loss sum and unscaled Gram gradient: [gs, gt, loss (1 float), dgram, ddiag], [n]. */
  rkdAngle(arrays: Float32Array[], dims: number[]): void;
  /** Prototypical logits [n, way * query, way] of n episodes' rows of emb; dims: [rows, dim, n, way, shot, query]. */
  protoLogits(emb: Float32Array, supportRows: Int32Array, queryRows: Int32Array, out: Float32Array, dims: number[]): void;
  threads(): number;
}

const BUILD = new URL('../../../src/native/build/Release/', import.meta.url);
const ADDON = new URL('fewshot_native.node', BUILD);
const TARGET = new URL('target.json', BUILD);

/** What the build recorded: the ISA level it was compiled for and the CPU flags that level needs. */
export interface NativeTarget {
  readonly arch: string;
  readonly march: string;
  readonly requires: readonly string[];
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
  if (fs.existsSync(CPU_PROBE)) {
    try {
      return new Set((createRequire(import.meta.url)(CPU_PROBE.pathname) as { features(): string[] }).features());
    } catch {
      // fall through to /proc/cpuinfo
    }
  }
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
    return line ? new Set(line.split(':')[1].trim().split(/\s+/)) : undefined;
  } catch {
    return undefined;
  }
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
  return Object.fromEntries(Object.getOwnPropertyNames(raw).map((name) => [name, (raw as unknown as Record<string, unknown>)[name]])
    .map(([name, f]) => [name, typeof f !== 'function' ? f
    : (...args: unknown[]) => {
      calls[name as string] = (calls[name as string] ?? 0) + 1;
      return (f as (...a: unknown[]) => unknown)(...args);
    }])) as unknown as NativeAddon;
}

function load(): { addon?: NativeAddon; status: NativeStatus } {
  const addonPath = ADDON.pathname;
  const refuse = (reason: string) => ({ status: { loaded: false, reason, addonPath } });
  if (process.env.FEWSHOT_NATIVE === '0') return refuse('turned off (FEWSHOT_NATIVE=0)');
  if (!fs.existsSync(ADDON)) return refuse('not built (no compiler at install, or FEWSHOT_NATIVE=0 then; npm run build:native)');
  let target: NativeTarget | undefined;
  try {
    target = JSON.parse(fs.readFileSync(TARGET, 'utf8')) as NativeTarget;
  } catch {
    // A build without its record may have been made for any CPU: running it could fault.
    return refuse(`built without ${TARGET.pathname} (its CPU target is unknown; npm run build:native)`);
  }
  const flags = cpuFlags();
  const missing = flags ? target.requires.filter((f) => !flags.has(f)) : [];
  if (missing.length) {
    return { status: { loaded: false, target, addonPath,
      reason: `built for ${target.march}, this CPU lacks ${missing.join(' ')} (rebuild here: npm run build:native)` } };
  }
  try {
    return { addon: counted(createRequire(import.meta.url)(addonPath) as NativeAddon), status: { loaded: true, target, addonPath } };
  } catch (err) {
    return { status: { loaded: false, target, addonPath, reason: `failed to load: ${(err as Error).message.split('\n')[0]}` } };
  }
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

type Info = tf.TensorInfo;

/** Stride 1, no dilation, NHWC, float32: what the native kernels do. */
function supported(attrs: tf.NamedAttrMap, ...tensors: Info[]): boolean {
  const one = (v: unknown) => v === undefined || v === 1 || (Array.isArray(v) && v.every((d) => d === 1));
  return one(attrs.strides) && one(attrs.dilations) && (attrs.dataFormat ?? 'NHWC') === 'NHWC'
    && tensors.every((t) => t.dtype === 'float32');
}

const heap = (b: WasmBackend, t: Info) => b.typedArrayFromHeap(t) as Float32Array;

function forward(native: NativeAddon, b: WasmBackend, x: Info, filter: Info, bias: Info | undefined, attrs: tf.NamedAttrMap, kernel: string): Info {
  const info = convInfo(x.shape, filter.shape, attrs, kernel);
  const { top, bottom, left, right } = info.padInfo;
  const out = b.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'float32');
  // Views after makeOutput, which may grow (and so detach) the heap.
  native.conv2d(heap(b, x), heap(b, filter), bias ? heap(b, bias) : null, heap(b, out),
    [...x.shape, filter.shape[0], filter.shape[1], filter.shape[3], info.outHeight, info.outWidth, top, bottom, left, right]);
  return out;
}

function conv2D(native: NativeAddon): FastPath {
  return ({ inputs, backend, attrs }: KernelArgs) => {
    const { x, filter } = inputs as { x: Info; filter: Info };
    if (!supported(attrs!, x, filter)) return undefined;
    return forward(native, backend as unknown as WasmBackend, x, filter, undefined, attrs!, tf.Conv2D);
  };
}

function fusedConv2D(native: NativeAddon): FastPath {
  return ({ inputs, backend, attrs }: KernelArgs) => {
    const { x, filter, bias, preluActivationWeights } = inputs as { x: Info; filter: Info; bias?: Info; preluActivationWeights?: Info };
    const plainBias = !bias || (bias.shape.length === 1 && bias.shape[0] === filter.shape[3]);
    if (!supported(attrs!, x, filter) || (attrs!.activation ?? 'linear') !== 'linear' || preluActivationWeights || !plainBias) return undefined;
    return forward(native, backend as unknown as WasmBackend, x, filter, bias, attrs!, tf.FusedConv2D);
  };
}

function conv2DBackpropFilter(native: NativeAddon): FastPath {
  return ({ inputs, backend, attrs }: KernelArgs) => {
    const { x, dy } = inputs as { x: Info; dy: Info };
    if (!supported(attrs!, x, dy)) return undefined;
    const b = backend as unknown as WasmBackend;
    const filterShape = attrs!.filterShape as number[];
    const { top, bottom, left, right } = convInfo(x.shape, filterShape, attrs!, tf.Conv2DBackpropFilter).padInfo;
    const dw = b.makeOutput(filterShape, 'float32');
    native.filterGrad(heap(b, x), heap(b, dy), heap(b, dw),
      [...x.shape, filterShape[0], filterShape[1], filterShape[3], dy.shape[1], dy.shape[2], top, bottom, left, right]);
    return dw;
  };
}

/**
 * dx[n,h,w,ci] = sum dy[n, h+top-kh, w+left-kw, co] * W[kh,kw,ci,co]: a forward convolution of dy
 * with the filter flipped in space and transposed in channels, padded by kernel - 1 - pad.
 */
function conv2DBackpropInput(native: NativeAddon): FastPath {
  return ({ inputs, backend, attrs }: KernelArgs) => {
    const { dy, filter } = inputs as { dy: Info; filter: Info };
    if (!supported(attrs!, dy, filter)) return undefined;
    const b = backend as unknown as WasmBackend;
    const inputShape = attrs!.inputShape as number[];
    const [kh, kw, ci, co] = filter.shape;
    const { top, left } = convInfo(inputShape, filter.shape, attrs!, tf.Conv2DBackpropInput).padInfo;
    const w = heap(b, filter);
    const flipped = new Float32Array(w.length);
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) {
      flipped[(((kh - 1 - i) * kw + (kw - 1 - j)) * co + o) * ci + c] = w[((i * kw + j) * ci + c) * co + o];
    }
    const [, h, wd] = inputShape;
    const [padTop, padLeft] = [kh - 1 - top, kw - 1 - left];
    const pad = [padTop, h - dy.shape[1] - padTop + kh - 1, padLeft, wd - dy.shape[2] - padLeft + kw - 1];
    if (pad.some((p) => p < 0)) return undefined;
    const dx = b.makeOutput(inputShape, 'float32');
    native.conv2d(heap(b, dy), flipped, null, heap(b, dx), [...dy.shape, kh, kw, ci, h, wd, ...pad]);
    return dx;
  };
}

/** MaxPoolGrad: each window's dy goes to its first maximum (as on the cpu backend). */
function maxPoolGrad(native: NativeAddon): FastPath {
  return ({ inputs, backend, attrs }: KernelArgs) => {
    const { input, dy } = inputs as { input: Info; dy: Info };
    if (input.dtype !== 'float32') return undefined;
    const b = backend as unknown as WasmBackend;
    const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number],
      attrs!.filterSize as number | [number, number], attrs!.strides as number | [number, number], 1,
      attrs!.pad as 'valid' | 'same' | number, attrs!.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined);
    const dx = b.makeOutput(input.shape, 'float32');
    native.maxPoolGrad(heap(b, input), heap(b, dy), heap(b, dx), [info.batchSize, info.inHeight, info.inWidth, info.inChannels,
      info.outHeight, info.outWidth, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth,
      info.padInfo.top, info.padInfo.left]);
    return dx;
  };
}

/**
 * The rest of a Conv-4 block after its convolution, as kernels of their own on wasm (used by
 * src/models/conv-block.ts through blockKernels()): per-channel moments, batch norm -> ReLU ->
 * 2x2 max-pool, and its backward in two passes (the reductions, then the conv output's gradient),
 * each recomputing the pooling's routing instead of storing it.
 */
export const BLOCK_KERNELS = {
  moments: 'FewshotChannelMoments',
  bnReluPool: 'FewshotBnReluPool',
  gradSums: 'FewshotBnGradSums',
  gradInput: 'FewshotBnGradInput',
  // The first block whole, its convolution recomputed in every pass (conv-block.ts):
  inputMoments: 'FewshotInputBlockMoments',
  inputForward: 'FewshotInputBlockForward',
  inputGradSums: 'FewshotInputBlockGradSums',
  inputGrad: 'FewshotInputBlockGrad',
} as const;

/** The input names of the recomputing first-block kernels, in the addon's argument order. */
const INPUT_BLOCK_ARGS = ['x', 'kernel', 'bias', 'mean', 'invStd', 'gamma', 'beta', 'dy', 'mBeta', 'mGamma', 'scale'];

function blockKernelFuncs(native: NativeAddon): [string, tf.KernelFunc][] {
  const dims4 = (t: Info) => t.shape.slice(0, 4);
  const args = (a: KernelArgs) => ({ b: a.backend as unknown as WasmBackend, i: a.inputs as Record<string, Info> });
  return [
    [BLOCK_KERNELS.moments, (a) => {
      const { b, i } = args(a);
      const c = i.z.shape[i.z.shape.length - 1];
      const [s1, s2] = [b.makeOutput([c], 'float32'), b.makeOutput([c], 'float32')];
      native.channelMoments(heap(b, i.z), [i.z.shape.reduce((x, y) => x * y, 1) / c, c], heap(b, i.center), heap(b, s1), heap(b, s2));
      return [s1, s2];
    }],
    [BLOCK_KERNELS.bnReluPool, (a) => {
      // With attrs.inference (the moving statistics), y alone, in one pass.
      const { b, i } = args(a);
      const [n, h, w, c] = dims4(i.z);
      const xhat = a.attrs?.inference ? undefined : b.makeOutput([n, h, w, c], 'float32');
      const y = b.makeOutput([n, Math.floor(h / 2), Math.floor(w / 2), c], 'float32');
      native.bnReluPool(heap(b, i.z), [n, h, w, c], heap(b, i.mean), heap(b, i.invStd), heap(b, i.gamma), heap(b, i.beta),
        xhat ? heap(b, xhat) : null, heap(b, y));
      return xhat ? [xhat, y] : y;
    }],
    [BLOCK_KERNELS.gradSums, (a) => {
      const { b, i } = args(a);
      const c = i.xhat.shape[3];
      const [dBeta, dGamma] = [b.makeOutput([c], 'float32'), b.makeOutput([c], 'float32')];
      native.bnGradSums(heap(b, i.xhat), dims4(i.xhat), heap(b, i.gamma), heap(b, i.beta), heap(b, i.dy), heap(b, dBeta), heap(b, dGamma));
      return [dBeta, dGamma];
    }],
    [BLOCK_KERNELS.gradInput, (a) => {
      const { b, i } = args(a);
      const dz = b.makeOutput(i.xhat.shape, 'float32');
      native.bnGradInput(heap(b, i.xhat), dims4(i.xhat), heap(b, i.gamma), heap(b, i.beta), heap(b, i.dy),
        heap(b, i.mBeta), heap(b, i.mGamma), heap(b, i.scale), heap(b, dz));
      return dz;
    }],
    ...inputBlockKernels(native),
  ];
}

/**
 * The first block's kernels: inputs by name (in the addon's argument order), then outputs of the
 * shapes given, written by the addon.
 */
function inputBlockKernels(native: NativeAddon): [string, tf.KernelFunc][] {
  const channels = (i: Record<string, Info>) => [i.kernel.shape[3]];
  const table: [string, (arrays: Float32Array[], dims: number[]) => void, string[], (i: Record<string, Info>) => number[][]][] = [
    [BLOCK_KERNELS.inputMoments, native.inputBlockMoments, ['x', 'kernel', 'bias'], (i) => [channels(i), channels(i)]],
    [BLOCK_KERNELS.inputForward, native.inputBlockForward, INPUT_BLOCK_ARGS.slice(0, 7),
      (i) => [[i.x.shape[0], Math.floor(i.x.shape[1] / 2), Math.floor(i.x.shape[2] / 2), i.kernel.shape[3]]]],
    [BLOCK_KERNELS.inputGradSums, native.inputBlockGradSums, INPUT_BLOCK_ARGS.slice(0, 8), (i) => [channels(i), channels(i)]],
    [BLOCK_KERNELS.inputGrad, native.inputBlockGrad, INPUT_BLOCK_ARGS, (i) => [i.kernel.shape]],
  ];
  return table.map(([name, run, inputs, outputShapes]) => [name, (a: KernelArgs) => {
    const b = a.backend as unknown as WasmBackend;
    const i = a.inputs as Record<string, Info>;
    const [kh, kw, , cout] = i.kernel.shape;
    const { top, bottom, left, right } = convInfo(i.x.shape, i.kernel.shape, { strides: 1, pad: 'same', dataFormat: 'NHWC' }, name).padInfo;
    const outs = outputShapes(i).map((shape) => b.makeOutput(shape, 'float32'));
    // Views after every makeOutput, which may grow (and so detach) the heap.
    run.call(native, [...inputs.map((n) => heap(b, i[n])), ...outs.map((o) => heap(b, o))], [...i.x.shape, kh, kw, cout, top, bottom, left, right]);
    return outs.length === 1 ? outs[0] : outs;
  }]);
}

/**
 * RKD-A over all triplets from the centred Gram matrices of student and teacher (src/losses/rkd.ts):
 * [loss sum, dGram, dDiag], the gradient unscaled and not symmetrised, as rkd.ts's bounded path.
 */
export const RKD_ANGLE_KERNEL = 'FewshotRkdAngle';

function rkdAngleKernel(native: NativeAddon): tf.KernelFunc {
  return (a) => {
    const b = a.backend as unknown as WasmBackend;
    const { gs, gt } = a.inputs as Record<string, Info>;
    const n = gs.shape[0];
    const outs = [b.makeOutput([], 'float32'), b.makeOutput([n, n], 'float32'), b.makeOutput([n], 'float32')];
    native.rkdAngle([heap(b, gs), heap(b, gt), ...outs.map((o) => heap(b, o))], [n]);
    return outs;
  };
}

/**
 * Prototypical-network logits of a batch of episodes of one shape (src/eval/evaluate.ts): inputs
 * embeddings [rows, D], supportRows and queryRows (int32, class-major, episode after episode); attrs
 * way, shot, query; output [n, way * query, way], the same floats as src/losses/protonet.ts on wasm.
 */
export const PROTO_LOGITS_KERNEL = 'FewshotProtoLogits';

function protoLogitsKernel(native: NativeAddon): tf.KernelFunc {
  return (a) => {
    const b = a.backend as unknown as WasmBackend;
    const { embeddings, supportRows, queryRows } = a.inputs as Record<string, Info>;
    const { way, shot, query } = a.attrs as { way: number; shot: number; query: number };
    const [rows, dim] = embeddings.shape;
    const n = queryRows.shape[0] / (way * query);
    const out = b.makeOutput([n, way * query, way], 'float32');
    native.protoLogits(heap(b, embeddings), b.typedArrayFromHeap(supportRows) as Int32Array,
      b.typedArrayFromHeap(queryRows) as Int32Array, heap(b, out), [rows, dim, n, way, shot, query]);
    return out;
  };
}

/** Whether a kernel of our own can run now: on wasm, registered, and not turned off. */
function ready(kernelName: string): boolean {
  return enabled && tf.getBackend() === 'wasm' && tf.getKernel(kernelName, 'wasm') !== undefined;
}

/** Whether the native RKD-A kernel can run now. */
export function nativeRkdAngle(): boolean {
  return ready(RKD_ANGLE_KERNEL);
}

/** Whether the native prototypical-logits kernel can run now. */
export function nativeProtoLogits(): boolean {
  return ready(PROTO_LOGITS_KERNEL);
}

/** Whether the block kernels can run now. */
export function blockKernels(): boolean {
  return ready(BLOCK_KERNELS.moments);
}

/**
 * Stacks the native kernels on the wasm backend (after registerWasmFillIns). Returns the addon's
 * thread count, or 0 when there is no addon.
 */
export function registerNativeKernels(): number {
  const native = nativeAddon();
  if (!native) return 0;
  for (const [name, make] of [[tf.Conv2D, conv2D], [tf.FusedConv2D, fusedConv2D],
    [tf.Conv2DBackpropFilter, conv2DBackpropFilter], [tf.Conv2DBackpropInput, conv2DBackpropInput],
    [tf.MaxPoolGrad, maxPoolGrad]] as const) {
    replace(name, cached(name, () => make(native)));
  }
  // An addon built before protoLogits existed (the code updated, `npm run build:native` not run):
  // evaluation takes the tf path, which gives the same floats.
  const protoLogits = typeof native.protoLogits === 'function' ? [[PROTO_LOGITS_KERNEL, protoLogitsKernel(native)] as const] : [];
  for (const [kernelName, kernelFunc] of [...blockKernelFuncs(native), [RKD_ANGLE_KERNEL, rkdAngleKernel(native)] as const, ...protoLogits]) {
    if (!tf.getKernel(kernelName, 'wasm')) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
  return native.threads();
}

let enabled = true;

/** Turns the registered native kernels off (the wasm kernels then serve) or on again; for tests. */
export function useNativeKernels(on: boolean): void {
  enabled = on;
}

/** One fast path per kernel, so that registering again is a no-op; each defers when turned off. */
const made = new Map<string, FastPath>();
function cached(name: string, make: () => FastPath): FastPath {
  if (!made.has(name)) {
    const fast = make();
    made.set(name, (args) => (enabled ? fast(args) : undefined));
  }
  return made.get(name)!;
}
