/**
 * Many image files -> packed grey pixels, decoded in batches on worker threads (decodeGreyBatch):
 * fast-png's inflate is most of an Omniglot import's CPU, so every core decodes while the main
 * thread reads the next files. Bit for bit what decodeImage gives one file at a time.
 *
 * This module is also the workers' entry point: loaded as a worker, it answers decode requests.
 */
import * as os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
// Types only: dataset.js loads TensorFlow.js, which a decoding worker has no use for.
import type { ImageShape } from './dataset.js';
import { ImageBytes, decodeGreyBatch } from './grey-batch.js';
// images.js loads sharp, in the main thread before any worker does, as sharp requires on glibc Linux.
import { ImageFile, forEachLimited } from './images.js';

/** Files per batch: per libvips call (one call costs ~2 ms of set-up) and per message to a worker. */
const BATCH = 256;
/** Files read at once on the main thread. */
const READS = 8;
/** Batches given to a worker at once: the next is there when it finishes one. */
const PER_WORKER = 2;
const MAX_WORKERS = 4;
/** Marks a worker started by this module. */
const WORKER_TAG = 'fewshot-rkd/grey-workers';

/** A batch as sent to a worker: the files' bytes packed into one transferable buffer. */
interface Request {
  id: number;
  shape: ImageShape;
  wheres: string[];
  /** File i is data[offsets[i], offsets[i + 1]). */
  offsets: number[];
  data: Uint8Array;
}

type Reply = { id: number; pixels: Uint8Array } | { id: number; error: string };

export async function decodeGreyImages(
  files: readonly ImageFile[],
  shape: ImageShape,
  onProgress?: (done: number) => void,
): Promise<Uint8Array> {
  const size = shape[0] * shape[1] * shape[2];
  const pixels = new Uint8Array(files.length * size);
  if (files.length === 0) return pixels;
  const batches = Array.from({ length: Math.ceil(files.length / BATCH) }, (_, b) => b * BATCH);
  const pool = new WorkerPool(Math.max(1, Math.min(MAX_WORKERS, os.availableParallelism(), batches.length)));
  let done = 0;
  try {
    await forEachLimited(batches, pool.size * PER_WORKER, async (first) => {
      const batch = files.slice(first, first + BATCH);
      const bytes: Buffer[] = [];
      await forEachLimited(batch, READS, async (file, i) => {
        bytes[i] = await file.read();
      });
      pixels.set(
        await pool.decode(
          batch.map((file, i) => ({ where: file.where, bytes: bytes[i] })),
          shape,
        ),
        first * size,
      );
      onProgress?.((done += batch.length));
    });
  } finally {
    await pool.close();
  }
  return pixels;
}

interface PoolWorker {
  worker: Worker;
  /** Batches sent and not answered. */
  busy: number;
}

/** Workers running decodeGreyBatch (or `script`'s answer to the same messages); each batch goes to the least busy one. */
export class WorkerPool {
  private readonly workers: PoolWorker[];
  private readonly pending = new Map<
    number,
    { worker: PoolWorker; resolve(pixels: Uint8Array): void; reject(error: Error): void }
  >();
  private nextId = 0;
  /** Why a worker died (out of memory, a bug): no batch is sent after that. */
  private broken?: Error;

  constructor(
    readonly size: number,
    script = new URL(import.meta.url),
  ) {
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(script, { workerData: WORKER_TAG });
      const poolWorker = { worker, busy: 0 };
      worker.on('message', (reply: Reply) => this.settle(reply));
      worker.on('error', (err) => this.fail(poolWorker, new Error(`image decoding worker failed (${err.message})`)));
      worker.on('exit', (code) => this.fail(poolWorker, new Error(`image decoding worker exited (code ${code})`)));
      return poolWorker;
    });
  }

  decode(files: readonly ImageBytes[], shape: ImageShape): Promise<Uint8Array> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    const target = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    // One compact buffer, transferred: a Buffer may be a view of a shared 8 KB pool, which cloning would copy whole.
    const offsets = [0];
    for (const file of files) offsets.push(offsets.at(-1)! + file.bytes.length);
    const data = new Uint8Array(offsets.at(-1)!);
    files.forEach((file, i) => data.set(file.bytes, offsets[i]));
    const request: Request = { id, shape, wheres: files.map((f) => f.where), offsets, data };
    return new Promise((resolve, reject) => {
      target.busy++;
      this.pending.set(id, { worker: target, resolve, reject });
      target.worker.postMessage(request, [data.buffer]);
    });
  }

  /** Called once no batch is in flight: ending a worker amid a sharp call can crash the process. */
  async close(): Promise<void> {
    for (const { worker } of this.workers) worker.removeAllListeners('exit');
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }

  private settle(reply: Reply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    waiting.worker.busy--;
    if ('error' in reply) waiting.reject(new Error(reply.error));
    else waiting.resolve(reply.pixels);
  }

  /** Fails the dead worker's batches; the others' run to their end, so that close() interrupts no sharp call. */
  private fail(dead: PoolWorker, error: Error): void {
    this.broken ??= error;
    for (const [id, waiting] of this.pending) {
      if (waiting.worker !== dead) continue;
      this.pending.delete(id);
      waiting.worker.busy--;
      waiting.reject(error);
    }
  }
}

if (!isMainThread && workerData === WORKER_TAG) {
  const port = parentPort!;
  port.on('message', async ({ id, shape, wheres, offsets, data }: Request) => {
    try {
      const files = wheres.map((where, i) => ({
        where,
        bytes: Buffer.from(data.buffer, data.byteOffset + offsets[i], offsets[i + 1] - offsets[i]),
      }));
      const pixels = await decodeGreyBatch(files, shape);
      port.postMessage({ id, pixels } satisfies Reply, [pixels.buffer]);
    } catch (err) {
      port.postMessage({ id, error: (err as Error).message } satisfies Reply);
    }
  });
}
