/**
 * Choosing and initialising the TensorFlow.js backend. `auto` prefers the native TensorFlow
 * binding (tfjs-node-gpu, then tfjs-node) when it is installed and loads, then WebAssembly, then
 * the pure-JS cpu backend. Every run reports what it got.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { registerNativeKernels } from './kernels/native.js';
import { nativeStatus } from './kernels/native-addon.js';
import { registerWasmFillIns } from './kernels/wasm.js';
import { backendSetByCaller, silenceCpuBanner } from './tfjs-internals.js';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** The tfjs backend name in use: `tensorflow`, `wasm` or `cpu`. */
  readonly name: string;
  /** The package that provides it. */
  readonly provider: string;
  /** Threads the backend computes on. */
  readonly threads: number;
  /** Why a faster path was not taken (one short clause each), for the one-line report. */
  readonly fallbacks?: readonly string[];
}

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

/** Why a package could not be imported: absent, or present and failing (e.g. libtensorflow missing). */
export function importFailure(pkg: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  const message = firstLine(err);
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(pkg))
    return `${pkg} not installed`;
  return `${pkg} failed to load: ${message}`;
}

/** What each native TensorFlow package did when tried, in the order `auto` tries them. */
export interface PackageProbe {
  readonly package: string;
  readonly usable: boolean;
  readonly detail: string;
}

const probes: PackageProbe[] = [];

/** The packages tried so far by `auto` or `tensorflow` in this process, with why each was (not) used. */
export function packageProbes(): readonly PackageProbe[] {
  return [...probes];
}

async function tryNative(): Promise<BackendInfo | string> {
  probes.length = 0;
  for (const pkg of NATIVE_PACKAGES) {
    try {
      await import(pkg);
    } catch (err) {
      probes.push({ package: pkg, usable: false, detail: importFailure(pkg, err) });
      continue;
    }
    // A native package bundling its own copy of tfjs-core registers its backend there, not here.
    if (!tf.findBackend('tensorflow')) {
      probes.push({
        package: pkg,
        usable: false,
        detail: `${pkg} loaded, but registered on another copy of @tensorflow/tfjs-core`,
      });
      continue;
    }
    await tf.setBackend('tensorflow');
    // The GPU build of TensorFlow runs on its CPU kernels when it finds no usable CUDA device: say so.
    const gpu = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice;
    const onCpu = pkg.endsWith('-gpu') && gpu === false;
    probes.push({
      package: pkg,
      usable: true,
      detail: onCpu ? `${pkg} loaded, but TensorFlow sees no GPU device` : `${pkg} loaded`,
    });
    return {
      name: 'tensorflow',
      provider: onCpu ? `${pkg} on its CPU kernels` : pkg,
      threads: os.cpus().length,
      fallbacks: onCpu
        ? ['TensorFlow sees no usable GPU device (CUDA 11.2 and cuDNN 8.1 needed: fewshot doctor)']
        : undefined,
    };
  }
  // Neither installed (the common case): one short clause, not two long ones.
  if (probes.every((p) => p.detail === `${p.package} not installed`))
    return '@tensorflow/tfjs-node(-gpu) not installed';
  return probes.map((p) => p.detail).join(', ');
}

async function useWasm(nativeKernels: boolean): Promise<BackendInfo> {
  await import('@tensorflow/tfjs-backend-wasm');
  registerWasmFillIns();
  const nativeThreads = registerNativeKernels(nativeKernels);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialise');
  // tfjs-backend-wasm disables its threads under Node: it computes on one; the native
  // convolutions (built at install, when a compiler is there) use every core.
  const native = nativeStatus();
  const reason = nativeKernels ? native.reason : 'turned off (initBackend nativeKernels: false)';
  return nativeThreads > 0
    ? {
        name: 'wasm',
        provider: `@tensorflow/tfjs-backend-wasm + native kernels ${native.target?.march ?? ''}`.trimEnd(),
        threads: nativeThreads,
      }
    : {
        name: 'wasm',
        provider: '@tensorflow/tfjs-backend-wasm',
        threads: 1,
        fallbacks: [`native kernels not used: ${reason}`],
      };
}

export interface BackendOptions {
  /**
   * Whether the native kernels run on wasm (default: yes, where the addon is built for this CPU).
   * Off, wasm runs on its own kernels and the fill-ins alone: the reference the native ones are tested against.
   */
  readonly nativeKernels?: boolean;
  /** Nothing on stderr (the command line prints a backend line of its own). */
  readonly quiet?: boolean;
}

async function useCpu(): Promise<BackendInfo> {
  await tf.setBackend('cpu');
  silenceCpuBanner(tf.backend());
  return { name: 'cpu', provider: '@tensorflow/tfjs-backend-cpu', threads: 1 };
}

let current: BackendInfo | undefined;
let currentOptions: BackendOptions = {};

/**
 * Initialises the requested backend and returns what is in use. The same choice again returns the
 * backend already set up (switching back to it if tf.setBackend was called since).
 */
export async function initBackend(choice: BackendChoice = 'auto', options: BackendOptions = {}): Promise<BackendInfo> {
  const nativeKernels = options.nativeKernels ?? true;
  const sameOptions = (currentOptions.nativeKernels ?? true) === nativeKernels;
  if (current && sameOptions && (choice === 'auto' || choice === current.name)) {
    // Someone may have switched with tf.setBackend since: switch back.
    if (tf.getBackend() !== current.name) await tf.setBackend(current.name);
    return current;
  }
  switch (choice) {
    case 'tensorflow': {
      const native = await tryNative();
      if (typeof native === 'string') throw new Error(`--backend tensorflow: not available (${native})`);
      current = native;
      break;
    }
    case 'wasm':
      current = await useWasm(nativeKernels);
      break;
    case 'cpu':
      current = await useCpu();
      break;
    case 'auto': {
      const native = await tryNative();
      if (typeof native !== 'string') current = native;
      else {
        const notTensorflow = `not tensorflow: ${native}`;
        try {
          const wasm = await useWasm(nativeKernels);
          current = { ...wasm, fallbacks: [notTensorflow, ...(wasm.fallbacks ?? [])] };
        } catch (err) {
          current = { ...(await useCpu()), fallbacks: [notTensorflow, `not wasm: ${firstLine(err)}`] };
        }
      }
      break;
    }
    default:
      throw new Error(`--backend: '${choice as string}' is not one of ${BACKEND_CHOICES.join(', ')}`);
  }
  currentOptions = options;
  if (!options.quiet) warnWithoutKernels(current);
  return current;
}

let warned = false;

/** Once a process: the library runs without the native kernels it was installed to have. */
function warnWithoutKernels(info: BackendInfo): void {
  const lacking = info.fallbacks?.find((f) => f.startsWith('native kernels not used: '));
  if (warned || !lacking || lacking.includes('turned off')) return;
  warned = true;
  process.stderr.write(`fewshot-rkd: ${lacking}\n`);
}

/**
 * The backend for a library call: the one chosen with initBackend or with tf.setBackend (never
 * replaced), or (none chosen yet) the best available, said once on stderr; TensorFlow.js alone would
 * run on its pure-JS cpu backend, ten times slower, without a word.
 */
export async function ensureBackend(): Promise<BackendInfo> {
  const chosen = backendSetByCaller();
  if (current && (chosen === undefined || chosen === current.name)) return current;
  if (chosen === undefined) {
    const info = await initBackend('auto', { quiet: true });
    process.stderr.write(`fewshot-rkd: no backend chosen with initBackend(): using ${describeBackend(info)}\n`);
    return info;
  }
  // Chosen by the program with tf.setBackend: kept (wasm and tensorflow with this library's set-up of them).
  current =
    chosen === 'wasm' || chosen === 'tensorflow'
      ? await initBackend(chosen, { quiet: true })
      : { name: chosen, provider: 'chosen with tf.setBackend()', threads: 1 };
  process.stderr.write(`fewshot-rkd: using the backend chosen with tf.setBackend(): ${describeBackend(current)}\n`);
  return current;
}

/** The backend line of this process's backend, if one was initialised. */
export function currentBackendLine(): string | undefined {
  return current && describeBackend(current);
}

/** The one-line report: what runs, then why anything faster did not (`; `-separated). */
export function describeBackend(info: BackendInfo): string {
  const main = `${info.name} (${info.provider}, ${info.threads} thread${info.threads === 1 ? '' : 's'})`;
  return [main, ...(info.fallbacks ?? [])].join('; ');
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}
