/**
 * Frozen episodes as CSV (written by fast-csv, read by ../csv.ts), one row per image:
 * `episode,role,class,image`, with ids rather than indices, so that any run, or any other
 * framework, evaluates exactly the same tasks.
 */
import * as crypto from 'node:crypto';
import { writeToString } from 'fast-csv';
import { readCsvRows } from '../csv.js';
import type { FewShotDataset, ImageRef } from '../data/dataset.js';
import { writeFileAtomic } from '../atomic.js';
import type { Episode, EpisodeShape } from './sampler.js';

export const MANIFEST_HEADERS = ['episode', 'role', 'class', 'image'] as const;
type Row = Record<(typeof MANIFEST_HEADERS)[number], string>;

export interface FrozenEpisodes {
  readonly shape: EpisodeShape;
  readonly episodes: readonly Episode[];
}

/**
 * The manifest's CSV text: its bytes are what a suite's sha256 covers. Rows whose fields fast-csv
 * would write as they are (see `plainField`) are joined directly, 10x faster than fast-csv on the
 * 400k rows of a 20-way 5-shot suite, to the same text; any other field sends all through fast-csv.
 */
export async function manifestText(dataset: FewShotDataset, episodes: Iterable<Episode>): Promise<string> {
  const rows: string[][] = [];
  let plain = true;
  for (const ep of episodes) {
    for (const [role, refs] of [['support', ep.support], ['query', ep.query]] as const) {
      for (const ref of refs) {
        const row = [String(ep.index), role, dataset.classIds[ref.classIndex], dataset.imageId(ref)];
        plain &&= plainField(row[2]) && plainField(row[3]);
        rows.push(row);
      }
    }
  }
  if (plain && rows.length > 0) return [MANIFEST_HEADERS, ...rows].map((r) => r.join(',')).join('\n') + '\n';
  return (await writeToString(rows, { headers: [...MANIFEST_HEADERS], includeEndRowDelimiter: true }));
}

/**
 * Whether fast-csv writes a field unchanged: no quote, comma, line break, '|' (its escape pattern,
 * `[,\n|\r|\n]`, holds one) or NUL (which it drops).
 */
export function plainField(field: string): boolean {
  return !/[",\n\r|\0]/.test(field);
}

export function sha256(text: string | Uint8Array): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

export function writeManifest(file: string, text: string): void {
  writeFileAtomic(file, [Buffer.from(text, 'utf8')]);
}

interface EpisodeDraft {
  index: number;
  line: number;
  classes: number[];
  support: Map<number, ImageRef[]>;
  query: Map<number, ImageRef[]>;
  /** The episode's images so far, as classIndex * 2^26 + imageIndex (numbers hash faster than ids). */
  seen: Set<number>;
}

/**
 * Reads a manifest against the dataset it names images of. Every episode must have the same way,
 * shot and query counts; any malformed row is refused with its line number.
 * @param bytes the file's contents, when the caller has read them already (to hash them)
 */
export async function readManifest(file: string, dataset: FewShotDataset, bytes?: Buffer): Promise<FrozenEpisodes> {
  const drafts: EpisodeDraft[] = [];
  const indices = new Set<number>();
  let line = 1; // of the row being read, for the episode-level errors below
  let episodeText = ''; // the last row's, checked already
  const fail = (at: number, why: string) => new Error(`${file}:${at}: ${why}`);

  await readCsvRows(file, MANIFEST_HEADERS, (row, at) => {
    line = at;
    addRow(row);
  }, bytes);

  function addRow(row: Row): void {
    let draft = drafts[drafts.length - 1];
    // Rows of an episode are consecutive: its number is checked on its first row.
    if (row.episode !== episodeText) {
      const index = Number(row.episode);
      if (!/^\d+$/.test(row.episode)) throw new Error(`episode '${row.episode}' is not a non-negative integer`);
      if (!draft || draft.index !== index) {
        if (indices.has(index)) throw new Error(`episode ${index} appears in two places`);
        indices.add(index);
        draft = { index, line, classes: [], support: new Map(), query: new Map(), seen: new Set() };
        drafts.push(draft);
      }
      episodeText = row.episode;
    }
    if (row.role !== 'support' && row.role !== 'query') {
      throw new Error(`role '${row.role}', expected 'support' or 'query'`);
    }
    const ref = dataset.findImage(row.image);
    if (!ref) throw new Error(`image '${row.image}' is not in ${dataset.name}`);
    if (dataset.classIds[ref.classIndex] !== row.class) {
      throw new Error(`image '${row.image}' does not belong to class '${row.class}'`);
    }
    const byClass = row.role === 'support' ? draft.support : draft.query;
    if (!draft.classes.includes(ref.classIndex)) {
      if (row.role === 'query') throw new Error(`class '${row.class}' has a query before any support image`);
      draft.classes.push(ref.classIndex);
    }
    const refs = byClass.get(ref.classIndex) ?? [];
    const key = ref.classIndex * 2 ** 26 + ref.imageIndex;
    if (draft.seen.has(key)) throw new Error(`image '${row.image}' appears twice in episode ${draft.index}`);
    draft.seen.add(key);
    refs.push(ref);
    byClass.set(ref.classIndex, refs);
  }

  if (drafts.length === 0) throw fail(1, 'no episodes');
  let shape: EpisodeShape | undefined;
  const episodes = drafts.map((d) => {
    const count = (m: Map<number, ImageRef[]>) => d.classes.map((c) => m.get(c)?.length ?? 0);
    const shots = count(d.support);
    const queries = count(d.query);
    const own = { way: d.classes.length, shot: shots[0], query: queries[0] };
    if (shots.some((s) => s !== own.shot) || queries.some((q) => q !== own.query)) {
      throw fail(d.line, `episode ${d.index} has unequal shots or queries per class`);
    }
    shape ??= own;
    if (own.way !== shape.way || own.shot !== shape.shot || own.query !== shape.query) {
      throw fail(d.line, `episode ${d.index} is ${own.way}-way ${own.shot}-shot ${own.query}-query, ` +
        `the first is ${shape.way}-way ${shape.shot}-shot ${shape.query}-query`);
    }
    const flat = (m: Map<number, ImageRef[]>) => d.classes.flatMap((c) => m.get(c) ?? []);
    return { index: d.index, classes: d.classes, support: flat(d.support), query: flat(d.query) };
  });
  return { shape: shape!, episodes };
}
