/**
 * The CIFAR-100 python version (cifar-100-python.tar.gz: `train`, `test`, `meta`) without Python: a
 * small restricted unpickler for the pickles it holds (protocol 2, Python 2's cPickle) and for the same
 * dicts re-pickled by Python 3 with numpy (protocols 2-4). Only the opcodes and globals these files
 * use are known; anything else is refused, so no pickle can make it call arbitrary code.
 */

/** A py2 str, bytes or unicode string, kept as its raw bytes: `data` is one, 150 MB in `train`. */
class PyStr {
  constructor(
    readonly raw: Uint8Array,
    readonly unicode: boolean,
  ) {}
}
/** One of the allowed globals, by 'module name'. */
class Global {
  constructor(readonly name: string) {}
}
/** numpy.dtype(code, ...) and, after BUILD, its state. */
class DType {
  state: Value = null;
  constructor(readonly code: string) {}
}
/** numpy's _reconstruct(ndarray, (0,), 'b'): an empty array until BUILD gives it its state. */
class NdArray {
  state: Value = null;
}
/** Tuples are frozen arrays, lists plain ones; dict keys are decoded strings (py2 str or unicode). */
type Value = null | boolean | number | PyStr | Global | DType | NdArray | Value[] | Map<string, Value>;

// prettier-ignore
const OPS = {
  PROTO: 0x80, FRAME: 0x95, STOP: 0x2e, MARK: 0x28, EMPTY_DICT: 0x7d, EMPTY_LIST: 0x5d, EMPTY_TUPLE: 0x29,
  BINPUT: 0x71, LONG_BINPUT: 0x72, MEMOIZE: 0x94, BINGET: 0x68, LONG_BINGET: 0x6a,
  SHORT_BINSTRING: 0x55, BINSTRING: 0x54, SHORT_BINBYTES: 0x43, BINBYTES: 0x42, BINBYTES8: 0x8e,
  SHORT_BINUNICODE: 0x8c, BINUNICODE: 0x58, BINUNICODE8: 0x8d,
  BININT: 0x4a, BININT1: 0x4b, BININT2: 0x4d, LONG1: 0x8a, NEWTRUE: 0x88, NEWFALSE: 0x89, NONE: 0x4e,
  TUPLE: 0x74, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, GLOBAL: 0x63, STACK_GLOBAL: 0x93, REDUCE: 0x52, BUILD: 0x62,
  SETITEM: 0x73, SETITEMS: 0x75, APPEND: 0x61, APPENDS: 0x65,
} as const;
const OP_NAMES = new Map<number, string>(Object.entries(OPS).map(([name, code]) => [code, name]));
const ALLOWED_GLOBALS = new Set([
  'numpy.core.multiarray _reconstruct', // numpy 1.x
  'numpy._core.multiarray _reconstruct', // numpy 2.x
  'numpy ndarray',
  'numpy dtype',
  '_codecs encode', // Python 3 writes bytes as encode(latin-1 text) under protocol 2
]);
const ROW_BYTES = 3072;
const utf8 = new TextDecoder();
/** Text from the file, safe for a one-line message: control characters escaped, at most 60 characters. */
const quote = (s: string) => s.slice(0, 60).replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`);

/** py2 str and bytes as they are; unicode (latin-1 text of bytes, as _codecs.encode gets) back to bytes. */
function bytesOf(s: PyStr, fail: (what: string) => never): Uint8Array {
  const raw = s.raw;
  if (!s.unicode) return raw;
  const out = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c < 0x80) out[n++] = c;
    else if ((c === 0xc2 || c === 0xc3) && i + 1 < raw.length) out[n++] = ((c & 0x1f) << 6) | (raw[++i] & 0x3f);
    else fail('text beyond latin-1 where bytes were expected');
  }
  return out.subarray(0, n);
}

/** The object a pickle holds, built from OPS only. */
function unpickle(b: Uint8Array, file: string): Value {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const stack: Value[] = [];
  const marks: number[] = []; // stack lengths at each MARK
  const memo = new Map<number, Value>();
  let pos = 0;
  let at = 0; // where the current opcode starts, for messages
  let op = 0;
  const fail = (what: string): never => {
    throw new Error(`${file}: not a CIFAR-100 pickle (${what} at byte ${at})`);
  };
  const take = (n: number): number => {
    if (pos + n > b.length)
      throw new Error(`${file}: truncated pickle (ends inside ${OP_NAMES.get(op)} at byte ${at})`);
    pos += n;
    return pos - n;
  };
  const u8 = () => b[take(1)];
  const u32 = () => view.getUint32(take(4), true);
  const u64 = () => {
    const p = take(8);
    const high = view.getUint32(p + 4, true);
    return high < 0x200000 ? high * 2 ** 32 + view.getUint32(p, true) : fail('length over 2^53');
  };
  const str = (n: number, unicode: boolean) => new PyStr(b.subarray(take(n), pos), unicode);
  const text = (v: Value, what: string) => (v instanceof PyStr ? utf8.decode(v.raw) : fail(`${what} is not a string`));
  const pop = (): Value => (stack.length > (marks.at(-1) ?? 0) ? (stack.pop() as Value) : fail('stack underflow'));
  const top = (): Value => (stack.length > (marks.at(-1) ?? 0) ? stack[stack.length - 1] : fail('stack underflow'));
  const popMark = (): Value[] => stack.splice(marks.pop() ?? fail('no MARK'));
  const tuple = (items: Value[]) => Object.freeze(items) as Value[];
  const isTuple = (v: Value): v is Value[] => Array.isArray(v) && Object.isFrozen(v);
  const global = (module: string, name: string) =>
    ALLOWED_GLOBALS.has(`${module} ${name}`)
      ? new Global(`${module} ${name}`)
      : fail(`forbidden global ${quote(module)}.${quote(name)}`);
  const line = () => {
    const end = b.indexOf(0x0a, pos);
    const start = take((end < 0 ? b.length + 1 : end + 1) - pos); // no newline: truncated
    return utf8.decode(b.subarray(start, pos - 1));
  };
  const reduce = (func: Value, args: Value): Value => {
    if (!(func instanceof Global) || !isTuple(args)) return fail('REDUCE of a non-callable');
    if (func.name.endsWith(' _reconstruct')) {
      return args[0] instanceof Global && args[0].name === 'numpy ndarray' ? new NdArray() : fail('bad _reconstruct');
    }
    if (func.name === 'numpy dtype') return new DType(text(args[0], 'dtype code'));
    if (func.name === '_codecs encode' && args[0] instanceof PyStr && /^latin-?1$/.test(text(args[1], 'codec'))) {
      return new PyStr(bytesOf(args[0], fail), false);
    }
    return fail(`call of ${func.name.replace(' ', '.')}`);
  };
  const setItems = (dict: Value, items: Value[]) => {
    if (!(dict instanceof Map) || items.length % 2) return fail('SETITEMS on a non-dict');
    for (let i = 0; i < items.length; i += 2) dict.set(text(items[i], 'dict key'), items[i + 1]);
  };
  const append = (list: Value, items: Value[]) => {
    if (!Array.isArray(list) || Object.isFrozen(list)) return fail('APPENDS on a non-list');
    for (const item of items) list.push(item);
  };

  while (pos < b.length) {
    at = pos;
    op = b[pos++];
    switch (op) {
      case OPS.PROTO: {
        const version = u8();
        if (version < 2 || version > 4) fail(`unsupported pickle protocol ${version}`);
        break;
      }
      case OPS.FRAME: // frames only group opcodes for buffered reads
        u64();
        break;
      case OPS.STOP:
        if (stack.length !== 1 || marks.length) fail('STOP with a malformed stack');
        return stack[0];
      case OPS.MARK:
        marks.push(stack.length);
        break;
      case OPS.EMPTY_DICT:
        stack.push(new Map());
        break;
      case OPS.EMPTY_LIST:
        stack.push([]);
        break;
      case OPS.EMPTY_TUPLE:
        stack.push(tuple([]));
        break;
      case OPS.BINPUT:
      case OPS.LONG_BINPUT:
      case OPS.MEMOIZE:
        memo.set(op === OPS.BINPUT ? u8() : op === OPS.LONG_BINPUT ? u32() : memo.size, top());
        break;
      case OPS.BINGET:
      case OPS.LONG_BINGET: {
        const key = op === OPS.BINGET ? u8() : u32();
        stack.push(memo.has(key) ? (memo.get(key) as Value) : fail(`memo ${key} is undefined`));
        break;
      }
      case OPS.SHORT_BINSTRING:
      case OPS.SHORT_BINBYTES:
      case OPS.SHORT_BINUNICODE:
        stack.push(str(u8(), op === OPS.SHORT_BINUNICODE));
        break;
      case OPS.BINSTRING:
      case OPS.BINBYTES:
      case OPS.BINUNICODE:
        stack.push(str(u32(), op === OPS.BINUNICODE)); // (BINSTRING's length is signed: over 2 GB is truncation)
        break;
      case OPS.BINBYTES8:
      case OPS.BINUNICODE8:
        stack.push(str(u64(), op === OPS.BINUNICODE8));
        break;
      case OPS.BININT:
        stack.push(view.getInt32(take(4), true));
        break;
      case OPS.BININT1:
        stack.push(u8());
        break;
      case OPS.BININT2:
        stack.push(view.getUint16(take(2), true));
        break;
      case OPS.LONG1: {
        // Little-endian two's complement; shapes and labels fit in 6 bytes.
        const n = u8();
        const digits = b.subarray(take(n), pos);
        if (n > 6) fail('integer too large');
        const value = digits.reduceRight((v, d) => v * 256 + d, 0);
        stack.push(n && digits[n - 1] & 0x80 ? value - 256 ** n : value);
        break;
      }
      case OPS.NEWTRUE:
      case OPS.NEWFALSE:
        stack.push(op === OPS.NEWTRUE);
        break;
      case OPS.NONE:
        stack.push(null);
        break;
      case OPS.TUPLE:
        stack.push(tuple(popMark()));
        break;
      case OPS.TUPLE1:
      case OPS.TUPLE2:
      case OPS.TUPLE3: {
        const items = Array.from({ length: op - OPS.TUPLE1 + 1 }, pop).reverse();
        stack.push(tuple(items));
        break;
      }
      case OPS.GLOBAL: {
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case OPS.STACK_GLOBAL: {
        const name = text(pop(), 'global name');
        stack.push(global(text(pop(), 'global module'), name));
        break;
      }
      case OPS.REDUCE: {
        const args = pop();
        stack.push(reduce(pop(), args));
        break;
      }
      case OPS.BUILD: {
        const state = pop();
        const obj = top();
        if (!(obj instanceof NdArray || obj instanceof DType)) fail('BUILD of a non-numpy object');
        else obj.state = state;
        break;
      }
      case OPS.SETITEM: {
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case OPS.SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case OPS.APPEND: {
        const item = pop();
        append(top(), [item]);
        break;
      }
      case OPS.APPENDS: {
        const items = popMark();
        append(top(), items);
        break;
      }
      default:
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
  throw new Error(`${file}: truncated pickle (ends before STOP at byte ${b.length})`);
}

/** The top-level dict's fields, each checked by its reader. */
function fields(bytes: Uint8Array, file: string) {
  const dict = unpickle(bytes, file);
  if (!(dict instanceof Map)) throw new Error(`${file}: not a CIFAR-100 pickle (not a dict)`);
  const fail = (what: string): never => {
    throw new Error(`${file}: ${what}`);
  };
  const get = (key: string): Value => (dict.has(key) ? (dict.get(key) as Value) : fail(`missing key '${key}'`));
  const list = (key: string): Value[] => {
    const v = get(key);
    return Array.isArray(v) ? v : fail(`'${key}' is not a list`);
  };
  const strings = (key: string): string[] =>
    list(key).map((s, i) => (s instanceof PyStr ? utf8.decode(s.raw) : fail(`'${key}' item ${i} is not a string`)));
  return { get, list, strings, fail };
}

/**
 * A `train` or `test` file: N rows of 1024 R, 1024 G, 1024 B bytes. `data` is a view into `bytes` (no
 * copy of 150 MB), except for protocol-2 pickles written by Python 3, which hold it as latin-1 text.
 */
export function readCifarPickleBatch(
  bytes: Uint8Array,
  file: string,
): { data: Uint8Array; fineLabels: number[]; coarseLabels: number[]; filenames: string[] } {
  const { get, list, strings, fail } = fields(bytes, file);
  const array = get('data');
  // numpy's ndarray state: ([version,] shape, dtype, is_fortran, raw bytes).
  const full = array instanceof NdArray && Array.isArray(array.state) ? array.state : [];
  if (full.length !== 4 && full.length !== 5) fail(`'data' is not a numpy array`);
  const state = full.slice(-4);
  const [shape, dtype, fortran, raw] = state;
  const code = dtype instanceof DType ? dtype.code : 'not a numpy dtype';
  if (code !== 'u1') fail(`'data' dtype is ${quote(code)}, not uint8`);
  const dims = Array.isArray(shape) ? shape : [];
  const rows = dims[0];
  if (dims.length !== 2 || typeof rows !== 'number' || dims[1] !== ROW_BYTES) {
    fail(`'data' has shape (${dims.join(', ')}), not (N, ${ROW_BYTES})`);
  }
  const n = rows as number;
  if (fortran !== false && n > 1) fail(`'data' is in Fortran order, not C order`);
  const data = raw instanceof PyStr ? bytesOf(raw, fail) : fail(`'data' holds no bytes`);
  if (data.length !== n * ROW_BYTES) fail(`'data' holds ${data.length} bytes, not ${n} rows of ${ROW_BYTES}`);

  const sameLength = (key: string, items: unknown[]) => {
    if (items.length !== n) fail(`'data' is ${n} rows of ${ROW_BYTES} bytes but '${key}' has ${items.length}`);
  };
  const labels = (key: string, kind: string, count: number): number[] => {
    const items = list(key);
    sameLength(key, items);
    return items.map((v, row) => {
      if (typeof v !== 'number') return fail(`${kind} label at row ${row} is not an integer`);
      return v >= 0 && v < count ? v : fail(`${kind} label ${v} at row ${row} is out of range 0-${count - 1}`);
    });
  };
  const fineLabels = labels('fine_labels', 'fine', 100);
  const coarseLabels = labels('coarse_labels', 'coarse', 20);
  const filenames = strings('filenames');
  sameLength('filenames', filenames);
  return { data, fineLabels, coarseLabels, filenames };
}

/** The `meta` file: the 100 fine and 20 coarse class names, in label order. */
export function readCifarPickleMeta(
  bytes: Uint8Array,
  file: string,
): { fineLabelNames: string[]; coarseLabelNames: string[] } {
  const { strings, fail } = fields(bytes, file);
  const names = (key: string, count: number) => {
    const all = strings(key);
    return all.length === count ? all : fail(`'${key}' has ${all.length} names, not ${count}`);
  };
  return { fineLabelNames: names('fine_label_names', 100), coarseLabelNames: names('coarse_label_names', 20) };
}
