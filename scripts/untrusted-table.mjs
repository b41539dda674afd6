#!/usr/bin/env node
// The before/after table of scripts/untrusted-cases.sh (or hostile-cases.sh) results, as Markdown on stdout:
//   node scripts/untrusted-table.mjs BEFORE.jsonl AFTER.jsonl > table.md
import { readJsonl } from './jsonl.mjs';

const [beforeFile, afterFile] = process.argv.slice(2);
if (!afterFile) {
  console.error('usage: node scripts/untrusted-table.mjs BEFORE.jsonl AFTER.jsonl');
  process.exit(2);
}
const [before, after] = [readJsonl(beforeFile), readJsonl(afterFile)];
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
