/** `fewshot train`: a Prototypical Network, episodically, into a run folder. */
import { DATASETS } from '../data/open.js';
import { Command, Option } from 'commander';
import { DEFAULT_PROTONET, ProtoNetConfig, readRunConfig, refuseExistingRun, trainProtoNet } from '../train/protonet.js';
import { formatLogLine } from './format.js';
import { backendOption, nonNegativeInt, positiveNumber, positiveInt, startBackend } from './options.js';
import { progressBar } from './progress.js';

/** The options every training command shares (dataset, episode shape, model width, schedule). */
export function trainingOptions(command: Command): Command {
  const d = DEFAULT_PROTONET;
  return command
    .option('--dataset <name>', DATASETS.join(' | '), 'synthetic')
    .option('--split <name>', 'training split', 'train')
    .option('--data <dir>', "the dataset's cache folder (default: <cache root>/<dataset>)")
    .option('--val-suite <file>', 'suite JSON to validate on')
    .option('--way <n>', 'training way', positiveInt('--way'), d.way)
    .option('--shot <n>', 'training shot', positiveInt('--shot'), d.shot)
    .option('--query <n>', 'training queries per class', positiveInt('--query'), d.query)
    .option('--width <n>', 'filters per Conv-4 block', positiveInt('--width'), d.width)
    .option('--episodes <n>', 'training episodes', positiveInt('--episodes'), d.episodes)
    .option('--lr <x>', 'Adam learning rate', positiveNumber('--lr'), d.lr)
    .option('--lr-halve-every <n>', 'halve the learning rate every n episodes', positiveInt('--lr-halve-every'), d.lrHalveEvery)
    .option('--validate-every <n>', 'validate and checkpoint every n episodes', positiveInt('--validate-every'), d.validateEvery)
    .option('--patience <n>', 'stop after n validations without improvement (0: never)', nonNegativeInt('--patience'), d.patience)
    .option('--log-every <n>', 'log every n episodes', positiveInt('--log-every'), d.logEvery)
    .option('--seed <n>', 'seed of the weights and the episode stream', nonNegativeInt('--seed'), d.seed)
    .addOption(new Option('--json', 'print log lines as JSON'));
}

export function trainingConfig(opts: Record<string, any>): ProtoNetConfig {
  return {
    dataset: opts.dataset, split: opts.split, dataDir: opts.data, valSuite: opts.valSuite,
    way: opts.way, shot: opts.shot, query: opts.query, width: opts.width,
    episodes: opts.episodes, lr: opts.lr, lrHalveEvery: opts.lrHalveEvery,
    validateEvery: opts.validateEvery, patience: opts.patience, logEvery: opts.logEvery, seed: opts.seed,
  };
}

export function registerTrainCommand(program: Command): void {
  const command = program
    .command('train')
    .description('train a Prototypical Network (Conv-4) on episodes of a dataset split')
    .requiredOption('--out <dir>', 'run folder: config.json, log.jsonl, checkpoint/ (latest), best/')
    .option('--resume', 'continue the run in --out from its last checkpoint (its config.json is used)');
  trainingOptions(command)
    .addOption(backendOption())
    .action(async (opts) => {
      await startBackend(opts.backend);
      if (!opts.resume) refuseExistingRun(opts.out);
      const config: ProtoNetConfig = opts.resume ? readRunConfig<ProtoNetConfig>(opts.out) : trainingConfig(opts);
      const bar = progressBar('train', config.episodes);
      const result = await trainProtoNet(config, opts.out, {
        resume: opts.resume,
        onEpisode: (e) => bar.update(e),
        onLog: (line) => console.log(opts.json ? JSON.stringify(line) : formatLogLine(line)),
      });
      bar.stop();
      const s = result.state;
      console.log(
        opts.json
          ? JSON.stringify({ done: true, ...s, seconds: result.seconds })
          : `trained ${s.episode} episodes in ${result.seconds.toFixed(0)} s` +
              (s.bestValAccuracy >= 0 ? `; best validation ${(100 * s.bestValAccuracy).toFixed(2)}% at episode ${s.bestEpisode}` : '') +
              `; best model in ${opts.out}/best`,
      );
    });
}
