/**
 * Distillation inside each episode: a student is trained with the prototypical loss plus RKD-D,
 * RKD-A and KD terms against a frozen teacher's embeddings of the same images, over one or more
 * generations (generation g+1's teacher is generation g's best student).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../backend.js';
import { kdLoss } from '../losses/kd.js';
import { prototypicalLoss } from '../losses/protonet.js';
import { rkdAngle, rkdDistance } from '../losses/rkd.js';
import { hasCheckpoint } from '../models/checkpoint.js';
import { conv4, embedTraining } from '../models/conv4.js';
import { TeacherCache } from './teacher-cache.js';
import { TrainResult, trainEpisodic } from './episodic.js';
import type { Objective } from './step.js';
import { ProtoNetConfig, RunOptions } from './protonet.js';
import { RunInputs, loadTeacher, openRun, teacherDigest } from './inputs.js';
import { runPaths, writeRunConfig } from './run-folder.js';

export interface DistillWeights {
  /** Weight of RKD-D (25 alone in the RKD literature). */
  readonly lambdaD: number;
  /** Weight of RKD-A (50 alone; 12.5 and 25 is a common choice when both are on). */
  readonly lambdaA: number;
  /** Weight of KD on the query-vs-prototype distributions. */
  readonly lambdaKD: number;
  readonly temperature: number;
}

export interface DistillConfig extends ProtoNetConfig, DistillWeights {
  /** The teacher's model folder (a run's best/). */
  readonly teacher: string;
  /** sha256 of the teacher's weights.bin, recorded at the start and checked on resume. */
  readonly teacherWeights?: string;
  /** Generations of self-distillation, each teaching the next. */
  readonly generations: number;
}

/** The RKD literature's weights for a choice of relations: each alone, or both at half weight. */
export function rkdWeights(relations: 'none' | 'd' | 'a' | 'da'): Pick<DistillWeights, 'lambdaD' | 'lambdaA'> {
  return {
    none: { lambdaD: 0, lambdaA: 0 },
    d: { lambdaD: 25, lambdaA: 0 },
    a: { lambdaD: 0, lambdaA: 50 },
    da: { lambdaD: 12.5, lambdaA: 25 },
  }[relations];
}

/**
 * Prototypical loss + weighted RKD-D, RKD-A, KD against the teacher; every term logged. With
 * `cacheTeacher` false (augmented images: an image is never seen twice) the teacher embeds every image.
 */
export function distillationObjective(
  student: tf.LayersModel,
  teacher: tf.LayersModel,
  w: DistillWeights,
  cacheTeacher = true,
): Objective {
  const teacherCache = new TeacherCache(teacher);
  return (images, episode, shape) => {
    const supportCount = shape.way * shape.shot;
    const split = (e: tf.Tensor2D) =>
      [tf.slice(e, [0, 0], [supportCount, -1]), tf.slice(e, [supportCount, 0], [-1, -1])] as tf.Tensor2D[];
    const s = embedTraining(student, images);
    // The teacher embeds in inference mode (its variables are not among those trained), each image
    // once per run, and only when some term needs it: a same-budget baseline (every weight 0) runs
    // the same code for free.
    let teacherEmbeddings: tf.Tensor2D | undefined;
    const t = () =>
      (teacherEmbeddings ??= teacherCache.embed(images, cacheTeacher ? [...episode.support, ...episode.query] : []));
    const proto = prototypicalLoss(...(split(s) as [tf.Tensor2D, tf.Tensor2D]), shape.way);
    const terms: Record<string, tf.Scalar> = { proto: proto.loss, accuracy: proto.accuracy };
    let loss: tf.Scalar = proto.loss;
    const add = (name: string, weight: number, term: () => tf.Scalar) => {
      if (weight === 0) return;
      terms[name] = term();
      loss = tf.add(loss, tf.mul(weight, terms[name]));
    };
    add('rkdD', w.lambdaD, () => rkdDistance(s, t()));
    add('rkdA', w.lambdaA, () => rkdAngle(s, t()));
    add('kd', w.lambdaKD, () => {
      const teacherLogits = prototypicalLoss(...(split(t()) as [tf.Tensor2D, tf.Tensor2D]), shape.way).logits;
      return kdLoss(proto.logits, teacherLogits, w.temperature);
    });
    return { loss, terms };
  };
}

export const generationDir = (dir: string, generation: number) => path.join(dir, `gen${generation}`);

export interface DistillOptions extends RunOptions {
  /** Before each generation, finished ones included (a resumed run skips their episodes). */
  readonly onGeneration?: (generation: number) => void;
  /** What the run reads (else those its config names, opened by `openRun`). */
  readonly inputs?: RunInputs;
  /** The first generation's teacher, loaded by `loadTeacher` (else from `config.teacher`); disposed here. */
  readonly teacher?: tf.LayersModel;
}

/**
 * Distils `config.teacher` into fresh students, generation after generation, under `dir/gen<g>/`.
 * Re-running resumes: finished generations are kept, the unfinished one continues from its checkpoint.
 */
export async function distill(
  config: DistillConfig,
  dir: string,
  options: DistillOptions = {},
): Promise<TrainResult[]> {
  const { onGeneration, inputs, teacher: given, ...run } = options;
  await ensureBackend();
  const { dataset, validation } = inputs ?? (await openRun(config));
  // The first teacher must load and fit the data before the run folder exists.
  let first = given ?? (options.resume ? undefined : await loadTeacher(config.teacher, dataset));
  // The teacher's identity: a resumed run must go on distilling from the weights it started with.
  const teacherWeights = teacherDigest(config.teacher);
  if (options.resume && config.teacherWeights && teacherWeights !== config.teacherWeights) {
    first?.dispose();
    throw new Error(
      `${dir}: its teacher ${config.teacher} changed since the run started (weights sha256 ${teacherWeights?.slice(0, 12) ?? 'gone'}, ` +
        `recorded ${config.teacherWeights.slice(0, 12)}): resuming would distil from two teachers`,
    );
  }
  fs.mkdirSync(dir, { recursive: true });
  if (!options.resume) writeRunConfig(dir, { ...config, teacherWeights });
  const results: TrainResult[] = [];
  for (let g = 1; g <= config.generations; g++) {
    onGeneration?.(g);
    const genDir = generationDir(dir, g);
    const teacher =
      first ?? (await loadTeacher(g === 1 ? config.teacher : runPaths(generationDir(dir, g - 1)).best, dataset));
    first = undefined;
    // Generation 1 starts from the weights a ProtoNet run of the same seed starts from: a fair baseline.
    const student = conv4({ inputShape: dataset.imageShape, width: config.width, seed: config.seed + g - 1 });
    try {
      results.push(
        await trainEpisodic({
          model: student,
          objective: distillationObjective(student, teacher, config, (config.augment ?? 'none') === 'none'),
          dataset,
          shape: config,
          schedule: config,
          validation,
          augment: config.augment,
          dir: genDir,
          ...run,
          resume: hasCheckpoint(runPaths(genDir).checkpoint),
        }),
      );
    } finally {
      student.dispose();
      teacher.dispose();
    }
  }
  return results;
}
