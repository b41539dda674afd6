/**
 * The library's public surface: every type that an exported function, class or type names from
 * the project's own sources is itself exported, so that a user can write down what they pass.
 */
import * as path from 'node:path';
import { expect } from 'chai';
import ts from 'typescript';
import { ROOT } from './helpers.js';

describe('library exports', () => {
  it('export every project type that a public signature names', () => {
    const entry = path.join(ROOT, 'src', 'index.ts');
    const program = ts.createProgram([entry], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      skipLibCheck: true,
    });
    const checker = program.getTypeChecker();
    const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!);
    const resolve = (s: ts.Symbol) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
    const publicSymbols = new Set(exported.map(resolve));
    const src = path.join(ROOT, 'src') + path.sep;
    const missing = new Set<string>();
    const seen = new Set<ts.Node>();
    // Every type reference inside the declarations of an exported symbol, followed one level down.
    const visit = (node: ts.Node, owner: string) => {
      if (seen.has(node)) return;
      seen.add(node);
      if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node)) {
        if (node.body) {
          node.parameters.forEach((p) => visit(p, owner));
          if (node.type) visit(node.type, owner);
          return;
        }
      }
      if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node)) {
        const target = checker.getSymbolAtLocation(ts.isTypeReferenceNode(node) ? node.typeName : node.expression);
        const symbol = target && resolve(target);
        const file = symbol?.declarations?.[0]?.getSourceFile().fileName;
        if (
          symbol &&
          file?.startsWith(src) &&
          !(symbol.flags & ts.SymbolFlags.TypeParameter) &&
          !publicSymbols.has(symbol)
        ) {
          missing.add(`${symbol.name} (${path.relative(ROOT, file)}), named by ${owner}`);
        }
      }
      // Private members and initialisers are not part of the surface.
      if (ts.isPropertyDeclaration(node) && node.modifiers?.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword))
        return;
      if (ts.isVariableDeclaration(node)) {
        if (node.type) visit(node.type, owner);
        return;
      }
      ts.forEachChild(node, (child) => visit(child, owner));
    };
    for (const symbol of publicSymbols) for (const d of symbol.declarations ?? []) visit(d, symbol.name);
    expect([...missing].sort()).to.deep.equal([]);
  });
});
