/**
 * Progress bars on a terminal (cli-progress, on stderr); silence otherwise, so that piped and
 * logged output stays quiet and parseable.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Advances to `done` of `total`, with an optional short status text. */
  update(done: number, status?: string): void;
  stop(): void;
}

export function progressBar(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY || process.env.CI) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {value}/{total} {percentage}% | {status} | eta {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { status: '' });
  return {
    update: (done, status = '') => bar.update(done, { status }),
    stop: () => bar.stop(),
  };
}
