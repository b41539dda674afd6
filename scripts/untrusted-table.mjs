#!/usr/bin/env node
// The before/after table of scripts/untrusted-cases.sh results, as Markdown on stdout:
//   node scripts/untrusted-table.mjs BEFORE.jsonl AFTER.jsonl > table.md
import * as fs from 'node:fs';

const [beforeFile, afterFile] = process.argv.slice(2);
if (!afterFile) {
  console.error('usage: node scripts/untrusted-table.mjs BEFORE.jsonl AFTER.jsonl');
  process.exit(2);
}
const read = (file) =>
  fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
const [before, after] = [read(beforeFile), read(afterFile)];
const byCase = new Map(before.map((r) => [r.case, r]));
const cell = (r) =>
  (r ? [`exit ${r.exit}`, r.stderr && `\`${r.stderr}\``, r.effect].filter(Boolean).join('; ') : '(not run)').replaceAll(
    '|',
    '\\|',
  );
console.log('| case | input | before (exit, message; effect) | after (exit, message; effect) |');
console.log('|---|---|---|---|');
for (const r of after)
  console.log(`| ${r.case} | ${r.input.replaceAll('|', '\\|')} | ${cell(byCase.get(r.case))} | ${cell(r)} |`);
