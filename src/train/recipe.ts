/**
 * Named recipes: a published training protocol as settings plus stages, run by
 * `fewshot train --recipe NAME` (the teacher) and `fewshot distill --recipe NAME` (students).
 *
 * The Snell et al. 2017 Omniglot protocol, as in the official code (run_train.py, then
 * run_trainval.py): stage 1 trains on the train split, validates on 5-way episodes at the model's
 * shot and keeps the model of lowest validation loss, stopping on patience; stage 2 retrains from
 * scratch on trainval (train + val classes) for the episode count stage 1 selected, and that model
 * is the one evaluated. Students get the teacher's stage-2 budget on trainval, with no validation
 * (the val classes are training classes there), so every model of a comparison sees the same
 * number of episodes of the same split.
 *
 * One-stage recipes (CIFAR-FS, FC100, as MetaOptNet and the papers it quotes train them) keep the
 * stage-1 model of best validation accuracy; their students train on the same split with the same
 * validation for the recipe's student budget (else the episode count the teacher's selection chose),
 * and keep their own best.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasCheckpoint } from '../models/checkpoint.js';
import { isZooModel, readCard } from '../models/zoo.js';
import { TrainResult } from './episodic.js';
import { ProtoNetConfig, RunOptions, trainProtoNet } from './protonet.js';
import { openRun } from './inputs.js';
import { readRunConfig, readRunState, runPaths, writeRunConfig } from './run-folder.js';

export interface Recipe {
  readonly name: string;
  readonly description: string;
  /** Stage 1 (model selection): split, validation suite, schedule, patience. */
  readonly config: ProtoNetConfig;
  /** Stage 2 retrains from scratch on this split for stage 1's best episode count; absent: one stage. */
  readonly finalSplit?: string;
  /**
   * A one-stage recipe's student budget and schedule (students and their same-budget baselines), when
   * it is not the teacher's selected episode count.
   */
  readonly students?: Pick<ProtoNetConfig, 'episodes' | 'lrHalveEvery'>;
}

function snellOmniglot(shot: 1 | 5): Recipe {
  return {
    name: `snell2017-omniglot-${shot}shot`,
    description:
      `Prototypical Networks on Omniglot, ${shot}-shot model (Snell et al. 2017): Conv-4 64, 60-way ${shot}-shot 5-query ` +
      `episodes, Adam 1e-3 halved every 2000 episodes, best by 5-way ${shot}-shot validation loss, then retrained on trainval`,
    config: {
      dataset: 'omniglot',
      split: 'train',
      valSuite: `omniglot-val-5w${shot}s`,
      way: 60,
      shot,
      query: 5,
      width: 64,
      lr: 1e-3,
      lrHalveEvery: 2000,
      // Validation every 500 episodes; 10 without a lower loss (5000 episodes, two or three lr halvings,
      // after which the lr is too small to change the model) stop the stage. 40,000 is only a cap.
      episodes: 40000,
      validateEvery: 500,
      patience: 10,
      selectBy: 'loss',
      logEvery: 50,
      seed: 0,
    },
    finalSplit: 'trainval',
  };
}

/**
 * A Conv-4 ProtoNet on CIFAR-FS or FC100 (docs/paper-protocol.md#cifar-fs-and-fc100 says where each
 * setting comes from): 5-way episodes at the test shot with 15 queries (as tested), Adam 1e-3 halved
 * every 10,000 episodes (PaddleFSL's Conv-4 ProtoNet, which reproduces the published numbers; Snell
 * et al.'s halving every 2000 stalls 5-way training near 40% validation accuracy), random crop and
 * flip (MetaOptNet's CIFAR augmentation), the model of best 5-way validation accuracy (MetaOptNet,
 * R2D2). Students and their baselines get 6000 episodes, the lr halved every 2000: a budget that
 * five seeds of three arms on four benchmarks can afford on two cores.
 */
function protoNetCifar(dataset: 'cifar-fs' | 'fc100', shot: 1 | 5): Recipe {
  const title = dataset === 'cifar-fs' ? 'CIFAR-FS' : 'FC100';
  return {
    name: `protonet-${dataset}-${shot}shot`,
    description:
      `Prototypical Networks on ${title}, ${shot}-shot model: Conv-4 64, 5-way ${shot}-shot 15-query episodes with ` +
      `random crop (padding 4) and flip, Adam 1e-3 halved every 10,000 episodes, best by 5-way ${shot}-shot validation accuracy`,
    config: {
      dataset,
      split: 'train',
      valSuite: `${dataset}-val-5w${shot}s`,
      way: 5,
      shot,
      query: 15,
      width: 64,
      augment: 'crop-flip',
      lr: 1e-3,
      lrHalveEvery: 10000,
      // Five validations without a better one (10,000 episodes, one lr halving) stop the run.
      episodes: 60000,
      validateEvery: 2000,
      patience: 5,
      selectBy: 'accuracy',
      logEvery: 50,
      seed: 0,
    },
    students: { episodes: 6000, lrHalveEvery: 2000 },
  };
}

export const RECIPES: Readonly<Record<string, Recipe>> = Object.fromEntries(
  [
    snellOmniglot(1),
    snellOmniglot(5),
    protoNetCifar('cifar-fs', 1),
    protoNetCifar('cifar-fs', 5),
    protoNetCifar('fc100', 1),
    protoNetCifar('fc100', 5),
  ].map((r) => [r.name, r]),
);

export function findRecipe(name: string): Recipe {
  const recipe = RECIPES[name];
  if (!recipe) throw new Error(`--recipe: unknown recipe '${name}' (one of ${Object.keys(RECIPES).join(', ')})`);
  return recipe;
}

/**
 * A recipe run folder: config.json (the recipe and its settings), select/ and final/ (training
 * runs; a one-stage recipe has select/ only).
 */
export const recipePaths = (dir: string, oneStage = false) => ({
  select: path.join(dir, 'select'),
  final: path.join(dir, oneStage ? 'select' : 'final'),
  /** The model a recipe run delivers. */
  model: runPaths(path.join(dir, oneStage ? 'select' : 'final')).best,
});

export interface RecipeRunConfig extends ProtoNetConfig {
  readonly recipe: string;
  readonly finalSplit?: string;
}

/** The recipe's settings with some replaced (e.g. another seed). */
export function recipeConfig(recipe: Recipe, overrides: Partial<ProtoNetConfig> = {}): RecipeRunConfig {
  const config = { ...recipe.config, ...overrides };
  return { ...config, recipe: recipe.name, finalSplit: recipe.finalSplit };
}

/**
 * Stage 2's settings, which students also train by: the final split, the selected budget, no
 * validation; for a one-stage recipe, the same split and validation for the selected budget.
 */
export function finalStageConfig(config: RecipeRunConfig, episodes: number): ProtoNetConfig {
  const { recipe, finalSplit, ...rest } = config;
  if (finalSplit === undefined) {
    const { episodes: _budget, ...schedule } = RECIPES[recipe]?.students ?? {};
    return { ...rest, ...schedule, episodes, patience: 0 };
  }
  // Without validation the interval only paces checkpoints: frequent, since students' steps are slow.
  const checkpointEvery =
    [100, 50].find((n) => episodes % n === 0 && n % config.logEvery === 0) ?? config.validateEvery;
  return { ...rest, split: finalSplit, valSuite: undefined, episodes, patience: 0, validateEvery: checkpointEvery };
}

export interface RecipeResult {
  readonly select: TrainResult;
  readonly final: TrainResult;
}

/**
 * Runs both stages of a recipe into `dir`. Re-running with `resume` continues whichever stage
 * was unfinished; each stage resumes bit-identically from its last checkpoint.
 */
export async function trainRecipe(
  config: RecipeRunConfig,
  dir: string,
  options: RunOptions & { onStage?: (stage: 'select' | 'final', episodes: number) => void } = {},
): Promise<RecipeResult> {
  const { recipe: _recipe, finalSplit: _finalSplit, ...selectConfig } = config;
  // The first stage's inputs open before anything is written: a failed start leaves no run folder.
  const inputs = await openRun(selectConfig);
  if (!options.resume) writeRunConfig(dir, config);
  const paths = recipePaths(dir);
  const stage = (stageDir: string) => ({ ...options, resume: hasCheckpoint(runPaths(stageDir).checkpoint) });
  options.onStage?.('select', selectConfig.episodes);
  const select = await trainProtoNet(selectConfig, paths.select, { ...stage(paths.select), inputs });
  if (select.state.bestEpisode <= 0)
    throw new Error(`${paths.select}: no validated model to take the episode count from`);
  if (config.finalSplit === undefined) return { select, final: select };
  options.onStage?.('final', select.state.bestEpisode);
  const final = await trainProtoNet(
    finalStageConfig(config, select.state.bestEpisode),
    paths.final,
    stage(paths.final),
  );
  return { select, final };
}

/** The model and the budget a recipe run hands to its students. */
export function recipeTeacher(dir: string): { model: string; episodes: number; config: RecipeRunConfig } {
  // A zoo teacher: its card holds the run's settings and the budget its run handed to students.
  if (isZooModel(dir)) {
    const card = readCard(dir);
    const zooConfig = card.config as unknown as RecipeRunConfig;
    if (!card.recipe || zooConfig.recipe !== card.recipe || card.training.studentEpisodes === undefined)
      throw new Error(`${dir}: the zoo model was not trained by a recipe (its card names none)`);
    return { model: dir, episodes: card.training.studentEpisodes, config: zooConfig };
  }
  const config = readRunConfig<RecipeRunConfig>(dir);
  if (!config.recipe) throw new Error(`${dir}: not a recipe run (its config.json names no recipe)`);
  const oneStage = config.finalSplit === undefined;
  const paths = recipePaths(dir, oneStage);
  if (oneStage) {
    // The budget is the episode of the selected model; the run must have ended (stopped or capped).
    const state = readRunState(paths.select);
    if (!state || !(state.stopped || state.episode >= config.episodes) || state.bestEpisode <= 0)
      throw new Error(`${dir}: the recipe run has not finished (no final state in ${paths.select})`);
    return { model: paths.model, episodes: RECIPES[config.recipe]?.students?.episodes ?? state.bestEpisode, config };
  }
  if (!fs.existsSync(path.join(paths.final, 'config.json')) || !hasCheckpoint(paths.model)) {
    throw new Error(`${dir}: the recipe run has not finished its final stage (no ${paths.model})`);
  }
  const final = readRunConfig<ProtoNetConfig>(paths.final);
  return { model: paths.model, episodes: final.episodes, config };
}
