/**
 * Kernels for the wasm backend that @tensorflow/tfjs-backend-wasm 4.22 lacks or runs slowly, and
 * that training a conv net (conv -> batch norm -> ReLU -> max-pool) needs:
 * - Conv2DBackpropFilter (missing) and Conv2DBackpropInput (a scalar loop) become forward
 *   convolutions on the backend's own XNNPACK Conv2D kernel;
 * - Sum and Mean over leading axes (batch norm) become an XNNPACK average pool instead of a full
 *   transpose followed by a reduction;
 * - Tile, MaxPoolGrad and contiguous Slice become block copies / loops over the wasm heap;
 * - Identity shares its input's memory instead of copying it.
 * Registered by src/backend.ts; see test/kernels.test.ts for the checks against the cpu backend.
 */
import * as tf from '@tensorflow/tfjs';

type TensorInfo = tf.TensorInfo;
type Attrs = tf.NamedAttrMap;
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/** The part of the wasm backend object these kernels use. */
export interface WasmBackend {
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** Runs one of the wasm backend's registered kernels directly (no engine, no tape). */
function run(name: string, backend: WasmBackend, inputs: tf.NamedTensorInfoMap, attrs: Attrs = {}): TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`wasm kernel '${name}' is not registered`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
}

/** Conv2D with explicit padding [top, bottom, left, right]; XNNPACK takes no negative padding. */
function conv(
  backend: WasmBackend,
  x: TensorInfo,
  filter: TensorInfo,
  [top, bottom, left, right]: number[],
  dilations: [number, number] = [1, 1],
): TensorInfo {
  const pad: tf.backend_util.ExplicitPadding = [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
  return run(tf.Conv2D, backend, { x, filter }, { strides: 1, pad, dilations, dataFormat: 'NHWC' } as unknown as Attrs);
}

export function convInfo(
  inShape: number[],
  filterShape: number[],
  attrs: Attrs,
  kernel: string,
): tf.backend_util.Conv2DInfo {
  if (attrs.dataFormat !== 'NHWC')
    throw new Error(`wasm ${kernel}: only NHWC is supported, got ${String(attrs.dataFormat)}`);
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as Pad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
}

/**
 * `shape` elements of t from flat offset `offset`, copied within the wasm heap (the wasm Slice
 * kernel would first copy the whole tensor out to JS).
 */
function copyRange(backend: WasmBackend, t: TensorInfo, offset: number, shape: number[]): TensorInfo {
  const out = backend.makeOutput(shape, t.dtype);
  const count = shape.reduce((a, d) => a * d, 1);
  // Views are taken after makeOutput, which may grow (and so detach) the heap.
  backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(t).subarray(offset, offset + count));
  return out;
}

/** Rows [start, start + count) of a tensor's first axis. */
function sliceRows(backend: WasmBackend, t: TensorInfo, start: number, count: number): TensorInfo {
  const perRow = t.shape.slice(1).reduce((a, d) => a * d, 1);
  return copyRange(backend, t, start * perRow, [count, ...t.shape.slice(1)]);
}

/**
 * Length of the reduction (OH*OW*images) per convolution in conv2DBackpropFilter. XNNPACK's GEMM
 * does not block its reduction axis, so one call over a big batch streams its operands from
 * memory for every output tile; ~8k-long chunks stay in cache (1.45x faster on x [600,28,28,64])
 * and XNNPACK never packs a copy of the whole of dy as a filter.
 */
const FILTER_GRAD_REDUCTION = 8192;

/**
 * dW[kh,kw,ci,co] = sum_{b,oh,ow} x[b, oh*s+kh-padTop, ow*s+kw-padLeft, ci] * dy[b,oh,ow,co]:
 * a convolution of x (input channels as batch, batch as channels) with dy as the filter, dilated
 * by the stride, giving [Ci,KH,KW,Co]; summed over chunks of the batch. Missing from wasm 4.22;
 * delegating to the cpu kernel makes a training step minutes long.
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const b = backend as WasmBackend;
  const x = inputs.x!,
    dy = inputs.dy!;
  const info = convInfo(x.shape, attrs!.filterShape as number[], attrs!, tf.Conv2DBackpropFilter);
  const chunk = Math.max(1, Math.floor(FILTER_GRAD_REDUCTION / (info.outHeight * info.outWidth)));
  let sum: TensorInfo | undefined;
  for (let start = 0; start < info.batchSize; start += chunk) {
    const part = filterGradChunk(b, x, dy, info, start, Math.min(chunk, info.batchSize - start));
    if (!sum) sum = part;
    else {
      const next = run(tf.Add, b, { a: sum, b: part });
      b.disposeData(sum.dataId);
      b.disposeData(part.dataId);
      sum = next;
    }
  }
  const dw = run(tf.Transpose, b, { x: sum! }, { perm: [1, 2, 0, 3] });
  b.disposeData(sum!.dataId);
  return dw;
}

/** The filter gradient, as [Ci,KH,KW,Co], of images [start, start + n). */
function filterGradChunk(
  b: WasmBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  start: number,
  n: number,
): TensorInfo {
  const { strideHeight: sh, strideWidth: sw, padInfo, inHeight, inWidth, outHeight, outWidth } = info;
  // Padding that makes the output exactly KH x KW. Bottom/right go negative when a stride leaves
  // the last rows/columns of x unread; those are cropped instead.
  const bottom = info.filterHeight - inHeight - padInfo.top + (outHeight - 1) * sh;
  const right = info.filterWidth - inWidth - padInfo.left + (outWidth - 1) * sw;
  const temps: TensorInfo[] = [];
  const keep = (t: TensorInfo): TensorInfo => (temps.push(t), t);
  try {
    const whole = n === info.batchSize;
    const xc = whole ? x : keep(sliceRows(b, x, start, n));
    const dyc = whole ? dy : keep(sliceRows(b, dy, start, n));
    let xt = keep(run(tf.Transpose, b, { x: xc }, { perm: [3, 1, 2, 0] })); // [Ci,H,W,n]
    if (bottom < 0 || right < 0) {
      // (wasm's Slice goes through JS; only strides that skip the last rows of x get here.)
      const size = [info.inChannels, inHeight + Math.min(bottom, 0), inWidth + Math.min(right, 0), n];
      xt = keep(run(tf.Slice, b, { x: xt }, { begin: [0, 0, 0, 0], size }));
    }
    const f = keep(run(tf.Transpose, b, { x: dyc }, { perm: [1, 2, 0, 3] })); // [OH,OW,n,Co]
    // Disposing f (below) also frees the XNNPACK operator cached for it.
    return conv(b, xt, f, [padInfo.top, Math.max(bottom, 0), padInfo.left, Math.max(right, 0)], [sh, sw]);
  } finally {
    for (const t of temps) b.disposeData(t.dataId);
  }
}

/**
 * dx for stride 1 is the convolution of dy with the filter flipped in space and with in/out
 * channels swapped. wasm 4.22's own kernel is a scalar loop, ~10x slower than XNNPACK; it is
 * kept for strides > 1 (which would need dy dilated with zeros) and for unusual padding.
 */
function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo | undefined {
  const b = backend as WasmBackend;
  const dy = inputs.dy!,
    filter = inputs.filter!;
  const info = convInfo(attrs!.inputShape as number[], filter.shape, attrs!, tf.Conv2DBackpropInput);
  const { filterHeight: kh, filterWidth: kw, padInfo } = info;
  const pads = [kh - 1 - padInfo.top, kh - 1 - padInfo.bottom, kw - 1 - padInfo.left, kw - 1 - padInfo.right];
  if (info.strideHeight !== 1 || info.strideWidth !== 1 || pads.some((p) => p < 0)) return undefined;
  const flipped = run(tf.Reverse, b, { x: filter }, { dims: [0, 1] });
  const swapped = run(tf.Transpose, b, { x: flipped }, { perm: [0, 1, 3, 2] }); // [KH,KW,Co,Ci]
  b.disposeData(flipped.dataId);
  try {
    return conv(b, dy, swapped, pads);
  } finally {
    b.disposeData(swapped.dataId);
  }
}

/**
 * Sum/Mean over leading axes, as batch norm statistics and their gradients reduce [N,H,W,C] over
 * N,H,W. wasm's own kernels first transpose the whole input to make those axes innermost; an
 * XNNPACK average pool over x viewed as [1,n,1,c] is ~5-20x faster (a matmul with a row of ones
 * is not: XNNPACK would repack x as its weights).
 */
const MAX_POOL_CHANNELS = 8192;

function reduceLeading({ inputs, backend, attrs }: KernelArgs, mean: boolean): TensorInfo | undefined {
  const b = backend as WasmBackend;
  const x = inputs.x!;
  const axes = tf.util.parseAxisParam(attrs!.axis as number | number[], x.shape).sort((i, j) => i - j);
  if (x.dtype !== 'float32' || axes.length === 0 || axes.some((a, i) => a !== i)) return undefined;
  const n = tf.util.sizeFromShape(x.shape.slice(0, axes.length));
  const kept = x.shape.slice(axes.length);
  const c = tf.util.sizeFromShape(kept);
  // A full reduction needs no transpose (wasm's own is fine); XNNPACK pools need 2+ elements.
  // Beyond some 10k channels the wasm AvgPool writes out of bounds (seen at 19,200, corrupting the
  // heap): measured safe up to MAX_POOL_CHANNELS, which covers batch norm's statistics.
  if (c === 1 || n < 2 || c > MAX_POOL_CHANNELS) return undefined;
  const x4 = run(tf.Reshape, b, { x }, { shape: [1, n, 1, c] });
  const avg = run(tf.AvgPool, b, { x: x4 }, { filterSize: [n, 1], strides: 1, pad: 'valid' });
  if (!mean) b.typedArrayFromHeap(avg).forEach((v, i, a) => (a[i] = v * n));
  const out = run(tf.Reshape, b, { x: avg }, { shape: attrs!.keepDims ? [...axes.map(() => 1), ...kept] : kept });
  for (const t of [x4, avg]) b.disposeData(t.dataId);
  return out;
}

// The two kernels below work on the wasm heap from JS: the wasm ones they replace compute indices
// per element and are 2x (MaxPoolGrad) to ~200x (Tile) slower. Like those above, they return
// undefined for the cases they leave to the original kernel (see replace()).

/** Tile by copying blocks (and doubling them) instead of one index computation per element. */
function tile({ inputs, backend, attrs }: KernelArgs): TensorInfo | undefined {
  const b = backend as WasmBackend;
  const x = inputs.x!;
  const reps = attrs!.reps as number[];
  if (x.dtype === 'string' || x.dtype === 'complex64') return undefined;
  const shape = x.shape,
    rank = shape.length;
  const outShape = shape.map((d, i) => d * reps[i]);
  const out = b.makeOutput(outShape, x.dtype);
  if (tf.util.sizeFromShape(outShape) === 0) return out;
  const src = b.typedArrayFromHeap(x),
    dst = b.typedArrayFromHeap(out);
  const srcStrides = [...tf.util.computeStrides(shape), 1];
  const dstStrides = [...tf.util.computeStrides(outShape), 1];
  // Copies x's block at axis d into dst, then repeats it reps[d] times along axis d.
  const fill = (d: number, from: number, to: number): void => {
    if (d === rank - 1) dst.set(src.subarray(from, from + shape[d]), to);
    else for (let i = 0; i < shape[d]; i++) fill(d + 1, from + i * srcStrides[d], to + i * dstStrides[d]);
    const block = shape[d] * dstStrides[d];
    for (let done = block; done < block * reps[d]; done *= 2) {
      dst.copyWithin(to + done, to, to + Math.min(done, block * reps[d] - done));
    }
  };
  if (rank === 0) dst.set(src);
  else fill(0, 0, 0);
  return out;
}

/** MaxPoolGrad: dy goes to the first maximum of each window (as on the cpu backend). */
function maxPoolGrad({ inputs, backend, attrs }: KernelArgs): TensorInfo | undefined {
  const b = backend as WasmBackend;
  const input = inputs.input!,
    dy = inputs.dy!;
  if (input.dtype !== 'float32') return undefined;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs!.filterSize as number | [number, number],
    attrs!.strides as number | [number, number],
    1,
    attrs!.pad as Pad,
    attrs!.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const { batchSize, inHeight: h, inWidth: w, inChannels: c, outHeight, outWidth, padInfo } = info;
  const dx = b.makeOutput(input.shape, 'float32');
  const xs = b.typedArrayFromHeap(input),
    dys = b.typedArrayFromHeap(dy),
    dxs = b.typedArrayFromHeap(dx);
  dxs.fill(0);
  const best = new Float32Array(c),
    at = new Int32Array(c);
  for (let n = 0, o = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const r0 = oh * info.strideHeight - padInfo.top;
      const r1 = Math.min(h, r0 + info.filterHeight);
      for (let ow = 0; ow < outWidth; ow++, o += c) {
        const c0 = ow * info.strideWidth - padInfo.left;
        const c1 = Math.min(w, c0 + info.filterWidth);
        best.fill(-Infinity);
        at.fill(-1);
        for (let r = Math.max(r0, 0); r < r1; r++) {
          for (let col = Math.max(c0, 0); col < c1; col++) {
            const base = ((n * h + r) * w + col) * c;
            for (let ch = 0; ch < c; ch++) {
              if (xs[base + ch] > best[ch]) {
                best[ch] = xs[base + ch];
                at[ch] = base + ch;
              }
            }
          }
        }
        for (let ch = 0; ch < c; ch++) if (at[ch] >= 0) dxs[at[ch]] += dys[o + ch];
      }
    }
  }
  return dx;
}

/**
 * Slice of a contiguous range (e.g. rows of the first axis), copied within the wasm heap: wasm's
 * own kernel first copies the whole input out to JS, so chunking a batch costs quadratic time.
 */
function slice({ inputs, backend, attrs }: KernelArgs): TensorInfo | undefined {
  const x = inputs.x!;
  if (x.dtype === 'string') return undefined;
  const [begin, size] = tf.slice_util.parseSliceParams(
    x as tf.Tensor,
    attrs!.begin as number[],
    attrs!.size as number[],
  );
  if (!tf.slice_util.isSliceContinous(x.shape, begin, size)) return undefined;
  return copyRange(
    backend as WasmBackend,
    x,
    tf.slice_util.computeFlatOffset(begin, tf.util.computeStrides(x.shape)),
    size,
  );
}

/**
 * Identity as a new reference to the same memory (tensors are immutable), as on the cpu backend:
 * wasm's own copies, and autodiff clones every tensor a custom gradient saves, so a block's saved
 * activations would be copied once more each step and held twice for a moment.
 */
function identity({ inputs, backend }: KernelArgs): TensorInfo | undefined {
  const x = inputs.x!;
  if (x.dtype === 'string') return undefined;
  (backend as WasmBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export type KernelArgs = Parameters<tf.KernelFunc>[0];
export type FastPath = (args: KernelArgs) => TensorInfo | undefined;

/** The fast paths registered so far, by kernel name. */
const ours = new Map<string, Set<FastPath>>();

/**
 * Registers `fast` for kernelName on wasm; where it returns undefined, the kernel registered before
 * it runs (so fast paths stack). Registering the same fast path again changes nothing.
 */
export function replace(kernelName: string, fast: FastPath): void {
  const previous = tf.getKernel(kernelName, 'wasm') as tf.KernelConfig | undefined;
  const registered = ours.get(kernelName) ?? new Set<FastPath>();
  if (registered.has(fast)) return;
  const kernelFunc: tf.KernelFunc = (args) => {
    const out = fast(args) ?? previous?.kernelFunc(args);
    if (!out) throw new Error(`wasm ${kernelName}: unsupported arguments`);
    return out;
  };
  ours.set(kernelName, registered.add(fast));
  if (previous) tf.unregisterKernel(kernelName, 'wasm');
  // Keep the original setupFunc: it binds the wasm export that the fallback calls.
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc, setupFunc: previous?.setupFunc });
}

// Named once, so that registering again finds them registered (replace() is keyed by function).
const sumLeading: FastPath = (args) => reduceLeading(args, false);
const meanLeading: FastPath = (args) => reduceLeading(args, true);

/** Registers the wasm fill-in kernels. Call after importing tfjs-backend-wasm; safe to call again. */
export function registerWasmFillIns(): void {
  if (!tf.getKernel(tf.Conv2D, 'wasm')) {
    throw new Error('registerWasmFillIns: import @tensorflow/tfjs-backend-wasm first');
  }
  replace(tf.Conv2DBackpropFilter, conv2DBackpropFilter);
  replace(tf.Conv2DBackpropInput, conv2DBackpropInput);
  replace(tf.Sum, sumLeading);
  replace(tf.Mean, meanLeading);
  replace(tf.Tile, tile);
  replace(tf.MaxPoolGrad, maxPoolGrad);
  replace(tf.Slice, slice);
  replace(tf.Identity, identity);
}
