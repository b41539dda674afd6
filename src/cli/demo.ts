/**
 * `fewshot demo`, the main job: on a fresh machine with no data, train a ProtoNet teacher on the
 * embedded synthetic glyphs, self-distil it into a student with RKD-D + RKD-A, and evaluate both on
 * the same frozen synthetic test episodes: means with 95% intervals and the paired difference.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { COMMANDS } from './commands.js';
import { comparePaired } from '../eval/compare.js';
import { SuiteScore, evaluateCheckpoint } from '../eval/evaluate.js';
import { readEpisodeAccuracies } from '../eval/results.js';
import { SHIPPED_SUITES_DIR } from '../episodes/suite.js';
import { distill, generationDir, rkdWeights } from '../train/distill.js';
import { LogLine, runPaths } from '../train/run-folder.js';
import { DEFAULT_PROTONET, ProtoNetConfig, trainProtoNet } from '../train/protonet.js';
import { formatLogLine, formatTable } from './format.js';
import { backendOption, positiveInt, startBackend } from './options.js';
import { Progress, logStatus, printLine, progressBar } from './progress.js';

const pct = (x: number) => (100 * x).toFixed(2);

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(COMMANDS.demo.description)
    .option('--out <dir>', 'run folder', 'runs/demo')
    .option('--episodes <n>', 'training episodes of the teacher, and of the student', positiveInt('--episodes'), 200)
    .option('--width <n>', 'Conv-4 filters per block', positiveInt('--width'), 32)
    .option('--json', 'print nothing but one JSON object at the end: the scores and the paired comparisons')
    .addOption(backendOption())
    .action(async (opts) => {
      const say = opts.json ? () => undefined : (text: string) => printLine(text);
      const backend = await startBackend(opts.backend);
      const config: ProtoNetConfig = {
        ...DEFAULT_PROTONET,
        dataset: 'synthetic',
        split: 'train',
        valSuite: path.join(SHIPPED_SUITES_DIR, 'synthetic-val-5w1s.json'),
        way: 10,
        shot: 5,
        query: 5,
        width: opts.width,
        episodes: opts.episodes,
        validateEvery: 50,
        logEvery: 25,
      };
      let bar: Progress | undefined;
      const log = (line: LogLine) => {
        bar?.update(line.episode, logStatus(line));
        say(formatLogLine(line));
      };
      const started = Date.now();
      // The demo is one job: a re-run starts over, rather than keep a student of an earlier teacher.
      const parts = ['teacher', 'student', 'eval'].map((p) => path.join(opts.out, p));
      if (parts.some((p) => fs.existsSync(p))) {
        say(`replacing the previous demo run in ${opts.out}`);
        parts.forEach((p) => fs.rmSync(p, { recursive: true, force: true }));
      }

      say(
        `teacher: Conv-4 (width ${config.width}) ProtoNet, ${config.episodes} episodes of ${config.way}-way ${config.shot}-shot ${config.query}-query synthetic glyphs`,
      );
      bar = progressBar('teacher', config.episodes, 'episodes');
      await trainProtoNet(config, path.join(opts.out, 'teacher'), { onEpisode: (e) => bar?.update(e), onLog: log });
      bar.stop();

      const weights = { ...rkdWeights('da'), lambdaKD: 0, temperature: 4 };
      say(
        `\nstudent: same Conv-4 from scratch, loss = proto + ${weights.lambdaD} RKD-D + ${weights.lambdaA} RKD-A against the teacher`,
      );
      bar = progressBar('student', config.episodes, 'episodes');
      const teacherBest = runPaths(path.join(opts.out, 'teacher')).best;
      await distill({ ...config, ...weights, teacher: teacherBest, generations: 1 }, path.join(opts.out, 'student'), {
        onEpisode: (e) => bar?.update(e),
        onLog: log,
      });
      bar.stop();

      const suites = ['synthetic-test-5w1s.json', 'synthetic-test-5w5s.json'].map((f) =>
        path.join(SHIPPED_SUITES_DIR, f),
      );
      const models = {
        teacher: teacherBest,
        'RKD-DA student': runPaths(generationDir(path.join(opts.out, 'student'), 1)).best,
      };
      const scores: Record<string, SuiteScore[]> = {};
      for (const [name, dir] of Object.entries(models)) {
        scores[name] = await evaluateCheckpoint(dir, suites, {
          backend,
          out: path.join(opts.out, 'eval', name.split(' ')[0]),
        });
      }
      const rows: string[][] = [];
      const results: object[] = [];
      for (const [i, t] of scores.teacher.entries()) {
        const s = scores['RKD-DA student'][i];
        const c = comparePaired(
          await readEpisodeAccuracies(t.episodesCsv!),
          await readEpisodeAccuracies(s.episodesCsv!),
        );
        results.push({
          suite: t.suite,
          episodes: t.episodes,
          teacher: c.a,
          student: c.b,
          difference: c.difference,
          won: c.won,
          lost: c.lost,
          tied: c.tied,
        });
        rows.push([
          t.suite,
          String(t.episodes),
          `${pct(t.accuracy)} +- ${pct(t.ci95)}`,
          `${pct(s.accuracy)} +- ${pct(s.ci95)}`,
          `${c.difference.mean >= 0 ? '+' : ''}${pct(c.difference.mean)} +- ${pct(c.difference.ci95)}`,
          `${c.won}/${c.lost}/${c.tied}`,
        ]);
      }
      const seconds = (Date.now() - started) / 1000;
      if (opts.json) {
        console.log(JSON.stringify({ backend, seconds, out: opts.out, suites: results }));
        return;
      }
      console.log(
        `\nAccuracy % with 95% intervals on frozen synthetic test episodes (${backend.split(';')[0]}, ${seconds.toFixed(0)} s in all):\n`,
      );
      console.log(
        formatTable(
          ['suite', 'episodes', 'teacher', 'RKD-DA student', 'student - teacher (paired)', 'won/lost/tied'],
          rows,
        ),
      );
      console.log(`\nper-episode accuracies: ${path.join(opts.out, 'eval')}`);
    });
}
