/** Reading tar archives entry by entry (tar-stream), for the importers. */
import tar from 'tar-stream';

/** A byte stream: a file's, or a tar entry's (tar-stream's streams are streamx, not Node's). */
export interface ByteStream extends AsyncIterable<Buffer> {
  pipe(destination: tar.Extract): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  destroy?(): unknown;
}

/** The files of a tar stream as entries: `visit` reads (or skips) each body. */
export async function readTar(
  source: ByteStream,
  where: string,
  visit: (name: string, size: number, body: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  const extract = tar.extract();
  // What `visit` refused (an entry too large, say): its message already names the entry.
  let refused: Error | undefined;
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      // An entry destroyed with the archive repeats the error: heard here, not thrown as uncaught.
      body.on('error', () => undefined);
      visit(header.name, header.size ?? 0, body as AsyncIterable<Buffer>).then(
        () => next(),
        (err: Error) => {
          refused = err;
          extract.destroy(err);
          source.destroy?.();
        },
      );
    });
    extract.on('finish', () => resolve());
    extract.on('error', (err) => reject(err));
    source.on('error', (err) => extract.destroy(err));
  });
  source.pipe(extract);
  try {
    await done;
  } catch (err) {
    if (refused) throw refused;
    throw new Error(`${where}: not a readable tar (${(err as Error).message}); a truncated or corrupt download?`, {
      cause: err,
    });
  }
}

/** A stream's bytes, whole. */
export async function drain(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}
