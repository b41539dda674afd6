/**
 * miniImageNet's images straight from the ILSVRC2012 training set, chosen by the rule of the widely
 * used mini-ImageNet tools (yaoyao-liu/mini-imagenet-tools, `mini_imagenet_generator.py`): the Ravi
 * split CSVs name images `<wnid><8 digits>.jpg`, and the last four digits k pick the k-th (from 1)
 * of the class's training files `<wnid>_<n>.JPEG` ordered by the number n. So
 * `n0153282900000005.jpg` is the file of class n01532829 with the 5th smallest n.
 *
 * Sources: the official `ILSVRC2012_img_train.tar` (a tar holding one tar per class), a folder of
 * those per-class tars, or the extracted training folder (`<wnid>/<wnid>_<n>.JPEG`). Read from tars,
 * the chosen images are written to a staging folder (about 7 GB for all 60,000), which the caller
 * imports and removes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError } from '../atomic.js';
import { checkImageFileSize } from './images.js';
import { ByteStream, drain, readTar } from './tar.js';
import type { RaviSplit } from './miniimagenet.js';

/** A CSV image's position among its class's training files (from 1): the four digits before the extension. */
export function imageNetPosition(csvFilename: string): number {
  const m = /(\d{4})\.[A-Za-z]+$/.exec(csvFilename);
  if (!m) throw new Error(`image ${csvFilename} does not end in four digits before its extension`);
  return Number(m[1]);
}

/** The number n of an ImageNet training file `<wnid>_<n>.JPEG`, or undefined for any other name. */
function imageNetNumber(wnid: string, name: string): number | undefined {
  const m = /^(n\d+)_(\d+)\.jpe?g$/i.exec(path.basename(name));
  return m && m[1] === wnid ? Number(m[2]) : undefined;
}

/** Wanted images by class: the CSV rows that name each class, across splits. */
function wantedByClass(splits: readonly RaviSplit[]): Map<string, { file: string; row: RaviSplit['rows'][number] }[]> {
  const wanted = new Map<string, { file: string; row: RaviSplit['rows'][number] }[]>();
  for (const split of splits) {
    for (const row of split.rows) {
      if (!wanted.has(row.classId)) wanted.set(row.classId, []);
      wanted.get(row.classId)!.push({ file: split.file, row });
    }
  }
  return wanted;
}

/** For one class: CSV file name -> the chosen training file name, by the tools' rule. */
function choose(
  wnid: string,
  names: readonly string[],
  wanted: readonly { file: string; row: RaviSplit['rows'][number] }[],
  where: string,
): Map<string, string> {
  const numbered = names
    .map((name) => ({ name, n: imageNetNumber(wnid, name) }))
    .filter((f): f is { name: string; n: number } => f.n !== undefined);
  numbered.sort((a, b) => a.n - b.n);
  return new Map(
    wanted.map(({ file, row }) => {
      const k = imageNetPosition(row.filename);
      if (k < 1 || k > numbered.length) {
        throw new Error(
          `${file}:${row.line}: image ${row.filename} is number ${k} of class ${wnid}, which has ${numbered.length} training images in ${where}`,
        );
      }
      return [row.filename, numbered[k - 1].name];
    }),
  );
}

/** One class's tar: the chosen images written into `staging` under their CSV file names. */
async function stageClassTar(
  wnid: string,
  source: ByteStream,
  where: string,
  wanted: readonly { file: string; row: RaviSplit['rows'][number] }[],
  staging: string,
): Promise<void> {
  const files = new Map<string, Buffer>();
  await readTar(source, where, async (name, size, body) => {
    checkImageFileSize(size, `${where}: ${name}`);
    files.set(path.basename(name), await drain(body));
  });
  for (const [csvName, chosen] of choose(wnid, [...files.keys()], wanted, where)) {
    const file = path.join(staging, csvName);
    try {
      fs.writeFileSync(file, files.get(chosen)!);
    } catch (err) {
      throw fileError(file, err);
    }
  }
}

/**
 * The image file behind each CSV file name (every split's), from an ImageNet source; tar sources
 * are staged into `staging` first. Every class must be there: a missing one is named with the CSV
 * line that asks for it, before any image is decoded.
 */
export async function imageNetFiles(
  imagenet: string,
  splits: readonly RaviSplit[],
  staging: string,
  onClass?: (done: number, total: number) => void,
): Promise<Map<string, string>> {
  const stat = fs.statSync(imagenet, { throwIfNoEntry: false });
  if (!stat)
    throw new Error(`${imagenet}: no such file or folder (the ILSVRC2012 training tar, or its extracted folder)`);
  const wanted = wantedByClass(splits);
  const missing = (wnid: string) => {
    const first = wanted.get(wnid)![0];
    return new Error(
      `${imagenet}: no class ${wnid} (named by ${first.file}:${first.row.line}); is this the ILSVRC2012 training set?`,
    );
  };
  const files = new Map<string, string>();
  let done = 0;
  if (stat.isDirectory()) {
    for (const [wnid, rows] of wanted) {
      const folder = path.join(imagenet, wnid);
      const classTar = `${folder}.tar`;
      if (fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory()) {
        for (const [csvName, chosen] of choose(wnid, fs.readdirSync(folder), rows, folder))
          files.set(csvName, path.join(folder, chosen));
      } else if (fs.existsSync(classTar)) {
        fs.mkdirSync(staging, { recursive: true });
        await stageClassTar(wnid, fs.createReadStream(classTar), classTar, rows, staging);
        for (const { row } of rows) files.set(row.filename, path.join(staging, row.filename));
      } else throw missing(wnid);
      onClass?.(++done, wanted.size);
    }
    return files;
  }
  // The official tar: one `<wnid>.tar` entry per class, read in one pass, the unwanted skipped.
  fs.mkdirSync(staging, { recursive: true });
  const seen = new Set<string>();
  await readTar(fs.createReadStream(imagenet), imagenet, async (name, _size, body) => {
    const wnid = path.basename(name).replace(/\.tar$/, '');
    const rows = wanted.get(wnid);
    if (!rows || !name.endsWith('.tar')) {
      for await (const _ of body); // skipped: another class
      return;
    }
    await stageClassTar(wnid, body as unknown as ByteStream, `${imagenet}: ${name}`, rows, staging);
    for (const { row } of rows) files.set(row.filename, path.join(staging, row.filename));
    seen.add(wnid);
    onClass?.(++done, wanted.size);
  });
  const absent = [...wanted.keys()].find((wnid) => !seen.has(wnid));
  if (absent) throw missing(absent);
  return files;
}
