/** `fewshot-rkd/train`: the episodic training loop, ProtoNet training, distillation and recipes. */
export { trainEpisodic, DEFAULT_SCHEDULE } from './episodic.js';
export type { TrainRun, TrainSchedule, TrainState, TrainResult, Validation } from './episodic.js';
export { trainStep, DivergedError } from './step.js';
export type { Objective } from './step.js';
export { runPaths, readRunConfig, writeRunConfig } from './run-folder.js';
export type { LogLine } from './run-folder.js';
export { trainProtoNet, prototypicalObjective, DEFAULT_PROTONET } from './protonet.js';
export type { ProtoNetConfig, RunOptions } from './protonet.js';
export { openRun, openValidation, loadTeacher, checkTeacher } from './inputs.js';
export type { RunInputs, DatasetOpener } from './inputs.js';
export { distill, distillationObjective, rkdWeights, generationDir } from './distill.js';
export type { DistillConfig, DistillOptions, DistillWeights } from './distill.js';
export { RECIPES, findRecipe, recipeConfig, trainRecipe } from './recipe.js';
export type { Recipe, RecipeRunConfig, RecipeResult } from './recipe.js';
export { Adam } from './adam.js';
export type { AdamOptions, NamedTensor } from './adam.js';
