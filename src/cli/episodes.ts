/** `fewshot episodes freeze|verify|show`: frozen episode suites and manifests. */
import * as fs from 'node:fs';
import { Command } from 'commander';
import { COMMANDS } from './commands.js';
import { openDataset } from '../data/open.js';
import { readManifest, sha256, writeManifest } from '../episodes/manifest.js';
import { loadSuiteEpisodes, readSuite, sampleSuite, suiteManifestPath, writeSuite } from '../episodes/suite.js';
import { nonNegativeInt } from './options.js';

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
    .action(async (suiteFile: string, opts: { data?: string; out?: string; update?: boolean }) => {
      const suite = readSuite(suiteFile);
      const { text, sha256: digest } = await sampleSuite(suite, openDataset(suite.dataset, suite.split, opts.data));
      if (suite.sha256 && suite.sha256 !== digest && !opts.update) {
        throw new Error(`${suiteFile}: sampling gives sha256 ${digest}, the suite records ${suite.sha256} (--update to replace)`);
      }
      const out = opts.out ?? suiteManifestPath(suiteFile);
      writeManifest(out, text);
      if (suite.sha256 !== digest) writeSuite(suiteFile, { ...suite, sha256: digest });
      console.log(`${out}\t${suite.episodes} episodes\tsha256 ${digest}`);
    });

  episodes
    .command('verify')
    .description('check that sampling (and any frozen manifest beside it) still gives the recorded sha256')
    .argument('<suites...>', 'suite JSON files')
    .option(...dataOption)
    .action(async (files: string[], opts: { data?: string }) => {
      let failures = 0;
      for (const file of files) {
        const suite = readSuite(file);
        if (!suite.sha256) throw new Error(`${file}: no sha256 recorded yet (run 'fewshot episodes freeze ${file}')`);
        const { sha256: digest } = await sampleSuite(suite, openDataset(suite.dataset, suite.split, opts.data));
        const csv = suiteManifestPath(file);
        const csvDigest = fs.existsSync(csv) ? sha256(fs.readFileSync(csv)) : undefined;
        const ok = digest === suite.sha256 && (csvDigest === undefined || csvDigest === suite.sha256);
        if (!ok) failures++;
        console.log(`${ok ? 'ok' : 'MISMATCH'}\t${file}\tsampled ${digest}` + (csvDigest ? `\tmanifest ${csvDigest}` : ''));
      }
      if (failures) throw new Error(`${failures} of ${files.length} suites do not reproduce their recorded sha256`);
    });

  episodes
    .command('show')
    .description('summarise a suite or manifest, or list one episode')
    .argument('<file>', 'suite JSON or manifest CSV (a CSV needs --dataset and --split)')
    .option(...dataOption)
    .option('--dataset <name>', 'dataset of a manifest CSV')
    .option('--split <name>', 'split of a manifest CSV')
    .option('--episode <i>', 'list the images of episode i', nonNegativeInt('--episode'))
    .action(async (file: string, opts: { data?: string; dataset?: string; split?: string; episode?: number }) => {
      const isSuite = file.toLowerCase().endsWith('.json');
      const suite = isSuite ? readSuite(file) : undefined;
      const datasetName = suite?.dataset ?? opts.dataset;
      const split = suite?.split ?? opts.split;
      if (!datasetName || !split) throw new Error(`${file}: a manifest CSV needs --dataset and --split`);
      const dataset = openDataset(datasetName, split, opts.data);
      const frozen = suite
        ? await loadSuiteEpisodes(file, dataset)
        : await readManifest(file, dataset);
      const { way, shot, query } = frozen.shape;
      console.log(`${file}: ${frozen.episodes.length} episodes, ${way}-way ${shot}-shot ${query}-query, ${dataset.name}`);
      if (opts.episode !== undefined) {
        const ep = frozen.episodes.find((e) => e.index === opts.episode);
        if (!ep) throw new Error(`${file}: no episode ${opts.episode}`);
        ep.classes.forEach((c, label) => {
          const ids = (refs: typeof ep.support) => refs.filter((r) => r.classIndex === c).map((r) => dataset.imageId(r).split('/').pop());
          console.log(`${label}\t${dataset.classIds[c]}\tsupport ${ids(ep.support).join(' ')}\tquery ${ids(ep.query).join(' ')}`);
        });
      }
    });
}
