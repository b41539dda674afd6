/**
 * The commands the README and docs/ give, as written: every `fewshot ...` line of their shell blocks
 * is parsed by the command line itself (FEWSHOT_DRY_RUN=1: command, options and values checked,
 * nothing run), so that a renamed option or a mistyped value fails here rather than for a reader.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { ROOT } from './helpers.js';

/** Shell words of one command line: quotes grouped, `# comments` and `$VARS` left as written. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) {
    if ((m[3] ?? '').startsWith('#')) break;
    out.push(m[1] ?? m[2] ?? m[3]);
  }
  return out;
}

/** The `fewshot` command lines of a Markdown file's sh blocks (continuation lines joined). */
function commands(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const blocks = [...text.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)].map((m) => m[1].replace(/\\\n\s*/g, ' '));
  return (
    blocks
      .flatMap((b) => b.split('\n'))
      .map((l) => l.trim())
      .flatMap((l) => l.split(/\s*&&\s*/))
      // `...` stands for options shown elsewhere: such a line is a sketch, not a command.
      .filter((l) => l.startsWith('fewshot ') && !/\s\.\.\.(\s|$)/.test(l))
  );
}

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
      for (const line of commands(path.join(ROOT, file))) {
        const r = spawnSync(
          process.execPath,
          [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...words(line).slice(1)],
          {
            encoding: 'utf8',
            env: { ...process.env, FEWSHOT_DRY_RUN: '1' },
          },
        );
        expect(r.status, `${file}: ${line}\n${r.stderr}`).to.equal(0);
        expect(r.stdout, `${file}: ${line}`).to.match(/^ok: fewshot /);
        checked.push(line);
      }
    }
    console.log(`      (${checked.length} command lines from ${files.length} files)`);
    expect(checked.length).to.be.greaterThan(20);
  });
});
