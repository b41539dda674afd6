/**
 * Runs' curves as TensorBoard event files, for those who watch training in TensorBoard: one folder
 * per run and stage (`<run>/<stage>`, so that TensorBoard lists a recipe's stages and a
 * distillation's generations as runs of their own), each holding one `events.out.tfevents.*` file
 * of scalar summaries at the stage's end-to-end episode steps.
 *
 * The format, written here without TensorFlow: TFRecord framing (length, masked CRC-32C of the
 * length, the record, masked CRC-32C of the record) around `Event` protocol buffers: a first event
 * naming the file version, then one per log line with its scalars as `Summary.Value.simple_value`.
 * Checked with TensorBoard's own reader (test/plot.test.ts, where TensorBoard is installed).
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../atomic.js';
import { CURVE_METRICS, RunCurves } from './curves.js';

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), as TFRecord frames use it. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC32C_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const masked = (crc: number) => (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;

/** One TFRecord: length (uint64), its masked CRC, the data, the data's masked CRC; all little-endian. */
function record(data: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(data.length), 0);
  head.writeUInt32LE(masked(crc32c(head.subarray(0, 8))), 8);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(masked(crc32c(data)), 0);
  return Buffer.concat([head, data, tail]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return Buffer.from(out);
}

/** Protocol-buffer fields: (number << 3 | wire type), then the value. */
const field = {
  double: (n: number, v: number) => {
    const b = Buffer.alloc(9);
    b[0] = (n << 3) | 1;
    b.writeDoubleLE(v, 1);
    return b;
  },
  float: (n: number, v: number) => {
    const b = Buffer.alloc(5);
    b[0] = (n << 3) | 5;
    b.writeFloatLE(v, 1);
    return b;
  },
  varint: (n: number, v: number) => Buffer.concat([varint((n << 3) | 0), varint(v)]),
  bytes: (n: number, v: Buffer) => Buffer.concat([varint((n << 3) | 2), varint(v.length), v]),
};

/** Event { wall_time = 1; step = 2; file_version = 3; summary = 5 { value = 1 { tag = 1; simple_value = 2 } } }. */
function scalarEvent(wallTime: number, step: number, scalars: readonly [string, number][]): Buffer {
  const values = scalars.map(([tag, v]) =>
    field.bytes(1, Buffer.concat([field.bytes(1, Buffer.from(tag)), field.float(2, v)])),
  );
  return Buffer.concat([field.double(1, wallTime), field.varint(2, step), field.bytes(5, Buffer.concat(values))]);
}

/** TensorBoard's tag of each curve: training scalars under train/, validation under val/. */
const TAGS: Record<string, string> = {
  loss: 'train/loss',
  proto: 'train/proto',
  rkdD: 'train/rkdD',
  rkdA: 'train/rkdA',
  kd: 'train/kd',
  accuracy: 'train/accuracy',
  valAccuracy: 'val/accuracy',
  valLoss: 'val/loss',
  lr: 'lr',
};

/** A folder name from a run's or stage's name: path separators and other unsafe characters as '_'. */
const safe = (name: string) => name.replace(/[^A-Za-z0-9._=+-]+/g, '_').replace(/^\.+/, '_') || '_';

/**
 * Writes the runs' curves under `dir` as TensorBoard event files (`<run>/<stage>/events.out.tfevents.0.fewshot-rkd`,
 * `<run>/...` for a run of one stage). Accuracies are written in percent, as drawn; the wall time of
 * each step is the training time the log's speeds imply, counted from 0. Returns the files written.
 */
export function writeTensorBoard(runs: readonly RunCurves[], dir: string): string[] {
  const keyOf = new Map(CURVE_METRICS.map((m) => [m.title, m.key]));
  const files: string[] = [];
  for (const run of runs) {
    const stages = [...new Set(run.points.map((p) => p.stage))];
    for (const stage of stages) {
      const points = run.points.filter((p) => p.stage === stage);
      const steps = [...new Set(points.map((p) => p.episode))].sort((a, b) => a - b);
      const byStep = new Map<number, [string, number][]>(steps.map((s) => [s, []]));
      for (const p of points) byStep.get(p.episode)!.push([TAGS[keyOf.get(p.metric)!], p.value]);
      const events = [
        Buffer.concat([field.double(1, 0), field.bytes(3, Buffer.from('brain.Event:2'))]),
        ...steps.map((step) => scalarEvent(run.seconds.get(`${stage} ${step}`) ?? 0, step, byStep.get(step)!)),
      ];
      const file = path.join(
        dir,
        safe(run.run),
        ...(run.markers.length > 0 ? [safe(stage)] : []),
        'events.out.tfevents.0.fewshot-rkd',
      );
      writeFileAtomic(file, events.map(record));
      files.push(file);
    }
  }
  return files;
}
