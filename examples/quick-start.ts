// Train a ProtoNet on synthetic glyphs and evaluate it on a frozen test suite, with a 95% interval.
//   node dist/examples/quick-start.js [episodes]
import {
  DEFAULT_SCHEDULE,
  conv4,
  evaluateEpisodes,
  initBackend,
  openDataset,
  openEpisodeSource,
  prototypicalObjective,
  resolveSuite,
  trainEpisodic,
} from 'fewshot-rkd';

const episodes = Number(process.argv[2] ?? 300);
console.log(`backend: ${(await initBackend()).name}`);

const train = openDataset('synthetic', 'train'); // 256 classes of procedural glyphs, 28x28
const model = conv4({ inputShape: train.imageShape, width: 32, seed: 0 });
await trainEpisodic({
  model,
  objective: prototypicalObjective(model),
  dataset: train,
  shape: { way: 10, shot: 5, query: 5 },
  schedule: { ...DEFAULT_SCHEDULE, episodes, logEvery: 50 },
  onLog: (line) => console.log(`episode ${line.episode}: loss ${line.loss.toFixed(3)}`),
});

// The same 600 frozen 5-way 1-shot episodes every run, and every framework that reads the manifest, sees.
const suite = await openEpisodeSource(resolveSuite('synthetic-test-5w1s'), openDataset);
const result = await evaluateEpisodes(model, suite.dataset, suite.frozen.episodes);
console.log(
  `${suite.name}: ${(100 * result.mean).toFixed(2)}% +- ${(100 * result.ci95).toFixed(2)} (${result.n} episodes)`,
);
