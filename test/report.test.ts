import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import { formatTable } from '../src/cli/format.js';
import { writeSweepReport } from '../src/report/report.js';
import { acrossSeeds, t975 } from '../src/report/seeds.js';
import { sweepHeaders, writeSweepCsv } from '../src/sweep/csv.js';
import { tempDir } from './helpers.js';

/**
 * A sweep CSV with known numbers (by default widths 4 and 8, seeds 0-2, one suite) and a log.jsonl
 * per run, or per generation of distilled runs.
 */
async function fixture(
  dir: string,
  accuracies: Record<string, number[]> = { 4: [0.8, 0.84, 0.82], 8: [0.9, 0.91, 0.95] },
  generations = 0,
): Promise<string> {
  const rows = Object.entries(accuracies).flatMap(([width, accs]) =>
    accs.map((accuracy, seed) => {
      const run = path.join(dir, 'runs', `w${width}s${seed}`);
      const logDirs = generations
        ? Array.from({ length: generations }, (_, g) => path.join(run, `gen${g + 1}`))
        : [run];
      for (const logDir of logDirs) fs.mkdirSync(logDir, { recursive: true });
      for (const logDir of logDirs)
        fs.writeFileSync(
          path.join(logDir, 'log.jsonl'),
          [1, 2, 3, 4]
            .map(
              (e) =>
                JSON.stringify({
                  episode: 10 * e,
                  lr: 1e-3,
                  loss: 1.5 / e + seed * 0.1,
                  accuracy: accuracy - 0.3 / e,
                  episodesPerSecond: 5,
                  tensors: 40,
                  rssMB: 300,
                  ...(e % 2 === 0 ? { valAccuracy: accuracy - 0.1 / e, valCi95: 0.02 } : {}),
                }) + '\n',
            )
            .join(''),
        );
      return {
        key: `${width}${seed}`.padEnd(16, '0'),
        method: generations ? 'distill' : 'protonet',
        width,
        seed,
        dataset: 'synthetic',
        suite: 'synthetic-test-5w1s',
        testWay: 5,
        testShot: 1,
        testQuery: 15,
        testEpisodes: 600,
        accuracy,
        ci95: 0.0123,
        std: 0.15,
        trainEpisodes: 40,
        resumedFrom: 0,
        trainSeconds: 12.5,
        evalSeconds: 1.5,
        backend: 'wasm',
        checkpoint: path.join(logDirs[logDirs.length - 1], 'best'),
      };
    }),
  );
  const file = path.join(dir, 'sweep.csv');
  const headers = sweepHeaders(['method', 'width', 'seed', 'dataset']);
  await writeSweepCsv(
    file,
    headers,
    rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)]))),
  );
  return file;
}

describe('sweep reports', function () {
  it('scales: 200,000 seeds of one setting are one group (no spread of every row, no quadratic grouping)', async () => {
    const dir = tempDir();
    const n = 200_000;
    const headers = sweepHeaders(['method', 'seed']);
    const rows = Array.from({ length: n }, (_, seed) => {
      const row: Record<string, string> = {
        key: seed.toString(16).padStart(16, '0'),
        method: 'protonet',
        seed: String(seed),
        suite: 'synthetic-test-5w1s',
        testWay: '5',
        testShot: '1',
        testQuery: '15',
        testEpisodes: '600',
        accuracy: String(0.5 + (seed % 2) * 0.1),
        ci95: '0.01',
        std: '0.1',
        trainEpisodes: '40',
        resumedFrom: '0',
        trainSeconds: '1',
        evalSeconds: '1',
        backend: 'wasm',
        code: '0.1.0',
        // Beside the CSV, whose folder is not a run folder: no curves, not a refusal.
        checkpoint: path.join(dir, 'best'),
      };
      return Object.fromEntries(headers.map((h) => [h, row[h] ?? '']));
    });
    const file = path.join(dir, 'big.csv');
    await writeSweepCsv(file, headers, rows);
    const report = await writeSweepReport(file, { out: dir });
    expect(report.tables.seedGroups).to.have.length(1);
    expect(report.tables.seedGroups[0].accuracy.mean).to.be.closeTo(0.55, 1e-9);
    // As the command prints it.
    expect(formatTable(report.tables.points.headers, report.tables.points.rows).split('\n')).to.have.length(n + 2);
    const svg = report.files.find((f) => f.endsWith('.svg'))!;
    expect(fs.readFileSync(svg, 'utf8')).to.include('mean over 200000 seeds');
  });

  it('t-based intervals across seeds', () => {
    expect(t975(1)).to.equal(12.706);
    expect(t975(2)).to.equal(4.303);
    expect(t975(60)).to.be.closeTo(2.0, 0.003);
    const s = acrossSeeds([0.8, 0.84, 0.82]);
    expect(s.mean).to.be.closeTo(0.82, 1e-12);
    expect(s.std).to.be.closeTo(0.02, 1e-12);
    expect(s.t95).to.be.closeTo((4.303 * 0.02) / Math.sqrt(3), 1e-12);
    expect(acrossSeeds([0.5]).t95).to.be.NaN;
  });

  it('writes a Markdown table with the right numbers and readable SVG and PNG plots', async () => {
    const dir = tempDir();
    const csv = await fixture(dir);
    const out = path.join(dir, 'report');
    const report = await writeSweepReport(csv, { out });
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).to.equal(report.markdown);
    expect(md).to.include('Fixed settings (on the rows they apply to): `method=protonet`, `dataset=synthetic`.');
    expect(md).to.include('| width | seed | suite | accuracy % | 95% CI | episodes | train episodes | train s |');
    expect(md).to.include('| 8 | 2 | synthetic-test-5w1s | 95.00 | 1.23 | 600 | 40 | 12.5 |');
    // Width 4: seeds at 80, 84, 82 -> mean 82, std 2 points, t-interval 4.303 * 2 / sqrt(3) = 4.97.
    expect(md).to.include('| 4 | synthetic-test-5w1s | 3 | 82.00 | 2.00 | 4.97 | 1.23 |');
    // Width 8: 90, 91, 95 -> mean 92, std 2.65, 4.303 * 2.6458 / sqrt(3) = 6.57.
    expect(md).to.include('| 8 | synthetic-test-5w1s | 3 | 92.00 | 2.65 | 6.57 | 1.23 |');
    expect(md).to.include('![accuracy against width](accuracy.png)');
    expect(md).to.include('![training curves](curves.png)');

    for (const name of ['accuracy', 'curves']) {
      const svg = fs.readFileSync(path.join(out, `${name}.svg`), 'utf8');
      expect(svg).to.match(/^<svg/);
      expect(svg.length, `${name}.svg`).to.be.above(5000);
      const png = await sharp(path.join(out, `${name}.png`)).metadata();
      expect(png.format).to.equal('png');
      expect(png.width!, `${name}.png`).to.be.above(500);
      expect(fs.statSync(path.join(out, `${name}.png`)).size).to.be.above(10000);
    }
    const accuracy = fs.readFileSync(path.join(out, 'accuracy.svg'), 'utf8');
    for (const text of ['accuracy % (95% interval)', 'width', 'mean over 3 seeds']) expect(accuracy).to.include(text);
    const curves = fs.readFileSync(path.join(out, 'curves.svg'), 'utf8');
    // A colour per width, a dash per seed.
    for (const text of ['training loss', 'validation accuracy %', 'width=4', 'width=8', 'seed'])
      expect(curves).to.include(text);
    expect(curves).to.match(/stroke-dasharray/);
  });

  it('keeps the accuracy axis within 100% when two seeds give a wide t-interval', async () => {
    const dir = tempDir();
    const csv = await fixture(dir, { 4: [0.8, 0.99], 8: [0.9, 0.98] });
    const out = path.join(dir, 'report');
    await writeSweepReport(csv, { out });
    // Width 8: mean 94, t-interval 12.706 * 5.66 / sqrt(2) = 50.8 points: 43 to 145% before the cut.
    const svg = fs.readFileSync(path.join(out, 'accuracy.svg'), 'utf8');
    const labels = [...svg.matchAll(/<g class="mark-text role-axis-label"[^>]*>(.*?)<\/g>/g)].flatMap((g) =>
      [...g[1].matchAll(/>([^<]*)<\/text>/g)].map((t) => Number(t[1])),
    );
    expect(Math.max(...labels)).to.equal(100);
    expect(svg).to.include('intervals cut at 0 and 100%');
  });

  it('draws every generation of a distilled point', async () => {
    const dir = tempDir();
    const csv = await fixture(dir, { 4: [0.8, 0.84] }, 2);
    const out = path.join(dir, 'report');
    const report = await writeSweepReport(csv, { out });
    expect(report.notes).to.deep.equal([]);
    const svg = fs.readFileSync(path.join(out, 'curves.svg'), 'utf8');
    for (const text of ['gen1', 'gen2', 'training episode (stages end to end)']) expect(svg).to.include(`>${text}<`);
  });

  it('refuses an x that is not a column, and names runs given with --logs that have no log', async () => {
    const dir = tempDir();
    const csv = await fixture(dir);
    await writeSweepReport(csv, { out: dir, x: 'depth' }).then(
      () => expect.fail('accepted'),
      (e: Error) => expect(e.message).to.match(/--x 'depth' is not a column of .*sweep\.csv \(one of method, width/),
    );
    await writeSweepReport(csv, { out: dir, logs: [dir] }).then(
      () => expect.fail('accepted'),
      (e: Error) =>
        expect(e.message).to.match(/: not a run folder \(no log\.jsonl, here or in select\/, final\/ or gen<g>\//),
    );
  });
});

describe('sweep reports: students against their baseline', function () {
  this.timeout(60_000);

  /** Baseline and RKD for seeds 1-3 on one suite of 4 episodes, with known per-episode accuracies. */
  async function pairedFixture(dir: string): Promise<string> {
    const perEpisode: Record<string, number[][]> = {
      baseline: [
        [0.5, 0.6, 0.7, 0.8],
        [0.4, 0.6, 0.6, 0.8],
        [0.5, 0.5, 0.7, 0.7],
      ],
      RKD: [
        [0.6, 0.6, 0.8, 0.8], // +0.05: 2 won, 2 tied
        [0.5, 0.7, 0.7, 0.9], // +0.1: 4 won
        [0.5, 0.6, 0.6, 0.8], // +0.025: 2 won, 1 lost, 1 tied
      ],
    };
    const rows = Object.entries(perEpisode).flatMap(([label, seeds]) =>
      seeds.map((accs, i) => {
        const key = `${label === 'baseline' ? 'b' : 'c'}${i}`.padEnd(16, '0');
        const run = path.join(dir, 'runs', key);
        fs.mkdirSync(path.join(run, 'eval'), { recursive: true });
        const logDir = label === 'baseline' ? run : path.join(run, 'gen1');
        fs.mkdirSync(logDir, { recursive: true });
        fs.writeFileSync(
          path.join(logDir, 'log.jsonl'),
          JSON.stringify({ episode: 40, loss: 1, accuracy: 0.5 }) + '\n',
        );
        fs.writeFileSync(
          path.join(run, 'eval', 'synthetic-test-5w1s.episodes.csv'),
          'episode,accuracy,suite\n' + accs.map((a, e) => `${e},${a},synthetic-test-5w1s@0123456789abcdef\n`).join(''),
        );
        return {
          key,
          method: label === 'baseline' ? 'protonet' : 'distill',
          label,
          seed: i + 1,
          lambdaD: label === 'baseline' ? '' : 25,
          suite: 'synthetic-test-5w1s',
          testWay: 5,
          testShot: 1,
          testQuery: 15,
          testEpisodes: 4,
          accuracy: accs.reduce((a, b) => a + b, 0) / 4,
          ci95: 0.1,
          std: 0.1,
          trainEpisodes: 40,
          resumedFrom: 0,
          trainSeconds: 1,
          evalSeconds: 1,
          backend: 'wasm',
          checkpoint: path.join(run, label === 'baseline' ? 'best' : path.join('gen1', 'best')),
        };
      }),
    );
    const file = path.join(dir, 'sweep.csv');
    await writeSweepCsv(
      file,
      sweepHeaders(['method', 'label', 'seed', 'lambdaD']),
      rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)]))),
    );
    return file;
  }

  it('pairs each seed on its episodes and gives the differences over seeds a t-interval', async () => {
    const dir = tempDir();
    const csv = await pairedFixture(dir);
    const report = await writeSweepReport(csv, { out: path.join(dir, 'report'), baseline: 'baseline' });
    const [group] = report.paired!.groups;
    expect(report.paired!.groups).to.have.length(1);
    expect(group.label).to.equal('RKD');
    expect(group.seeds.map((s) => [s.seed, s.won, s.lost, s.tied])).to.deep.equal([
      ['1', 2, 0, 2],
      ['2', 4, 0, 0],
      ['3', 2, 1, 1],
    ]);
    const diffs = [0.05, 0.1, 0.025];
    group.seeds.forEach((s, i) => expect(s.difference.mean).to.be.closeTo(diffs[i], 1e-12));
    const over = acrossSeeds(diffs);
    expect(group.difference.mean).to.be.closeTo(over.mean, 1e-12);
    expect(group.difference.t95).to.be.closeTo((4.303 * over.std) / Math.sqrt(3), 1e-12);
    expect(report.markdown).to.include('## Against baseline, over seeds');
    expect(report.paired!.overSeeds.rows[0]).to.deep.equal([
      'RKD',
      'synthetic-test-5w1s',
      '3',
      '+5.83',
      (100 * over.std).toFixed(2),
      ((100 * 4.303 * over.std) / Math.sqrt(3)).toFixed(2),
      '1/3',
    ]);

    // From copied per-episode files (<dir>/<key>/<suite>.episodes.csv) too; a missing one is named.
    const copies = path.join(dir, 'copies');
    for (const key of fs.readdirSync(path.join(dir, 'runs'))) {
      fs.mkdirSync(path.join(copies, key), { recursive: true });
      fs.copyFileSync(
        path.join(dir, 'runs', key, 'eval', 'synthetic-test-5w1s.episodes.csv'),
        path.join(copies, key, 'synthetic-test-5w1s.episodes.csv'),
      );
    }
    fs.rmSync(path.join(dir, 'runs'), { recursive: true });
    const again = await writeSweepReport(csv, { out: path.join(dir, 'r2'), baseline: 'baseline', episodes: copies });
    expect(again.paired!.overSeeds.rows).to.deep.equal(report.paired!.overSeeds.rows);
    fs.rmSync(path.join(copies, 'c1'.padEnd(16, '0')), { recursive: true });
    await writeSweepReport(csv, { out: path.join(dir, 'r3'), baseline: 'baseline', episodes: copies }).then(
      () => expect.fail('a missing per-episode file'),
      (err: Error) => expect(err.message).to.match(/c100000000000000.synthetic-test-5w1s\.episodes\.csv: missing/),
    );
    await writeSweepReport(csv, { out: path.join(dir, 'r4'), baseline: 'teacher' }).then(
      () => expect.fail('an unknown label'),
      (err: Error) =>
        expect(err.message).to.equal("--baseline 'teacher': no row has that label (labels: baseline, RKD)"),
    );
  });
});
