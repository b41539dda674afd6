/** `fewshot distill`: RKD (and KD) self-distillation or distillation into a narrower student. */
import { Command, Option } from 'commander';
import { COMMANDS } from './commands.js';
import { withRunFolder } from '../lock.js';
import { DistillConfig, distill, rkdWeights } from '../train/distill.js';
import { loadTeacher, openRun } from '../train/inputs.js';
import { divergedRun, readRunConfig, refuseExistingRun } from '../train/run-folder.js';
import { backendOption, nonNegativeNumber, positiveInt, startBackend } from './options.js';
import { generationsBar } from './progress.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Options = Record<string, any>;
import { explicitSettings, reportProgress, resumedConfig, trainingOptions, trainingConfig } from './train.js';
import { findRecipe, finalStageConfig, recipeConfig, recipeTeacher } from '../train/recipe.js';

export function registerDistillCommand(program: Command): void {
  const command = program
    .command('distill')
    .description(COMMANDS.distill.description)
    .requiredOption('--out <dir>', 'run folder: config.json and gen<g>/ (each a training run folder)')
    .option('--resume', 'continue the run in --out (its config.json is used)')
    .option(
      '--teacher <dir>',
      "teacher model folder (a run's best/) or zoo model name, or with --recipe the teacher's recipe run folder or zoo model",
    )
    .addOption(
      new Option(
        '--rkd <relations>',
        "which RKD terms, with the literature's weights: d (25), a (50), da (12.5 and 25), none",
      )
        .choices(['none', 'd', 'a', 'da'])
        .default('da'),
    )
    .option('--lambda-d <x>', 'override the RKD-D weight', nonNegativeNumber('--lambda-d'))
    .option('--lambda-a <x>', 'override the RKD-A weight', nonNegativeNumber('--lambda-a'))
    .option(
      '--lambda-kd <x>',
      'weight of KD on the query-vs-prototype distributions',
      nonNegativeNumber('--lambda-kd'),
      0,
    )
    .option('--temperature <x>', 'KD temperature', nonNegativeNumber('--temperature'), 4)
    .option('--generations <n>', 'generations: each best student teaches the next', positiveInt('--generations'), 1);
  trainingOptions(command)
    .addOption(backendOption())
    .action(async (opts, command: Command) => {
      await startBackend(opts.backend);
      // One process per run folder, from before it is looked at to the end.
      await withRunFolder(opts.out, (check) =>
        distillCommand(opts, command, check).catch((err: unknown) => {
          throw divergedRun(opts.out, err);
        }),
      );
    });
}

async function distillCommand(opts: Options, command: Command, check: () => void): Promise<void> {
  let config: DistillConfig;
  if (opts.resume) {
    config = readRunConfig<DistillConfig>(opts.out);
    if (!config.teacher)
      throw new Error(
        `${opts.out}: holds a training run, not a distillation; resume it with 'fewshot train --resume --out ${opts.out}'`,
      );
    config = resumedConfig(config, explicitSettings(command, opts), opts.out);
  } else {
    refuseExistingRun(opts.out);
    if (!opts.teacher) throw new Error('--teacher is required (unless --resume)');
    const weights = rkdWeights(opts.rkd);
    // With a recipe the student trains on the recipe's final split for the teacher's final budget.
    let settings = trainingConfig(opts);
    let teacher = opts.teacher as string;
    if (opts.recipe) {
      const recipe = findRecipe(opts.recipe);
      const given = recipeTeacher(opts.teacher);
      if (given.config.recipe !== recipe.name)
        throw new Error(`--teacher ${opts.teacher}: trained by recipe ${given.config.recipe}, not ${recipe.name}`);
      const overrides = explicitSettings(command, opts);
      settings = finalStageConfig(recipeConfig(recipe, overrides), overrides.episodes ?? given.episodes);
      teacher = given.model;
    }
    config = {
      ...settings,
      teacher,
      generations: opts.generations,
      lambdaD: opts.lambdaD ?? weights.lambdaD,
      lambdaA: opts.lambdaA ?? weights.lambdaA,
      lambdaKD: opts.lambdaKd,
      temperature: opts.temperature,
    };
  }
  console.log(
    `distilling: loss = proto + ${config.lambdaD} RKD-D + ${config.lambdaA} RKD-A + ${config.lambdaKD} KD (T ${config.temperature}); ` +
      `student width ${config.width}, ${config.generations} generation(s)`,
  );
  // Names resolved here, before the run folder is written: the trainer gets the objects.
  const inputs = await openRun(config);
  const teacher = await loadTeacher(config.teacher, inputs.dataset);
  const bar = generationsBar('distill', config.episodes, config.generations);
  const results = await distill(config, opts.out, {
    inputs,
    teacher,
    resume: opts.resume,
    onGeneration: bar.generation,
    ...reportProgress(bar, opts.json, check),
  });
  bar.stop();
  results.forEach((r, g) =>
    console.log(
      `generation ${g + 1}: ${r.state.episode} episodes` +
        (r.state.bestValAccuracy >= 0
          ? `, best validation ${(100 * r.state.bestValAccuracy).toFixed(2)}% at episode ${r.state.bestEpisode}`
          : '') +
        `; best model in ${opts.out}/gen${g + 1}/best`,
    ),
  );
}
