/**
 * The browser demo (examples/browser, docs/browser.md) in headless Chromium, driven over the DevTools
 * protocol: the page's embeddings of a frozen episode's images against Node's, its queries' nearest
 * support images against the library's evaluation, the pad's downscale against the importer's
 * (sharp's lanczos3), and a character drawn with the mouse classified by the squared distances Node
 * computes for the same pixels. On synthetic glyphs everywhere; on Omniglot where its zips are.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { describeBackend, initBackend } from '../src/backend.js';
import { imageBatch } from '../src/data/dataset.js';
import { resizeGreyImages } from '../src/data/lanczos-batch.js';
import { importOmniglot } from '../src/data/omniglot.js';
import { openDataset } from '../src/data/open.js';
import { PackedDataset } from '../src/data/packed-dataset.js';
import { openSynthetic, syntheticImages } from '../src/data/synthetic.js';
import { openEpisodeSource, resolveSuite } from '../src/episodes/suite.js';
import { embedImages, evaluateEpisodes } from '../src/eval/evaluate.js';
import { negativeSquaredDistances, prototypes } from '../src/losses/protonet.js';
import { loadModel, saveCheckpoint } from '../src/models/checkpoint.js';
import { conv4, embedInference } from '../src/models/conv4.js';
import { isZooModel } from '../src/models/zoo.js';
import { DEFAULT_SCHEDULE, trainEpisodic } from '../src/train/episodic.js';
import { prototypicalObjective } from '../src/train/protonet.js';
import { Chromium, chromiumVersion, findChromium } from '../examples/browser/chromium.js';
import { DEFAULT_MODEL, DemoBuild, buildDemo, drawOnPad, openDemo } from '../examples/browser/build.js';
import { SHARED, requireData, tempDir } from './helpers.js';

/** What the page returns for a drawing (page.ts's DrawingResult). */
interface DrawingResult {
  drawn: number[];
  input: number[];
  embedding: number[];
  distances: number[];
  nearest: number;
}

const TOLERANCE = 1e-5;
const SIDE = 28;

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length, 'lengths').to.equal(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** A Conv-4 of width 8 trained briefly on synthetic glyphs (about a second), saved in a temporary folder. */
async function tinyModel(): Promise<string> {
  const dataset = openSynthetic('train');
  const model = conv4({ inputShape: dataset.imageShape, width: 8, seed: 1 });
  await trainEpisodic({
    model,
    objective: prototypicalObjective(model),
    dataset,
    shape: { way: 5, shot: 1, query: 5 },
    schedule: { ...DEFAULT_SCHEDULE, episodes: 30, logEvery: 30, validateEvery: 30 },
  });
  const dir = path.join(tempDir(), 'tiny');
  await saveCheckpoint(dir, model);
  model.dispose();
  return dir;
}

describe('browser demo (examples/browser) in headless Chromium', function () {
  const binary = findChromium();
  let browser: Chromium;
  let model: tf.LayersModel | undefined;
  /** The demo of a tiny model on an episode of synthetic-test-5w1s. */
  let synthetic: { dir: string; build: DemoBuild };
  const checks: string[] = [];

  before(async function () {
    if (!binary) {
      console.log("      (skipped: no chromium on the PATH (Debian's chromium package; .ci/run installs it))");
      this.skip();
    }
    await initBackend('wasm');
    browser = await Chromium.launch(binary);
    const dir = await tinyModel();
    const build = await buildDemo({
      model: dir,
      suite: 'synthetic-test-5w1s',
      episode: 3,
      out: path.join(tempDir(), 'demo'),
    });
    synthetic = { dir, build };
  });

  after(async () => {
    model?.dispose();
    await browser?.close();
    if (checks.length)
      console.log(`      ${binary && chromiumVersion(binary)}:\n${checks.map((c) => `        ${c}`).join('\n')}`);
  });

  /**
   * Opens the built page and checks it against Node: embeddings (the build's, on the library's
   * backend, within TOLERANCE; on tfjs's cpu backend, which the page runs, float for float), and the
   * queries' nearest support images (the library's evaluation of the episode).
   */
  async function checkEpisode(build: DemoBuild, modelSpec: string, data?: string): Promise<void> {
    await openDemo(browser, build.index);
    const page = (await browser.evaluate<number[][]>('fewshotDemo.embeddings()')).flat();
    const onBackend = maxAbsDifference(page, build.embeddings);
    expect(onBackend, `page vs Node on ${build.backend}`).to.be.at.most(TOLERANCE);

    model?.dispose();
    model = await loadModel(modelSpec);
    const source = await openEpisodeSource(resolveSuite(build.suite), (d, s) => openDataset(d, s, data));
    const episode = source.frozen.episodes[build.episode];
    const refs = [...episode.support, ...episode.query];
    await initBackend('cpu');
    const cpu = embedImages(model, source.dataset, refs);
    const onCpu = maxAbsDifference(page, cpu.dataSync());
    cpu.dispose();
    await initBackend('wasm');
    expect(onCpu, "page vs Node on tfjs's cpu backend").to.equal(0);
    checks.push(
      `${build.suite} episode ${build.episode}, ${refs.length} images x ${page.length / refs.length}: ` +
        `page vs Node max |difference| ${onBackend.toExponential(2)} (${describeBackend(await initBackend('wasm')).split(';')[0]}), ` +
        `${onCpu} (tfjs cpu)`,
    );

    const title = await browser.evaluate<string>('document.getElementById("queries-title").textContent');
    const [, right, total] = /: (\d+) of (\d+) right$/.exec(title) ?? [];
    const evaluated = await evaluateEpisodes(model, source.dataset, [episode]);
    // (The library's accuracy is a float32 mean.)
    expect(Math.fround(Number(right) / Number(total)), title).to.equal(evaluated.accuracies[0]);
  }

  /**
   * Draws an episode image on the pad with the mouse and checks the page's answer against Node: the
   * pad's pixels downscaled as the importer does (sharp), inked, embedded, and compared with the
   * support embeddings by squared Euclidean distance; and the distances as the page shows them.
   */
  async function checkDrawing(build: DemoBuild, image: number): Promise<void> {
    const size = SIDE * SIDE;
    await drawOnPad(browser, build.pixels.subarray(image * size, (image + 1) * size), SIDE);
    const drawing = await browser.evaluate<DrawingResult>('fewshotDemo.settled()');
    expect(drawing, 'a drawing classified').to.not.equal(undefined);
    expect(drawing.drawn.filter((v) => v === 0).length, 'inked pad pixels').to.be.above(100);

    // As an Omniglot drawing becomes a cached image: lanczos3 to 28x28, ink = 255 - grey, then / 255.
    const grey = await resizeGreyImages([Uint8Array.from(drawing.drawn)], [105, 105], [SIDE, SIDE]);
    const cached = new PackedDataset('drawn', {
      source: 'omniglot',
      shape: [SIDE, SIDE, 1],
      classes: [{ id: 'pad', images: ['drawing'] }],
      pixels: grey.map((v) => 255 - v),
    });
    const input = imageBatch(cached, [{ classIndex: 0, imageIndex: 0 }]);
    expect(drawing.input, "the page's input vs the importer's").to.deep.equal(Array.from(input.dataSync()));

    const [way, shot] = [build.way, build.shot];
    const dim = build.embeddings.length / build.imageIds.length;
    const { embedding, distances } = tf.tidy(() => {
      const e = embedInference(model!, input);
      const support = tf.tensor2d(build.embeddings.subarray(0, way * shot * dim), [way * shot, dim]);
      return {
        embedding: e.dataSync(),
        distances: tf.neg(negativeSquaredDistances(e, prototypes(support, way))).dataSync(),
      };
    });
    input.dispose();
    expect(maxAbsDifference(drawing.embedding, embedding), 'drawing embedding vs Node').to.be.at.most(TOLERANCE);
    const scale = Math.max(...distances);
    expect(maxAbsDifference(drawing.distances, distances) / scale, 'distances vs Node').to.be.at.most(TOLERANCE);
    expect(drawing.nearest).to.equal(distances.indexOf(Math.min(...distances)));

    const shown = await browser.evaluate<{ text: string[]; nearest: number }>(
      `({ text: [...document.querySelectorAll('.distance')].map((e) => e.textContent),
          nearest: [...document.querySelectorAll('#support li')].findIndex((e) => e.classList.contains('nearest')) })`,
    );
    expect(shown.nearest).to.equal(drawing.nearest);
    // As the page rounds them: to half a unit of the last digit shown.
    shown.text.forEach((t, c) =>
      expect(Number(t), `distance ${c} shown`).to.be.closeTo(
        drawing.distances[c],
        0.5 * 10 ** -(t.split('.')[1]?.length ?? 0),
      ),
    );
    checks.push(
      `a drawing of image ${build.imageIds[image]}: nearest ${drawing.nearest + 1}, distances ${shown.text.join(', ')}`,
    );
  }

  it("synthetic glyphs: embeddings and query answers equal Node's; a mouse drawing is downscaled as the importer does and classified as Node does", async () => {
    const { dir, build } = synthetic;
    expect(build.label).to.equal(dir);
    await checkEpisode(build, dir);
    await checkDrawing(build, build.way * build.shot + 2);
    // Clearing the pad clears the answer.
    await browser.evaluate('document.getElementById("clear").click()');
    expect(await browser.evaluate('fewshotDemo.settled()')).to.equal(undefined);
  });

  it("the pad's downscale gives sharp's lanczos3 bytes (the importers'), for drawings and any grey image", async () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const glyphs = syntheticImages({ classes: 4, imagesPerClass: 2, size: 105, prefix: 'pad' }).pixels;
    const cases: { pixels: Uint8Array; from: [number, number]; to: [number, number] }[] = [
      ...Array.from({ length: 8 }, (_, i) => ({
        pixels: glyphs.subarray(i * 105 * 105, (i + 1) * 105 * 105).map((v) => (v >= 128 ? 0 : 255)),
        from: [105, 105] as [number, number],
        to: [SIDE, SIDE] as [number, number],
      })),
      ...(
        [
          [105, 105, SIDE, SIDE],
          [84, 84, SIDE, SIDE],
          [60, 50, SIDE, 20],
          [111, 97, 30, 29],
        ] as const
      ).flatMap(([h, w, th, tw]) =>
        [0, 1].map((binary) => ({
          pixels: Uint8Array.from({ length: h * w }, () =>
            binary ? (random() < 0.5 ? 0 : 255) : Math.floor(random() * 256),
          ),
          from: [h, w] as [number, number],
          to: [th, tw] as [number, number],
        })),
      ),
    ];
    await openDemo(browser, synthetic.build.index);
    const got = await browser.evaluate<number[][]>(
      `${JSON.stringify(cases.map((c) => [Array.from(c.pixels), c.from, c.to]))}.map(([p, from, to]) => fewshotDemo.downscale(p, from, to))`,
    );
    for (const [i, c] of cases.entries()) {
      const expected = await resizeGreyImages([c.pixels], c.from, c.to);
      expect(got[i], `case ${i}: ${c.from.join('x')} to ${c.to.join('x')}`).to.deep.equal(Array.from(expected));
    }
  });

  it('Omniglot: an episode of omniglot-test-5w1s, with the zoo teacher once it is there', async function () {
    const zips = path.join(SHARED, 'data', 'omniglot');
    requireData(this, path.join(zips, 'images_evaluation.zip'));
    const cache = path.join(tempDir(), 'omniglot');
    await importOmniglot({ from: zips, out: cache });
    const spec = isZooModel(DEFAULT_MODEL) ? DEFAULT_MODEL : synthetic.dir;
    const build = await buildDemo({ model: spec, data: cache, out: path.join(tempDir(), 'demo') });
    expect(build.suite).to.equal('omniglot-test-5w1s');
    await checkEpisode(build, spec, cache);
    await checkDrawing(build, build.way * build.shot);
  });
});
