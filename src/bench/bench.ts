/**
 * Timing of the standard episode shapes on the current backend: one training step (forward,
 * backward, Adam), one RKD-DA distillation step (the same plus the teacher's embeddings, RKD-D and
 * RKD-A) and the embedding of 1000 images. Median of several runs after 2 s of warm-up.
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageShape } from '../data/dataset.js';
import type { EpisodeShape } from '../episodes/sampler.js';
import { conv4 } from '../models/conv4.js';
import { prototypicalObjective } from '../train/protonet.js';
import { embedImages } from '../eval/evaluate.js';
import { BackendInfo, describeBackend } from '../backend.js';
import { nativeCalls } from '../kernels/native-addon.js';
import { Provenance, provenance } from '../provenance.js';
import { Adam } from '../train/adam.js';
import { trainStep } from '../train/step.js';
import { distillationObjective, rkdWeights } from '../train/distill.js';

export interface BenchShape extends EpisodeShape {
  readonly name: string;
  readonly inputShape: ImageShape;
}

export const BENCH_SHAPES: readonly BenchShape[] = [
  { name: 'omniglot-60w5s5q', way: 60, shot: 5, query: 5, inputShape: [28, 28, 1] },
  { name: 'omniglot-5w1s15q', way: 5, shot: 1, query: 15, inputShape: [28, 28, 1] },
  { name: 'miniimagenet-5w5s15q', way: 5, shot: 5, query: 15, inputShape: [84, 84, 3] },
  // Snell et al.'s miniImageNet training episodes (400 and 480 images).
  { name: 'miniimagenet-20w5s15q', way: 20, shot: 5, query: 15, inputShape: [84, 84, 3] },
  { name: 'miniimagenet-30w1s15q', way: 30, shot: 1, query: 15, inputShape: [84, 84, 3] },
  // CIFAR-FS and FC100 (32x32x3): the test episodes' shapes, which their recipes also train on.
  { name: 'cifar-5w1s15q', way: 5, shot: 1, query: 15, inputShape: [32, 32, 3] },
  { name: 'cifar-5w5s15q', way: 5, shot: 5, query: 15, inputShape: [32, 32, 3] },
];

export interface BenchResult extends EpisodeShape {
  readonly name: string;
  readonly images: number;
  readonly inputShape: ImageShape;
  readonly trainStepMs: number;
  /**
   * A distillation step: proto + 12.5 RKD-D + 25 RKD-A against a teacher Conv-4, its embeddings of
   * the episode's images already cached (as for most images after a run's first few hundred episodes).
   */
  readonly distillStepMs: number;
  /** The same with the teacher embedding every image (a run's first episodes). */
  readonly distillStepUncachedMs: number;
  readonly embed1000Ms: number;
  readonly backend: string;
  readonly threads: number;
  /** Peak resident memory of the process (each shape runs in its own) over training and embedding, MiB. */
  readonly peakRssMB: number;
  /** The same, once the distillation step has run too. */
  readonly distillPeakRssMB: number;
  /** Whether the native kernels ran in the timed steps (not merely were loaded). */
  readonly nativeKernels: boolean;
  readonly provenance: Provenance;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Warm-up lasts this long (one run at least): a small step settles only after ~10 runs. */
const WARM_UP_MS = 2000;

async function timeMs(run: () => Promise<void>, repeats: number): Promise<number> {
  // Warm-up: kernel set-up, weight and optimizer-slot creation, JIT compilation, heap growth.
  const warmUpEnd = performance.now() + WARM_UP_MS;
  do await run();
  while (performance.now() < warmUpEnd);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export async function benchShape(shape: BenchShape, backend: BackendInfo, repeats = 5): Promise<BenchResult> {
  const images = shape.way * (shape.shot + shape.query);
  const model = conv4({ inputShape: shape.inputShape, seed: 0 });
  const teacher = conv4({ inputShape: shape.inputShape, seed: 1 });
  const objective = prototypicalObjective(model);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = new Adam(variables);
  const x = tf.randomUniform([images, ...shape.inputShape], 0, 1, 'float32', 1) as tf.Tensor4D;
  const episode = { index: 0, classes: [], support: [], query: [] };
  try {
    const callsBefore = Object.values(nativeCalls()).reduce((a, b) => a + b, 0);
    // The training loop's own step (reads the loss terms, so it waits for the backend).
    const trainStepMs = await timeMs(async () => {
      trainStep(objective, variables, optimizer, 1e-3, x, episode, shape);
    }, repeats);
    const nativeKernels = Object.values(nativeCalls()).reduce((a, b) => a + b, 0) > callsBefore;
    const [h, w, c] = shape.inputShape;
    const pixels = new Float32Array(h * w * c).fill(0.5);
    const dataset = {
      name: 'bench',
      imageShape: shape.inputShape,
      classIds: ['c'],
      imageCount: () => 1000,
      imageId: () => 'c/0',
      findImage: () => undefined,
      readPixels: (_r: unknown, out: Float32Array, offset: number) => out.set(pixels, offset),
    };
    const refs = Array.from({ length: 1000 }, (_, imageIndex) => ({ classIndex: 0, imageIndex }));
    const embed1000Ms = await timeMs(async () => {
      const e = embedImages(model, dataset, refs);
      await e.data();
      e.dispose();
    }, repeats);
    const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
    const weights = { ...rkdWeights('da'), lambdaKD: 0, temperature: 4 };
    // Without refs the teacher embeds every image; with them, each image once (train/teacher-cache.ts).
    const distillStepUncachedMs = await timeMs(async () => {
      trainStep(distillationObjective(model, teacher, weights), variables, optimizer, 1e-3, x, episode, shape);
    }, repeats);
    const named = {
      ...episode,
      support: Array.from({ length: images }, (_, imageIndex) => ({ classIndex: 0, imageIndex })),
    };
    const cached = distillationObjective(model, teacher, weights);
    const distillStepMs = await timeMs(async () => {
      trainStep(cached, variables, optimizer, 1e-3, x, named, shape);
    }, repeats);
    const distillPeakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
    return {
      ...shape,
      images,
      trainStepMs,
      distillStepMs,
      distillStepUncachedMs,
      embed1000Ms,
      backend: backend.name,
      threads: backend.threads,
      peakRssMB,
      distillPeakRssMB,
      nativeKernels,
      provenance: provenance(describeBackend(backend)),
    };
  } finally {
    x.dispose();
    model.dispose();
    teacher.dispose();
    optimizer.dispose();
  }
}
