// Relational Knowledge Distillation inside each episode: a student learns the prototypical loss plus
// RKD-D and RKD-A against a frozen teacher's embeddings, then both are compared episode by episode.
//   node dist/examples/distill.js [episodes]
import { initBackend } from 'fewshot-rkd';
import { openDataset } from 'fewshot-rkd/data';
import { openEpisodeSource, resolveSuite } from 'fewshot-rkd/episodes';
import { comparePaired, evaluateEpisodes } from 'fewshot-rkd/eval';
import { conv4 } from 'fewshot-rkd/models';
import {
  DEFAULT_SCHEDULE,
  distillationObjective,
  prototypicalObjective,
  rkdWeights,
  trainEpisodic,
} from 'fewshot-rkd/train';
import type { EpisodeShape } from 'fewshot-rkd/episodes';
import type { TrainSchedule } from 'fewshot-rkd/train';

const episodes = Number(process.argv[2] ?? 300);
await initBackend();
const train = openDataset('synthetic', 'train');
const shape: EpisodeShape = { way: 10, shot: 5, query: 5 };
const schedule: TrainSchedule = { ...DEFAULT_SCHEDULE, episodes, logEvery: episodes };

const teacher = conv4({ inputShape: train.imageShape, width: 32, seed: 0 });
await trainEpisodic({ model: teacher, objective: prototypicalObjective(teacher), dataset: train, shape, schedule });

// lambda_D 12.5 and lambda_A 25 (`rkdWeights('da')`): the student is a fresh Conv-4 of the same size.
const student = conv4({ inputShape: train.imageShape, width: 32, seed: 1 });
const weights = { ...rkdWeights('da'), lambdaKD: 0, temperature: 4 };
await trainEpisodic({
  model: student,
  objective: distillationObjective(student, teacher, weights),
  dataset: train,
  shape,
  schedule,
});

const suite = await openEpisodeSource(resolveSuite('synthetic-test-5w1s'), openDataset);
const [t, s] = [
  await evaluateEpisodes(teacher, suite.dataset, suite.frozen.episodes),
  await evaluateEpisodes(student, suite.dataset, suite.frozen.episodes),
];
const episodesOf = (r: typeof t) => ({
  episodeIndices: suite.frozen.episodes.map((e) => e.index),
  accuracies: r.accuracies,
});
const c = comparePaired(episodesOf(t), episodesOf(s));
const pct = (x: number) => (100 * x).toFixed(2);
console.log(`teacher ${pct(c.a.mean)} +- ${pct(c.a.ci95)}, student ${pct(c.b.mean)} +- ${pct(c.b.ci95)}`);
console.log(
  `student - teacher (paired): ${pct(c.difference.mean)} +- ${pct(c.difference.ci95)}; episodes won/lost/tied ${c.won}/${c.lost}/${c.tied}`,
);
