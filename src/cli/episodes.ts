/** `fewshot episodes freeze|verify|show`: frozen episode suites and manifests. */
import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { COMMANDS } from './commands.js';
import type { ImageRef } from '../data/dataset.js';
import { DATASETS, openDataset } from '../data/open.js';
import { readManifest, sha256, writeManifest } from '../episodes/manifest.js';
import { loadSuiteEpisodes, readSuite, sampleSuite, suiteManifestPath, writeSuite } from '../episodes/suite.js';
import { nonNegativeInt } from './options.js';
import { readRegularFile } from '../files.js';

const dataOption = ['--data <dir>', "the dataset's cache folder (default: <cache root>/<dataset>)"] as const;

export function registerEpisodeCommands(program: Command): void {
  const episodes = program.command('episodes').description(COMMANDS.episodes.description);

  episodes
    .command('freeze')
    .description("write a suite's manifest CSV and record its sha256 in the suite")
    .argument('<suite>', 'suite JSON file')
    .option(...dataOption)
    .option('--out <csv>', 'manifest path (default: the suite path with .csv)')
    .option('--update', 'replace a recorded sha256 that no longer matches')
    .option('--json', 'print one JSON object')
    .action(async (suiteFile: string, opts: { data?: string; out?: string; update?: boolean; json?: boolean }) => {
      const suite = readSuite(suiteFile);
      const { text, sha256: digest } = await sampleSuite(suite, openDataset(suite.dataset, suite.split, opts.data));
      if (suite.sha256 && suite.sha256 !== digest && !opts.update) {
        throw new Error(
          `${suiteFile}: sampling gives sha256 ${digest}, the suite records ${suite.sha256} (--update to replace)`,
        );
      }
      const out = opts.out ?? suiteManifestPath(suiteFile);
      writeManifest(out, text);
      if (suite.sha256 !== digest) writeSuite(suiteFile, { ...suite, sha256: digest });
      console.log(
        opts.json
          ? JSON.stringify({ suite: suiteFile, manifest: out, episodes: suite.episodes, sha256: digest })
          : `${out}\t${suite.episodes} episodes\tsha256 ${digest}`,
      );
    });

  episodes
    .command('verify')
    .description('check that sampling (and any frozen manifest beside it) still gives the recorded sha256')
    .argument('<suites...>', 'suite JSON files')
    .option(...dataOption)
    .option('--json', 'print one JSON array, an object per suite')
    .action(async (files: string[], opts: { data?: string; json?: boolean }) => {
      const results: {
        suite: string;
        status: 'ok' | 'mismatch' | 'not checked';
        sampled?: string;
        manifest?: string;
        reason?: string;
      }[] = [];
      for (const file of files) {
        const suite = readSuite(file);
        if (!suite.sha256) throw new Error(`${file}: no sha256 recorded yet (run 'fewshot episodes freeze ${file}')`);
        let dataset;
        try {
          dataset = openDataset(suite.dataset, suite.split, opts.data);
        } catch (err) {
          // A dataset that is not here (no cache) leaves its suites unchecked, not the others.
          results.push({ suite: file, status: 'not checked', reason: (err as Error).message });
          if (!opts.json) console.log(`not checked\t${file}\t${(err as Error).message}`);
          continue;
        }
        const { sha256: digest } = await sampleSuite(suite, dataset);
        const csv = suiteManifestPath(file);
        const csvDigest = fs.existsSync(csv) ? sha256(readRegularFile(csv)) : undefined;
        const ok = digest === suite.sha256 && (csvDigest === undefined || csvDigest === suite.sha256);
        results.push({
          suite: file,
          status: ok ? 'ok' : 'mismatch',
          sampled: digest,
          ...(csvDigest ? { manifest: csvDigest } : {}),
        });
        if (!opts.json)
          console.log(
            `${ok ? 'ok' : 'MISMATCH'}\t${file}\tsampled ${digest}` + (csvDigest ? `\tmanifest ${csvDigest}` : ''),
          );
      }
      if (opts.json) console.log(JSON.stringify(results));
      const failures = results.filter((r) => r.status === 'mismatch').length;
      if (failures) throw new Error(`${failures} of ${files.length} suites do not reproduce their recorded sha256`);
      const unchecked = results.filter((r) => r.status === 'not checked').length;
      if (unchecked)
        console.error(
          `${unchecked} of ${files.length} suites not checked: their dataset is not here (import it, or name its cache with --data)`,
        );
    });

  episodes
    .command('show')
    .description('summarise a suite or manifest, or list one episode')
    .argument('<file>', 'suite JSON or manifest CSV (a CSV needs --dataset and --split)')
    .option(...dataOption)
    .addOption(new Option('--dataset <name>', 'dataset of a manifest CSV').choices(DATASETS))
    .option('--split <name>', 'split of a manifest CSV')
    .option('--episode <i>', 'list the images of episode i', nonNegativeInt('--episode'))
    .option('--json', 'print one JSON object')
    .action(
      async (
        file: string,
        opts: { data?: string; dataset?: string; split?: string; episode?: number; json?: boolean },
      ) => {
        const isSuite = file.toLowerCase().endsWith('.json');
        const suite = isSuite ? readSuite(file) : undefined;
        const datasetName = suite?.dataset ?? opts.dataset;
        const split = suite?.split ?? opts.split;
        if (!datasetName || !split) throw new Error(`${file}: a manifest CSV needs --dataset and --split`);
        const dataset = openDataset(datasetName, split, opts.data);
        const frozen = suite ? await loadSuiteEpisodes(file, dataset) : await readManifest(file, dataset);
        const { way, shot, query } = frozen.shape;
        const ep = opts.episode === undefined ? undefined : frozen.episodes.find((e) => e.index === opts.episode);
        if (opts.episode !== undefined && !ep) throw new Error(`${file}: no episode ${opts.episode}`);
        const ids = (refs: readonly ImageRef[], c: number) =>
          refs.filter((r) => r.classIndex === c).map((r) => dataset.imageId(r));
        const classes = ep?.classes.map((c, label) => ({
          label,
          class: dataset.classIds[c],
          support: ids(ep.support, c),
          query: ids(ep.query, c),
        }));
        if (opts.json) {
          console.log(
            JSON.stringify({
              file,
              dataset: dataset.name,
              episodes: frozen.episodes.length,
              way,
              shot,
              query,
              ...(ep ? { episode: ep.index, classes } : {}),
            }),
          );
          return;
        }
        console.log(
          `${file}: ${frozen.episodes.length} episodes, ${way}-way ${shot}-shot ${query}-query, ${dataset.name}`,
        );
        const short = (id: string) => id.split('/').pop();
        for (const c of classes ?? [])
          console.log(
            `${c.label}\t${c.class}\tsupport ${c.support.map(short).join(' ')}\tquery ${c.query.map(short).join(' ')}`,
          );
      },
    );
}
