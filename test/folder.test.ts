import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import { importFolder, openFolder } from '../src/data/folder.js';
import { openDataset } from '../src/data/open.js';
import { ImageOptions, expectImportFailure, randomImage } from './image-fixtures.js';
import { ROOT, tempDir } from './helpers.js';

/** Class folder -> image files; options vary with the image's position. */
const CLASSES: Record<string, string[]> = {
  cat: ['a.png', 'b.jpg', 'c.JPEG'],
  dog: ['01.png', '02.png'],
  'red fox': ['x.jpg', 'y.png', 'z.jpg'],
};

async function writeClasses(dir: string, classes: Record<string, string[]> = CLASSES): Promise<void> {
  let n = 0;
  for (const [id, files] of Object.entries(classes)) {
    fs.mkdirSync(path.join(dir, id), { recursive: true });
    for (const file of files) {
      const options: ImageOptions = {
        width: 48 + 8 * n,
        height: 40,
        channels: n % 3 === 2 ? 1 : 3,
        format: /\.png$/i.test(file) ? 'png' : 'jpeg',
      };
      fs.writeFileSync(path.join(dir, id, file), await randomImage(`${id}/${file}`, options));
      n++;
    }
  }
}

describe('image folders', function () {
  let root: string;

  before(() => {
    root = tempDir('fewshot-folder-');
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('imports a folder of class folders as the one split `all`, at the asked size and channels', async () => {
    const from = path.join(root, 'plain');
    await writeClasses(from);
    fs.writeFileSync(path.join(from, 'cat', 'notes.txt'), 'not an image');
    fs.writeFileSync(path.join(from, 'dog', '._01.png'), 'macOS metadata');
    const out = path.join(root, 'plain-cache');
    const summary = await importFolder({ from, out, size: 32, channels: 1 });
    expect(summary).to.deep.include({
      source: 'folder',
      shape: [32, 32, 1],
      images: 8,
      classes: 3,
      splits: { all: 3 },
      pixels: true,
    });

    const all = openDataset('folder', 'all', out);
    expect(all.name).to.equal('folder/all');
    expect(all.classIds).to.deep.equal(['cat', 'dog', 'red fox']);
    expect(all.imageId({ classIndex: 0, imageIndex: 2 })).to.equal('cat/c');
    expect(all.findImage('red fox/z')).to.deep.equal({ classIndex: 2, imageIndex: 2 });

    const out1 = new Float32Array(32 * 32);
    all.readPixels({ classIndex: 0, imageIndex: 1 }, out1, 0);
    const expected = await sharp(path.join(from, 'cat', 'b.jpg'))
      .greyscale()
      .resize(32, 32, { kernel: 'lanczos3', fit: 'fill', fastShrinkOnLoad: false })
      .raw()
      .toBuffer();
    expect(Uint8Array.from(out1, (v) => Math.round(v * 255))).to.deep.equal(new Uint8Array(expected));
  });

  it('symlinks to class folders and to images count as what they point to', async () => {
    const elsewhere = path.join(root, 'elsewhere');
    await writeClasses(elsewhere, { cat: ['a.png', 'b.jpg'], dog: ['01.png'] });
    const from = path.join(root, 'linked');
    fs.mkdirSync(path.join(from, 'dog'), { recursive: true });
    fs.symlinkSync(path.join(elsewhere, 'cat'), path.join(from, 'cat'));
    fs.symlinkSync(path.join(elsewhere, 'dog', '01.png'), path.join(from, 'dog', '01.png'));
    const out = path.join(root, 'linked-cache');
    expect(await importFolder({ from, out })).to.deep.include({ images: 3, classes: 2 });
    expect(openDataset('folder', 'all', out).classIds).to.deep.equal(['cat', 'dog']);
  });

  it('train/val/test sub-folders are splits; a missing split is named with the ones there', async () => {
    const from = path.join(root, 'split');
    await writeClasses(path.join(from, 'train'), { cat: ['a.png', 'b.png'], dog: ['c.jpg', 'd.jpg'] });
    await writeClasses(path.join(from, 'test'), { fox: ['e.png', 'f.jpg'] });
    const out = path.join(root, 'split-cache');
    const summary = await importFolder({ from, out });
    expect(summary).to.deep.include({ shape: [84, 84, 3], images: 6, splits: { train: 2, test: 1 } });
    expect(openFolder(out, 'train').classIds).to.deep.equal(['cat', 'dog']);
    expect(openFolder(out, 'test').imageShape).to.deep.equal([84, 84, 3]);
    expect(() => openFolder(out, 'val')).to.throw(`${out}: no split 'val' in this cache (it holds train, test)`);
  });

  it('refuses class folders beside split folders, an empty class, a repeated name, a corrupt image', async () => {
    const mixed = path.join(root, 'mixed');
    await writeClasses(path.join(mixed, 'train'), { cat: ['a.png'] });
    await writeClasses(mixed, { dog: ['b.png'] });
    const out = path.join(root, 'bad-out', 'cache');
    await expectImportFailure(
      () => importFolder({ from: mixed, out }),
      out,
      `${path.join(mixed, 'dog')}: a class folder beside the split folders train; put classes inside the split folders`,
    );

    const empty = path.join(root, 'empty');
    await writeClasses(empty, { cat: ['a.png'] });
    fs.mkdirSync(path.join(empty, 'dog'));
    await expectImportFailure(
      () => importFolder({ from: empty, out }),
      out,
      `${path.join(empty, 'dog')}: no PNG or JPEG images in this class folder`,
    );

    const twice = path.join(root, 'twice');
    await writeClasses(twice, { cat: ['a.png', 'a.jpg'] });
    await expectImportFailure(
      () => importFolder({ from: twice, out }),
      out,
      `${path.join(twice, 'cat', 'a.png')}: same image name as a.jpg`,
    );

    const corrupt = path.join(root, 'corrupt');
    await writeClasses(corrupt);
    fs.writeFileSync(
      path.join(corrupt, 'dog', '02.png'),
      fs.readFileSync(path.join(corrupt, 'dog', '02.png')).subarray(0, 50),
    );
    await expectImportFailure(
      () => importFolder({ from: corrupt, out }),
      out,
      `${path.join(corrupt, 'dog', '02.png')}: unreadable image (`,
    );
  });

  it('`fewshot data folder` and `fewshot data info` on the cache', async () => {
    const from = path.join(root, 'cli');
    await writeClasses(from);
    const out = path.join(root, 'cli-cache');
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8' });
    const imported = cli('data', 'folder', '--from', from, '--out', out, '--size', '16', '--channels', '1');
    expect(imported.status, imported.stderr).to.equal(0);
    expect(imported.stdout).to.match(/^folder: 8 images, 3 classes \(16x16x1\)\nsplits: all 3 classes\ncache: /);
    const info = cli('data', 'info', out, '--json');
    expect(info.status, info.stderr).to.equal(0);
    expect(JSON.parse(info.stdout)).to.deep.include({
      source: 'folder',
      shape: [16, 16, 1],
      classes: 3,
      images: 8,
      splits: { all: 3 },
      pixels: true,
    });
  });
});
