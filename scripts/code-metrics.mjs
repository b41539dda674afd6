#!/usr/bin/env node
// Size of the code base, for refactoring reviews: the largest source files, the longest functions
// (TypeScript through the compiler's own parser; C++ by its top-level braces) and the number of
// exports per module. JSON on stdout.
//
//   node scripts/code-metrics.mjs [root] > metrics.json
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const root = path.resolve(process.argv[2] ?? '.');
const TOP = 15;

function files(dir, ext) {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && ext.some((x) => e.name.endsWith(x)) && !e.parentPath.includes('build'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

const rel = (f) => path.relative(root, f);
const lines = (text) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);

function tsFunctions(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found = [];
  let exports = 0;
  const visit = (node, owner) => {
    const name = node.name && ts.isIdentifier(node.name) ? node.name.text : undefined;
    const isFunction =
      ts.isFunctionDeclaration(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isArrowFunction(node) ||
      ts.isFunctionExpression(node) ||
      ts.isConstructorDeclaration(node);
    let label = owner;
    if (isFunction) {
      const parentName =
        ts.isVariableDeclaration(node.parent) && ts.isIdentifier(node.parent.name) ? node.parent.name.text : undefined;
      label = name ?? parentName ?? `${owner ?? '(anonymous)'}/lambda`;
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (end - start + 1 >= 5) found.push({ file: rel(file), name: label, lines: end - start + 1, line: start + 1 });
    }
    ts.forEachChild(node, (child) => visit(child, label));
  };
  visit(source, undefined);
  for (const statement of source.statements) {
    const modifiers = ts.canHaveModifiers(statement) ? (ts.getModifiers(statement) ?? []) : [];
    if (modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
      exports += ts.isVariableStatement(statement) ? statement.declarationList.declarations.length : 1;
    } else if (
      ts.isExportDeclaration(statement) &&
      statement.exportClause &&
      ts.isNamedExports(statement.exportClause)
    ) {
      exports += statement.exportClause.elements.length;
    }
  }
  return { functions: found, exports };
}

// C++ functions: top-level blocks whose header has a parameter list (namespace braces don't nest;
// braces in comments and strings are not expected in these sources).
function cppFunctions(file, text) {
  const found = [];
  let depth = 0;
  let header = -1;
  text.split('\n').forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '');
    if (/^\s*namespace\b[^{]*\{|^\}\s*\/\/\s*namespace/.test(line)) return;
    if (depth === 0 && header < 0 && /\S/.test(code) && !/^\s*#/.test(code)) header = i;
    for (const ch of code) depth += ch === '{' ? 1 : ch === '}' ? -1 : 0;
    if (depth === 0 && header >= 0 && /[;}]\s*$/.test(code)) {
      const head = text
        .split('\n')
        .slice(header, i + 1)
        .join(' ');
      const name = head.match(/([A-Za-z_][A-Za-z0-9_:]*)\s*\([^)]*\)?[^{;]*\{/)?.[1];
      if (
        name &&
        code.trim().startsWith('}') &&
        !/^\s*(struct|class|typedef|enum)\b/.test(head) &&
        i - header + 1 >= 5
      ) {
        found.push({ file: rel(file), name, lines: i - header + 1, line: header + 1 });
      }
      header = -1;
    }
  });
  return found;
}

const sources = [...files(path.join(root, 'src'), ['.ts']), ...files(path.join(root, 'src', 'native'), ['.cc', '.h'])];
const fileRows = [];
const functions = [];
const exportsByModule = {};
for (const file of sources) {
  const text = fs.readFileSync(file, 'utf8');
  const all = text.split('\n');
  fileRows.push({ file: rel(file), lines: lines(text), over120: all.filter((l) => l.length > 120).length });
  if (file.endsWith('.ts')) {
    const { functions: f, exports } = tsFunctions(file, text);
    functions.push(...f);
    exportsByModule[rel(file)] = exports;
  } else if (file.endsWith('.cc')) {
    functions.push(...cppFunctions(file, text));
  }
}

const byLines = (a, b) => b.lines - a.lines || a.file.localeCompare(b.file);
const result = {
  root: path.basename(root),
  files: fileRows.length,
  totalLines: fileRows.reduce((s, f) => s + f.lines, 0),
  linesOver120: fileRows.reduce((s, f) => s + f.over120, 0),
  exports: Object.values(exportsByModule).reduce((s, n) => s + n, 0),
  largestFiles: [...fileRows].sort(byLines).slice(0, TOP),
  longestFunctions: functions.sort(byLines).slice(0, TOP),
  exportsByModule,
};
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
