/**
 * Progress bars on a terminal (cli-progress, on stderr); silence otherwise, so that piped and
 * logged output stays quiet and parseable. Log lines printed while a bar runs go through
 * `printLine`, which clears the bar's line, prints, and redraws the bar below: never interleaved.
 */
import cliProgress from 'cli-progress';
import type { LogLine } from '../train/run-folder.js';

export interface Progress {
  /** Advances to `done` of `total`; `status` (short text) stays until replaced. */
  update(done: number, status?: string): void;
  stop(): void;
}

/** The bar on screen, if any: a terminal shows one at a time. */
let active: { bar: cliProgress.SingleBar; stream: NodeJS.WriteStream } | undefined;

/** Prints a line to stdout above the running bar (or plainly, when none runs or stdout is not the terminal). */
export function printLine(text: string): void {
  if (!active || !process.stdout.isTTY) {
    console.log(text);
    return;
  }
  // Clear the bar's line and let long lines wrap (the bar turns wrapping off while it runs).
  active.stream.write('\r\x1b[2K\x1b[?7h');
  process.stdout.write(text + '\n');
  // The bar restores the cursor it saved at its start when it stops: save it again on its new line.
  active.stream.write('\x1b[?7l\x1b7');
  active.bar.render();
}

/** The bar's status from a training log line: loss, accuracy and, when validated, validation accuracy. */
export function logStatus(line: LogLine): string {
  const l = line as unknown as Record<string, number | undefined>;
  const parts = [`loss ${(l.loss ?? NaN).toFixed(3)}`];
  if (l.accuracy !== undefined) parts.push(`acc ${(100 * l.accuracy).toFixed(1)}%`);
  if (l.valAccuracy !== undefined) parts.push(`val ${(100 * l.valAccuracy).toFixed(1)}%`);
  return parts.join(' ');
}

/** Stops the bar on screen, if any (a command that failed leaves its bar running). */
export function stopProgress(): void {
  active?.bar.stop();
  active = undefined;
}

export function progressBar(
  label: string,
  total: number,
  unit: string,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  if (!stream.isTTY || process.env.CI) return { update() {}, stop() {} };
  stopProgress();
  const bar = new cliProgress.SingleBar(
    {
      stream,
      // {status} is empty until a caller gives one (training: the last log line's figures).
      format: `${label} [{bar}] {value}/{total} ${unit} {percentage}%{status} | eta {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      // Redraw even when the text is unchanged: printLine has just cleared the line.
      forceRedraw: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { status: '' });
  const mine = { bar, stream };
  active = mine;
  return {
    update: (done, status) => bar.update(done, status === undefined ? {} : { status: ` | ${status}` }),
    stop: () => {
      bar.stop();
      if (active === mine) active = undefined;
    },
  };
}

/** A bar over a run of one or more generations: episode e of generation g is (g - 1) x episodes + e. */
export interface GenerationsProgress extends Progress {
  generation(g: number): void;
}

export function generationsBar(label: string, episodes: number, generations = 1): GenerationsProgress {
  const bar = progressBar(label, episodes * generations, 'episodes');
  let offset = 0;
  return {
    generation: (g) => (offset = (g - 1) * episodes),
    update: (e, status) => bar.update(offset + e, status),
    stop: () => bar.stop(),
  };
}
