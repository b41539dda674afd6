/**
 * What README.md and docs/*.md quote, checked against the project (test/docs.test.ts runs it on the
 * real pages, and on a fabricated page to show that it fails):
 *
 * - **Hashes.** Every 12- or 64-digit hex string that is a shipped suite's sha256 (or its first 12
 *   digits) must be the sha256 of the suite named on the same line (the nearest name before it, else
 *   after it); a 12-digit one that is no suite's fails. Any other 32- or 64-digit hex string (an
 *   archive's MD5, a cache's sha256) must occur in a committed file outside the docs (src/, scripts/,
 *   test/: where the number comes from), or be in NOT_IN_TREE below. Every suite-like name
 *   (`omniglot-val-20w1s`) must be a shipped suite, and in a table of suites the way, shot, query,
 *   episodes and split columns must be the suite's.
 * - **Paths.** A path under a top-level folder of the repository (`src/`, `docs/`, `scripts/`,
 *   `episodes/`, `test/`, `examples/`), in a code span or in prose (where it must end in `/` or a file
 *   extension: `episodes/s` is a rate), must be a committed file or folder; `{a,b}` is expanded and
 *   `*` or a `<placeholder>` must match at least one. A code span that is a path of a source file
 *   (`.ts`, `.cc`, `.h`) not under a top-level folder is read from src/ (`train/inputs.ts`); one that is
 *   a bare source file name (`conv4.ts`, `binding.cc`, `.mjs`, `.sh`) must be some committed file's
 *   name. In the layout tree (a fenced block starting with `src/`), every entry must exist where it is
 *   drawn. A relative Markdown link must reach a committed file or folder, and its `#anchor` a heading
 *   of the page it names.
 * - **Commands.** A walk-through is a page's sh blocks, in order. Every path a `fewshot` command of
 *   it reads (a run folder, a model, a per-episode CSV, a sweep CSV or spec, a suite, a dataset cache)
 *   must be written by an earlier command of the same page (what each command writes is modelled
 *   below, from src/cli/*.ts) or be a committed file, or name a shipped suite; a model (eval's, a
 *   teacher) may be a shipped zoo model's name (`models/<name>/card.json`), and `fewshot models show`
 *   must name one.
 *
 * Exceptions, all of them: what the build writes (`dist/`, `src/native/build/`, the browser demo's
 * `examples/browser/dist/`) is not looked for;
 * user placeholders are not looked for: `path/to/...`, a `<placeholder>`, a `$VARIABLE`, or an
 * upper-case word (`DIR`, `SPEC.json`); a user's own downloads (`--from`, `--from-imagenet`,
 * `--splits`) must be such placeholders; hashes in NOT_IN_TREE.
 */
import * as path from 'node:path';

/** Hashes the docs quote that no committed file holds, with where they come from. */
export const NOT_IN_TREE: Readonly<Record<string, string>> = {
  '1d675b47d978889d74fa0da5fadfb00e':
    "ILSVRC2012_img_train.tar's MD5 as image-net.org publishes it (the import does not check it)",
};

export interface Doc {
  /** Path from the repository root, with '/' (README.md, docs/training.md). */
  readonly file: string;
  readonly text: string;
}

export interface SuiteFacts {
  readonly name: string;
  readonly file: string;
  readonly dataset: string;
  readonly split: string;
  readonly way: number;
  readonly shot: number;
  readonly query: number;
  readonly episodes: number;
  readonly sha256: string;
}

export interface Project {
  /** Committed files, from the repository root, with '/'. */
  readonly files: readonly string[];
  readonly suites: readonly SuiteFacts[];
  /** Recipe names, and whether each has a final stage (final/) beside select/. */
  readonly recipes: Readonly<Record<string, { readonly twoStage: boolean }>>;
  /** Text of the committed files outside the docs in which other hashes are looked for. */
  readonly sources: string;
  /** The zoo's models by name (models/<name>/card.json), with the recipe each was trained by. */
  readonly zoo?: Readonly<Record<string, { readonly recipe?: string }>>;
  /** Pages that links may point into, beside those checked (for their headings). */
  readonly pages?: readonly Doc[];
}

export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export interface Counts {
  hashes: number;
  suiteNames: number;
  paths: number;
  links: number;
  commands: number;
  reads: number;
}

const ROOTS = ['src', 'docs', 'scripts', 'episodes', 'test', 'examples'];
const BUILT = ['dist/', 'src/native/build/', 'examples/browser/dist/'];
const SOURCE_EXT = /\.(ts|cc|h)$/;
const NAME_EXT = /^[\w.-]+\.(ts|cc|h|mjs|sh)$/;

/** A user's placeholder, never looked for. */
export function isPlaceholder(p: string): boolean {
  return (
    p.startsWith('path/to/') ||
    /<[^>]*>/.test(p) ||
    p.includes('$') ||
    /^[A-Z][A-Z0-9_]*(\.[a-z]+)?$/.test(p) ||
    /(^|\/)[A-Z][A-Z0-9_]*(\/|$)/.test(p)
  );
}

/** Shell words of one command line: quotes grouped, `# comments` dropped, `$VARS` left as written. */
export function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) {
    if ((m[3] ?? '').startsWith('#')) break;
    out.push(m[1] ?? m[2] ?? m[3]);
  }
  return out;
}

interface Fence {
  readonly lang: string;
  /** Line number (1-based) of the fence's first content line. */
  readonly line: number;
  readonly lines: string[];
}

/** The page's fenced blocks, and its text with every fenced block blanked (newlines kept). */
function splitFences(text: string): { fences: Fence[]; prose: string } {
  const lines = text.split('\n');
  const fences: Fence[] = [];
  const prose: string[] = [];
  let open: Fence | undefined;
  lines.forEach((l, i) => {
    const m = /^\s*```(\w*)/.exec(l);
    if (m && !open) {
      open = { lang: m[1], line: i + 2, lines: [] };
      prose.push('');
    } else if (m && open) {
      fences.push(open);
      open = undefined;
      prose.push('');
    } else if (open) {
      open.lines.push(l);
      prose.push('');
    } else prose.push(l);
  });
  return { fences, prose: prose.join('\n') };
}

const isShell = (f: Fence) => f.lang === 'sh' || f.lang === 'bash';

export interface CommandLine {
  readonly line: number;
  readonly text: string;
  /** Options shown elsewhere (`...`): a sketch, which the command parser cannot check. */
  readonly sketch: boolean;
}

/** The `fewshot` command lines of a page's sh blocks, in order (continuations joined, `&&` split). */
export function commandLines(text: string): CommandLine[] {
  const out: CommandLine[] = [];
  for (const f of splitFences(text).fences.filter(isShell)) {
    for (let i = 0; i < f.lines.length; i++) {
      const line = f.line + i;
      let joined = f.lines[i];
      while (joined.endsWith('\\') && i + 1 < f.lines.length) joined = joined.slice(0, -1) + ' ' + f.lines[++i].trim();
      for (const part of joined.trim().split(/\s*&&\s*/)) {
        if (!part.startsWith('fewshot ')) continue;
        out.push({ line, text: part, sketch: /\s\.\.\.(\s|$)/.test(part) });
      }
    }
  }
  return out;
}

/**
 * Whole commands quoted in prose: a code span starting `fewshot ` that names its output (`--out`)
 * and is no synopsis (no `[`, `|`, `<` or `...`); `&&` splits it. The rest of the prose's `fewshot`
 * spans name a command or an option (`fewshot report --baseline baseline`), not a line to run.
 */
export function inlineCommands(text: string): CommandLine[] {
  const prose = splitFences(text).prose;
  return [...prose.matchAll(/`(fewshot [^`]+)`/g)]
    .filter((m) => /\s--out\s/.test(m[1]) && !/[[|<]|\.\.\./.test(m[1]))
    .flatMap((m) =>
      m[1]
        .replace(/\s+/g, ' ')
        .split(/\s*&&\s*/)
        .map((part) => ({ line: lineOf(prose, m.index), text: part, sketch: false })),
    );
}

/** GitHub's anchor of a heading. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function braces(p: string): string[] {
  const m = /\{([^{}]*)\}/.exec(p);
  if (!m) return [p];
  return m[1].split(',').flatMap((alt) => braces(p.slice(0, m.index) + alt + p.slice(m.index + m[0].length)));
}

function globRegExp(p: string): RegExp {
  const body = p
    .split(/(\*|<[^>]*>)/)
    .map((part, i) => (i % 2 ? '[^/]+' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

const norm = (p: string) => {
  const n = path.posix.normalize(p);
  return n.length > 1 ? n.replace(/\/$/, '') : n;
};

/** The committed files and every folder that holds one. */
class Tree {
  readonly entries = new Set<string>();
  readonly names = new Set<string>();
  constructor(files: readonly string[]) {
    for (const f of files) {
      this.names.add(path.posix.basename(f));
      for (let p = f; p !== '.' && p !== ''; p = path.posix.dirname(p)) this.entries.add(p);
    }
  }
  /** Whether the path (braces expanded, `*` and `<...>` as wildcards) names something in the tree. */
  has(p: string, extra: Iterable<string> = []): boolean {
    return braces(p).every((alt) => {
      const n = norm(alt);
      if (!/\*|<[^>]*>/.test(n)) return this.entries.has(n) || [...extra].includes(n);
      const re = globRegExp(n);
      return [...this.entries, ...extra].some((e) => re.test(e));
    });
  }
}

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

/** Runs every check on the pages; returns the problems found and how much was checked. */
export function checkDocs(docs: readonly Doc[], project: Project): { problems: Problem[]; counts: Counts } {
  const tree = new Tree(project.files);
  const problems: Problem[] = [];
  const counts: Counts = { hashes: 0, suiteNames: 0, paths: 0, links: 0, commands: 0, reads: 0 };
  const suites = new Map(project.suites.map((s) => [s.name, s]));
  const quoted = new Set<string>();
  const headings = new Map(
    [...(project.pages ?? []), ...docs].map((d) => [
      d.file,
      new Set([...d.text.matchAll(/^#+\s+(.*)$/gm)].map((m) => slug(m[1]))),
    ]),
  );

  for (const doc of docs) {
    const report = (line: number, message: string) => problems.push({ file: doc.file, line, message });
    const { fences, prose } = splitFences(doc.text);
    checkHashes(doc.text, project, suites, quoted, counts, report);
    checkSuiteTables(doc.text, suites, report);
    // Paths in prose and in every fenced block but the sh ones (their commands are walked below).
    const others = fences.filter((f) => !isShell(f));
    const tree0 = others.find((f) => f.lines[0]?.trim() === 'src/');
    checkPaths(prose, tree, counts, report, false);
    for (const f of others.filter((f) => f !== tree0)) {
      checkPaths('\n'.repeat(f.line - 1) + f.lines.join('\n'), tree, counts, report, true);
    }
    if (tree0) checkLayoutTree(tree0, tree, counts, report);
    checkLinks(doc, prose, tree, headings, counts, report);
    walk(doc, project, tree, suites, counts, report);
  }
  for (const s of project.suites) {
    if (!quoted.has(s.name)) {
      problems.push({ file: s.file, line: 0, message: `shipped suite ${s.name}: no page gives its sha256` });
    }
  }
  return { problems, counts };
}

type Report = (line: number, message: string) => void;

const SUITE_NAME = /(?<![\w<>-])[a-z0-9]+(?:-[a-z0-9]+)*-(?:train|val|test|trainval)-\d+w\d+s(?![\w<>-])/g;

function checkHashes(
  text: string,
  project: Project,
  suites: Map<string, SuiteFacts>,
  quoted: Set<string>,
  counts: Counts,
  report: Report,
): void {
  for (const m of text.matchAll(SUITE_NAME)) {
    counts.suiteNames++;
    if (!suites.has(m[0])) report(lineOf(text, m.index), `${m[0]}: no such shipped suite (episodes/${m[0]}.json)`);
  }
  const lines = text.split('\n');
  lines.forEach((l, i) => {
    for (const m of l.matchAll(/(?<![0-9a-zA-Z])(?:[0-9a-f]{64}|[0-9a-f]{32}|[0-9a-f]{12})(?![0-9a-zA-Z])/g)) {
      const hash = m[0];
      if (!/[0-9]/.test(hash) || !/[a-f]/.test(hash)) continue;
      counts.hashes++;
      const owners = project.suites.filter((s) => s.sha256.startsWith(hash));
      if (hash.length === 32 || (hash.length === 64 && !owners.length)) {
        if (!project.sources.includes(hash) && !NOT_IN_TREE[hash])
          report(i + 1, `${hash}: neither a shipped suite's sha256 nor in any file of src/, scripts/ or test/`);
        continue;
      }
      const named = [...l.matchAll(SUITE_NAME)].filter((n) => suites.has(n[0]));
      const before = named.filter((n) => n.index < m.index!).pop();
      const beside = before ?? named[0];
      if (!beside) {
        report(
          i + 1,
          owners.length
            ? `${hash}: a suite hash (${owners[0].name}'s) with no suite named on its line`
            : `${hash}: the sha256 of no shipped suite`,
        );
        continue;
      }
      const suite = suites.get(beside[0])!;
      if (!suite.sha256.startsWith(hash)) {
        const other = owners.length ? ` (that is ${owners[0].name}'s)` : ' (no shipped suite has it)';
        report(i + 1, `${suite.name}: sha256 ${suite.sha256.slice(0, hash.length)}, not ${hash}${other}`);
      } else quoted.add(suite.name);
    }
  });
}

/** Tables whose first column is a suite: their way/shot/query/episodes/split cells against the suite. */
function checkSuiteTables(text: string, suites: Map<string, SuiteFacts>, report: Report): void {
  let header: string[] | undefined;
  const cells = (l: string) =>
    l
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((c) => c.trim());
  text.split('\n').forEach((l, i) => {
    if (!l.trim().startsWith('|')) {
      header = undefined;
      return;
    }
    const row = cells(l);
    if (!header) {
      header = row[0] === 'suite' ? row : [];
      return;
    }
    const suite = suites.get(row[0]);
    if (!suite) return;
    header.forEach((h, c) => {
      const key = h as keyof SuiteFacts;
      if (['way', 'shot', 'query', 'episodes'].includes(h) && row[c] !== String(suite[key]))
        report(i + 1, `${suite.name}: ${h} is ${suite[key]}, not ${row[c]}`);
      if (h === 'split' && row[c].split(' ').pop() !== suite.split)
        report(i + 1, `${suite.name}: split is ${suite.split}, not ${row[c]}`);
    });
  });
}

const ROOTED = new RegExp(`(?<![\\w.~/<>$-])(?:${ROOTS.join('|')})/(?:\\{[^}\\s]*\\}|[^\\s\`'"()\\[\\]|,;])*`, 'g');

/** Paths under a top-level folder; in code spans (or fenced blocks) any, in prose those that look like files. */
function checkPaths(text: string, tree: Tree, counts: Counts, report: Report, code: boolean): void {
  const check = (p: string, index: number) => {
    p = p.replace(/[.:]+$/, '');
    if (isPlaceholder(p.replace(/<[^>]*>/g, '')) || BUILT.some((b) => p.startsWith(b))) return;
    counts.paths++;
    if (!tree.has(p)) report(lineOf(text, index), `${p}: no such file or folder in the repository`);
  };
  const spans = [...text.matchAll(/`([^`]+)`/g)];
  for (const s of code ? [] : spans) {
    const span = s[1].trim();
    for (const m of span.matchAll(ROOTED)) check(m[0], s.index);
    if (ROOTS.some((r) => span.startsWith(`${r}/`)) || span.includes(' ')) continue;
    if (span.includes('/') && SOURCE_EXT.test(span) && /^[\w./-]+$/.test(span)) {
      counts.paths++;
      if (!tree.has(`src/${span}`)) report(lineOf(text, s.index), `${span}: no such file under src/`);
    } else if (NAME_EXT.test(span)) {
      counts.paths++;
      if (!tree.names.has(span)) report(lineOf(text, s.index), `${span}: no committed file of that name`);
    }
  }
  // Outside code spans (blanked, offsets kept): only what looks like a file or a folder.
  const bare = code ? text : text.replace(/`[^`]*`/g, (s) => ' '.repeat(s.length));
  for (const m of bare.matchAll(ROOTED)) {
    const p = m[0].replace(/[.:]+$/, '');
    if (code || p.endsWith('/') || /\.\w+$/.test(p)) check(p, m.index);
  }
}

/** The layout tree: entries at even indentation, each under the folder drawn above it. */
function checkLayoutTree(f: Fence, tree: Tree, counts: Counts, report: Report): void {
  const stack: string[] = [];
  f.lines.forEach((l, i) => {
    const m = /^( *)([\w.-]+\/?)(?=\s|$)(.*)$/.exec(l);
    if (!m || m[1].length % 2 || m[1].length / 2 > stack.length || !(m[2].endsWith('/') || m[2].includes('.'))) {
      // A description's continuation: the file names in it must exist somewhere.
      for (const n of l.matchAll(/[\w-]+\.(?:ts|cc|h)\b/g)) {
        counts.paths++;
        if (!tree.names.has(n[0])) report(f.line + i, `${n[0]}: no committed file of that name`);
      }
      return;
    }
    const depth = m[1].length / 2;
    stack.length = depth;
    const p = [...stack, m[2]].join('');
    counts.paths++;
    if (!tree.has(p)) report(f.line + i, `${p}: no such file or folder (drawn in the layout)`);
    if (m[2].endsWith('/')) stack.push(m[2]);
    for (const n of m[3].matchAll(/[\w-]+\.(?:ts|cc|h)\b/g)) {
      counts.paths++;
      if (!tree.names.has(n[0])) report(f.line + i, `${n[0]}: no committed file of that name`);
    }
  });
}

function checkLinks(
  doc: Doc,
  prose: string,
  tree: Tree,
  headings: Map<string, Set<string>>,
  counts: Counts,
  report: Report,
): void {
  for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1];
    if (/^[a-z]+:/.test(target)) continue;
    counts.links++;
    const [file, anchor] = target.split('#');
    const resolved = file ? norm(path.posix.join(path.posix.dirname(doc.file), file)) : doc.file;
    if (resolved.startsWith('..') || !tree.has(resolved)) {
      report(lineOf(prose, m.index), `link ${target}: no such file or folder in the repository`);
    } else if (anchor && !headings.get(resolved)?.has(anchor)) {
      report(lineOf(prose, m.index), `link ${target}: ${resolved} has no heading #${anchor}`);
    }
  }
}

const FLAGS = new Set(['--resume', '--json', '--csv-only', '--update', '--verbose', '--allow-mixed-code']);
const VARIADIC = new Set(['--label', '--logs', '--md5']);

/** Positional words and option values of a command line (the words after `fewshot`). */
function parseWords(ws: string[]): { args: string[]; opts: Map<string, string[]> } {
  const args: string[] = [];
  const opts = new Map<string, string[]>();
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i];
    if (w === '...') continue;
    if (!w.startsWith('--')) {
      args.push(w);
      continue;
    }
    const values: string[] = [];
    if (VARIADIC.has(w)) while (i + 1 < ws.length && !ws[i + 1].startsWith('--')) values.push(ws[++i]);
    else if (!FLAGS.has(w) && i + 1 < ws.length) values.push(ws[++i]);
    opts.set(w, values);
  }
  return { args, opts };
}

interface Written {
  /** train, distill, recipe (a recipe run folder), eval, data, csv, report, manifest. */
  readonly kind: string;
  readonly recipe?: string;
}

const CACHE = '~/.cache/fewshot-rkd';

/** A page's sh blocks as one walk-through: what each command reads must be there. */
function walk(doc: Doc, project: Project, tree: Tree, suites: Map<string, SuiteFacts>, counts: Counts, report: Report) {
  const written = new Map<string, Written>();
  const write = (p: string | undefined, w: Written) => p !== undefined && written.set(norm(p), w);
  const runFolder = (dir: string, kind: string) => {
    write(dir, { kind });
    for (const f of ['config.json', 'log.jsonl', 'best', 'checkpoint']) write(`${dir}/${f}`, { kind: 'file' });
  };
  const has = (p: string) => tree.has(p, written.keys());

  for (const c of commandLines(doc.text)) {
    counts.commands++;
    const ws = words(c.text).slice(1);
    const [command, sub] = ws;
    const { args, opts } = parseWords(ws.slice(command === 'data' || command === 'episodes' ? 2 : 1));
    const opt = (name: string) => opts.get(name)?.[0];
    const need = (p: string | undefined, what: string, ok?: (w: Written | undefined) => string | undefined) => {
      if (p === undefined || isPlaceholder(p)) return;
      counts.reads++;
      if (!has(p)) {
        report(c.line, `fewshot ${command}: reads ${p} (${what}), which no earlier command of this page writes`);
        return;
      }
      const why = ok?.(written.get(norm(p)));
      if (why) report(c.line, `fewshot ${command}: reads ${p} (${what}), ${why}`);
    };
    const suite = (s: string) => {
      if (isPlaceholder(s)) return;
      if (!s.includes('/')) {
        counts.reads++;
        if (!suites.has(s.replace(/\.json$/, '')))
          report(c.line, `fewshot ${command}: ${s}: no shipped suite of that name`);
      } else need(s, 'a suite or manifest');
    };
    /** The suite names a suite argument stands for (a glob of suite files gives each). */
    const suiteNames = (s: string): string[] => {
      if (!s.includes('/')) return [s.replace(/\.json$/, '')];
      const re = globRegExp(norm(s));
      return project.suites.filter((x) => re.test(x.file)).map((x) => x.name);
    };
    const resume = opts.has('--resume');
    /** A model argument that is a zoo name (and no path): true once checked; `recipe` it must have. */
    const zooModel = (p: string | undefined, recipe?: string): boolean => {
      const model = p !== undefined && !p.includes('/') ? project.zoo?.[p] : undefined;
      if (!model) return false;
      counts.reads++;
      if (recipe && model.recipe !== recipe)
        report(
          c.line,
          `fewshot ${command}: zoo model ${p} was trained by ${model.recipe ?? 'no recipe'}, not ${recipe}`,
        );
      return true;
    };

    switch (command) {
      case 'train':
      case 'distill': {
        const out = opt('--out')!;
        if (resume)
          need(out, 'the run to resume', (w) =>
            w && w.kind !== command && !(command === 'train' && w.kind === 'recipe')
              ? `which holds a ${w.kind} run, not a ${command} run`
              : undefined,
          );
        const val = opt('--val-suite');
        if (val) suite(val);
        need(opt('--data'), 'a dataset cache');
        const recipe = opt('--recipe');
        if (command === 'distill') {
          const teacher = opt('--teacher');
          if (zooModel(teacher, recipe)) {
            // a shipped zoo model
          } else if (recipe) {
            need(teacher, "the teacher's recipe run folder", (w) =>
              w && w.recipe !== recipe
                ? `which holds ${w.recipe ? `a ${w.recipe} run` : 'no recipe run'}, not ${recipe}`
                : undefined,
            );
          } else need(teacher, "the teacher's model folder");
          if (!resume) {
            write(out, { kind: 'distill' });
            write(`${out}/config.json`, { kind: 'file' });
            const g = Number(opt('--generations') ?? 1);
            for (let i = 1; i <= g; i++) runFolder(`${out}/gen${i}`, 'distill-generation');
          }
        } else if (!resume && recipe) {
          if (!project.recipes[recipe]) report(c.line, `fewshot train: --recipe ${recipe}: no such recipe`);
          write(out, { kind: 'recipe', recipe });
          write(`${out}/config.json`, { kind: 'file' });
          runFolder(`${out}/select`, 'train');
          if (project.recipes[recipe]?.twoStage) runFolder(`${out}/final`, 'train');
        } else if (!resume) runFolder(out, 'train');
        break;
      }
      case 'eval': {
        const [model, ...files] = args;
        if (!zooModel(model)) need(model, 'a model folder');
        files.forEach(suite);
        need(opt('--data'), 'a dataset cache');
        const out = opt('--out');
        if (out) {
          write(out, { kind: 'eval' });
          write(`${out}/summary.json`, { kind: 'file' });
          for (const f of files) for (const n of suiteNames(f)) write(`${out}/${n}.episodes.csv`, { kind: 'file' });
        }
        break;
      }
      case 'compare':
        args.forEach((a) => need(a, 'a per-episode CSV'));
        break;
      case 'sweep': {
        if (args[0] === 'merge') {
          args.slice(1).forEach((a) => need(a, 'a shard CSV'));
          if (opt('--out')) write(opt('--out')!, { kind: 'csv' });
        } else {
          need(args[0], 'a sweep spec');
          write(opt('--out') ?? '<runs>/sweep.csv', { kind: 'csv' });
        }
        break;
      }
      case 'report': {
        need(args[0], 'a sweep CSV');
        opts.get('--logs')?.forEach((l) => need(l, 'a run folder'));
        const out = opt('--out') ?? path.posix.dirname(args[0] ?? '.');
        write(out, { kind: 'report' });
        for (const f of ['report.md', 'accuracy.svg', 'accuracy.png', 'curves.svg', 'curves.png'])
          write(`${out}/${f}`, { kind: 'file' });
        break;
      }
      case 'episodes': {
        args.forEach(suite);
        need(opt('--data'), 'a dataset cache');
        if (sub === 'freeze' && args[0])
          write(opt('--out') ?? args[0].replace(/\.json$/, '.csv'), { kind: 'manifest' });
        break;
      }
      case 'data': {
        for (const o of ['--from', '--from-imagenet', '--splits']) {
          const p = opt(o);
          if (p !== undefined && !isPlaceholder(p) && !written.has(norm(p))) {
            counts.reads++;
            report(c.line, `fewshot data: ${o} ${p}: a user's own files are written path/to/... (or DIR)`);
          }
        }
        if (sub === 'info') need(args[0], 'a dataset cache');
        const kind = sub === 'download' ? args[0] : sub;
        if (kind === 'cifar100') {
          const root = opt('--out') ?? CACHE;
          for (const d of ['cifar-fs', 'fc100']) write(`${root}/${d}`, { kind: 'data' });
        } else if (kind && sub !== 'info' && !(sub === 'download' && kind === 'miniimagenet')) {
          write(opt('--out') ?? `${CACHE}/${kind}`, { kind: 'data' });
        }
        break;
      }
      case 'models':
        if (args[0] === 'show' && args[1] && !isPlaceholder(args[1]) && !zooModel(args[1]))
          report(c.line, `fewshot models show: ${args[1]}: no zoo model of that name`);
        break;
      case 'demo':
        runFolder(opt('--out') ?? 'runs/demo', 'demo');
        break;
    }
  }
}
