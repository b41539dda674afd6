/**
 * `fewshot sweep SPEC`: every point of a sweep spec (or of one shard of it) trained or distilled and
 * evaluated, one CSV row per (point, suite); re-running skips the rows already there.
 * `fewshot sweep merge A.csv B.csv --out ALL.csv`: shard CSVs into one.
 */
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { COMMANDS } from './commands.js';
import { formatPercent } from '../eval/stats.js';
import { mergeSweepFiles } from '../sweep/merge.js';
import { runSweep } from '../sweep/run.js';
import { parseShard } from '../sweep/shard.js';
import { describeSettings, expandSweep, readSweepSpec, settingColumns, varyingSettings } from '../sweep/spec.js';
import { DEFAULT_LOCK_STALE_SECONDS } from '../lock.js';
import { formatLogLine } from './format.js';
import { backendOption, positiveNumber, startBackend } from './options.js';
import { GenerationsProgress, generationsBar, logStatus, printLine } from './progress.js';

export function registerSweepCommand(program: Command): void {
  const sweep = program
    .command('sweep')
    .description(COMMANDS.sweep.description)
    .argument('<spec>', 'sweep spec JSON (paths in it are relative to the current folder)')
    .option('--out <csv>', 'CSV to append to (default: <runs>/sweep.csv, or <runs>/shard-<i>-of-<n>.csv with --shard)')
    .option(
      '--shard <i/n>',
      "run only the points whose index mod n is i (0-based: 0/4 .. 3/4); 'slurm': i and n of this Slurm array task",
    )
    .option('--allow-mixed-code', 'append to a CSV that holds rows made by another code version (refused by default)')
    .addOption(
      new Option(
        '--lock-stale <seconds>',
        'take over a point whose worker has not refreshed its lock for this long (it died)',
      )
        .default(DEFAULT_LOCK_STALE_SECONDS)
        .argParser(positiveNumber('--lock-stale')),
    )
    .addOption(new Option('--verbose', 'print every training log line'))
    .option('--json', 'print nothing but one JSON object at the end: the summary and the rows appended')
    .addOption(backendOption())
    .action(async (file: string, opts) => {
      const say = opts.json ? () => undefined : (text: string) => printLine(text);
      const spec = readSweepSpec(file);
      const shard = opts.shard === undefined ? undefined : parseShard(opts.shard);
      const out = opts.out ?? path.join(spec.runs, shard ? `shard-${shard.index}-of-${shard.count}.csv` : 'sweep.csv');
      const backend = await startBackend(opts.backend);
      const points = expandSweep(spec);
      const varying = varyingSettings(
        points.map((p) => p.settings),
        settingColumns(spec, points),
      );
      say(
        `${spec.name}: ${points.length} points x ${spec.suites.length} suites` +
          (shard ? `; shard ${shard.index}/${shard.count}` : '') +
          ` -> ${out}`,
      );
      let bar: GenerationsProgress | undefined;
      const summary = await runSweep(spec, {
        out,
        backend,
        shard,
        allowMixedCode: opts.allowMixedCode,
        lockStaleSeconds: opts.lockStale,
        onWait: (held) =>
          say(
            `waiting for ${held.length} point(s) held by other workers: ` +
              held
                .map(
                  (h) =>
                    `${h.point.index} (${h.lock}, refreshed ${h.age === undefined ? '?' : Math.round(h.age)} s ago)`,
                )
                .join(', '),
          ),
        onPoint: (p, missing) => {
          const what = `point ${p.index} [${describeSettings(p.settings, varying) || 'the only point'}] ${p.key}`;
          say(
            missing.length === 0
              ? `${what}: in the CSV already, skipped`
              : `${what}: training, then ${missing.join(', ')}`,
          );
          if (missing.length === 0) return;
          const s = p.settings as Record<string, number>;
          bar = generationsBar(`point ${p.index}`, s.episodes, s.generations);
        },
        onGeneration: (_p, g) => bar?.generation(g),
        onEpisode: (_p, e) => bar?.update(e),
        onLog: (_p, line) => {
          bar?.update(line.episode, logStatus(line));
          if (opts.verbose) say(formatLogLine(line));
        },
        onPointDone: (_p, rows) => {
          bar?.stop();
          for (const r of rows) {
            say(
              `  ${r.suite}  ${formatPercent({ mean: Number(r.accuracy), ci95: Number(r.ci95), std: Number(r.std), n: Number(r.testEpisodes) })}` +
                `  (${r.trainEpisodes} training episodes${Number(r.resumedFrom) > 0 ? `, resumed from ${r.resumedFrom}` : ''}, ${r.trainSeconds} s; eval ${r.evalSeconds} s)`,
            );
          }
        },
      });
      if (opts.json) console.log(JSON.stringify({ spec: file, out, shard, ...summary }));
      else
        say(
          `${summary.points} points: ${summary.skipped} skipped, ${summary.points - summary.skipped} run; ${summary.rows.length} rows appended to ${out}`,
        );
    });

  sweep
    .command('merge')
    .description(
      'merge shard CSVs of one spec, refusing a (point, suite) twice or a point whose settings or results differ',
    )
    .argument('<csv...>', 'shard CSVs')
    .option('--out <csv>', 'the merged CSV (required)')
    .option('--allow-mixed-code', 'merge rows made by different code versions (refused by default)')
    .option('--json', 'print the summary as one JSON object')
    .action(
      async (files: string[], opts: { out?: string; allowMixedCode?: boolean; json?: boolean }, command: Command) => {
        // Options after the file names are parsed by `sweep` itself, the parent.
        const parent = command.parent?.opts() ?? {};
        const out = opts.out ?? (parent.out as string | undefined);
        if (!out) throw new Error('sweep merge: --out <csv> is required');
        const merged = await mergeSweepFiles(files, out, {
          allowMixedCode: opts.allowMixedCode ?? parent.allowMixedCode,
        });
        for (const f of merged.dropped)
          console.error(`${f}: a half-written last line (a kill while appending) was left out`);
        const points = new Set(merged.rows.map((r) => r.key)).size;
        console.log(
          (opts.json ?? parent.json)
            ? JSON.stringify({ files, out, rows: merged.rows.length, points, dropped: merged.dropped })
            : `merged ${merged.rows.length} rows (${points} points) from ${files.length} files into ${out}`,
        );
      },
    );
}
