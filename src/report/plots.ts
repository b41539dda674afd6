/**
 * Plots as vega-lite specs, compiled to vega and rendered headless in Node (a View with no
 * renderer writes SVG), then converted to PNG with sharp: accuracy with interval bars against a
 * swept setting, and training curves from runs' log.jsonl.
 */
import * as vega from 'vega';
import { TopLevelSpec, compile } from 'vega-lite';
import sharp from 'sharp';
import { writeFileAtomic } from '../atomic.js';

export interface AccuracyPoint {
  /** The swept setting's value (a number when every value is one). */
  readonly x: string | number;
  /** Which line of points it belongs to: the other settings (and the suite). */
  readonly series: string;
  /** Percent. */
  readonly mean: number;
  readonly lo: number;
  readonly hi: number;
}

export interface CurvePoint {
  /** The run's settings but the seed: one colour each. */
  readonly group: string;
  /** The run's seed ('' when not known): one dash pattern each. */
  readonly seed: string;
  readonly metric: string;
  readonly episode: number;
  readonly value: number;
}

const LEGEND = { orient: 'bottom', direction: 'vertical', labelLimit: 480, title: null } as const;

/** What every plot's spec starts with: schema, title, a white background (PNG has no page), the data. */
const top = (title: string | { text: string; subtitle: string }, values: readonly object[]) => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title,
  background: 'white',
  data: { values: values.map((v) => ({ ...v })) },
});

/** Accuracy (%) with interval bars against `xTitle`, one colour per series, side by side at each x. */
export function accuracySpec(
  points: readonly AccuracyPoint[],
  xTitle: string,
  title: string | { text: string; subtitle: string },
): TopLevelSpec {
  const xs = new Set(points.map((p) => p.x)).size;
  const series = new Set(points.map((p) => p.series)).size;
  return {
    ...top(title, points),
    width: Math.max(320, xs * Math.max(80, 30 * series)),
    height: 260,
    encoding: {
      x: { field: 'x', type: 'ordinal', title: xTitle, axis: { labelAngle: 0 } },
      xOffset: { field: 'series', type: 'nominal' },
      color: { field: 'series', type: 'nominal', legend: LEGEND },
    },
    layer: [
      {
        mark: { type: 'errorbar', ticks: true },
        encoding: {
          y: { field: 'lo', type: 'quantitative', scale: { zero: false }, title: 'accuracy % (95% interval)' },
          y2: { field: 'hi' },
        },
      },
      { mark: { type: 'point', filled: true, size: 60 }, encoding: { y: { field: 'mean', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

/** One panel per metric (training loss, training accuracy, validation accuracy); a colour per group, a dash per seed. */
export function curvesSpec(points: readonly CurvePoint[], title: string): TopLevelSpec {
  const groups = new Set(points.map((p) => p.group)).size;
  const seeds = new Set(points.map((p) => p.seed)).size;
  return {
    ...top(title, points),
    facet: { row: { field: 'metric', type: 'nominal', title: null, sort: [...new Set(points.map((p) => p.metric))] } },
    spec: {
      width: 460,
      height: 150,
      encoding: {
        x: { field: 'episode', type: 'quantitative', title: 'training episode' },
        y: { field: 'value', type: 'quantitative', scale: { zero: false }, title: null },
        color: {
          field: 'group',
          type: 'nominal',
          legend: LEGEND,
          scale: { scheme: groups > 10 ? 'category20' : 'tableau10' },
        },
        detail: [{ field: 'group' }, { field: 'seed' }],
      },
      // Dashes on the lines only, so that the seed legend shows dashes, not dots.
      layer: [
        {
          mark: 'line',
          encoding:
            seeds > 1
              ? { strokeDash: { field: 'seed', type: 'nominal', title: 'seed', legend: { symbolSize: 400 } } }
              : {},
        },
        { mark: { type: 'point', filled: true, size: 14 } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

/** Renders a vega-lite spec as `<base>.svg` and `<base>.png` (2x); returns the two paths. */
export async function renderPlot(spec: TopLevelSpec, base: string): Promise<string[]> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    writeFileAtomic(`${base}.svg`, [Buffer.from(svg)]);
    writeFileAtomic(`${base}.png`, [await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer()]);
  } finally {
    view.finalize();
  }
  return [`${base}.svg`, `${base}.png`];
}
