/**
 * The model zoo: trained models shipped in the repository's `models/` folder (or the folder
 * `$FEWSHOT_ZOO` names), each a checkpoint as the framework writes it plus its model card
 * (`card.json`, and `README.md`, the same in a few readable lines). A model is named after the
 * recipe that trained it (`protonet-cifar-fs-1shot`, `snell2017-omniglot-1shot`), and every command
 * or function that takes a model folder takes a zoo name too: `resolveModel` turns a name that is
 * not a path into the zoo folder and the sha256 its weights must have, which the loader checks on
 * the bytes it loads (a tampered or truncated model is refused, naming the file).
 *
 * This module reads cards only; `zoo-add.ts` writes them from a run folder and its results.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTextFile } from '../files.js';
import { PACKAGE_ROOT } from '../provenance.js';

export const CARD_JSON = 'card.json';
export const CARD_README = 'README.md';
export const CARD_FORMAT = 1;

/** One suite's committed evaluation of a zoo model: the README row it reproduces. */
export interface CardResult {
  readonly suite: string;
  /** sha256 of the suite's manifest (which episodes). */
  readonly suiteSha256: string;
  readonly way: number;
  readonly shot: number;
  readonly query: number;
  readonly episodes: number;
  readonly accuracy: number;
  readonly ci95: number;
  /** The committed per-episode CSV, relative to the package root, and its sha256. */
  readonly episodesCsv: string;
  readonly episodesCsvSha256: string;
  /** The backend line of the evaluation that wrote the CSV. */
  readonly backend: string;
  /** The command that writes the CSV again (byte-identical), run from the package root. */
  readonly reproduce: string;
}

export interface ModelCard {
  readonly format: number;
  readonly name: string;
  readonly description: string;
  /** The recipe that trained it, and the exact command (with its environment, from the cache root). */
  readonly recipe?: string;
  readonly command: string;
  /** The run's settings (its config.json without provenance). */
  readonly config: Readonly<Record<string, unknown>>;
  /**
   * The code that trained it: package, version, git commit (and where the commit was read). A run
   * that recorded no provenance has no version; its commit is the one `--code-commit` gave.
   */
  readonly code: {
    readonly package: string;
    readonly version?: string;
    readonly gitCommit?: string;
    readonly gitCommitFrom?: 'provenance' | 'given';
  };
  /** Backend, CPU, Node and tfjs versions of the training run (its config.json's provenance; `{}` without one). */
  readonly trainedOn: Readonly<Record<string, unknown>>;
  /**
   * Only on the card of a run written by a code version that recorded no provenance (no code,
   * machine or times in its config.json and checkpoints): `not recorded by this code version`.
   */
  readonly provenance?: string;
  readonly training: {
    /** Episodes trained, and the episode of the kept (best) model. */
    readonly episodes: number;
    readonly modelEpisode: number;
    /** Validation of the kept model, where there was one. */
    readonly validation?: { readonly accuracy: number; readonly ci95: number; readonly loss: number };
    /**
     * Wall time from the run's start to its last checkpoint (validation included), as its provenance
     * records the times; absent when the run recorded none.
     */
    readonly started?: string;
    readonly ended?: string;
    readonly wallSeconds?: number;
    /**
     * Only where the run recorded no times: its training time computed from the committed training
     * log (below), the sum over the log's lines of the episodes since the previous line divided by
     * the line's episodesPerSecond (validations not timed), to 0.1 s; `trainingSecondsFrom` says so.
     */
    readonly trainingSeconds?: number;
    readonly trainingSecondsFrom?: string;
    /** The episode budget a distillation against this teacher with `--recipe` gets. */
    readonly studentEpisodes?: number;
    /** The committed training log (relative to the package root) and its sha256. */
    readonly log: { readonly file: string; readonly sha256: string; readonly bytes: number };
  };
  readonly weights: { readonly file: string; readonly bytes: number; readonly sha256: string };
  readonly results: readonly CardResult[];
}

/** The zoo folder: `$FEWSHOT_ZOO`, else the package's `models/`. */
export function zooDir(): string {
  return process.env.FEWSHOT_ZOO ? path.resolve(process.env.FEWSHOT_ZOO) : path.join(PACKAGE_ROOT, 'models');
}

/** A zoo name: lower-case words and digits joined by dashes (never a path). */
export const ZOO_NAME = /^[a-z0-9]+(?:[.-][a-z0-9]+)*$/;

/** The names of the zoo's models (folders holding a card), sorted. */
export function zooNames(zoo = zooDir()): string[] {
  if (!fs.existsSync(zoo)) return [];
  return fs
    .readdirSync(zoo, { withFileTypes: true })
    .filter((e) => e.isDirectory() && ZOO_NAME.test(e.name) && fs.existsSync(path.join(zoo, e.name, CARD_JSON)))
    .map((e) => e.name)
    .sort();
}

/** Reads and checks a zoo model's card; throws naming the card file or the unknown name. */
export function readCard(name: string, zoo = zooDir()): ModelCard {
  const file = path.join(zoo, name, CARD_JSON);
  if (!ZOO_NAME.test(name) || !fs.existsSync(file)) throw unknownModel(name, zoo);
  let card: ModelCard;
  try {
    card = JSON.parse(readTextFile(file)) as ModelCard;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message}): a torn or edited model card`, {
      cause: err,
    });
  }
  if (card.format !== CARD_FORMAT || card.name !== name || !/^[0-9a-f]{64}$/.test(card.weights?.sha256 ?? ''))
    throw new Error(`${file}: not a format-${CARD_FORMAT} model card of '${name}' with the weights' sha256`);
  return card;
}

function unknownModel(name: string, zoo: string): Error {
  const names = zooNames(zoo);
  return new Error(
    `${name}: neither a model folder nor a zoo model (${names.length ? `the zoo has ${names.join(', ')}` : `no models in ${zoo}`}; 'fewshot models' lists them)`,
  );
}

/** Where a model argument leads: a folder, and for a zoo model its name and the weights' sha256. */
export interface ModelLocation {
  readonly dir: string;
  readonly zooName?: string;
  readonly weightsSha256?: string;
}

/**
 * A model argument: an existing path (or anything path-like: a slash, a leading dot) is a folder;
 * otherwise a zoo name, whose card must exist. A name that is also a folder in the current one is
 * the folder (write `./name` or rename it to be sure).
 */
export function resolveModel(spec: string, zoo = zooDir()): ModelLocation {
  if (fs.existsSync(spec) || !ZOO_NAME.test(spec)) return { dir: spec };
  const card = readCard(spec, zoo);
  return { dir: path.join(zoo, spec), zooName: spec, weightsSha256: card.weights.sha256 };
}

/** True when `spec` names a zoo model (and no path). */
export function isZooModel(spec: string, zoo = zooDir()): boolean {
  return !fs.existsSync(spec) && ZOO_NAME.test(spec) && fs.existsSync(path.join(zoo, spec, CARD_JSON));
}

/** The card's readable lines (the model folder's README.md and `fewshot models show`). */
export function cardText(card: ModelCard): string {
  const pct = (x: number) => (100 * x).toFixed(2);
  const t = card.training;
  const lines = [
    `# ${card.name}`,
    '',
    card.description,
    '',
    `- Trained by: \`${card.command}\``,
    `- Code: ${card.code.package}${card.code.version !== undefined ? ` ${card.code.version}` : ''}${card.code.gitCommit ? ` (commit ${card.code.gitCommit})` : ''}; ` +
      (card.provenance
        ? `provenance ${card.provenance} (no backend, machine or times)`
        : String(card.trainedOn.backend ?? 'backend not recorded')),
    `- Training: ${t.episodes} episodes, model of episode ${t.modelEpisode}` +
      (t.validation
        ? ` (validation ${pct(t.validation.accuracy)} +- ${pct(t.validation.ci95)}%, loss ${t.validation.loss.toFixed(4)})`
        : '') +
      (t.wallSeconds !== undefined
        ? `; ${(t.wallSeconds / 3600).toFixed(2)} h (${t.started} to ${t.ended})`
        : t.trainingSeconds !== undefined
          ? `; ${(t.trainingSeconds / 3600).toFixed(2)} h of training, computed from the training log's rates (validations not timed)`
          : '; no training time recorded'),
    `- Weights: ${card.weights.file}, ${card.weights.bytes} bytes, sha256 ${card.weights.sha256}`,
    `- Training log: ${t.log.file}, sha256 ${t.log.sha256}`,
    ...card.results.flatMap((r) => [
      `- ${r.suite}: ${pct(r.accuracy)} +- ${pct(r.ci95)}% over ${r.episodes} episodes; per-episode ${r.episodesCsv}, sha256 ${r.episodesCsvSha256}`,
      `  reproduce: \`${r.reproduce}\``,
    ]),
  ];
  return lines.join('\n') + '\n';
}
