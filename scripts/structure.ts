/**
 * Structure checks of the source tree, run by `npm test` (test/project/structure.test.ts) and by
 * hand (`node --import tsx scripts/structure.ts`):
 * - functions longer than 80 lines (each needs a `why:` comment right above it; at most 3);
 * - imports from src/cli and src/tui that reach past the public API (src/workbench/index.ts).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const MAX_FUNCTION_LINES = 80;

export interface LongFunction {
  file: string;
  line: number;
  name: string;
  lines: number;
  /** The `why:` comment above it, if any. */
  why: string | null;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|tsx)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

function functionName(node: ts.Node): string {
  const n = (node as { name?: ts.Node }).name;
  if (n && ts.isIdentifier(n)) return n.text;
  if (n && (ts.isStringLiteral(n) || ts.isPrivateIdentifier(n))) return n.text;
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (p && ts.isPropertyAssignment(p) && ts.isIdentifier(p.name)) return p.name.text;
  return '(anonymous)';
}

/** The `why:` text of the comment just above a function (or its variable statement). */
function whyComment(src: ts.SourceFile, node: ts.Node): string | null {
  let anchor: ts.Node = node;
  while (
    anchor.parent &&
    !ts.isSourceFile(anchor.parent) &&
    !ts.isBlock(anchor.parent) &&
    !ts.isClassDeclaration(anchor.parent)
  ) {
    if (ts.isCallExpression(anchor.parent) || ts.isArrowFunction(anchor.parent)) break;
    anchor = anchor.parent;
  }
  const ranges = ts.getLeadingCommentRanges(src.text, anchor.getFullStart()) ?? [];
  for (const r of ranges) {
    const m = /why:\s*([^\n*]+)/.exec(src.text.slice(r.pos, r.end));
    if (m) return m[1].trim();
  }
  return null;
}

/** Every function, method or arrow function of `files` longer than `max` lines. */
export function longFunctions(files = sourceFiles(join(ROOT, 'src')), max = MAX_FUNCTION_LINES): LongFunction[] {
  const out: LongFunction[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const src = ts.createSourceFile(
      file,
      text,
      ts.ScriptTarget.ES2022,
      true,
      file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
    );
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
        const start = src.getLineAndCharacterOfPosition(node.getStart(src)).line;
        const end = src.getLineAndCharacterOfPosition(node.getEnd()).line;
        const lines = end - start + 1;
        if (lines > max)
          out.push({
            file: relative(ROOT, file),
            line: start + 1,
            name: functionName(node),
            lines,
            why: whyComment(src, node),
          });
      }
      ts.forEachChild(node, visit);
    };
    visit(src);
  }
  return out.sort((a, b) => b.lines - a.lines);
}

export interface DeepImport {
  file: string;
  line: number;
  specifier: string;
}

/** Imports in src/cli and src/tui that resolve into src/workbench but not to src/workbench/index.ts. */
export function deepImports(): DeepImport[] {
  const workbench = join(ROOT, 'src', 'workbench');
  const out: DeepImport[] = [];
  for (const file of ['cli', 'tui', 'web'].flatMap((shell) => sourceFiles(join(ROOT, 'src', shell)))) {
    const text = readFileSync(file, 'utf8');
    const re = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
    for (const m of text.matchAll(re)) {
      const spec = m[1] ?? m[2];
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec).replace(/\.(js|ts|tsx)$/, '');
      if (!target.startsWith(workbench)) continue;
      if (target === join(workbench, 'index')) continue;
      out.push({ file: relative(ROOT, file), line: text.slice(0, m.index).split('\n').length, specifier: spec });
    }
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const long = longFunctions();
  console.log(`functions over ${MAX_FUNCTION_LINES} lines: ${long.length}`);
  for (const f of long)
    console.log(`  ${String(f.lines).padStart(4)}  ${f.file}:${f.line}  ${f.name}${f.why ? `  (why: ${f.why})` : ''}`);
  const deep = deepImports();
  console.log(`imports past src/workbench/index.ts from src/cli and src/tui: ${deep.length}`);
  for (const d of deep) console.log(`  ${d.file}:${d.line}  ${d.specifier}`);
}
