/** `fewshot bench`: ms per training step, per distillation step and per 1000 embedded images, standard shapes. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { COMMANDS } from './commands.js';
import { initBackend } from '../backend.js';
import { BENCH_SHAPES, BenchResult, benchShape } from '../bench/bench.js';
import { formatTable } from './format.js';
import { backendOption, positiveInt, startBackend } from './options.js';

type Row = BenchResult | { name: string; error: string };

/**
 * Runs one shape in a child process: each shape gets a fresh heap (wasm memory never shrinks, so
 * a large shape after another could fail for the first one's sake), and a failure stays its own.
 */
function benchInChild(name: string, backend: string, repeats: number): Row {
  const child = spawnSync(
    process.execPath,
    [
      fileURLToPath(new URL('./main.js', import.meta.url)),
      'bench',
      '--shapes',
      name,
      '--json',
      '--backend',
      backend,
      '--repeats',
      String(repeats),
    ],
    { encoding: 'utf8' },
  );
  if (child.status === 0) return (JSON.parse(child.stdout) as BenchResult[])[0];
  const error =
    child.stderr
      .split('\n')
      .filter((l) => l.startsWith('fewshot: '))
      .pop()
      ?.slice(9) ?? `exit ${child.status}`;
  return { name, error };
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description(COMMANDS.bench.description)
    .option(
      '--repeats <n>',
      'timed runs per measurement (median reported, after 2 s of warm-up runs)',
      positiveInt('--repeats'),
      5,
    )
    .option('--shapes <names>', `comma-separated subset of ${BENCH_SHAPES.map((s) => s.name).join(',')}`)
    .addOption(new Option('--json', 'print one JSON array, an object per shape'))
    .addOption(backendOption())
    .action(async (opts) => {
      const wanted: string[] = opts.shapes ? String(opts.shapes).split(',') : BENCH_SHAPES.map((s) => s.name);
      const unknown = wanted.filter((n) => !BENCH_SHAPES.some((s) => s.name === n));
      if (unknown.length) throw new Error(`--shapes: unknown ${unknown.join(', ')}`);
      let rows: Row[];
      if (wanted.length === 1) {
        await startBackend(opts.backend);
        rows = [
          await benchShape(
            BENCH_SHAPES.find((s) => s.name === wanted[0])!,
            await initBackend(opts.backend),
            opts.repeats,
          ),
        ];
      } else {
        rows = wanted.map((name) => {
          const row = benchInChild(name, opts.backend, opts.repeats);
          if (!opts.json)
            console.error(
              'error' in row
                ? `${name}: ${row.error}`
                : `${name}: ${row.trainStepMs.toFixed(0)} ms/step on ${row.backend}`,
            );
          return row;
        });
      }
      console.log(
        opts.json
          ? JSON.stringify(rows)
          : formatTable(
              [
                'shape',
                'images',
                'input',
                'train step ms',
                'distill step ms',
                '(teacher uncached)',
                'embed 1000 ms',
                'peak RSS MB',
                'backend',
                'threads',
              ],
              rows.map((r) =>
                'error' in r
                  ? [r.name, '', '', `failed: ${r.error}`, '', '', '', '', '', '']
                  : [
                      r.name,
                      String(r.images),
                      r.inputShape.join('x'),
                      r.trainStepMs.toFixed(1),
                      r.distillStepMs.toFixed(1),
                      r.distillStepUncachedMs.toFixed(1),
                      r.embed1000Ms.toFixed(1),
                      String(r.peakRssMB),
                      r.backend,
                      String(r.threads),
                    ],
              ),
            ),
      );
      if (rows.some((r) => 'error' in r)) process.exitCode = 1;
    });
}
