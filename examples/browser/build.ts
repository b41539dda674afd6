/**
 * Builds the browser demo (docs/browser.md): a folder that opens from disk (file://) in a browser,
 * holding index.html, page.js (page.ts compiled), tf.min.js (TensorFlow.js's browser bundle, as
 * installed) and demo-data.js: one frozen episode's images as the model takes them (imageBatch),
 * the model as the library loads it (a zoo name's weights checked against its card), and the Node
 * embeddings of the episode's images, which the page compares with its own.
 *
 *   npm run browser-demo -- [--model NAME|DIR] [--suite NAME|FILE] [--episode N] [--data DIR]
 *                           [--out DIR] [--label TEXT] [--screenshot FILE.png] [--draw-query N]
 *
 * With --screenshot, headless Chromium opens the built page, draws one of the episode's queries on the
 * pad with the mouse, and saves a PNG of the page.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import sharp from 'sharp';
import ts from 'typescript';
import { writeFileAtomic, writeFolderAtomic } from '../../src/atomic.js';
import { describeBackend, ensureBackend, initBackend } from '../../src/backend.js';
import { imageBatch } from '../../src/data/dataset.js';
import { openDataset } from '../../src/data/open.js';
import { openEpisodeSource, readSuite, resolveSuite } from '../../src/episodes/suite.js';
import { embedImages } from '../../src/eval/evaluate.js';
import { loadModel } from '../../src/models/checkpoint.js';
import { nonNegativeInt } from '../../src/cli/options.js';
import { checkImageShape } from '../../src/models/conv4.js';
import { readCard, resolveModel } from '../../src/models/zoo.js';
import { codeLabel, PACKAGE_ROOT } from '../../src/provenance.js';
import { readRunConfig, readRunState } from '../../src/train/run-folder.js';
import { Chromium, chromiumVersion, findChromium } from './chromium.js';

/** The Omniglot teacher of the paper's recipe, once it is in the model zoo (docs/models.md). */
export const DEFAULT_MODEL = 'snell2017-omniglot-1shot';
export const DEFAULT_SUITE = 'omniglot-test-5w1s';
/** This folder's sources (page.ts, index.html, tsconfig.json), in the clone. */
export const SOURCE = path.join(PACKAGE_ROOT, 'examples', 'browser');
export const DEFAULT_OUT = path.join(SOURCE, 'dist');
/** The pad draws greyscale characters of this size (Omniglot's cache, and the synthetic glyphs). */
const IMAGE_SHAPE = [28, 28, 1] as const;

export interface BuildOptions {
  /** A zoo name or a model folder (default DEFAULT_MODEL). */
  readonly model?: string;
  /** A suite name or JSON file (default DEFAULT_SUITE). */
  readonly suite?: string;
  /** The episode's index in the suite (default 0). */
  readonly episode?: number;
  /** The dataset's cache folder (default `<cache root>/<dataset>`). */
  readonly data?: string;
  readonly out?: string;
  /** What the page calls the model (default: its zoo name, or the folder as given). */
  readonly label?: string;
}

export interface DemoBuild {
  /** The built folder, and its index.html. */
  readonly out: string;
  readonly index: string;
  readonly label: string;
  readonly suite: string;
  readonly episode: number;
  readonly imageIds: readonly string[];
  /** The episode's images as the model takes them ([n, 28, 28, 1] in [0, 1]): support, then query. */
  readonly pixels: Float32Array;
  /** Their embeddings in Node ([n, D]), on `backend`. */
  readonly embeddings: Float32Array;
  readonly backend: string;
  readonly way: number;
  readonly shot: number;
}

/** Builds the demo folder; the backend is the library's (ensureBackend), on which the Node embeddings are computed. */
export async function buildDemo(options: BuildOptions = {}): Promise<DemoBuild> {
  const spec = options.model ?? DEFAULT_MODEL;
  const suiteFile = resolveSuite(options.suite ?? DEFAULT_SUITE);
  const episodeIndex = options.episode ?? 0;
  const out = path.resolve(options.out ?? DEFAULT_OUT);
  // Before anything slow: an unknown name (the Omniglot teacher before it is in the zoo) fails here.
  const { zooName, dir } = resolveModel(spec);
  const page = compilePage();
  const backend = describeBackend(await ensureBackend());

  const suite = readSuite(suiteFile);
  const source = await openEpisodeSource(suiteFile, (dataset, split) => openDataset(dataset, split, options.data));
  const { dataset } = source;
  if (dataset.imageShape.join('x') !== IMAGE_SHAPE.join('x'))
    throw new Error(
      `${suite.name}: ${dataset.name} has ${dataset.imageShape.join('x')} images; the demo's pad draws ${IMAGE_SHAPE.join('x')} greyscale characters`,
    );
  const episode = source.frozen.episodes.find((e) => e.index === episodeIndex);
  if (!episode) throw new Error(`--episode ${episodeIndex}: ${suite.name} has episodes 0 to ${suite.episodes - 1}`);
  const refs = [...episode.support, ...episode.query];

  const model = await loadModel(spec);
  try {
    checkImageShape(model, dataset.imageShape, `${spec} on ${dataset.name}`);
    const batch = imageBatch(dataset, refs);
    const pixels = (await batch.data()) as Float32Array;
    batch.dispose();
    const embedded = embedImages(model, dataset, refs);
    const embeddings = (await embedded.data()) as Float32Array;
    embedded.dispose();
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
      }),
    );
    const weights = Buffer.from(tf.io.CompositeArrayBuffer.join(artifacts!.weightData!));
    const label = options.label ?? (zooName ? `${zooName} (model zoo)` : spec);
    const data = {
      format: 1,
      model: {
        label,
        description: zooName ? readCard(zooName).description : runDescription(dir),
        weightsSha256: createHash('sha256').update(weights).digest('hex'),
        modelTopology: artifacts!.modelTopology,
        weightSpecs: artifacts!.weightSpecs,
        weights: weights.toString('base64'),
      },
      suite: {
        name: suite.name,
        sha256: source.sha256,
        dataset: suite.dataset,
        split: suite.split,
        way: suite.way,
        shot: suite.shot,
        query: suite.query,
        episode: episodeIndex,
      },
      imageShape: dataset.imageShape,
      classIds: episode.classes.map((c) => dataset.classIds[c]),
      imageIds: refs.map((r) => dataset.imageId(r)),
      pixels: base64(pixels),
      nodeEmbeddings: base64(embeddings),
      nodeBackend: backend,
      builtBy: `fewshot-rkd ${codeLabel()} (npm run browser-demo), Node ${process.version}`,
    };
    const tfjsBundle = createRequire(import.meta.url).resolve('@tensorflow/tfjs/dist/tf.min.js');
    await writeFolderAtomic(out, (tmp) => {
      fs.copyFileSync(path.join(SOURCE, 'index.html'), path.join(tmp, 'index.html'));
      fs.copyFileSync(tfjsBundle, path.join(tmp, 'tf.min.js'));
      fs.writeFileSync(path.join(tmp, 'page.js'), page);
      fs.writeFileSync(path.join(tmp, 'demo-data.js'), `window.FEWSHOT_DEMO = ${JSON.stringify(data)};\n`);
    });
    return {
      out,
      index: path.join(out, 'index.html'),
      label,
      suite: suite.name,
      episode: episodeIndex,
      imageIds: data.imageIds,
      pixels,
      embeddings,
      backend,
      way: suite.way,
      shot: suite.shot,
    };
  } finally {
    model.dispose();
  }
}

const base64 = (floats: Float32Array) =>
  Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64');

/** A run's best/ (or checkpoint/) folder, described from the run's config.json and the folder's state.json. */
function runDescription(dir: string): string | undefined {
  const run = path.dirname(path.resolve(dir));
  if (!fs.existsSync(path.join(run, 'config.json'))) return undefined;
  const c = readRunConfig<{ dataset?: string; split?: string; way?: number; shot?: number; episodes?: number }>(run);
  const state = fs.existsSync(path.join(dir, 'state.json'))
    ? (JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { episode?: number })
    : undefined;
  const trained = readRunState(run)?.episode;
  return (
    `trained on ${c.dataset}/${c.split}, ${c.way}-way ${c.shot}-shot episodes` +
    (trained !== undefined ? `, ${trained} of ${c.episodes}` : '') +
    (state?.episode !== undefined ? `; the model of episode ${state.episode}` : '')
  );
}

let compiled: string | undefined;

/**
 * page.ts, type-checked and compiled with this folder's tsconfig.json (once a process: a few seconds
 * for the DOM's and TensorFlow.js's types); throws listing its errors.
 */
export function compilePage(): string {
  if (compiled !== undefined) return compiled;
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(SOURCE, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  )!;
  let js: string | undefined;
  const program = ts.createProgram(config.fileNames, config.options);
  const emitted = program.emit(undefined, (file, text) => {
    if (file.endsWith('page.js')) js = text;
  });
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (diagnostics.length > 0)
    throw new Error(
      ts.formatDiagnostics(diagnostics, {
        getCanonicalFileName: (f) => f,
        getCurrentDirectory: () => process.cwd(),
        getNewLine: () => '\n',
      }),
    );
  return (compiled = js!);
}

/**
 * Draws an image (ink in [0, 1], `size` x `size`) on the pad with the mouse, as a person would trace
 * it: its ink upsampled to the pad's pixels (bilinear, ink from 0.5), thinned by the brush's radius
 * so that the brush gives the strokes their width back, and drawn as horizontal strokes row by row.
 */
export async function drawOnPad(browser: Chromium, ink: ArrayLike<number>, size: number): Promise<void> {
  const {
    x: left,
    y: top,
    width,
    pixels,
    brushRadius,
  } = await browser.evaluate<{
    x: number;
    y: number;
    width: number;
    pixels: number;
    brushRadius: number;
  }>('fewshotDemo.pad()');
  const n = pixels;
  const at = (u: number) => Math.min(size - 1, Math.max(0, u));
  const sample = (x: number, y: number) => {
    const [u, v] = [at(((x + 0.5) * size) / n - 0.5), at(((y + 0.5) * size) / n - 0.5)];
    const [u0, v0] = [Math.floor(u), Math.floor(v)];
    const [u1, v1] = [Math.min(size - 1, u0 + 1), Math.min(size - 1, v0 + 1)];
    const [fu, fv] = [u - u0, v - v0];
    const row = (r: number) => ink[r * size + u0] * (1 - fu) + ink[r * size + u1] * fu;
    return row(v0) * (1 - fv) + row(v1) * fv;
  };
  const inked = Array.from({ length: n * n }, (_, i) => sample(i % n, Math.floor(i / n)) >= 0.5);
  // Thinned: inked pixels whose whole neighbourhood within the radius (less half a pixel) is inked.
  const r = brushRadius - 0.5;
  const reach = Math.floor(r);
  const thin = inked.map((on, i) => {
    if (!on) return false;
    const [x, y] = [i % n, Math.floor(i / n)];
    for (let dy = -reach; dy <= reach; dy++)
      for (let dx = -reach; dx <= reach; dx++) {
        if (dx * dx + dy * dy > r * r) continue;
        const [xx, yy] = [x + dx, y + dy];
        if (xx < 0 || yy < 0 || xx >= n || yy >= n || !inked[yy * n + xx]) return false;
      }
    return true;
  });
  const scale = width / n;
  const point = (x: number, y: number) => [left + (x + 0.5) * scale, top + (y + 0.5) * scale] as const;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (!thin[y * n + x]) continue;
      const start = x;
      while (x + 1 < n && thin[y * n + x + 1]) x++;
      await browser.drag([point(start, y), point(x, y)]);
    }
  }
}

/** Opens a built demo in `browser`, waits until the episode is embedded, and returns nothing else. */
export async function openDemo(browser: Chromium, index: string): Promise<void> {
  await browser.open(index);
  try {
    await browser.evaluate('fewshotDemo.ready');
  } catch (err) {
    throw new Error(
      `${(err as Error).message}${browser.pageErrors.length ? `; the page: ${browser.pageErrors.join('; ')}` : ''}`,
      {
        cause: err,
      },
    );
  }
}

/** A PNG of the built demo with query `query` of its episode drawn on the pad. */
export async function screenshotDemo(build: DemoBuild, file: string, query = 0): Promise<string> {
  const binary = findChromium();
  if (!binary) throw new Error("--screenshot: no Chromium found (install Debian's chromium, or set CHROMIUM)");
  const browser = await Chromium.launch(binary, { width: 1040, height: 960 });
  try {
    await openDemo(browser, build.index);
    const size = IMAGE_SHAPE[0] * IMAGE_SHAPE[1];
    const image = build.way * build.shot + query;
    if (image * size >= build.pixels.length)
      throw new Error(
        `--draw-query ${query}: the episode has ${build.pixels.length / size - build.way * build.shot} queries`,
      );
    await drawOnPad(browser, build.pixels.subarray(image * size, (image + 1) * size), IMAGE_SHAPE[0]);
    await browser.evaluate('fewshotDemo.settled().then(() => undefined)');
    // A palette PNG: a page's few colours, a third of Chromium's bytes.
    writeFileAtomic(file, [
      await sharp(await browser.screenshot())
        .png({ palette: true, compressionLevel: 9 })
        .toBuffer(),
    ]);
    return chromiumVersion(binary);
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  const program = new Command('npm run browser-demo --')
    .description('build the browser demo (docs/browser.md): a page that opens from disk')
    .option('--model <name|dir>', 'a zoo model or a model folder', DEFAULT_MODEL)
    .option('--suite <name|file>', 'a suite of frozen episodes', DEFAULT_SUITE)
    .option('--episode <n>', "the episode's index in the suite", nonNegativeInt('--episode'), 0)
    .option('--data <dir>', "the dataset's cache folder (default: <cache root>/<dataset>)")
    .option('--out <dir>', 'the folder to write', path.relative(process.cwd(), DEFAULT_OUT) || '.')
    .option('--label <text>', 'what the page calls the model (default: its zoo name, or the folder)')
    .option('--screenshot <file.png>', 'then draw a query on the pad in headless Chromium and save a PNG of the page')
    .option('--draw-query <n>', "which of the episode's queries --screenshot draws", nonNegativeInt('--draw-query'), 0)
    .parse();
  const opts = program.opts();
  const backend = await initBackend('auto', { quiet: true });
  console.error(`backend: ${describeBackend(backend)}`);
  const build = await buildDemo(opts);
  console.log(
    `${path.relative(process.cwd(), build.index)}: ${build.label}, episode ${build.episode} of ${build.suite}`,
  );
  if (opts.screenshot) {
    const version = await screenshotDemo(build, opts.screenshot, opts.drawQuery);
    console.log(`${opts.screenshot}: the page in ${version}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(`browser-demo: ${(err as Error).message}`);
    process.exit(1);
  });
}
