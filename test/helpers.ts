/** Shared test helpers: paths, temporary folders, tolerant comparisons. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { loadModel } from '../src/models/checkpoint.js';

/** The project root (tests run from dist/test). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Real datasets, where this workshop lays them beside the clone (absent in a user's clone: tests skip). */
export const SHARED = path.resolve(ROOT, '..', 'shared');

const made: string[] = [];
// Removed when the test process ends, whatever the tests did with them.
process.on('exit', () => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A fresh folder under the system's temporary folder, removed when the test run ends. */
export function tempDir(prefix = 'fewshot-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** The weights of a saved model folder, as arrays (for comparing two runs' models exactly). */
export async function savedWeights(dir: string): Promise<number[][]> {
  const model = await loadModel(dir);
  const data = model.getWeights().map((w) => Array.from(w.dataSync()));
  model.dispose();
  return data;
}

/** Reads a float64 reference file of test/fixtures/golden (made by scripts/make-golden.py). */
export function golden<T>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'golden', name), 'utf8')) as T;
}

/**
 * Skips a test that needs real data (a file or folder beside the clone, as in this workshop's
 * ../shared) when it is absent, saying so once; a user's plain clone has none.
 */
export function requireData(ctx: Mocha.Context, file: string): void {
  if (fs.existsSync(file)) return;
  if (!skippedFor.has(file)) console.log(`      (skipped: needs ${path.relative(process.cwd(), file)}, absent here)`);
  skippedFor.add(file);
  ctx.skip();
}
const skippedFor = new Set<string>();

/** max |a - b| / max(max |b|, floor): relative error against the reference's scale. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-12): number {
  expect(actual.length, 'length').to.equal(expected.length);
  let maxDiff = 0;
  let scale = floor;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return maxDiff / scale;
}

export function flat(rows: number[][] | number[]): number[] {
  return (rows as unknown[]).flat(Infinity as 1) as number[];
}

/**
 * For tests of the native kernels: skips (pending) when they were not built, e.g. on a machine with
 * no C++ compiler; fails instead under FEWSHOT_REQUIRE_NATIVE=1, as .ci/run sets, so that CI cannot
 * pass with a broken build.
 */
export function requireNative(ctx: Mocha.Context, available: boolean): void {
  if (available) return;
  if (process.env.FEWSHOT_REQUIRE_NATIVE === '1') {
    throw new Error('the native kernels are not built: run `npm run build:native` (see its warning from npm ci)');
  }
  ctx.skip();
}
