/** The examples in examples/ (type-checked by the build) run as a user would run them, briefly. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { ROOT } from './helpers.js';

const example = (name: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'examples', `${name}.js`), ...args], {
    encoding: 'utf8',
    cwd: ROOT,
  });
  expect(r.status, r.stderr).to.equal(0);
  return r.stdout;
};

describe('examples', function () {
  it('quick-start: trains without a run folder and prints an accuracy with its interval', () => {
    expect(example('quick-start', '10')).to.match(/^synthetic-test-5w1s: \d+\.\d\d% \+- \d\.\d\d \(600 episodes\)$/m);
  });

  it('distill: a teacher, an RKD-DA student, and their paired comparison', () => {
    expect(example('distill', '4')).to.match(
      /^student - teacher \(paired\): -?\d+\.\d\d \+- \d+\.\d\d; episodes won\/lost\/tied \d+\/\d+\/\d+$/m,
    );
  });

  it('episodes: samples, freezes and reads back a suite', () => {
    expect(example('episodes')).to.match(/my-suite\.csv: 100 episodes of 5-way 1-shot, sha256 [0-9a-f]{12}\.\.\.$/m);
  });

  it('a library call without initBackend() initialises the best backend, and says so once on stderr', () => {
    const script = `
      import * as tf from '@tensorflow/tfjs';
      import { DEFAULT_SCHEDULE, conv4, openDataset, prototypicalObjective, trainEpisodic } from 'fewshot-rkd';
      const dataset = openDataset('synthetic', 'val');
      const model = conv4({ inputShape: dataset.imageShape, width: 4, seed: 0 });
      const run = { model, objective: prototypicalObjective(model), dataset, shape: { way: 3, shot: 1, query: 2 }, schedule: { ...DEFAULT_SCHEDULE, episodes: 2, logEvery: 1 } };
      await trainEpisodic(run);
      await trainEpisodic(run);
      console.log(tf.getBackend());`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: ROOT });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal('wasm');
    // (TensorFlow.js greets the cpu backend the model was built on before training chose one.)
    expect(r.stderr.split('\n').filter((l) => l.startsWith('fewshot-rkd:'))).to.have.length(1);
    expect(r.stderr).to.match(/^fewshot-rkd: no backend chosen with initBackend\(\): using wasm /m);
  });

  it('initBackend warns once, in one line, when the library runs without the native kernels it should have', function () {
    // A build down to the baseline x86-64 (made where the CPU's flags were unreadable) serves every CPU.
    const record = path.join(ROOT, 'src', 'native', 'build', 'Release', 'target.json');
    const variants = fs.existsSync(record) ? JSON.parse(fs.readFileSync(record, 'utf8')).variants : undefined;
    if (variants?.at(-1)?.requires.length === 0) this.skip();
    const run = (script: string) =>
      spawnSync(
        process.execPath,
        ['--input-type=module', '-e', `import { initBackend } from 'fewshot-rkd'; ${script}`],
        {
          encoding: 'utf8',
          cwd: ROOT,
          // A CPU older than any level built (or nothing built): the kernels cannot serve.
          env: { ...process.env, FEWSHOT_CPU_FLAGS: 'fpu sse sse2', FEWSHOT_NATIVE: '' },
        },
      );
    const lacking = run(
      `await initBackend('wasm'); await initBackend('wasm'); await initBackend('cpu'); await initBackend('wasm');`,
    );
    expect(lacking.status, lacking.stderr).to.equal(0);
    const ours = lacking.stderr.split('\n').filter((l) => l.startsWith('fewshot-rkd:'));
    expect(ours, lacking.stderr).to.have.length(1);
    expect(ours[0]).to.match(/^fewshot-rkd: native kernels not used: .*(npm run build:native|build:native\))/);
    // Turned off on purpose: nothing to warn of.
    const off = run(`await initBackend('wasm', { nativeKernels: false });`);
    expect(off.status, off.stderr).to.equal(0);
    expect(off.stderr).to.not.include('fewshot-rkd:');
  });

  it('a library call keeps a backend the program chose with tf.setBackend, and says so once', () => {
    const script = `
      import * as tf from '@tensorflow/tfjs';
      import { DEFAULT_SCHEDULE, conv4, openDataset, prototypicalObjective, trainEpisodic } from 'fewshot-rkd';
      await tf.setBackend('cpu');
      const dataset = openDataset('synthetic', 'val');
      const model = conv4({ inputShape: dataset.imageShape, width: 4, seed: 0 });
      const run = { model, objective: prototypicalObjective(model), dataset, shape: { way: 3, shot: 1, query: 2 }, schedule: { ...DEFAULT_SCHEDULE, episodes: 1, logEvery: 1 } };
      await trainEpisodic(run);
      await trainEpisodic(run);
      console.log(tf.getBackend());`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: ROOT });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal('cpu');
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('fewshot-rkd:'));
    expect(ours).to.deep.equal([
      'fewshot-rkd: using the backend chosen with tf.setBackend(): cpu (chosen with tf.setBackend(), 1 thread)',
    ]);
  });
});
