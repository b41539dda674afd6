/** `fewshot bench`: ms per training step and per 1000 embedded images, standard shapes. */
import { Command, Option } from 'commander';
import { initBackend } from '../backend.js';
import { BENCH_SHAPES, BenchResult, benchShape } from '../bench/bench.js';
import { formatTable } from './format.js';
import { backendOption, positiveInt, startBackend } from './options.js';

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('time one training step and the embedding of 1000 images for the standard episode shapes')
    .option('--repeats <n>', 'timed runs per measurement (median reported; one warm-up run excluded)', positiveInt('--repeats'), 3)
    .option('--shapes <names>', `comma-separated subset of ${BENCH_SHAPES.map((s) => s.name).join(',')}`)
    .addOption(new Option('--json', 'print one JSON array, an object per shape'))
    .addOption(backendOption())
    .action(async (opts) => {
      await startBackend(opts.backend);
      const info = await initBackend(opts.backend);
      const wanted = opts.shapes ? String(opts.shapes).split(',') : BENCH_SHAPES.map((s) => s.name);
      const unknown = wanted.filter((n) => !BENCH_SHAPES.some((s) => s.name === n));
      if (unknown.length) throw new Error(`--shapes: unknown ${unknown.join(', ')}`);
      const results: BenchResult[] = [];
      for (const shape of BENCH_SHAPES.filter((s) => wanted.includes(s.name))) {
        results.push(await benchShape(shape, info, opts.repeats));
        if (!opts.json) console.error(`${shape.name}: ${results.at(-1)!.trainStepMs.toFixed(0)} ms/step`);
      }
      console.log(
        opts.json
          ? JSON.stringify(results)
          : formatTable(
              ['shape', 'images', 'input', 'train step ms', 'embed 1000 ms', 'backend', 'threads'],
              results.map((r) => [r.name, String(r.images), r.inputShape.join('x'), r.trainStepMs.toFixed(1),
                r.embed1000Ms.toFixed(1), r.backend, String(r.threads)]),
            ),
      );
    });
}
