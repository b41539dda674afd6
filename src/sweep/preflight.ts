/**
 * Checks before a sweep's first point: every dataset cache, validation suite, teacher and test suite
 * that its points need is opened and checked against the others (episode shapes against the
 * classes, image shapes across them), so that a missing teacher fails in seconds, not hours in.
 */
import { FewShotDataset, checkSameImageShape } from '../data/dataset.js';
import { openDataset } from '../data/open.js';
import { openEpisodeSource } from '../episodes/suite.js';
import type { DistillConfig } from '../train/distill.js';
import { checkTeacher, openRun } from '../train/inputs.js';
import { SweepPoint, SweepSpec, canonicalJson } from './spec.js';

const shape = (d: FewShotDataset) => d.imageShape.join('x');

export async function preflight(spec: SweepSpec, points: readonly SweepPoint[]): Promise<void> {
  // Points share datasets, teachers and suites: each is opened once.
  const datasets = new Map<string, FewShotDataset>();
  const open = (dataset: string, split: string, dataDir?: string) => {
    const key = canonicalJson([dataset, split, dataDir]);
    if (!datasets.has(key)) datasets.set(key, openDataset(dataset, split, dataDir));
    return datasets.get(key)!;
  };
  const checked = new Set<string>();
  const once = async (key: string, check: () => Promise<void>) => {
    if (checked.has(key)) return;
    await check();
    checked.add(key);
  };
  for (const point of points) {
    const config = point.settings as unknown as DistillConfig & { method: string };
    try {
      const { dataset } = await openRun(config, open);
      if (config.method === 'distill')
        await once(canonicalJson(['teacher', config.teacher, shape(dataset)]), () =>
          checkTeacher(config.teacher, dataset),
        );
      for (const file of spec.suites) {
        await once(canonicalJson(['suite', file, config.dataDir, shape(dataset)]), async () => {
          const source = await openEpisodeSource(file, (d, s) => open(d, s, config.dataDir));
          checkSameImageShape(`suite ${file}`, source.dataset, dataset);
        });
      }
    } catch (err) {
      throw new Error(
        `${spec.file}: point ${point.index} (${point.key}): ${(err as Error).message}; nothing was trained`,
        { cause: err },
      );
    }
  }
}
