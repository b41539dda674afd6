/** Entries of a real zip (the Omniglot archives beside the clone), read as the tests that sample one need them. */
import yauzl from 'yauzl';

/** One entry of a zip: its name in the zip, and its bytes. */
export interface ZipEntry {
  readonly name: string;
  readonly bytes: Buffer;
}

/**
 * The entries of `zipPath` that `keep` selects by name (asked once an entry, in the zip's order), with their bytes, in
 * the zip's order, in one pass over its entry list: one reader for every test that samples a real zip.
 */
export function readZipEntries(zipPath: string, keep: (name: string) => boolean): Promise<ZipEntry[]> {
  return new Promise((resolve, reject) => {
    const found: ZipEntry[] = [];
    yauzl.open(zipPath, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      zip.on('error', reject);
      zip.on('end', () => resolve(found));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (!keep(entry.fileName)) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          stream
            .on('data', (c: Buffer) => chunks.push(c))
            .on('error', reject)
            .on('end', () => {
              found.push({ name: entry.fileName, bytes: Buffer.concat(chunks) });
              zip.readEntry();
            });
        });
      });
      zip.readEntry();
    });
  });
}
