/**
 * The commands, by name, with their one-line descriptions: `fewshot --help` lists them without
 * loading any (a command's module imports TensorFlow.js, a second of start-up); the one named on
 * the command line is loaded and registered in full.
 */
import type { Command } from 'commander';

export interface CommandEntry {
  readonly description: string;
  /** Loads the command's module and returns its register function. */
  readonly load: () => Promise<(program: Command) => void>;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  demo: {
    description:
      'the main job: ProtoNet teacher and its RKD self-distilled student on synthetic glyphs, compared on frozen test episodes',
    load: async () => (await import('./demo.js')).registerDemoCommand,
  },
  data: {
    description: 'import datasets into packed caches and inspect them',
    load: async () => (await import('./data.js')).registerDataCommands,
  },
  episodes: {
    description: 'frozen test episodes: suites and manifests',
    load: async () => (await import('./episodes.js')).registerEpisodeCommands,
  },
  train: {
    description: 'train a Prototypical Network (Conv-4) on episodes of a dataset split',
    load: async () => (await import('./train.js')).registerTrainCommand,
  },
  distill: {
    description:
      'train students against a teacher: prototypical loss + lambda_D RKD-D + lambda_A RKD-A (+ lambda_KD KD)',
    load: async () => (await import('./distill.js')).registerDistillCommand,
  },
  eval: {
    description: 'evaluate a checkpoint on frozen episodes: mean accuracy with its 95% confidence interval',
    load: async () => (await import('./eval.js')).registerEvalCommand,
  },
  models: {
    description:
      'the model zoo: trained models by name (list, show a card, add a run), loadable wherever a model is taken',
    load: async () => (await import('./models.js')).registerModelsCommand,
  },
  compare: {
    description: 'paired comparison of per-episode accuracies (from `fewshot eval --out`) on the same suite',
    load: async () => (await import('./compare.js')).registerCompareCommand,
  },
  bench: {
    description: 'time one training step and the embedding of 1000 images for the standard episode shapes',
    load: async () => (await import('./bench.js')).registerBenchCommand,
  },
  sweep: {
    description:
      'train (or distil) and evaluate every point of a sweep spec, appending one CSV row per (point, suite); a re-run skips what is done',
    load: async () => (await import('./sweep.js')).registerSweepCommand,
  },
  report: {
    description:
      'a sweep CSV -> report.md (accuracy per point, and across seeds), accuracy and training-curve plots (SVG, PNG)',
    load: async () => (await import('./report.js')).registerReportCommand,
  },
  plot: {
    description:
      'training curves of runs (each loss term, accuracy, validation, learning rate; stages and generations marked) as SVG and PNG',
    load: async () => (await import('./plot.js')).registerPlotCommand,
  },
  doctor: {
    description: 'which backend runs here and why: TensorFlow packages, CUDA/cuDNN, native kernels, versions',
    load: async () => (await import('./doctor.js')).registerDoctorCommand,
  },
};
