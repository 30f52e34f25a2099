import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { deepImports, longFunctions, MAX_FUNCTION_LINES, ROOT } from '../../scripts/structure.js';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|tsx)$/.test(n) ? [p] : [];
  });
}

test(`at most 3 functions over ${MAX_FUNCTION_LINES} lines, each with a why: comment`, () => {
  const long = longFunctions();
  const show = long.map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)${f.why ? '' : ' — no why: comment'}`);
  assert.ok(long.length <= 3, `split these into named stages:\n${show.join('\n')}`);
  assert.deepEqual(
    long.filter((f) => !f.why).map((f) => `${f.file}:${f.line} ${f.name}`),
    [],
    show.join('\n'),
  );
});

test('the CLI and the TUI import the core only through src/workbench/index.ts', () => {
  const deep = deepImports().map((d) => `${d.file}:${d.line} ${d.specifier}`);
  assert.deepEqual(deep, [], `import these from src/workbench/index.ts:\n${deep.join('\n')}`);
});

test('notebooks load only the public API', () => {
  const setup = readFileSync(join(ROOT, 'notebooks', '_setup.cjs'), 'utf8');
  const imports = [...setup.matchAll(/url\('([^']+)'\)/g)].map((m) => m[1]);
  assert.deepEqual(imports, ['src/workbench/index.ts']);
});

test('nothing reads summary.md back or guesses k-NN cache folders (the report is report.json)', () => {
  const offenders: string[] = [];
  for (const f of files(join(ROOT, 'src'))) {
    const text = readFileSync(f, 'utf8');
    if (/readFile(Sync)?\([^)]*summary\.md/.test(text) || /Dataset: `\(/.test(text))
      offenders.push(`${f}: parses summary.md`);
    if (/knn-test-/.test(text) && !f.endsWith(join('knn', 'table.ts')))
      offenders.push(`${f}: guesses knn-test-* folders`);
  }
  assert.deepEqual(offenders, []);
});

test('the sources are formatted with Prettier (npm run format)', { timeout: 120_000 }, () => {
  const bin = join(ROOT, 'node_modules', 'prettier', 'bin', 'prettier.cjs');
  const r = spawnSync(
    process.execPath,
    [bin, '--check', 'src', 'test', 'bench', 'bin', 'scripts', 'notebooks/_setup.cjs'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, `run \`npm run format\`:\n${r.stdout}${r.stderr}`);
});
