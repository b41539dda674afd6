/** `fewshot train`: a Prototypical Network, episodically, into a run folder. */
import { AUGMENTATIONS } from '../data/augment.js';
import { DATASETS } from '../data/open.js';
import { Command, Option } from 'commander';
import { COMMANDS } from './commands.js';
import { withRunFolder } from '../lock.js';
import { openRun } from '../train/inputs.js';
import { DEFAULT_PROTONET, ProtoNetConfig, trainProtoNet } from '../train/protonet.js';
import { LogLine, divergedRun, readRunConfig, refuseExistingRun, resumeBudget } from '../train/run-folder.js';
import { RECIPES, RecipeRunConfig, findRecipe, recipeConfig, recipePaths, trainRecipe } from '../train/recipe.js';
import { formatLogLine } from './format.js';
import { backendOption, nonNegativeInt, positiveNumber, positiveInt, startBackend } from './options.js';
import { logStatus, printLine, progressBar } from './progress.js';

/** The options every training command shares (dataset, episode shape, model width, schedule). */
export function trainingOptions(command: Command): Command {
  const d = DEFAULT_PROTONET;
  return command
    .addOption(new Option('--dataset <name>', 'dataset to train on').choices(DATASETS).default('synthetic'))
    .option('--split <name>', 'training split', 'train')
    .option('--data <dir>', "the dataset's cache folder (default: <cache root>/<dataset>)")
    .option('--val-suite <file>', 'suite JSON to validate on')
    .option('--way <n>', 'training way', positiveInt('--way'), d.way)
    .option('--shot <n>', 'training shot', positiveInt('--shot'), d.shot)
    .option('--query <n>', 'training queries per class', positiveInt('--query'), d.query)
    .option('--width <n>', 'filters per Conv-4 block', positiveInt('--width'), d.width)
    .addOption(
      new Option(
        '--augment <kind>',
        'augmentation of the training images (crop-flip: random crop, padding 4, and flip)',
      )
        .choices(AUGMENTATIONS)
        .default('none'),
    )
    .option('--episodes <n>', 'training episodes', positiveInt('--episodes'), d.episodes)
    .option('--lr <x>', 'Adam learning rate', positiveNumber('--lr'), d.lr)
    .option(
      '--lr-halve-every <n>',
      'halve the learning rate every n episodes',
      positiveInt('--lr-halve-every'),
      d.lrHalveEvery,
    )
    .option(
      '--validate-every <n>',
      'validate and checkpoint every n episodes',
      positiveInt('--validate-every'),
      d.validateEvery,
    )
    .option(
      '--patience <n>',
      'stop after n validations without improvement (0: never)',
      nonNegativeInt('--patience'),
      d.patience,
    )
    .option('--log-every <n>', 'log every n episodes', positiveInt('--log-every'), d.logEvery)
    .option('--seed <n>', 'seed of the weights and the episode stream', nonNegativeInt('--seed'), d.seed)
    .addOption(
      new Option('--select-by <figure>', 'validation figure that picks the best model')
        .choices(['accuracy', 'loss'])
        .default('accuracy'),
    )
    .option(
      '--recipe <name>',
      `a published protocol's settings (${Object.keys(RECIPES).join(', ')}); options given explicitly override them`,
    )
    .addOption(new Option('--json', 'print log lines as JSON'));
}

/**
 * The saved config of a run to resume, with the settings given on the command line: more
 * `--episodes` extends the run (said on stderr); any other setting that differs is refused, naming it.
 */
export function resumedConfig<C extends ProtoNetConfig>(saved: C, given: Partial<ProtoNetConfig>, dir: string): C {
  const changed = (Object.keys(given) as (keyof ProtoNetConfig)[]).filter((k) => given[k] !== saved[k]);
  const refused = changed.filter((k) => k !== 'episodes');
  if (refused.length) {
    const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new Error(
      `${dir}: --resume continues the run as configured; ${refused.map((k) => `${flag(k)} ${given[k]} (the run has ${saved[k]})`).join(', ')}` +
        ' would change it: start a new run instead',
    );
  }
  if (changed.includes('episodes')) {
    resumeBudget(dir, given.episodes!);
    console.error(`${dir}: extending the run from ${saved.episodes} to ${given.episodes} episodes`);
    return { ...saved, episodes: given.episodes! };
  }
  return saved;
}

// commander's parsed options are untyped by nature.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Options = Record<string, any>;

/** The training settings given explicitly on the command line (they override a recipe's). */
export function explicitSettings(command: Command, opts: Options): Partial<ProtoNetConfig> {
  const optionOf: Record<string, string> = { dataDir: 'data' };
  return Object.fromEntries(
    Object.entries(trainingConfig(opts)).filter(
      ([key]) => command.getOptionValueSource(optionOf[key] ?? key) === 'cli',
    ),
  ) as Partial<ProtoNetConfig>;
}

export function trainingConfig(opts: Options): ProtoNetConfig {
  return {
    dataset: opts.dataset,
    split: opts.split,
    dataDir: opts.data,
    valSuite: opts.valSuite,
    way: opts.way,
    shot: opts.shot,
    query: opts.query,
    width: opts.width,
    augment: opts.augment,
    episodes: opts.episodes,
    lr: opts.lr,
    lrHalveEvery: opts.lrHalveEvery,
    validateEvery: opts.validateEvery,
    patience: opts.patience,
    logEvery: opts.logEvery,
    seed: opts.seed,
    selectBy: opts.selectBy,
  };
}

export function registerTrainCommand(program: Command): void {
  const command = program
    .command('train')
    .description(COMMANDS.train.description)
    .requiredOption('--out <dir>', 'run folder: config.json, log.jsonl, checkpoint/ (latest), best/')
    .option('--resume', 'continue the run in --out from its last checkpoint (its config.json is used)');
  trainingOptions(command)
    .addOption(backendOption())
    .action(async (opts, command: Command) => {
      await startBackend(opts.backend);
      // One process per run folder, from before it is looked at to the end.
      await withRunFolder(opts.out, (check) =>
        trainCommand(opts, command, check).catch((err: unknown) => {
          throw divergedRun(opts.out, err);
        }),
      );
    });
}

/** A run's callbacks: its bar follows the episodes, its log lines are printed, its lock is checked. */
export function reportProgress(
  bar: { update(episode: number, status?: string): void },
  json: boolean,
  check: () => void,
) {
  return {
    onEpisode: (e: number) => {
      check();
      bar.update(e);
    },
    onLog: (line: LogLine) => {
      bar.update(line.episode, logStatus(line));
      printLine(json ? JSON.stringify(line) : formatLogLine(line));
    },
  };
}

async function trainCommand(opts: Options, command: Command, check: () => void): Promise<void> {
  if (!opts.resume) refuseExistingRun(opts.out);
  const saved = opts.resume
    ? readRunConfig<ProtoNetConfig & Partial<RecipeRunConfig> & { teacher?: string }>(opts.out)
    : undefined;
  if (saved?.teacher)
    throw new Error(
      `${opts.out}: holds a distillation run; resume it with 'fewshot distill --resume --out ${opts.out}'`,
    );
  if (saved && opts.recipe && saved.recipe !== opts.recipe)
    throw new Error(
      `${opts.out}: --resume continues the run as configured; --recipe ${opts.recipe} (the run has ${saved.recipe ?? 'none'}) would change it: start a new run instead`,
    );
  if (saved?.recipe || (!saved && opts.recipe)) {
    const config = saved
      ? resumedConfig(saved as RecipeRunConfig, explicitSettings(command, opts), opts.out)
      : recipeConfig(findRecipe(opts.recipe), explicitSettings(command, opts));
    return trainRecipeCommand(config, opts, check);
  }
  const config: ProtoNetConfig = saved
    ? resumedConfig(saved, explicitSettings(command, opts), opts.out)
    : trainingConfig(opts);
  // Names resolved here, before the run folder is written: the trainer gets the objects.
  const inputs = await openRun(config);
  const bar = progressBar('train', config.episodes, 'episodes');
  const result = await trainProtoNet(config, opts.out, {
    inputs,
    resume: opts.resume,
    ...reportProgress(bar, opts.json, check),
  });
  bar.stop();
  const s = result.state;
  console.log(
    opts.json
      ? JSON.stringify({ done: true, ...s, seconds: result.seconds })
      : `trained ${s.episode} episodes in ${result.seconds.toFixed(0)} s` +
          (s.bestValAccuracy >= 0
            ? `; best validation ${(100 * s.bestValAccuracy).toFixed(2)}% at episode ${s.bestEpisode}`
            : '') +
          `; best model in ${opts.out}/best`,
  );
}

/** `fewshot train --recipe`: both stages, a progress bar and log lines for each. */
async function trainRecipeCommand(config: RecipeRunConfig, opts: Options, check: () => void): Promise<void> {
  console.log(
    `recipe ${config.recipe}: stage 1 on ${config.split} (best by validation ${config.selectBy} on ${config.valSuite})` +
      (config.finalSplit ? `, stage 2 on ${config.finalSplit}` : ', one stage'),
  );
  let bar: ReturnType<typeof progressBar> | undefined;
  let stage = '';
  const result = await trainRecipe(config, opts.out, {
    resume: opts.resume,
    onStage: (name, episodes) => {
      bar?.stop();
      stage = name;
      bar = progressBar(name, episodes, 'episodes');
    },
    onEpisode: (e) => {
      check();
      bar!.update(e);
    },
    onLog: (line) => {
      bar?.update(line.episode, logStatus(line));
      printLine(opts.json ? JSON.stringify({ stage, ...line }) : `${stage}  ${formatLogLine(line)}`);
    },
  });
  bar?.stop();
  const s = result.select.state;
  // A one-stage recipe's final stage is its selection stage: counted once.
  const twoStage = result.final !== result.select;
  console.log(
    opts.json
      ? JSON.stringify({
          done: true,
          selectedEpisodes: s.bestEpisode,
          bestValLoss: s.bestValLoss,
          bestValAccuracy: s.bestValAccuracy,
          ...(twoStage ? { finalEpisodes: result.final.state.episode } : { episodes: s.episode }),
          seconds: result.select.seconds + (twoStage ? result.final.seconds : 0),
        })
      : `stage 1: best validation loss ${s.bestValLoss?.toFixed(4)} (${(100 * s.bestValAccuracy).toFixed(2)}%) at episode ${s.bestEpisode}` +
          ` of ${s.episode}` +
          (config.finalSplit ? `; stage 2: ${result.final.state.episode} episodes on ${config.finalSplit}` : '') +
          `; model in ${recipePaths(opts.out, config.finalSplit === undefined).model}`,
  );
}
