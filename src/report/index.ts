/**
 * `fewshot-rkd/report`: a sweep CSV as Markdown tables and plots, with intervals across seeds; runs'
 * training curves from their log.jsonl.
 */
export { writeSweepReport } from './report.js';
export type { ReportOptions, SweepReport } from './report.js';
export type { SweepTables, Table } from './tables.js';
export { acrossSeeds } from './seeds.js';
export type { SeedInterval, SeedGroup } from './seeds.js';
export { pairAgainstBaseline, pairedTables } from './paired.js';
export type { PairedGroup, PairedSeed } from './paired.js';
export { plotCurves, findRunLogs, readLogLines, runCurves, runLabels, curvesSpec, CURVE_METRICS } from './curves.js';
export type {
  PlotCurvesOptions,
  PlottedCurves,
  RunCurves,
  RunLogs,
  LogStage,
  CurvePoint,
  StageMarker,
  CurvesSpecOptions,
  CurveMetric,
} from './curves.js';
