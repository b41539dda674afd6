/** Per-episode accuracies as CSV (fast-csv): `episode,accuracy`, so runs compare episode by episode. */
import { writeToString } from 'fast-csv';
import { readCsvRows } from '../csv.js';
import { writeFileAtomic } from '../atomic.js';

export interface EpisodeAccuracies {
  readonly episodeIndices: readonly number[];
  readonly accuracies: readonly number[];
}

export async function writeEpisodeAccuracies(file: string, result: EpisodeAccuracies): Promise<void> {
  const rows = result.episodeIndices.map((e, i) => [e, result.accuracies[i]]);
  const text = await writeToString(rows, { headers: ['episode', 'accuracy'], includeEndRowDelimiter: true });
  writeFileAtomic(file, [Buffer.from(text)]);
}

export async function readEpisodeAccuracies(file: string): Promise<EpisodeAccuracies> {
  const episodeIndices: number[] = [];
  const accuracies: number[] = [];
  await readCsvRows(file, ['episode', 'accuracy'], (row) => {
    const [e, a] = [Number(row.episode), Number(row.accuracy)];
    if (!Number.isInteger(e) || !(a >= 0 && a <= 1)) throw new Error('expected an episode number and an accuracy in [0, 1]');
    episodeIndices.push(e);
    accuracies.push(a);
  });
  return { episodeIndices, accuracies };
}
