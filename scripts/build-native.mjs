// Builds the native convolution kernels (src/native) with node-gyp at install. They are an
// accelerator for the wasm backend: when there is no compiler (or FEWSHOT_NATIVE=0), the install
// goes on without them and the wasm kernels serve. `npm run build:native` builds them again.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'native');
if (process.env.FEWSHOT_NATIVE === '0') {
  console.log('fewshot-rkd: FEWSHOT_NATIVE=0, native kernels not built');
} else {
  // npm puts its own node-gyp on the PATH of install scripts.
  const built = spawnSync('node-gyp', ['rebuild', '--directory', dir], { stdio: ['ignore', 'ignore', 'pipe'], shell: true, encoding: 'utf8' });
  if (built.status === 0) {
    console.log('fewshot-rkd: native convolution kernels built (src/native/build)');
  } else {
    const why = (built.stderr ?? '').split('\n').filter((l) => /error/i.test(l)).slice(0, 3).join('\n');
    console.warn(`fewshot-rkd: native kernels not built, the wasm kernels will serve${why ? `:\n${why}` : ''}`);
  }
}
