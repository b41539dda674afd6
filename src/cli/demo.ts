/**
 * `fewshot demo`, the main job: on a fresh machine with no data, train a ProtoNet on the embedded
 * synthetic glyphs and evaluate it on frozen synthetic test episodes, with 95% intervals.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { evaluateCheckpoint } from '../eval/evaluate.js';
import { runPaths } from '../train/episodic.js';
import { DEFAULT_PROTONET, trainProtoNet } from '../train/protonet.js';
import { scoreTable } from './eval.js';
import { formatLogLine } from './format.js';
import { backendOption, positiveInt, startBackend } from './options.js';
import { progressBar } from './progress.js';

/** The shipped suites, wherever the package is installed. */
export const EPISODES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'episodes');

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('the main job: ProtoNet on synthetic glyphs, evaluated on frozen test episodes with 95% CIs')
    .option('--out <dir>', 'run folder', 'runs/demo')
    .option('--episodes <n>', 'training episodes', positiveInt('--episodes'), 300)
    .addOption(backendOption())
    .action(async (opts) => {
      const backend = await startBackend(opts.backend);
      const config = {
        ...DEFAULT_PROTONET,
        dataset: 'synthetic', split: 'train', valSuite: path.join(EPISODES_DIR, 'synthetic-val-5w1s.json'),
        way: 20, shot: 5, query: 5, episodes: opts.episodes, validateEvery: 100, logEvery: 50, lrHalveEvery: 2000,
      };
      console.log(`training a Conv-4 ProtoNet: ${config.episodes} episodes of ${config.way}-way ${config.shot}-shot ${config.query}-query synthetic glyphs`);
      const bar = progressBar('train', config.episodes);
      const trained = await trainProtoNet(config, opts.out, {
        onEpisode: (e) => bar.update(e),
        onLog: (line) => console.log(formatLogLine(line)),
      });
      bar.stop();
      const suites = ['synthetic-test-5w1s.json', 'synthetic-test-5w5s.json'].map((f) => path.join(EPISODES_DIR, f));
      const scores = await evaluateCheckpoint(runPaths(opts.out).best, suites, { backend, out: path.join(opts.out, 'eval') });
      console.log(`\nProtoNet after ${trained.state.episode} episodes (${trained.seconds.toFixed(0)} s), best validation at episode ${trained.state.bestEpisode}:\n`);
      console.log(scoreTable(scores));
      console.log(`\nper-episode accuracies: ${path.join(opts.out, 'eval')}`);
    });
}
