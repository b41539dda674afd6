/**
 * Adds a model to the zoo from its training run folder and its committed evaluation (the folder
 * `fewshot eval ... --out` wrote): copies the checkpoint, and writes the model card from what the
 * run and the evaluation recorded (`fewshot models add`). Cards are never written by hand.
 */
import type { SuiteScore } from '../eval/evaluate.js';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileComplete, writeFolderAtomic } from '../atomic.js';
import { readRegularFile, readTextFile } from '../files.js';
import { PACKAGE_ROOT } from '../provenance.js';
import { readLogLines } from '../report/curves.js';
import { defaultCacheRoot } from '../data/open.js';
import { RECIPES, recipeConfig, recipeTeacher } from './recipe.js';
import { readRunConfig, runPaths } from './run-folder.js';
import {
  CARD_FORMAT,
  CARD_JSON,
  CARD_README,
  CardResult,
  ModelCard,
  ZOO_NAME,
  cardText,
  zooDir,
} from '../models/zoo.js';

export interface AddOptions {
  /** The training run folder (a recipe run, or a training run whose best/ is the model). */
  readonly run: string;
  /** The evaluation folder (summary.json, <suite>.episodes.csv, train-log.jsonl), inside the package. */
  readonly results: string;
  /** Default: the run's recipe. */
  readonly name?: string;
  /**
   * The git commit of the code that trained it, when the run's provenance has none (a snapshot outside
   * git); required for a run that recorded no provenance at all (code before commit 2840c4f).
   */
  readonly codeCommit?: string;
  /** The exact training command, when it is not the recipe's own (`fewshot train --recipe NAME`). */
  readonly command?: string;
  readonly zoo?: string;
  /** Replace a zoo model of the same name. */
  readonly replace?: boolean;
  /** The folder the card's paths (log, per-episode CSVs) are relative to: the package root (tests: their own). */
  readonly root?: string;
}

const sha256 = (file: string) => createHash('sha256').update(readRegularFile(file)).digest('hex');

/** A path inside the package, as cards record it (posix, relative to the package root). */
function packagePath(file: string, what: string, root: string): string {
  const rel = path.relative(root, path.resolve(file));
  if (rel.startsWith('..') || path.isAbsolute(rel))
    throw new Error(`${file}: ${what} must be committed inside the package (${root}) for the card to name it`);
  return rel.split(path.sep).join('/');
}

function readJson<T>(file: string): T {
  if (!fs.existsSync(file)) throw new Error(`${file}: missing`);
  try {
    return JSON.parse(readTextFile(file)) as T;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

type Provenanced = Record<string, unknown> & { provenance?: Record<string, unknown> };

/** How a card without recorded times got its training time (`trainingSecondsFrom`). */
export const LOGGED_SECONDS =
  'computed from the training log (training.log): the sum over its lines of (episodes since the previous line) / episodesPerSecond, to 0.1 s (validations not timed)';

/**
 * A run's training time as its log's rates give it: each line's episodes since the line before,
 * divided by the line's episodesPerSecond (which times the interval's episodes, not the validation
 * after them), summed; to 0.1 s. A line without an episode past the last one or a positive rate is
 * refused, naming it: the time would be a guess.
 */
export function loggedSeconds(log: string): number {
  let seconds = 0;
  let previous = 0;
  readLogLines(log).lines.forEach(({ episode, episodesPerSecond: rate }, i) => {
    if (!((episode as number) > previous) || typeof rate !== 'number' || !(rate > 0) || !Number.isFinite(rate))
      throw new Error(
        `${log}: line ${i + 1} has no episode past ${previous} with a positive episodesPerSecond: no training time can be computed from the log`,
      );
    seconds += ((episode as number) - previous) / rate;
    previous = episode as number;
  });
  if (previous === 0) throw new Error(`${log}: no log lines: no training time can be computed from it`);
  return Math.round(seconds * 10) / 10;
}

/** The command that trained the run: the recipe's, with the thread count the run had. */
function trainingCommand(run: string, config: Provenanced, given?: string): string {
  if (given) return given;
  const recipe = typeof config.recipe === 'string' ? RECIPES[config.recipe] : undefined;
  if (!recipe) throw new Error(`${run}: not a recipe run; give the exact training command (--command)`);
  const { provenance: _p, ...settings } = config;
  const expected = recipeConfig(recipe);
  const same = (Object.keys({ ...expected, ...settings }) as (keyof typeof expected)[]).every(
    (k) => JSON.stringify(settings[k]) === JSON.stringify(expected[k]),
  );
  if (!same)
    throw new Error(
      `${run}: its settings are not recipe ${recipe.name}'s own; give the exact training command (--command)`,
    );
  const threads = /, (\d+) threads?\)/.exec(String(config.provenance?.backend ?? ''))?.[1];
  const root = defaultCacheRoot();
  const rel = path.relative(root, path.resolve(run));
  const inCache = !rel.startsWith('..') && !path.isAbsolute(rel);
  return (
    (inCache ? `cd ${root === process.env.FEWSHOT_CACHE ? '$FEWSHOT_CACHE' : '~/.cache/fewshot-rkd'} && ` : '') +
    (threads ? `OMP_NUM_THREADS=${threads} ` : '') +
    `fewshot train --recipe ${recipe.name} --out ${inCache ? rel.split(path.sep).join('/') : run}`
  );
}

/** Copies the run's model into the zoo and writes its card; returns the card. */
export async function addToZoo(options: AddOptions): Promise<ModelCard> {
  const { run, results } = options;
  const root = options.root ?? PACKAGE_ROOT;
  const config = readRunConfig<Provenanced>(run);
  const name = options.name ?? (config.recipe as string | undefined);
  if (!name) throw new Error(`${run}: not a recipe run; name the model (--name)`);
  if (!ZOO_NAME.test(name)) throw new Error(`--name ${name}: lower-case words and digits joined by dashes`);
  const zoo = options.zoo ?? zooDir();
  const target = path.join(zoo, name);
  if (fs.existsSync(target) && !options.replace)
    throw new Error(`${target}: the zoo already has ${name} (--replace to replace it)`);

  // The model and the training run that produced it.
  const recipe = config.recipe ? recipeTeacher(run) : undefined;
  const modelDir = recipe?.model ?? runPaths(run).best;
  // Read only: the run folder may belong to runs still going (no recovery of torn folders there).
  if (!fs.existsSync(path.join(modelDir, 'model.json'))) throw new Error(`${modelDir}: no model there`);
  const stage = path.dirname(modelDir);
  const best = readJson<{ episode: number; valAccuracy?: number; valCi95?: number; valLoss?: number }>(
    path.join(modelDir, 'state.json'),
  );
  const last = readJson<{ episode: number; provenance?: { time?: string } }>(
    path.join(runPaths(stage).checkpoint, 'state.json'),
  );
  // A run of a code version that recorded no provenance (neither in config.json nor in checkpoints):
  // its card says so, names the code by the commit the caller gives, and has no times but the log's.
  const legacy = config.provenance === undefined && last.provenance === undefined;
  if (legacy && !options.codeCommit)
    throw new Error(
      `${path.join(run, 'config.json')}: records no provenance (a run of a code version before runs recorded it); ` +
        'give the git commit of the code that trained it (--code-commit) to add it',
    );
  const started = String(config.provenance?.time ?? '');
  const ended = String(last.provenance?.time ?? '');
  if (!legacy && (!started || !ended)) throw new Error(`${run}: its config.json or last checkpoint records no time`);

  // The committed training log must be the run's own.
  const log = path.join(results, 'train-log.jsonl');
  if (!fs.existsSync(log)) throw new Error(`${log}: missing (the results folder holds the run's training log)`);
  if (sha256(log) !== sha256(runPaths(stage).log))
    throw new Error(`${log}: not the run's training log (${runPaths(stage).log} differs)`);
  const times = legacy
    ? {
        trainingSeconds: loggedSeconds(log),
        trainingSecondsFrom: LOGGED_SECONDS,
      }
    : {
        started,
        ended,
        wallSeconds: Math.round((Date.parse(ended) - Date.parse(started)) / 1000),
      };

  // The committed evaluation: every suite of summary.json, with its per-episode CSV.
  const summary = readJson<{ scores: SuiteScore[] }>(path.join(results, 'summary.json'));
  const evalThreads = (backend: string) => /, (\d+) threads?\)/.exec(backend)?.[1];
  const resultRows: CardResult[] = summary.scores.map((s) => {
    const csv = path.join(results, `${s.suite}.episodes.csv`);
    if (!fs.existsSync(csv)) throw new Error(`${csv}: missing (summary.json scores suite ${s.suite})`);
    const committed = packagePath(csv, 'the per-episode CSV', root);
    const threads = evalThreads(s.backend);
    const out = `/tmp/zoo-check/${name}`;
    return {
      suite: s.suite,
      suiteSha256: s.sha256,
      way: s.way,
      shot: s.shot,
      query: s.query,
      episodes: s.episodes,
      accuracy: s.accuracy,
      ci95: s.ci95,
      episodesCsv: committed,
      episodesCsvSha256: sha256(csv),
      backend: s.backend,
      reproduce:
        `${threads ? `OMP_NUM_THREADS=${threads} ` : ''}fewshot eval ${name} ${s.suite} --out ${out} && ` +
        `cmp ${out}/${s.suite}.episodes.csv ${committed}`,
    };
  });
  if (resultRows.length === 0) throw new Error(`${results}/summary.json: no scores`);

  const { provenance, ...settings } = config;
  const code = {
    package: String(provenance?.package ?? 'fewshot-rkd'),
    ...(legacy ? {} : { version: String(provenance?.version ?? '') }),
    ...(provenance?.gitCommit
      ? { gitCommit: String(provenance.gitCommit), gitCommitFrom: 'provenance' as const }
      : options.codeCommit
        ? { gitCommit: options.codeCommit, gitCommitFrom: 'given' as const }
        : {}),
  };
  const weights = path.join(modelDir, 'weights.bin');
  const card: ModelCard = {
    format: CARD_FORMAT,
    name,
    description: RECIPES[String(config.recipe)]?.description ?? `trained by ${run}`,
    ...(config.recipe ? { recipe: String(config.recipe) } : {}),
    command: trainingCommand(run, config, options.command),
    config: settings,
    code,
    trainedOn: provenance ?? {},
    ...(legacy ? { provenance: 'not recorded by this code version' } : {}),
    training: {
      episodes: last.episode,
      modelEpisode: best.episode,
      ...(best.valAccuracy !== undefined
        ? { validation: { accuracy: best.valAccuracy, ci95: best.valCi95 ?? NaN, loss: best.valLoss ?? NaN } }
        : {}),
      ...times,
      ...(recipe ? { studentEpisodes: recipe.episodes } : {}),
      log: { file: packagePath(log, 'the training log', root), sha256: sha256(log), bytes: fs.statSync(log).size },
    },
    weights: { file: 'weights.bin', bytes: fs.statSync(weights).size, sha256: sha256(weights) },
    results: resultRows,
  };
  // The checkpoint as the framework wrote it (model.json, weights.bin, state.json), and the card.
  fs.mkdirSync(zoo, { recursive: true });
  await writeFolderAtomic(target, async (tmp) => {
    for (const file of ['model.json', 'weights.bin', 'state.json'])
      if (fs.existsSync(path.join(modelDir, file)))
        writeFileComplete(path.join(tmp, file), [readRegularFile(path.join(modelDir, file))]);
    writeFileComplete(path.join(tmp, CARD_JSON), [Buffer.from(JSON.stringify(card, null, 2) + '\n')]);
    writeFileComplete(path.join(tmp, CARD_README), [Buffer.from(cardText(card))]);
  });
  return card;
}
