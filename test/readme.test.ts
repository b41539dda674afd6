/**
 * The commands the README and docs/ give, as written: every `fewshot ...` line of their shell blocks,
 * and every whole command quoted in their prose (one naming its `--out`), is parsed by the command
 * line itself (FEWSHOT_DRY_RUN=1: command, options and values checked, nothing run), so that a
 * renamed option or a mistyped value fails here rather than for a reader. What the commands read
 * and write, and the paths and hashes of the prose, are checked in test/docs.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { commandLines, inlineCommands, words } from './docs-check.js';
import { ROOT } from './helpers.js';

describe('the README and docs commands', function () {
  const files = [
    'README.md',
    ...fs
      .readdirSync(path.join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => path.join('docs', f)),
  ];

  it('every fewshot command line parses as written', () => {
    const checked: string[] = [];
    for (const file of files) {
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      // `...` stands for options shown elsewhere: such a line is a sketch, not a command.
      for (const c of [...commandLines(text), ...inlineCommands(text)].filter((c) => !c.sketch)) {
        const r = spawnSync(
          process.execPath,
          [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...words(c.text).slice(1)],
          {
            encoding: 'utf8',
            env: { ...process.env, FEWSHOT_DRY_RUN: '1' },
          },
        );
        expect(r.status, `${file}:${c.line}: ${c.text}\n${r.stderr}`).to.equal(0);
        expect(r.stdout, `${file}:${c.line}: ${c.text}`).to.match(/^ok: fewshot /);
        checked.push(c.text);
      }
    }
    console.log(`      (${checked.length} command lines from ${files.length} files)`);
    expect(checked.length).to.be.greaterThan(20);
  });
});
