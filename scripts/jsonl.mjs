// What the result-table scripts share: reading a JSON-lines file, and the median of measurements.
import * as fs from 'node:fs';

/** The objects of a JSON-lines file, one per line. */
export function readJsonl(file) {
  return fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Episodes and seconds of training in a log (one line every few episodes, with its rate). */
export function trainingTime(file) {
  let [episodes, seconds] = [0, 0];
  for (const line of readJsonl(file)) {
    if (line.episodesPerSecond) seconds += (line.episode - episodes) / line.episodesPerSecond;
    episodes = line.episode;
  }
  return { episodes, seconds };
}
