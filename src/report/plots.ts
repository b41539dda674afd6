/**
 * Plots as vega-lite specs, compiled to vega and rendered headless in Node (a View with no
 * renderer writes SVG), then converted to PNG with sharp: accuracy with interval bars against a
 * swept setting (the training curves' spec is in curves.ts).
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

const LEGEND = { orient: 'bottom', direction: 'vertical', labelLimit: 480, title: null } as const;

/** What every plot's spec starts with: schema, title, a white background (PNG has no page), the data. */
const top = (title: string | { text: string; subtitle: string }, values: readonly object[]) => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title,
  background: 'white',
  data: { values: values.map((v) => ({ ...v })) },
});

/**
 * Accuracy (%) with interval bars against `xTitle`, one colour per series, side by side at each x.
 * Intervals are cut at 0 and 100% (the subtitle says so when one is): two seeds' t-interval
 * (12.7 standard errors) would otherwise stretch the accuracy axis past 100%.
 */
export function accuracySpec(
  raw: readonly AccuracyPoint[],
  xTitle: string,
  title: string | { text: string; subtitle: string },
): TopLevelSpec {
  const cut = raw.some((p) => p.lo < 0 || p.hi > 100);
  const points = raw.map((p) => ({ ...p, lo: Math.max(0, p.lo), hi: Math.min(100, p.hi) }));
  if (cut) {
    const note = 'intervals cut at 0 and 100%';
    title =
      typeof title === 'string'
        ? { text: title, subtitle: note }
        : { ...title, subtitle: `${title.subtitle}; ${note}` };
  }
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

/** Renders a vega-lite spec as `<base>.svg` and `<base>.png` (2x, 256 colours); returns the two paths. */
export async function renderPlot(spec: TopLevelSpec, base: string): Promise<string[]> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    writeFileAtomic(`${base}.svg`, [Buffer.from(svg)]);
    writeFileAtomic(`${base}.png`, [await sharp(Buffer.from(svg), { density: 144 }).png({ palette: true }).toBuffer()]);
  } finally {
    view.finalize();
  }
  return [`${base}.svg`, `${base}.png`];
}
