/**
 * Every file below a folder, for the importers. Unlike `fs.readdirSync(dir, { recursive: true })`,
 * which follows a symlink back to an ancestor until the heap is exhausted, a folder reached twice
 * (a loop, or two links to one folder, whose images would count twice) is refused by name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface WalkOptions {
  /** Follow symlinks to folders and files (true: a dataset assembled from links); false lists a link as a file. */
  readonly followLinks: boolean;
}

/** Paths relative to `root` of every file (or, without followLinks, link) below it, in directory order. */
export function walkFiles(root: string, options: WalkOptions): string[] {
  const files: string[] = [];
  const seen = new Map<string, string>([[fs.realpathSync(root), '.']]);
  const visit = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel === '.' ? entry.name : path.join(rel, entry.name);
      const full = path.join(root, child);
      let isDir = entry.isDirectory();
      if (entry.isSymbolicLink() && options.followLinks) {
        const target = fs.statSync(full, { throwIfNoEntry: false });
        if (!target) throw new Error(`${full}: a symlink to nothing (${fs.readlinkSync(full)})`);
        isDir = target.isDirectory();
      }
      if (!isDir) {
        files.push(child);
        continue;
      }
      const real = fs.realpathSync(full);
      const before = seen.get(real);
      if (before !== undefined) {
        throw new Error(
          `${full}: reaches ${path.join(root, before)} again through a symlink (a folder loop, or the same images twice); remove the link`,
        );
      }
      seen.set(real, child);
      visit(child);
    }
  };
  visit('.');
  return files;
}
