/**
 * Provenance: which code, versions, backend and machine made a result. Every result file records
 * it, so that a number can be traced to what produced it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

/** The package's root folder (where package.json is), wherever it is installed. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Provenance {
  readonly package: string;
  readonly version: string;
  /** The git commit of the package's folder, when it is a checkout; `dirty` when it has uncommitted changes. */
  readonly gitCommit?: string;
  readonly gitDirty?: boolean;
  readonly node: string;
  readonly tfjs: string;
  /** The backend line of the run (`wasm (... + native kernels x86-64-v3, 2 threads)`), when one ran. */
  readonly backend?: string;
  readonly cpu: string;
  readonly cores: number;
  readonly platform: string;
  readonly time: string;
}

let code: Pick<Provenance, 'package' | 'version' | 'gitCommit' | 'gitDirty'> | undefined;

/** Package name, version and git commit (read once per process). */
export function codeVersion(): Pick<Provenance, 'package' | 'version' | 'gitCommit' | 'gitDirty'> {
  if (!code) {
    const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
    };
    code = { package: pkg.name, version: pkg.version };
    if (fs.existsSync(path.join(PACKAGE_ROOT, '.git'))) {
      const git = (...args: string[]) => spawnSync('git', ['-C', PACKAGE_ROOT, ...args], { encoding: 'utf8' });
      const head = git('rev-parse', 'HEAD');
      if (head.status === 0) {
        // Only tracked files count: run folders and caches beside the code do not make it dirty.
        const status = git('status', '--porcelain', '--untracked-files=no');
        code = { ...code, gitCommit: head.stdout.trim(), gitDirty: status.stdout.trim() !== '' };
      }
    }
  }
  return code;
}

/** The code version as one short string: `0.1.0+a6d8ad5` (`-dirty` when uncommitted changes ran). */
export function codeLabel(): string {
  const c = codeVersion();
  return c.gitCommit ? `${c.version}+${c.gitCommit.slice(0, 7)}${c.gitDirty ? '-dirty' : ''}` : c.version;
}

/** The installed @tensorflow/tfjs version, read from its package.json (importing tfjs itself takes a second). */
function tfjsVersion(): string {
  return (createRequire(import.meta.url)('@tensorflow/tfjs/package.json') as { version: string }).version;
}

export function provenance(backend?: string): Provenance {
  return {
    ...codeVersion(),
    node: process.version,
    tfjs: tfjsVersion(),
    ...(backend ? { backend } : {}),
    cpu: os.cpus()[0]?.model?.trim() ?? 'unknown',
    cores: os.cpus().length,
    platform: `${os.platform()} ${os.arch()}`,
    time: new Date().toISOString(),
  };
}

/** A path as result files record it: relative to the current folder when inside it (no machine's absolute paths). */
export function recordedPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}
