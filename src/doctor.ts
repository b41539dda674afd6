/**
 * `fewshot doctor`: every compute path the project can take on this machine, in the order `auto`
 * tries them, with why each is or is not used; the native kernels; the versions. For a user to
 * see which path they got and why, before a long run.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BackendInfo, describeBackend, initBackend, packageProbes, PackageProbe } from './backend.js';
import { NativeStatus, cpuFlags, nativeStatus } from './kernels/native-addon.js';
import { Provenance, provenance } from './provenance.js';

/**
 * The shared libraries libtensorflow 2.9.1 (what @tensorflow/tfjs-node-gpu 4.x loads) needs for its
 * GPU kernels: CUDA 11.2 and cuDNN 8.1 (TensorFlow's tested build configurations).
 */
export const GPU_LIBRARIES = [
  'libcudart.so.11.0',
  'libcublas.so.11',
  'libcublasLt.so.11',
  'libcufft.so.10',
  'libcurand.so.10',
  'libcusolver.so.11',
  'libcusparse.so.11',
  'libcudnn.so.8',
];

export interface DoctorReport {
  /** The backend `auto` chose, as every command prints it. */
  readonly backend: string;
  readonly packages: readonly PackageProbe[];
  /** Each CUDA/cuDNN library the GPU path needs: where the dynamic loader finds it, or null. */
  readonly gpuLibraries: Readonly<Record<string, string | null>>;
  readonly native: NativeStatus & {
    readonly threads: number;
    readonly ompNumThreads?: string;
    /** Of the CPU flags the build needs, those this CPU has not (empty when it can run the build). */
    readonly missingCpuFlags: readonly string[];
  };
  readonly provenance: Provenance;
}

/** Where the dynamic loader would find each library: LD_LIBRARY_PATH, then the ldconfig cache. */
export function findLibraries(sonames: readonly string[]): Record<string, string | null> {
  const dirs = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  const cache = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '';
  return Object.fromEntries(
    sonames.map((soname) => {
      const inDir = dirs.map((d) => path.join(d, soname)).find((f) => fs.existsSync(f));
      const cached = cache
        .split('\n')
        .find((l) => l.trim().startsWith(`${soname} `))
        ?.split('=>')[1]
        ?.trim();
      return [soname, inDir ?? cached ?? null];
    }),
  );
}

export async function diagnose(): Promise<DoctorReport> {
  const info: BackendInfo = await initBackend('auto', { quiet: true });
  const status = nativeStatus();
  const flags = cpuFlags();
  return {
    backend: describeBackend(info),
    packages: packageProbes(),
    gpuLibraries: findLibraries(GPU_LIBRARIES),
    native: {
      ...status,
      threads: info.name === 'wasm' && status.loaded ? info.threads : 0,
      ompNumThreads: process.env.OMP_NUM_THREADS,
      missingCpuFlags: flags && status.target ? status.target.requires.filter((f) => !flags.has(f)) : [],
    },
    provenance: provenance(describeBackend(info)),
  };
}

/** The report as lines for a terminal. */
export function formatDiagnosis(r: DoctorReport): string[] {
  const mark = (ok: boolean) => (ok ? 'ok  ' : 'no  ');
  const missing = Object.entries(r.gpuLibraries)
    .filter(([, where]) => !where)
    .map(([soname]) => soname);
  const n = r.native;
  return [
    `backend: ${r.backend}`,
    '',
    'TensorFlow (tried first by --backend auto):',
    ...r.packages.map((p) => `  ${mark(p.usable)}${p.detail}`),
    `  CUDA/cuDNN for the GPU path (CUDA 11.2, cuDNN 8.1): ${missing.length ? `missing ${missing.join(' ')}` : 'all found'}`,
    '',
    'WebAssembly + native kernels:',
    `  ${mark(n.loaded)}native kernels ${n.loaded ? `loaded (${n.target?.march}, ${n.threads} threads)` : `not used: ${n.reason}`}`,
    `  addon ${n.addonPath}${n.target ? `, one of ${n.target.built.join(', ')} built on ${n.target.builtOn ?? 'unknown'}` : ''}`,
    `  OMP_NUM_THREADS ${n.ompNumThreads ?? '(unset: one thread per core)'}; cores ${os.cpus().length}`,
    '',
    `versions: ${r.provenance.package} ${r.provenance.version}${r.provenance.gitCommit ? ` (git ${r.provenance.gitCommit.slice(0, 12)}${r.provenance.gitDirty ? ', uncommitted changes' : ''})` : ''}, ` +
      `node ${r.provenance.node}, tfjs ${r.provenance.tfjs}`,
    `machine: ${r.provenance.cpu}, ${r.provenance.cores} cores, ${r.provenance.platform}`,
  ];
}
