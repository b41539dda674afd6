/**
 * A FewShotDataset over packed images, optionally through class views: a view names a class made
 * from a packed class turned by a multiple of 90 degrees (Omniglot's rotations-as-classes).
 */
import { FewShotDataset, ImageRef, ImageShape, imageSize } from './dataset.js';
import { PackedImages } from './cache.js';

export type QuarterTurns = 0 | 1 | 2 | 3;

export interface ClassView {
  readonly id: string;
  /** Index of the packed class whose images this class shows. */
  readonly source: number;
  /** Counter-clockwise quarter turns applied to every image (PIL's `rotate(90 * k)`). */
  readonly quarterTurns: QuarterTurns;
}

export class PackedDataset implements FewShotDataset {
  readonly imageShape: ImageShape;
  readonly classIds: readonly string[];
  private readonly views: readonly ClassView[];
  private readonly classStart: number[];
  private readonly byClassId: Map<string, number>;

  constructor(
    readonly name: string,
    private readonly packed: PackedImages,
    views?: readonly ClassView[],
  ) {
    this.imageShape = packed.shape;
    this.views = views ?? packed.classes.map((c, source) => ({ id: c.id, source, quarterTurns: 0 }));
    this.classIds = this.views.map((v) => v.id);
    this.byClassId = new Map(this.classIds.map((id, i) => [id, i]));
    if (this.byClassId.size !== this.classIds.length) throw new Error(`${name}: duplicate class ids`);
    const [h, w] = packed.shape;
    if (this.views.some((v) => v.quarterTurns % 2 === 1) && h !== w) {
      throw new Error(`${name}: quarter turns need square images, not ${h}x${w}`);
    }
    this.classStart = [];
    let start = 0;
    for (const c of packed.classes) {
      this.classStart.push(start);
      start += c.images.length;
    }
  }

  imageCount(classIndex: number): number {
    return this.packed.classes[this.views[classIndex].source].images.length;
  }

  imageId(ref: ImageRef): string {
    const view = this.views[ref.classIndex];
    return `${view.id}/${this.packed.classes[view.source].images[ref.imageIndex]}`;
  }

  findImage(imageId: string): ImageRef | undefined {
    const slash = imageId.lastIndexOf('/');
    const classIndex = this.byClassId.get(imageId.slice(0, slash));
    if (slash < 0 || classIndex === undefined) return undefined;
    const imageIndex = this.packed.classes[this.views[classIndex].source].images.indexOf(imageId.slice(slash + 1));
    return imageIndex < 0 ? undefined : { classIndex, imageIndex };
  }

  readPixels(ref: ImageRef, out: Float32Array, offset: number): void {
    const view = this.views[ref.classIndex];
    const [h, w, c] = this.imageShape;
    const base = (this.classStart[view.source] + ref.imageIndex) * imageSize(this.imageShape);
    const px = this.packed.pixels;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        // Source pixel of output (y, x) after k counter-clockwise quarter turns.
        let sy: number, sx: number;
        switch (view.quarterTurns) {
          case 0:
            sy = y;
            sx = x;
            break;
          case 1:
            sy = x;
            sx = w - 1 - y;
            break;
          case 2:
            sy = h - 1 - y;
            sx = w - 1 - x;
            break;
          case 3:
            sy = h - 1 - x;
            sx = y;
            break;
        }
        const src = base + (sy * w + sx) * c;
        const dst = offset + (y * w + x) * c;
        for (let ch = 0; ch < c; ch++) out[dst + ch] = px[src + ch] / 255;
      }
    }
  }
}
