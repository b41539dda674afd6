/**
 * README.md and docs/*.md against the project: suite hashes against the suites, paths against the
 * committed tree, each page's commands against what its earlier commands write (test/docs-check.ts
 * says exactly what is checked, and its exceptions); and the checker shown to fail.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { RECIPES } from '../src/train/recipe.js';
import { Doc, Project, SuiteFacts, checkDocs } from './docs-check.js';
import { ROOT } from './helpers.js';

/** The committed files (git's index, those present); outside a git checkout, every file but the build's. */
function committedFiles(): string[] {
  try {
    return execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 })
      .split('\0')
      .filter((f) => f && fs.existsSync(path.join(ROOT, f)));
  } catch {
    const skip = new Set(['.git', 'node_modules', 'dist', 'build']);
    const walk = (dir: string): string[] =>
      fs
        .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
        .filter((e) => !skip.has(e.name))
        .flatMap((e) => (e.isDirectory() ? walk(path.posix.join(dir, e.name)) : [path.posix.join(dir, e.name)]));
    return walk('.').map((f) => f.replace(/^\.\//, ''));
  }
}

function project(): Project {
  const files = committedFiles();
  const suites = files
    .filter((f) => /^episodes\/[^/]+\.json$/.test(f))
    .map((file) => ({ file, ...JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) }) as SuiteFacts);
  const sources = files
    .filter((f) => /^(src|scripts|test|models)\//.test(f) && !/\.(png|bin|gz|zip|tar|node)$/.test(f))
    .filter((f) => fs.statSync(path.join(ROOT, f)).size < 4 << 20)
    .map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8'))
    .join('\n');
  const recipes = Object.fromEntries(
    Object.values(RECIPES).map((r) => [r.name, { twoStage: r.finalSplit !== undefined }]),
  );
  const zoo = Object.fromEntries(
    files
      .filter((f) => /^models\/[^/]+\/card\.json$/.test(f))
      .map((f) => {
        const card = JSON.parse(fs.readFileSync(path.join(ROOT, f), 'utf8')) as { name: string; recipe?: string };
        return [card.name, { recipe: card.recipe }];
      }),
  );
  return { files, suites, recipes, sources, zoo };
}

const pages = (): Doc[] =>
  [
    'README.md',
    ...fs
      .readdirSync(path.join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ].map((file) => ({ file, text: fs.readFileSync(path.join(ROOT, file), 'utf8') }));

describe('the README and docs against the project', function () {
  const facts = project();

  it('every suite hash, path, link and walk-through input they quote is true', () => {
    const docs = pages();
    const { problems, counts } = checkDocs(docs, facts);
    console.log(
      `      (${docs.length} pages: ${counts.hashes} hashes, ${counts.suiteNames} suite names, ${counts.paths} paths, ` +
        `${counts.links} links, ${counts.commands} commands with ${counts.reads} inputs)`,
    );
    expect(problems.map((p) => `${p.file}:${p.line}: ${p.message}`)).to.deep.equal([]);
    expect(counts.hashes).to.be.at.least(facts.suites.length);
    expect(counts.paths).to.be.greaterThan(100);
    expect(counts.commands).to.be.greaterThan(30);
  });

  it('fails on a wrong hash, a missing path, a link without its target and an input no command wrote', () => {
    const val = facts.suites.find((s) => s.name === 'omniglot-val-20w1s')!;
    const test = facts.suites.find((s) => s.name === 'omniglot-test-5w1s')!;
    const page: Doc = {
      file: 'docs/fabricated.md',
      text: [
        '# A page with mistakes',
        '',
        `| suite | way | sha256 (first 12) |`,
        `|---|---|---|`,
        `| omniglot-val-20w1s | 20 | 4065c997141d |`, // wrong: the issue's typo
        `| omniglot-test-5w1s | 5 | ${test.sha256.slice(0, 12)} |`, // right
        `| omniglot-test-20w1s | 20 | ${val.sha256.slice(0, 12)} |`, // another suite's
        '',
        'The sampler is `episodes/sampler.ts`; the loop, `src/train/episodic.ts`; see',
        '[training](training.md#distillation) and [nothing](missing.md).',
        '',
        '```sh',
        'fewshot train --dataset omniglot --episodes 100 --out runs/omniglot',
        'fewshot eval runs/omniglot/best omniglot-test-5w1s --out results/omniglot',
        'fewshot compare results/omniglot/omniglot-test-5w1s.episodes.csv results/teacher/omniglot-test-5w1s.episodes.csv',
        '```',
      ].join('\n'),
    };
    const { problems } = checkDocs([page], { ...facts, pages: pages() });
    const found = problems.filter((p) => p.file === page.file).map((p) => `${p.line}: ${p.message}`);
    expect(found).to.deep.equal([
      `5: omniglot-val-20w1s: sha256 4065c9971410, not 4065c997141d (no shipped suite has it)`,
      `7: omniglot-test-20w1s: sha256 ${facts.suites
        .find((s) => s.name === 'omniglot-test-20w1s')!
        .sha256.slice(0, 12)}, not ${val.sha256.slice(0, 12)} (that is omniglot-val-20w1s's)`,
      '9: episodes/sampler.ts: no such file or folder in the repository',
      '10: link missing.md: no such file or folder in the repository',
      '15: fewshot compare: reads results/teacher/omniglot-test-5w1s.episodes.csv (a per-episode CSV), which no earlier command of this page writes',
    ]);
  });
});
