/** Per-episode accuracies as CSV (fast-csv): `episode,accuracy`, so runs compare episode by episode. */
import * as fs from 'node:fs';
import { parse, writeToString } from 'fast-csv';
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
  let line = 1;
  await new Promise<void>((resolve, reject) => {
    const input = fs.createReadStream(file).on('error', (err) => reject(new Error(`${file}: ${(err as NodeJS.ErrnoException).code ?? err}`)));
    const stream = parse<Record<string, string>, Record<string, string>>({ headers: true, strictColumnHandling: true });
    stream
      .on('headers', (h: string[]) => {
        if (h.join(',') !== 'episode,accuracy') stream.destroy(new Error(`${file}:1: header '${h.join(',')}', expected 'episode,accuracy'`));
      })
      .on('data-invalid', () => stream.destroy(new Error(`${file}:${++line}: expected 2 columns`)))
      .on('data', (row: Record<string, string>) => {
        line++;
        const [e, a] = [Number(row.episode), Number(row.accuracy)];
        if (!Number.isInteger(e) || !(a >= 0 && a <= 1)) {
          stream.destroy(new Error(`${file}:${line}: expected an episode number and an accuracy in [0, 1]`));
          return;
        }
        episodeIndices.push(e);
        accuracies.push(a);
      })
      .on('error', reject)
      .on('end', () => resolve());
    input.pipe(stream);
  });
  return { episodeIndices, accuracies };
}
