/**
 * Sweep specs: a JSON file with a base configuration (ProtoNetConfig / DistillConfig field names),
 * the test suites, optional variants and a grid, expanded into points. A point's identity is the
 * hash of the canonical JSON of its resolved settings, so that it is the same point on any machine,
 * in any shard and in any later run of the same spec.
 */
import * as path from 'node:path';
import { sha256 } from '../episodes/manifest.js';
import { readSuite, resolveSuite } from '../episodes/suite.js';
import { checkAugmentation } from '../data/augment.js';
import { rkdWeights } from '../train/distill.js';
import { findRecipe, finalStageConfig, recipeConfig, recipeTeacher } from '../train/recipe.js';
import { DEFAULT_PROTONET } from '../train/protonet.js';
import { fileError } from '../atomic.js';
import { readTextFile } from '../files.js';

export type SettingValue = string | number;
export type Settings = Readonly<Record<string, SettingValue>>;

export interface SweepSpec {
  /** The spec file, as given: every error names it. */
  readonly file: string;
  readonly name: string;
  readonly description?: string;
  /** Where the points' run folders go: `<runs>/<key>/`. */
  readonly runs: string;
  /** Suite JSON files (shipped suites may be given by name): each point is evaluated on every one (test way x shot lives here). */
  readonly suites: readonly string[];
  readonly base: Settings;
  /** Partial settings crossed with the grid (e.g. ProtoNet, RKD-D, RKD-DA). */
  readonly variants: readonly Settings[];
  /** Setting -> values; the points are the cartesian product, the last axis fastest. */
  readonly grid: Readonly<Record<string, readonly SettingValue[]>>;
}

export interface SweepPoint {
  /** Position in the expanded sweep: what shards divide. */
  readonly index: number;
  /** 16 hex digits of the sha256 of the canonical JSON of `settings`. */
  readonly key: string;
  /** `method`, an optional `label`, and the resolved training (or distillation) configuration. */
  readonly settings: Settings;
}

type Kind = 'string' | 'method' | 'int>0' | 'int>=0' | '>0' | '>=0';

/** Every setting a spec may name, and what its values must be. */
export const SETTING_KINDS: Readonly<Record<string, Kind>> = {
  method: 'method',
  label: 'string',
  recipe: 'string',
  dataset: 'string',
  split: 'string',
  dataDir: 'string',
  valSuite: 'string',
  way: 'int>0',
  shot: 'int>0',
  query: 'int>0',
  width: 'int>0',
  augment: 'string',
  episodes: 'int>0',
  lr: '>0',
  lrHalveEvery: 'int>0',
  validateEvery: 'int>0',
  patience: 'int>=0',
  logEvery: 'int>0',
  seed: 'int>=0',
  teacher: 'string',
  generations: 'int>0',
  lambdaD: '>=0',
  lambdaA: '>=0',
  lambdaKD: '>=0',
  temperature: '>0',
};

export const METHODS = ['protonet', 'distill'] as const;
const DISTILL_ONLY = ['teacher', 'generations', 'lambdaD', 'lambdaA', 'lambdaKD', 'temperature'];
/** As `fewshot train` and `fewshot distill` default them. */
const DEFAULTS: Settings = { dataset: 'synthetic', split: 'train', ...DEFAULT_PROTONET };
const DISTILL_DEFAULTS: Settings = { ...rkdWeights('da'), lambdaKD: 0, temperature: 4, generations: 1 };
const SPEC_FIELDS = ['name', 'description', 'runs', 'suites', 'base', 'variants', 'grid'];

/** JSON with object keys sorted at every level: equal settings give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export const pointKey = (settings: Settings): string => sha256(canonicalJson(settings)).slice(0, 16);

function checkName(file: string, field: string, name: string): Kind {
  const kind = SETTING_KINDS[name];
  if (!kind)
    throw new Error(`${file}: unknown setting '${field}' (settings: ${Object.keys(SETTING_KINDS).join(', ')})`);
  return kind;
}

function checkValue(file: string, field: string, name: string, value: unknown): SettingValue {
  const kind = checkName(file, field, name);
  const fail = (what: string) => new Error(`${file}: field '${field}' must be ${what}, got ${JSON.stringify(value)}`);
  if (kind === 'string') {
    if (typeof value !== 'string' || value === '') throw fail('a non-empty string');
  } else if (kind === 'method') {
    if (!(METHODS as readonly unknown[]).includes(value)) throw fail(`one of ${METHODS.join(', ')}`);
  } else {
    const n = value as number;
    if (typeof value !== 'number' || !Number.isFinite(n)) throw fail('a number');
    if (kind.startsWith('int') && !Number.isInteger(n)) throw fail('an integer');
    if (kind.endsWith('>0') && !(n > 0)) throw fail('positive');
    if (kind.endsWith('>=0') && !(n >= 0)) throw fail('non-negative');
  }
  return value as SettingValue;
}

function checkSettings(file: string, field: string, raw: unknown): Settings {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`${file}: field '${field}' must be an object of settings`);
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, checkValue(file, `${field}.${k}`, k, v)]));
}

export function readSweepSpec(file: string): SweepSpec {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readTextFile(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code) throw fileError(file, err, 'cannot read sweep spec');
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: a sweep spec is a JSON object`);
  const unknown = Object.keys(raw).find((k) => !SPEC_FIELDS.includes(k));
  if (unknown) throw new Error(`${file}: unknown field '${unknown}' (fields: ${SPEC_FIELDS.join(', ')})`);
  for (const key of ['name', 'description', 'runs']) {
    if (raw[key] !== undefined && (typeof raw[key] !== 'string' || raw[key] === ''))
      throw new Error(`${file}: field '${key}' must be a non-empty string`);
  }
  const given = raw.suites;
  if (!Array.isArray(given) || given.length === 0 || given.some((s) => typeof s !== 'string')) {
    throw new Error(`${file}: field 'suites' must be a non-empty array of suite JSON files or shipped suite names`);
  }
  const at = <T>(i: number, read: () => T) => {
    try {
      return read();
    } catch (err) {
      throw new Error(`${file}: field 'suites[${i}]': ${(err as Error).message}`, { cause: err });
    }
  };
  const suites = given.map((s: string, i) => at(i, () => resolveSuite(s)));
  const names = suites.map((s, i) => at(i, () => readSuite(s).name));
  // Rows are keyed by (point, suite name).
  const twice = names.findIndex((n, i) => names.indexOf(n) !== i);
  if (twice >= 0)
    throw new Error(`${file}: field 'suites[${twice}]': suite name '${names[twice]}' is already in the list`);
  if (raw.variants !== undefined && (!Array.isArray(raw.variants) || raw.variants.length === 0)) {
    throw new Error(`${file}: field 'variants' must be a non-empty array of settings objects`);
  }
  const gridRaw = raw.grid ?? {};
  if (typeof gridRaw !== 'object' || Array.isArray(gridRaw))
    throw new Error(`${file}: field 'grid' must be an object: setting -> array of values`);
  const grid = Object.fromEntries(
    Object.entries(gridRaw as object).map(([k, values]) => {
      checkName(file, `grid.${k}`, k);
      if (!Array.isArray(values) || values.length === 0)
        throw new Error(`${file}: field 'grid.${k}' must be a non-empty array of values`);
      return [k, values.map((v, i) => checkValue(file, `grid.${k}[${i}]`, k, v))];
    }),
  );
  const name = (raw.name as string | undefined) ?? path.basename(file).replace(/\.json$/i, '');
  return {
    file,
    name,
    description: raw.description as string | undefined,
    runs: (raw.runs as string | undefined) ?? path.join('runs', 'sweeps', name),
    suites,
    base: raw.base === undefined ? {} : checkSettings(file, 'base', raw.base),
    variants: ((raw.variants as unknown[] | undefined) ?? [{}]).map((v, i) => checkSettings(file, `variants[${i}]`, v)),
    grid,
  };
}

/**
 * A point's settings from its recipe, if it names one: the recipe's, and with a `teacher` (the
 * teacher's recipe run folder, which must have finished) the students' stage as `fewshot distill
 * --recipe` trains it: the teacher's budget, its model. A ProtoNet point (a same-budget baseline)
 * takes the budget and leaves the teacher.
 */
function recipeSettings(raw: Settings): Settings {
  if (raw.recipe === undefined) return {};
  const recipe = findRecipe(raw.recipe as string);
  const config = recipeConfig(recipe);
  if (raw.teacher === undefined) {
    const { recipe: _recipe, finalSplit: _finalSplit, ...settings } = config;
    return settings as unknown as Settings;
  }
  const teacher = recipeTeacher(raw.teacher as string);
  if (teacher.config.recipe !== recipe.name)
    throw new Error(`teacher ${raw.teacher}: trained by recipe ${teacher.config.recipe}, not ${recipe.name}`);
  return { ...(finalStageConfig(config, teacher.episodes) as unknown as Settings), teacher: teacher.model };
}

/** Defaults filled in; a ProtoNet point carries no distillation settings (so that it is one point). */
function resolve(raw: Settings): Settings {
  const method = (raw.method as string | undefined) ?? 'protonet';
  const fromRecipe = recipeSettings(raw);
  const settings: Record<string, SettingValue> = {
    ...DEFAULTS,
    ...(method === 'distill' ? DISTILL_DEFAULTS : {}),
    ...fromRecipe,
    ...raw,
    ...(fromRecipe.teacher === undefined ? {} : { teacher: fromRecipe.teacher }),
    method,
  };
  for (const k of Object.keys(settings)) if (settings[k] === undefined) delete settings[k];
  if (settings.augment !== undefined) checkAugmentation(settings.augment as string, 'augment');
  if (method === 'protonet') for (const k of DISTILL_ONLY) delete settings[k];
  return settings;
}

function cartesian(grid: SweepSpec['grid']): Settings[] {
  return Object.entries(grid).reduce<Settings[]>(
    (combos, [name, values]) => combos.flatMap((c) => values.map((v) => ({ ...c, [name]: v }))),
    [{}],
  );
}

/** `width=16 seed=1`: a point's settings among `names`. */
export function describeSettings(settings: Settings, names: readonly string[]): string {
  return names
    .filter((n) => settings[n] !== undefined && settings[n] !== '')
    .map((n) => `${n}=${settings[n]}`)
    .join(' ');
}

/**
 * Settings with two or more values among `records` (absent and empty do not count: a ProtoNet point
 * has no lambdaD, which does not make lambdaD swept), in the order of `names`.
 */
export function varyingSettings(
  records: readonly Settings[],
  names = [...new Set(records.flatMap((r) => Object.keys(r)))],
): string[] {
  return names.filter((n) => new Set(records.map((r) => r[n]).filter((v) => v !== undefined && v !== '')).size > 1);
}

/**
 * The spec's points: each variant crossed with the grid (grid over variant over base), defaults
 * filled in. Points with equal settings (a ProtoNet variant crossed with an RKD weight axis) are one.
 * Each grid combination's variants come together (seed 1's baseline and students, then seed 2's), so
 * that a sweep stopped part way has complete comparisons.
 */
export function expandSweep(spec: SweepSpec): SweepPoint[] {
  const points: SweepPoint[] = [];
  const seen = new Set<string>();
  for (const combo of cartesian(spec.grid)) {
    for (const variant of spec.variants) {
      let settings: Settings;
      try {
        settings = resolve({ ...spec.base, ...variant, ...combo });
      } catch (err) {
        throw new Error(`${spec.file}: ${(err as Error).message}`, { cause: err });
      }
      const key = pointKey(settings);
      if (seen.has(key)) continue;
      seen.add(key);
      points.push({ index: points.length, key, settings });
    }
  }
  const varying = varyingSettings(points.map((p) => p.settings));
  for (const p of points) {
    const where = `${spec.file}: point ${p.index} (${describeSettings(p.settings, varying) || 'the only point'})`;
    const s = p.settings as Record<string, number | string>;
    if (s.method === 'distill' && s.teacher === undefined)
      throw new Error(`${where}: a distill point needs 'teacher' (a model folder) in base, a variant or the grid`);
    if ((s.validateEvery as number) % (s.logEvery as number) !== 0) {
      throw new Error(
        `${where}: 'validateEvery' (${s.validateEvery}) must be a multiple of 'logEvery' (${s.logEvery})`,
      );
    }
  }
  return points;
}

/**
 * The CSV's setting columns for a spec: method, label and the grid axes first, then the other
 * settings that vary, then the constant ones; from all points, so that every shard writes the same.
 */
export function settingColumns(spec: SweepSpec, points: readonly SweepPoint[]): string[] {
  const names = [...new Set(points.flatMap((p) => Object.keys(p.settings)))];
  const varying = new Set(varyingSettings(points.map((p) => p.settings)));
  const first = ['method', 'label', ...Object.keys(spec.grid)].filter((n) => names.includes(n));
  const rest = names.filter((n) => !first.includes(n)).sort();
  return [...first, ...rest.filter((n) => varying.has(n)), ...rest.filter((n) => !varying.has(n))];
}

/** A point's run folder. */
export const pointDir = (spec: SweepSpec, point: SweepPoint) => path.join(spec.runs, point.key);
