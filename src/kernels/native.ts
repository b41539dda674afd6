/**
 * Native kernels stacked on the wasm backend (the addon: native-addon.ts): Conv2D, FusedConv2D (bias,
 * no activation), Conv2DBackpropFilter and Conv2DBackpropInput for NHWC, stride 1, no dilation (3x3
 * ones by Winograd), and MaxPoolGrad; plus kernels of their own for the Conv-4 blocks
 * (BLOCK_KERNELS), RKD-A and evaluation's prototypical logits. They read and write the wasm heap in
 * place. Other arguments, or a missing addon, fall through to the wasm kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { Arrays, BatchNormParams, ConvParams, NativeAddon, nativeAddon } from './native-addon.js';
import { FastPath, KernelArgs, WasmBackend, convInfo, replace } from './wasm.js';

type Info = tf.TensorInfo;

/** Stride 1, no dilation, NHWC, float32: what the native kernels do. */
function supported(attrs: tf.NamedAttrMap, ...tensors: Info[]): boolean {
  const one = (v: unknown) => v === undefined || v === 1 || (Array.isArray(v) && v.every((d) => d === 1));
  return (
    one(attrs.strides) &&
    one(attrs.dilations) &&
    (attrs.dataFormat ?? 'NHWC') === 'NHWC' &&
    tensors.every((t) => t.dtype === 'float32')
  );
}

const heap = (b: WasmBackend, t: Info) => b.typedArrayFromHeap(t) as Float32Array;

/** A stride-1 convolution's params from its input and filter shapes, output size and padding. */
function convParams(
  xShape: number[],
  filterShape: number[],
  outHeight: number,
  outWidth: number,
  [padTop, padBottom, padLeft, padRight]: number[],
): ConvParams {
  const [n, h, w, cin] = xShape;
  const [kh, kw, , cout] = filterShape;
  return { n, h, w, cin, kh, kw, cout, outHeight, outWidth, padTop, padBottom, padLeft, padRight };
}

function forward(
  native: NativeAddon,
  b: WasmBackend,
  x: Info,
  filter: Info,
  bias: Info | undefined,
  attrs: tf.NamedAttrMap,
  kernel: string,
): Info {
  const info = convInfo(x.shape, filter.shape, attrs, kernel);
  const { top, bottom, left, right } = info.padInfo;
  const out = b.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'float32');
  // Views after makeOutput, which may grow (and so detach) the heap.
  native.conv2d(
    { x: heap(b, x), filter: heap(b, filter), bias: bias ? heap(b, bias) : null, out: heap(b, out) },
    convParams(x.shape, filter.shape, info.outHeight, info.outWidth, [top, bottom, left, right]),
  );
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
    const { x, filter, bias, preluActivationWeights } = inputs as {
      x: Info;
      filter: Info;
      bias?: Info;
      preluActivationWeights?: Info;
    };
    const plainBias = !bias || (bias.shape.length === 1 && bias.shape[0] === filter.shape[3]);
    if (
      !supported(attrs!, x, filter) ||
      (attrs!.activation ?? 'linear') !== 'linear' ||
      preluActivationWeights ||
      !plainBias
    )
      return undefined;
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
    native.filterGrad(
      { x: heap(b, x), dy: heap(b, dy), dw: heap(b, dw) },
      convParams(x.shape, filterShape, dy.shape[1], dy.shape[2], [top, bottom, left, right]),
    );
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
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++)
        for (let c = 0; c < ci; c++)
          for (let o = 0; o < co; o++) {
            flipped[(((kh - 1 - i) * kw + (kw - 1 - j)) * co + o) * ci + c] = w[((i * kw + j) * ci + c) * co + o];
          }
    const [, h, wd] = inputShape;
    const [padTop, padLeft] = [kh - 1 - top, kw - 1 - left];
    const pad = [padTop, h - dy.shape[1] - padTop + kh - 1, padLeft, wd - dy.shape[2] - padLeft + kw - 1];
    if (pad.some((p) => p < 0)) return undefined;
    const dx = b.makeOutput(inputShape, 'float32');
    native.conv2d(
      { x: heap(b, dy), filter: flipped, bias: null, out: heap(b, dx) },
      convParams(dy.shape, [kh, kw, co, ci], h, wd, pad),
    );
    return dx;
  };
}

/** MaxPoolGrad: each window's dy goes to its first maximum (as on the cpu backend). */
function maxPoolGrad(native: NativeAddon): FastPath {
  return ({ inputs, backend, attrs }: KernelArgs) => {
    const { input, dy } = inputs as { input: Info; dy: Info };
    if (input.dtype !== 'float32') return undefined;
    const b = backend as unknown as WasmBackend;
    const info = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      attrs!.filterSize as number | [number, number],
      attrs!.strides as number | [number, number],
      1,
      attrs!.pad as 'valid' | 'same' | number,
      attrs!.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    );
    const dx = b.makeOutput(input.shape, 'float32');
    native.maxPoolGrad(
      { x: heap(b, input), dy: heap(b, dy), dx: heap(b, dx) },
      {
        n: info.batchSize,
        h: info.inHeight,
        w: info.inWidth,
        c: info.inChannels,
        outHeight: info.outHeight,
        outWidth: info.outWidth,
        filterHeight: info.filterHeight,
        filterWidth: info.filterWidth,
        strideHeight: info.strideHeight,
        strideWidth: info.strideWidth,
        padTop: info.padInfo.top,
        padLeft: info.padInfo.left,
      },
    );
    return dx;
  };
}

/**
 * The rest of a Conv-4 block after its convolution, as kernels of their own on wasm (used by
 * src/models/blocks/ through hasNativeBlockKernels()): per-channel moments, batch norm -> ReLU ->
 * 2x2 max-pool, and its backward in two passes (the reductions, then the conv output's gradient),
 * each recomputing the pooling's routing instead of storing it.
 */
export const BLOCK_KERNELS = {
  moments: 'FewshotChannelMoments',
  bnReluPool: 'FewshotBnReluPool',
  gradSums: 'FewshotBnGradSums',
  gradInput: 'FewshotBnGradInput',
  // The first block whole, its convolution recomputed in every pass (models/blocks/recomputing-block.ts):
  inputMoments: 'FewshotInputBlockMoments',
  inputForward: 'FewshotInputBlockForward',
  inputGradSums: 'FewshotInputBlockGradSums',
  inputGrad: 'FewshotInputBlockGrad',
} as const;

/** The inputs of the recomputing first-block kernels (each kernel takes the first few). */
const INPUT_BLOCK_INPUTS = ['x', 'kernel', 'bias', 'mean', 'invStd', 'gamma', 'beta', 'dy', 'mBeta', 'mGamma', 'scale'];

/** Views of tensors on the wasm heap by name; take them after every makeOutput, which may grow (and so detach) the heap. */
function views<Name extends string>(b: WasmBackend, tensors: Record<Name, Info>): Arrays<Name> {
  return Object.fromEntries(Object.entries<Info>(tensors).map(([name, t]) => [name, heap(b, t)])) as Arrays<Name>;
}

function blockKernelFuncs(native: NativeAddon): [string, tf.KernelFunc][] {
  const params = (t: Info): BatchNormParams => ({ n: t.shape[0], h: t.shape[1], w: t.shape[2], c: t.shape[3] });
  const args = (a: KernelArgs) => ({ b: a.backend as unknown as WasmBackend, i: a.inputs as Record<string, Info> });
  return [
    [
      BLOCK_KERNELS.moments,
      (a) => {
        // z of any rank, as [pixels, 1, 1, c].
        const { b, i } = args(a);
        const c = i.z.shape[i.z.shape.length - 1];
        const [s1, s2] = [b.makeOutput([c], 'float32'), b.makeOutput([c], 'float32')];
        native.channelMoments(
          { z: heap(b, i.z), center: heap(b, i.center), s1: heap(b, s1), s2: heap(b, s2) },
          { n: i.z.shape.reduce((x, y) => x * y, 1) / c, h: 1, w: 1, c },
        );
        return [s1, s2];
      },
    ],
    [
      BLOCK_KERNELS.bnReluPool,
      (a) => {
        // With attrs.inference (the moving statistics), y alone, in one pass.
        const { b, i } = args(a);
        const p = params(i.z);
        const xhat = a.attrs?.inference ? undefined : b.makeOutput([p.n, p.h, p.w, p.c], 'float32');
        const y = b.makeOutput([p.n, Math.floor(p.h / 2), Math.floor(p.w / 2), p.c], 'float32');
        const { z, mean, invStd, gamma, beta } = i;
        native.bnReluPool({ ...views(b, { z, mean, invStd, gamma, beta, y }), xhat: xhat ? heap(b, xhat) : null }, p);
        return xhat ? [xhat, y] : y;
      },
    ],
    [
      BLOCK_KERNELS.gradSums,
      (a) => {
        const { b, i } = args(a);
        const c = i.xhat.shape[3];
        const [dBeta, dGamma] = [b.makeOutput([c], 'float32'), b.makeOutput([c], 'float32')];
        const { xhat, gamma, beta, dy } = i;
        native.bnGradSums(views(b, { xhat, gamma, beta, dy, dBeta, dGamma }), params(xhat));
        return [dBeta, dGamma];
      },
    ],
    [
      BLOCK_KERNELS.gradInput,
      (a) => {
        const { b, i } = args(a);
        const dz = b.makeOutput(i.xhat.shape, 'float32');
        const { xhat, gamma, beta, dy, mBeta, mGamma, scale } = i;
        native.bnGradInput(views(b, { xhat, gamma, beta, dy, mBeta, mGamma, scale, dz }), params(xhat));
        return dz;
      },
    ],
    ...inputBlockKernels(native),
  ];
}

/**
 * The first block's kernels: the first few of INPUT_BLOCK_INPUTS, then outputs of the names and
 * shapes given, written by the addon.
 */
function inputBlockKernels(native: NativeAddon): [string, tf.KernelFunc][] {
  // The table's rows name their arrays at run time (the addon checks them): one type for the four.
  type Run = (arrays: Arrays<string>, params: ConvParams) => void;
  type Outputs = (i: Record<string, Info>) => [string, number[]][];
  const channels = (i: Record<string, Info>) => [i.kernel.shape[3]];
  const table: [string, Run, number, Outputs][] = [
    [
      BLOCK_KERNELS.inputMoments,
      native.inputBlockMoments as Run,
      3,
      (i) => [
        ['mean', channels(i)],
        ['variance', channels(i)],
      ],
    ],
    [
      BLOCK_KERNELS.inputForward,
      native.inputBlockForward as Run,
      7,
      (i) => [['y', [i.x.shape[0], Math.floor(i.x.shape[1] / 2), Math.floor(i.x.shape[2] / 2), i.kernel.shape[3]]]],
    ],
    [
      BLOCK_KERNELS.inputGradSums,
      native.inputBlockGradSums as Run,
      8,
      (i) => [
        ['dBeta', channels(i)],
        ['dGamma', channels(i)],
      ],
    ],
    [BLOCK_KERNELS.inputGrad, native.inputBlockGrad as Run, 11, (i) => [['dw', i.kernel.shape]]],
  ];
  return table.map(([name, run, inputCount, outputs]) => [
    name,
    (a: KernelArgs) => {
      const b = a.backend as unknown as WasmBackend;
      const i = a.inputs as Record<string, Info>;
      const { top, bottom, left, right } = convInfo(
        i.x.shape,
        i.kernel.shape,
        { strides: 1, pad: 'same', dataFormat: 'NHWC' },
        name,
      ).padInfo;
      const outs = outputs(i).map(([output, shape]) => [output, b.makeOutput(shape, 'float32')] as const);
      const inputs = INPUT_BLOCK_INPUTS.slice(0, inputCount).map((input) => [input, i[input]] as const);
      run.call(
        native,
        views(b, Object.fromEntries([...inputs, ...outs])),
        convParams(i.x.shape, i.kernel.shape, i.x.shape[1], i.x.shape[2], [top, bottom, left, right]),
      );
      return outs.length === 1 ? outs[0][1] : outs.map(([, o]) => o);
    },
  ]);
}

/**
 * RKD-A over all triplets (src/losses/rkd.ts) between the student's embeddings s [n, dimS] and the
 * teacher's t [n, dimT], by way of their centred Gram matrices: [loss summed over the triplets, ds],
 * ds its gradient with respect to s.
 */
export const RKD_ANGLE_KERNEL = 'FewshotRkdAngle';

/** RKD-D the same way: [the mean loss over the pairs, ds]. */
export const RKD_DISTANCE_KERNEL = 'FewshotRkdDistance';

function rkdKernel(run: NativeAddon['rkdAngle' | 'rkdDistance']): tf.KernelFunc {
  return (a) => {
    const b = a.backend as unknown as WasmBackend;
    const { s, t } = a.inputs as Record<string, Info>;
    const [n, dimS] = s.shape;
    const [loss, ds] = [b.makeOutput([], 'float32'), b.makeOutput([n, dimS], 'float32')];
    run(views(b, { s, t, loss, ds }), { n, dimS, dimT: t.shape[1] });
    return [loss, ds];
  };
}

/**
 * Prototypical-network logits of a batch of episodes of one shape (src/losses/protonet.ts): inputs
 * embeddings [rows, D], supportRows and queryRows (int32, class-major, episode after episode); attrs
 * way, shot, query; output [n, way * query, way], the same floats as the tfjs ops on wasm.
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
    // Views after makeOutput, which may grow (and so detach) the heap.
    const ints = (t: Info) => b.typedArrayFromHeap(t) as Int32Array;
    native.protoLogits(
      { ...views(b, { embeddings, out }), supportRows: ints(supportRows), queryRows: ints(queryRows) },
      { rows, dim, n, way, shot, query },
    );
    return out;
  };
}

/** Whether a kernel of our own can run now: on wasm, registered, and not turned off. */
function ready(kernelName: string): boolean {
  return enabled && tf.getBackend() === 'wasm' && tf.getKernel(kernelName, 'wasm') !== undefined;
}

/** Whether the native prototypical-logits kernel can run now. */
export function hasNativeProtoLogits(): boolean {
  return ready(PROTO_LOGITS_KERNEL);
}

/** Whether the native RKD-A kernel can run now. */
export function hasNativeRkdAngle(): boolean {
  return ready(RKD_ANGLE_KERNEL);
}

/** Whether the native RKD-D kernel can run now. */
export function hasNativeRkdDistance(): boolean {
  return ready(RKD_DISTANCE_KERNEL);
}

/** Whether the block kernels can run now. */
export function hasNativeBlockKernels(): boolean {
  return ready(BLOCK_KERNELS.moments);
}

/**
 * Stacks the native kernels on the wasm backend (after registerWasmFillIns), in use or not: part of
 * the backend's set-up (backend.ts: initBackend's `nativeKernels`), not a switch of their own.
 * Returns the addon's thread count, or 0 when there is no addon or they are not in use.
 */
export function registerNativeKernels(inUse = true): number {
  enabled = inUse;
  const native = nativeAddon();
  if (!native) return 0;
  for (const [name, make] of [
    [tf.Conv2D, conv2D],
    [tf.FusedConv2D, fusedConv2D],
    [tf.Conv2DBackpropFilter, conv2DBackpropFilter],
    [tf.Conv2DBackpropInput, conv2DBackpropInput],
    [tf.MaxPoolGrad, maxPoolGrad],
  ] as const) {
    replace(
      name,
      cached(name, () => make(native)),
    );
  }
  for (const [kernelName, kernelFunc] of [
    ...blockKernelFuncs(native),
    [RKD_ANGLE_KERNEL, rkdKernel(native.rkdAngle)] as const,
    [RKD_DISTANCE_KERNEL, rkdKernel(native.rkdDistance)] as const,
    [PROTO_LOGITS_KERNEL, protoLogitsKernel(native)] as const,
  ]) {
    if (!tf.getKernel(kernelName, 'wasm')) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
  return inUse ? native.threads() : 0;
}

/** Whether the wasm backend was set up with the native kernels in use (the registered ones defer otherwise). */
let enabled = true;

/** One fast path per kernel, so that registering again is a no-op; each defers when turned off. */
const made = new Map<string, FastPath>();
function cached(name: string, make: () => FastPath): FastPath {
  if (!made.has(name)) {
    const fast = make();
    made.set(name, (args) => (enabled ? fast(args) : undefined));
  }
  return made.get(name)!;
}
