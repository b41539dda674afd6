/**
 * What a run reads, resolved from the names in its config: the training split, the validation
 * episodes and, for a distillation, the teacher. The command layer (and a sweep) resolves them here
 * and hands the trainers objects; a library call without them is resolved the same way.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { FewShotDataset, checkSameImageShape } from '../data/dataset.js';
import { openDataset } from '../data/open.js';
import { openEpisodeSource, resolveSuite } from '../episodes/suite.js';
import { loadModel, weightsDigest } from '../models/checkpoint.js';
import { resolveModel } from '../models/zoo.js';
import { checkImageShape } from '../models/conv4.js';
import { Validation, checkRun } from './episodic.js';
import type { ProtoNetConfig } from './protonet.js';

/** The objects a training run works on. */
export interface RunInputs {
  readonly dataset: FewShotDataset;
  readonly validation?: Validation;
}

/** Opens a dataset split (`openDataset`, or a memoised one when many configs are checked at once). */
export type DatasetOpener = (dataset: string, split: string, dataDir?: string) => FewShotDataset;

/** The validation episodes a config names (a suite file, or a shipped suite by name), if any. */
export async function openValidation(
  config: ProtoNetConfig,
  open: DatasetOpener = openDataset,
): Promise<Validation | undefined> {
  if (!config.valSuite) return undefined;
  const source = await openEpisodeSource(resolveSuite(config.valSuite), (d, s) => open(d, s, config.dataDir));
  return { dataset: source.dataset, episodes: source.frozen.episodes };
}

/**
 * What a run of `config` reads (its dataset split and validation suite), opened and checked against
 * the episode shape and each other: everything that can fail before a run folder is written.
 */
export async function openRun(config: ProtoNetConfig, open: DatasetOpener = openDataset): Promise<RunInputs> {
  const dataset = open(config.dataset, config.split, config.dataDir);
  const validation = await openValidation(config, open);
  checkRun(dataset, config, config);
  if (validation) checkSameImageShape(`--val-suite ${config.valSuite}`, validation.dataset, dataset);
  return { dataset, validation };
}

/**
 * sha256 of a teacher's weights (a model folder or a zoo name), undefined when there is none: the
 * teacher's identity, which a distillation records and its resumes and sweep rows are checked against.
 */
export function teacherDigest(teacher: string): string | undefined {
  try {
    return weightsDigest(resolveModel(teacher).dir);
  } catch {
    return undefined; // gone (or never there): the caller says so
  }
}

/**
 * Loads a teacher model folder, frozen, and checks that it takes `dataset`'s images; names the
 * folder in any error (missing, not a readable model, another image shape).
 */
export async function loadTeacher(dir: string, dataset: FewShotDataset): Promise<tf.LayersModel> {
  // A zoo name (no such path) is the zoo's folder, its weights checked against the card by loadModel.
  let where: string;
  try {
    where = resolveModel(dir).dir;
  } catch (err) {
    throw new Error(`--teacher ${(err as Error).message}`, { cause: err });
  }
  if (!fs.existsSync(path.join(where, 'model.json')))
    throw new Error(`--teacher ${dir}: no model there (expected a run's best/ folder with model.json, or a zoo model)`);
  let teacher: tf.LayersModel;
  try {
    teacher = await loadModel(dir);
  } catch (err) {
    throw new Error(`--teacher ${dir}: cannot load the model (${(err as Error).message.split('\n')[0]})`, {
      cause: err,
    });
  }
  try {
    checkImageShape(teacher, dataset.imageShape, `--teacher ${dir} on ${dataset.name}`);
  } catch (err) {
    teacher.dispose();
    throw err;
  }
  teacher.trainable = false;
  return teacher;
}

/** Checks, as a distillation start does, that the teacher folder `dir` loads and takes `dataset`'s images. */
export async function checkTeacher(dir: string, dataset: FewShotDataset): Promise<void> {
  (await loadTeacher(dir, dataset)).dispose();
}
