// A folder dataset of colour glyph JPEGs at miniImageNet's size, for runs that need 84x84x3 images
// on machines without miniImageNet: `node scripts/make-colour-glyphs.mjs OUT [classes] [images]`
// writes OUT/train/<class>/<image>.jpg (synthetic glyphs in a random colour per image, on noise:
// the class is in the shape, not the colour).
import * as fs from 'node:fs';
import * as path from 'node:path';
import seedrandom from 'seedrandom';
import sharp from 'sharp';
import { syntheticImages } from '../dist/src/data/synthetic.js';

const [out, classes = '20', images = '40'] = process.argv.slice(2);
if (!out) throw new Error('usage: make-colour-glyphs.mjs OUT [classes] [images per class]');
const size = 84;
const glyphs = syntheticImages({ classes: Number(classes), imagesPerClass: Number(images), size, prefix: 'colour' });
const rng = seedrandom('colour-glyphs');
for (const [c, { id, images: names }] of glyphs.classes.entries()) {
  const dir = path.join(out, 'train', id.split('/').pop());
  fs.mkdirSync(dir, { recursive: true });
  for (const [i, name] of names.entries()) {
    const colour = [rng(), rng(), rng()].map((v) => 64 + 191 * v);
    const ink = glyphs.pixels.subarray((c * names.length + i) * size * size, (c * names.length + i + 1) * size * size);
    const rgb = Buffer.alloc(size * size * 3);
    for (let p = 0; p < size * size; p++) {
      for (let k = 0; k < 3; k++) rgb[3 * p + k] = Math.min(255, 40 * rng() + (ink[p] / 255) * colour[k]);
    }
    await sharp(rgb, { raw: { width: size, height: size, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(path.join(dir, `${name}.jpg`));
  }
}
console.log(`${classes} classes x ${images} images, ${size}x${size}x3, in ${out}/train`);
