/**
 * The browser demo's page script. A classic script, not a module: the page opens from disk, where
 * Chromium loads no module scripts. build.ts compiles it with this folder's tsconfig.json (DOM types,
 * no module system) beside the episode and model it writes into demo-data.js.
 *
 * The page embeds the episode's images with TensorFlow.js on its cpu backend (plain JavaScript: the
 * same floats in every browser, and on the same backend in Node), shows the episode's queries with
 * their nearest support image, and classifies a character drawn on the pad: drawn at Omniglot's
 * 105x105, in black on white like the dataset's PNGs, downscaled to 28x28 as the importer does
 * (libvips' lanczos3, ported below), inverted to ink, embedded, and compared with the five support
 * embeddings by squared Euclidean distance.
 */

declare const tf: typeof import('@tensorflow/tfjs');

/** What build.ts writes into demo-data.js (`window.FEWSHOT_DEMO = ...`). */
interface DemoData {
  readonly format: 1;
  readonly model: {
    /** How the page names the model: a zoo name, or the folder it was built from. */
    readonly label: string;
    readonly description?: string;
    readonly weightsSha256: string;
    readonly modelTopology: object;
    readonly weightSpecs: import('@tensorflow/tfjs').io.WeightsManifestEntry[];
    /** The weights' bytes, base64. */
    readonly weights: string;
  };
  readonly suite: {
    readonly name: string;
    readonly sha256: string;
    readonly dataset: string;
    readonly split: string;
    readonly way: number;
    readonly shot: number;
    readonly query: number;
    readonly episode: number;
  };
  readonly imageShape: readonly [number, number, number];
  /** Class ids of the episode, in label order. */
  readonly classIds: readonly string[];
  /** Support then query images (class-major each), as the model takes them: float32 in [0, 1], base64. */
  readonly imageIds: readonly string[];
  readonly pixels: string;
  /** The same images' embeddings in Node (float32, base64), and the backend that computed them. */
  readonly nodeEmbeddings: string;
  readonly nodeBackend: string;
  readonly builtBy: string;
}

/** The last drawing classified: its pixels at each stage, its embedding and its distances. */
interface DrawingResult {
  /** The pad: 105x105 grey, paper 255 and ink 0 (as Omniglot's PNGs decode). */
  readonly drawn: number[];
  /** What the model takes: 28x28, ink (255 - grey) / 255. */
  readonly input: number[];
  readonly embedding: number[];
  /** Squared Euclidean distance to each class's prototype (its support embedding at 1 shot). */
  readonly distances: number[];
  readonly nearest: number;
}

/** What the page offers a test driving it (test/browser.test.ts). */
interface FewshotDemo {
  /** Settles once the episode is embedded and shown; rejects with the page's error. */
  readonly ready: Promise<void>;
  /** The page's embeddings of the episode's images, support then query, one array per image. */
  embeddings(): number[][];
  /** Settles once the last stroke's drawing is classified and shown. */
  settled(): Promise<DrawingResult | undefined>;
  /** The pad's box in the viewport (CSS pixels), its size in pixels and the brush's radius in those. */
  pad(): { x: number; y: number; width: number; height: number; pixels: number; brushRadius: number };
  /** The libvips lanczos3 downscale the pad's drawing goes through, for any grey image. */
  downscale(pixels: number[], from: [number, number], to: [number, number]): number[];
}

/** Set by demo-data.js. */
declare const FEWSHOT_DEMO: DemoData;

(() => {
  // --- libvips' lanczos3 reduction, as sharp 0.34 (libvips 8.17) runs it for the importers ----------
  // reducev (the vector path for uchar) then reduceh (the C path for one band), each with fixed-point
  // masks: the same bytes as sharp's resize(w, h, { kernel: 'lanczos3' }) on a grey image, for a
  // reduction by less than 4 on each axis (from 4, libvips box-shrinks first, which this does not).

  const TRANSFORM_SCALE = 64; // VIPS_TRANSFORM_SCALE: mask phases per input pixel
  const INTERPOLATE_SHIFT = 12; // VIPS_INTERPOLATE_SHIFT: masks are ints of 1 << 12
  const INTERPOLATE_SCALE = 1 << INTERPOLATE_SHIFT;

  const sinc = (x: number) => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));
  const lanczos3 = (x: number) => (x >= -3 && x <= 3 ? sinc(x) * sinc(x / 3) : 0);
  /** C's rint: to nearest, ties to even. */
  const rint = (x: number) => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x));

  /** One axis of a reduction from `from` to `to` pixels: mask width, origin, and a mask per phase. */
  function reducePlan(from: number, to: number) {
    const shrink = from / to;
    if (!(shrink >= 1 && shrink < 4))
      throw new Error(`downscale: ${from} to ${to} pixels is not a reduction by 1 to 4`);
    const points = 2 * rint(3 * shrink) + 1;
    // Origin moved inside the image by half the pixels the rounded size drops or invents.
    const offset = (1 + (to * shrink - from)) / 2 - 1;
    const masks = Array.from({ length: TRANSFORM_SCALE + 1 }, (_, phase) => {
      const x = Math.fround(phase / TRANSFORM_SCALE);
      const half = x + points / 2 - 1;
      const c = Array.from({ length: points }, (_, i) => lanczos3((i - half) / shrink));
      const sum = c.reduce((a, b) => a + b, 0);
      return Int16Array.from(c, (v) => Math.trunc((v / sum) * INTERPOLATE_SCALE));
    });
    // The edge is extended by copies of the outer pixels, ceil(points / 2) - 1 of them before it.
    return { shrink, points, offset, pad: Math.ceil(points / 2) - 1, masks };
  }

  /** Output pixel i of an axis: its first input pixel (before clamping to the image) and its mask. */
  function* reduceSteps(plan: ReturnType<typeof reducePlan>, to: number) {
    let at = 0.5 * plan.shrink - 0.5 - plan.offset;
    for (let i = 0; i < to; i++, at += plan.shrink) {
      const phase = ((Math.trunc(at * TRANSFORM_SCALE * 2) & (TRANSFORM_SCALE * 2 - 1)) + 1) >> 1;
      yield { first: Math.trunc(at) - plan.pad, mask: plan.masks[phase] };
    }
  }

  function downscale(pixels: ArrayLike<number>, [fromH, fromW]: [number, number], [toH, toW]: [number, number]) {
    if (pixels.length !== fromH * fromW) throw new Error(`downscale: ${pixels.length} pixels, not ${fromH}x${fromW}`);
    const half = INTERPOLATE_SCALE >> 1;
    const clampByte = (v: number) => Math.min(255, Math.max(0, v));
    const rows = new Uint8Array(toH * fromW);
    let y = 0;
    for (const { first, mask } of reduceSteps(reducePlan(fromH, toH), toH)) {
      for (let x = 0; x < fromW; x++) {
        let sum = half;
        for (let i = 0; i < mask.length; i++)
          sum += mask[i] * pixels[Math.min(fromH - 1, Math.max(0, first + i)) * fromW + x];
        rows[y * fromW + x] = clampByte(sum >> INTERPOLATE_SHIFT);
      }
      y++;
    }
    const out = new Uint8Array(toH * toW);
    let x = 0;
    for (const { first, mask } of reduceSteps(reducePlan(fromW, toW), toW)) {
      for (let y = 0; y < toH; y++) {
        let sum = 0;
        for (let i = 0; i < mask.length; i++)
          sum += mask[i] * rows[y * fromW + Math.min(fromW - 1, Math.max(0, first + i))];
        out[y * toW + x] = clampByte((sum + half) >> INTERPOLATE_SHIFT);
      }
      x++;
    }
    return out;
  }

  // --- The episode and the model -------------------------------------------------------------------

  const data = FEWSHOT_DEMO;
  const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const bytes = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)).buffer;

  const [height, width, channels] = data.imageShape;
  const imageSize = height * width * channels;
  const { way, shot, query } = data.suite;
  const pixels = new Float32Array(bytes(data.pixels));
  const imageCount = pixels.length / imageSize;

  /** The model's inference-mode embeddings of images (float32 in [0, 1]), [n, D]. */
  function embed(model: import('@tensorflow/tfjs').LayersModel, images: Float32Array): Float32Array {
    return tf.tidy(() => {
      const x = tf.tensor4d(images, [images.length / imageSize, height, width, channels]);
      return (model.predict(x) as import('@tensorflow/tfjs').Tensor2D).dataSync() as Float32Array;
    });
  }

  /**
   * Squared Euclidean distances [n, way] from embeddings to prototypes, in the ops of the library's
   * negativeSquaredDistances (src/losses/protonet.ts): direct differences, summed in float32.
   */
  function distances(embeddings: Float32Array, prototypes: import('@tensorflow/tfjs').Tensor2D): Float32Array {
    return tf.tidy(() => {
      const dim = prototypes.shape[1];
      const q = tf.tensor2d(embeddings, [embeddings.length / dim, dim]);
      const diff = tf.sub(tf.expandDims(q, 1), tf.expandDims(prototypes, 0));
      return tf.sum(tf.square(diff), 2).dataSync() as Float32Array;
    });
  }

  const argMin = (values: ArrayLike<number>) => {
    let best = 0;
    for (let i = 1; i < values.length; i++) if (values[i] < values[best]) best = i;
    return best;
  };

  // --- Drawing images -------------------------------------------------------------------------------

  /** Paints grey pixels (0 black .. 255 white) onto a canvas of their size. */
  function paintGrey(canvas: HTMLCanvasElement, grey: ArrayLike<number>): void {
    const image = new ImageData(canvas.width, canvas.height);
    for (let i = 0; i < grey.length; i++) {
      image.data.set([grey[i], grey[i], grey[i], 255], 4 * i);
    }
    canvas.getContext('2d')!.putImageData(image, 0, 0);
  }

  /** A canvas showing an episode image (ink in [0, 1], shown dark on light as drawn). */
  function imageCanvas(index: number, className: string): HTMLCanvasElement {
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height] = [width, height];
    canvas.className = className;
    canvas.title = data.imageIds[index];
    const ink = pixels.subarray(index * imageSize, (index + 1) * imageSize);
    // The mean over channels (one for Omniglot's greyscale).
    const grey = Array.from({ length: width * height }, (_, p) => {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += ink[p * channels + c];
      return Math.round(255 * (1 - sum / channels));
    });
    paintGrey(canvas, grey);
    return canvas;
  }

  const fixed = (d: number) => d.toFixed(d < 10 ? 3 : d < 100 ? 2 : 1);
  /** A class id to read: `Old_Church_Slavonic_(Cyrillic)/character45/rot180` -> `Old Church Slavonic (Cyrillic), character 45, turned 180°`. */
  const readableClass = (id: string) =>
    id
      .replace(/_/g, ' ')
      .replace(/\/character(\d+)/, (_, n: string) => `, character ${Number(n)}`)
      .replace(/\/rot000$/, '')
      .replace(/\/rot(\d+)$/, (_, turn: string) => `, turned ${Number(turn)}°`);

  // --- The pad --------------------------------------------------------------------------------------

  /** Omniglot's drawings are 105x105 black strokes about 5 pixels wide on white. */
  const PAD = 105;
  const BRUSH_RADIUS = 2.5;
  const pad = $<HTMLCanvasElement>('pad');
  [pad.width, pad.height] = [PAD, PAD];
  const drawn = new Uint8Array(PAD * PAD).fill(255);

  /** Inks every pixel whose centre is within the brush of the segment (a disk at one point). */
  function stroke(x0: number, y0: number, x1: number, y1: number): void {
    const [vx, vy] = [x1 - x0, y1 - y0];
    const length2 = vx * vx + vy * vy;
    const reach = BRUSH_RADIUS + 1;
    for (
      let y = Math.max(0, Math.floor(Math.min(y0, y1) - reach));
      y <= Math.min(PAD - 1, Math.max(y0, y1) + reach);
      y++
    ) {
      for (
        let x = Math.max(0, Math.floor(Math.min(x0, x1) - reach));
        x <= Math.min(PAD - 1, Math.max(x0, x1) + reach);
        x++
      ) {
        const [px, py] = [x + 0.5, y + 0.5];
        const t = length2 > 0 ? Math.min(1, Math.max(0, ((px - x0) * vx + (py - y0) * vy) / length2)) : 0;
        if ((px - x0 - t * vx) ** 2 + (py - y0 - t * vy) ** 2 <= BRUSH_RADIUS ** 2) drawn[y * PAD + x] = 0;
      }
    }
  }

  /** The pad's drawing area in the viewport (CSS pixels): inside its border. */
  const padArea = () => {
    const box = pad.getBoundingClientRect();
    return {
      x: box.left + pad.clientLeft,
      y: box.top + pad.clientTop,
      width: pad.clientWidth,
      height: pad.clientHeight,
    };
  };
  let last: [number, number] | undefined;
  const padPoint = (e: PointerEvent): [number, number] => {
    const area = padArea();
    return [((e.clientX - area.x) * PAD) / area.width, ((e.clientY - area.y) * PAD) / area.height];
  };

  // --- Start ----------------------------------------------------------------------------------------

  let model: import('@tensorflow/tfjs').LayersModel | undefined;
  let prototypes: import('@tensorflow/tfjs').Tensor2D | undefined;
  let embeddings: Float32Array | undefined;
  let pending: Promise<DrawingResult | undefined> = Promise.resolve(undefined);

  function showDistances(result: DrawingResult | undefined): void {
    const max = result ? Math.max(...result.distances) : 1;
    for (let c = 0; c < way; c++) {
      const row = $(`class-${c}`);
      row.classList.toggle('nearest', result?.nearest === c);
      $(`distance-${c}`).textContent = result ? fixed(result.distances[c]) : '';
      $(`bar-${c}`).style.width = result ? `${(100 * result.distances[c]) / max}%` : '0';
    }
    $('verdict').textContent = result
      ? `Nearest: character ${result.nearest + 1} (${readableClass(data.classIds[result.nearest])})`
      : 'Draw a character on the pad.';
  }

  /** Classifies what the pad holds, shows it, and returns it. */
  function classify(): DrawingResult | undefined {
    if (!model || !prototypes || drawn.every((v) => v === 255)) {
      paintGrey($<HTMLCanvasElement>('seen'), new Uint8Array(width * height).fill(255));
      showDistances(undefined);
      return undefined;
    }
    // As the importer: lanczos3 to the cache's size, then ink = 255 - grey, then / 255.
    const grey = downscale(drawn, [PAD, PAD], [height, width]);
    const input = Float32Array.from(grey, (v) => (255 - v) / 255);
    paintGrey($<HTMLCanvasElement>('seen'), grey);
    const embedding = embed(model, input);
    const d = Array.from(distances(embedding, prototypes));
    const result = {
      drawn: Array.from(drawn),
      input: Array.from(input),
      embedding: Array.from(embedding),
      distances: d,
      nearest: argMin(d),
    };
    showDistances(result);
    return result;
  }

  async function start(): Promise<void> {
    if (channels !== 1)
      throw new Error(`the pad draws greyscale characters; this model takes ${data.imageShape.join('x')} images`);
    await tf.setBackend('cpu');
    $('meta').textContent =
      `${data.suite.name}, episode ${data.suite.episode} (${way}-way ${shot}-shot, ${data.suite.dataset}/${data.suite.split}, ` +
      `suite sha256 ${data.suite.sha256.slice(0, 12)}...); TensorFlow.js ${tf.version.tfjs} on its cpu backend`;
    $('model').textContent = data.model.label;
    $('model-description').textContent = data.model.description ?? '';
    $('model-sha').textContent = `weights sha256 ${data.model.weightsSha256.slice(0, 12)}...`;

    const support = $('support');
    for (let c = 0; c < way; c++) {
      const row = document.createElement('li');
      row.id = `class-${c}`;
      const images = document.createElement('span');
      images.className = 'shots';
      for (let s = 0; s < shot; s++) images.append(imageCanvas(c * shot + s, 'support-image'));
      const label = document.createElement('span');
      label.className = 'class-id';
      label.textContent = `${c + 1}. ${readableClass(data.classIds[c])}`;
      label.title = data.classIds[c];
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.innerHTML = `<span id="bar-${c}"></span>`;
      const distance = document.createElement('span');
      distance.className = 'distance';
      distance.id = `distance-${c}`;
      row.append(images, label, bar, distance);
      support.append(row);
    }
    showDistances(undefined);
    paintGrey($<HTMLCanvasElement>('seen'), new Uint8Array(width * height).fill(255));
    paintGrey(pad, drawn);

    const weights = bytes(data.model.weights);
    const loaded = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: data.model.modelTopology,
        weightSpecs: data.model.weightSpecs,
        weightData: weights,
      }),
    );
    model = loaded;

    // Support first, so that the pad works while the queries are embedded.
    const supportCount = way * shot;
    const all = new Float32Array(imageCount * (loaded.outputs[0].shape[1] as number));
    const dim = all.length / imageCount;
    $('status').textContent = 'Embedding the support images...';
    await tf.nextFrame();
    all.set(embed(loaded, pixels.subarray(0, supportCount * imageSize)));
    prototypes = tf.tidy(
      () =>
        tf.mean(
          tf.reshape(tf.tensor2d(all.subarray(0, supportCount * dim), [supportCount, dim]), [way, shot, dim]),
          1,
        ) as import('@tensorflow/tfjs').Tensor2D,
    );
    pad.classList.add('ready');

    const queries = $('queries');
    for (let i = supportCount; i < imageCount; i += query) {
      $('status').textContent = `Embedding the queries: ${i - supportCount} of ${imageCount - supportCount}...`;
      await tf.nextFrame();
      all.set(embed(loaded, pixels.subarray(i * imageSize, (i + query) * imageSize)), i * dim);
    }
    const d = distances(all.subarray(supportCount * dim), prototypes);
    let right = 0;
    for (let q = 0; q < imageCount - supportCount; q++) {
      const nearest = argMin(d.subarray(q * way, (q + 1) * way));
      const label = Math.floor(q / query);
      right += nearest === label ? 1 : 0;
      const cell = document.createElement('figure');
      cell.className = nearest === label ? 'right' : 'wrong';
      cell.append(imageCanvas(supportCount + q, 'query-image'));
      const caption = document.createElement('figcaption');
      caption.textContent = nearest === label ? `${nearest + 1}` : `${nearest + 1}, not ${label + 1}`;
      cell.append(caption);
      queries.append(cell);
    }
    $('queries-title').textContent =
      `The episode's ${imageCount - supportCount} queries, each under the number of its nearest support character: ` +
      `${right} of ${imageCount - supportCount} right`;

    const node = new Float32Array(bytes(data.nodeEmbeddings));
    let maxDiff = 0;
    for (let i = 0; i < all.length; i++) maxDiff = Math.max(maxDiff, Math.abs(all[i] - node[i]));
    $('status').textContent =
      `The page's embeddings of the episode's ${imageCount} images differ from Node's ` +
      `(fewshot-rkd on ${data.nodeBackend.split(';')[0]}) by at most ${maxDiff.toExponential(1)}.`;
    $('built-by').textContent = `Built by ${data.builtBy}.`;
    embeddings = all;
  }

  const ready = start();
  ready.catch((err: unknown) => {
    $('status').textContent = `Error: ${(err as Error).message ?? err}`;
    $('status').classList.add('error');
  });

  pad.addEventListener('pointerdown', (e) => {
    if (!prototypes) return;
    pad.setPointerCapture(e.pointerId);
    last = padPoint(e);
    stroke(...last, ...last);
    paintGrey(pad, drawn);
  });
  pad.addEventListener('pointermove', (e) => {
    if (!last) return;
    const next = padPoint(e);
    stroke(...last, ...next);
    last = next;
    paintGrey(pad, drawn);
  });
  /** Classifies the pad after what came before, showing a failure rather than stopping there. */
  const reclassify = () => {
    pending = pending
      .catch(() => undefined)
      .then(classify)
      .catch((err: unknown) => {
        $('verdict').textContent = `Error: ${(err as Error).message ?? err}`;
        throw err;
      });
  };
  const end = () => {
    if (!last) return;
    last = undefined;
    reclassify();
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
  $('clear').addEventListener('click', () => {
    drawn.fill(255);
    paintGrey(pad, drawn);
    reclassify();
  });

  const api: FewshotDemo = {
    ready,
    embeddings: () => {
      if (!embeddings) throw new Error('the episode is not embedded yet: await fewshotDemo.ready');
      const dim = embeddings.length / imageCount;
      return Array.from({ length: imageCount }, (_, i) => Array.from(embeddings!.subarray(i * dim, (i + 1) * dim)));
    },
    settled: () => pending,
    pad: () => ({ ...padArea(), pixels: PAD, brushRadius: BRUSH_RADIUS }),
    downscale: (grey, from, to) => Array.from(downscale(grey, from, to)),
  };
  Object.assign(window, { fewshotDemo: api });
})();
