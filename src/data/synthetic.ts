/**
 * Seeded procedural glyphs: each class is a few random strokes; each drawing of it jitters the
 * strokes and the pose. The embedded default dataset: the main job runs with no files at all.
 */
import seedrandom from 'seedrandom';
import { PackedClass, PackedImages } from './cache.js';
import { PackedDataset } from './packed-dataset.js';
import { FewShotDataset } from './dataset.js';

export interface SyntheticOptions {
  /** Number of classes. */
  readonly classes: number;
  /** Drawings per class. */
  readonly imagesPerClass: number;
  /** Side of the square grey image, in pixels. */
  readonly size?: number;
  /** Class ids are `<prefix>/c0001`...; also part of the seed, so that splits hold different glyphs. */
  readonly prefix: string;
  readonly seed?: string | number;
}

type Point = [number, number];
/** A quadratic Bezier stroke in the unit square. */
type Stroke = [Point, Point, Point];

const SEGMENTS_PER_STROKE = 8;

function randomStroke(rng: () => number): Stroke {
  const p = (): Point => [0.15 + 0.7 * rng(), 0.15 + 0.7 * rng()];
  return [p(), p(), p()];
}

/** One drawing of a glyph: jittered control points under a small random rotation, scale and shift. */
function jitter(strokes: readonly Stroke[], rng: () => number): Stroke[] {
  const angle = (rng() - 0.5) * 0.3;
  const scale = 0.9 + 0.2 * rng();
  const [dx, dy] = [(rng() - 0.5) * 0.12, (rng() - 0.5) * 0.12];
  const [cos, sin] = [Math.cos(angle) * scale, Math.sin(angle) * scale];
  const move = ([x, y]: Point): Point => {
    const [u, v] = [x - 0.5 + (rng() - 0.5) * 0.08, y - 0.5 + (rng() - 0.5) * 0.08];
    return [0.5 + cos * u - sin * v + dx, 0.5 + sin * u + cos * v + dy];
  };
  return strokes.map((s) => s.map(move) as Stroke);
}

/** Rasterises strokes into `out` as antialiased lines of radius `radius` pixels (max over strokes). */
function draw(strokes: readonly Stroke[], size: number, radius: number, out: Uint8Array, offset: number): void {
  const segments: number[][] = [];
  for (const [a, b, c] of strokes) {
    let prev = a;
    for (let i = 1; i <= SEGMENTS_PER_STROKE; i++) {
      const t = i / SEGMENTS_PER_STROKE;
      const p: Point = [
        (1 - t) ** 2 * a[0] + 2 * (1 - t) * t * b[0] + t * t * c[0],
        (1 - t) ** 2 * a[1] + 2 * (1 - t) * t * b[1] + t * t * c[1],
      ];
      segments.push([prev[0] * size, prev[1] * size, p[0] * size, p[1] * size]);
      prev = p;
    }
  }
  // Each segment inks only the pixels within radius + 0.5 of it: visit its bounding box, not the image.
  const reach = radius + 0.5;
  for (const [x0, y0, x1, y1] of segments) {
    const [vx, vy] = [x1 - x0, y1 - y0];
    const len2 = vx * vx + vy * vy;
    const xFrom = Math.max(0, Math.floor(Math.min(x0, x1) - reach)),
      xTo = Math.min(size - 1, Math.ceil(Math.max(x0, x1) + reach));
    const yFrom = Math.max(0, Math.floor(Math.min(y0, y1) - reach)),
      yTo = Math.min(size - 1, Math.ceil(Math.max(y0, y1) + reach));
    for (let y = yFrom; y <= yTo; y++) {
      for (let x = xFrom; x <= xTo; x++) {
        const [px, py] = [x + 0.5, y + 0.5];
        const t = len2 > 0 ? Math.min(1, Math.max(0, ((px - x0) * vx + (py - y0) * vy) / len2)) : 0;
        const d = Math.sqrt((px - x0 - t * vx) ** 2 + (py - y0 - t * vy) ** 2);
        const ink = Math.round(Math.min(1, Math.max(0, reach - d)) * 255);
        if (ink > out[offset + y * size + x]) out[offset + y * size + x] = ink;
      }
    }
  }
}

export function syntheticImages(options: SyntheticOptions): PackedImages {
  const size = options.size ?? 28;
  const { classes, imagesPerClass, prefix } = options;
  const seed = `${options.seed ?? 'fewshot-rkd'}/${prefix}`;
  const pixels = new Uint8Array(classes * imagesPerClass * size * size);
  const packed: PackedClass[] = [];
  const digits = String(imagesPerClass - 1).length;
  for (let c = 0; c < classes; c++) {
    const classRng = seedrandom(`${seed}/class${c}`);
    const strokes = Array.from({ length: 2 + Math.floor(classRng() * 3) }, () => randomStroke(classRng));
    const radius = (0.6 + 0.5 * classRng()) * (size / 28);
    for (let i = 0; i < imagesPerClass; i++) {
      draw(jitter(strokes, classRng), size, radius, pixels, (c * imagesPerClass + i) * size * size);
    }
    packed.push({
      id: `${prefix}/c${String(c).padStart(4, '0')}`,
      images: Array.from({ length: imagesPerClass }, (_, i) => String(i).padStart(digits, '0')),
    });
  }
  return { source: 'synthetic', shape: [size, size, 1], classes: packed, pixels };
}

/** The default synthetic splits: disjoint glyph sets, 20 drawings each, 28x28. */
export const SYNTHETIC_SPLITS = { train: 256, val: 64, test: 128 } as const;
export type SyntheticSplit = keyof typeof SYNTHETIC_SPLITS;

export function openSynthetic(split: string): FewShotDataset {
  if (!(split in SYNTHETIC_SPLITS)) {
    throw new Error(`synthetic: unknown split '${split}' (one of ${Object.keys(SYNTHETIC_SPLITS).join(', ')})`);
  }
  const classes = SYNTHETIC_SPLITS[split as SyntheticSplit];
  return new PackedDataset(`synthetic/${split}`, syntheticImages({ classes, imagesPerClass: 20, prefix: split }));
}
