import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PROJECT_ROOT, tempDir } from '../helpers/datasets.js';
import { generatePhantom } from '../../src/workbench/data/phantom.js';
import { CbirError } from '../../src/workbench/errors.js';
import { cbir } from '../helpers/cli.js';
import { CLI_HINTS, cliHintFor } from '../../src/cli/hints.js';

let tmp: { dir: string; cleanup: () => void };
let dataDir: string;

before(async () => {
  tmp = tempDir('cbir-hints-');
  dataDir = join(tmp.dir, 'phantom');
  await generatePhantom({ out: dataDir, scale: 0.05, size: 32 });
});
after(() => tmp.cleanup());

test('cbir embed into a foreign --out prints the core hint and the CLI line', async () => {
  const out = join(tmp.dir, 'store');
  const args = ['embed', '--data', dataDir, '--out', out, '--batch', '8', '--workers', '0', '--quiet'];
  const first = await cbir(...args, '--model', 'classic');
  assert.equal(first.code, 0, first.err);
  const r = await cbir(...args, '--model', 'hog4x4x9');
  assert.equal(r.code, 1);
  const lines = r.err.split('\n');
  assert.match(lines[0], /^cbir embed: .*meta\.json: this folder holds embeddings of another model/);
  assert.equal(lines[1], '  → write to a new output folder, or start again from scratch (force), which deletes them');
  assert.equal(lines[2], '  → in the CLI: pass another --out, or --force to delete them and start again');
  assert.equal(lines.length, 3, r.err);
});

test('cbir embed merge without shards: core hint, then the flags', async () => {
  const r = await cbir('embed', 'merge', '--out', join(tmp.dir, 'merged'));
  assert.equal(r.code, 1);
  assert.match(r.err, /no shard folders given\n {2}→ give the output folders of all shards of the run\n/);
  assert.match(r.err, /\n {2}→ in the CLI: pass the --out folders of all `cbir embed --shard i\/n` runs/);
});

test('data prepare without --out: the core refuses it, the CLI names the flag', async () => {
  const r = await cbir('data', 'prepare', '--source', 'folder:path=x,dataset=d,modality=MR,region=brain');
  assert.equal(r.code, 1);
  assert.match(r.err, /no output folder given\n {2}→ give an output folder\n {2}→ in the CLI: pass --out <dir>/);
});

test('cliHintFor: per-command lines, model ids filled in, unknown codes skipped', () => {
  const err = (code: string, message = 'x', hint = 'plain words') => new CbirError(message, { code, hint });
  assert.match(cliHintFor('embed', err('embed/mismatch'))!, /--force/);
  assert.match(cliHintFor('report', err('embed/mismatch'))!, /--work/);
  // `cbir figures` has no --out: its write failures name the report folder instead
  assert.match(cliHintFor('figures', err('fs/path-blocked'))!, /report folder/);
  assert.doesNotMatch(cliHintFor('figures', err('fs/not-writable'))!, /--out/);
  assert.match(cliHintFor('report', err('fs/not-writable'))!, /--out/);
  assert.equal(
    cliHintFor('models', err('pull/interrupted', 'download of model "resnet50" was interrupted')),
    'run the same `cbir models pull resnet50` again to resume',
  );
  assert.equal(cliHintFor('embed', err('no/such-code')), undefined);
  assert.equal(cliHintFor('embed', new CbirError('x', { hint: 'y' })), undefined);
  assert.equal(speaksCli('check that `chromium --headless` runs'), false);
  assert.equal(speaksCli('see `cbir embed --help`'), true);
  assert.equal(speaksCli('pass --force'), true);
});

// ---- the core library's hints speak plain words ------------------------------------------

/**
 * Whether a hint already speaks CLI: names a `--flag` or a `cbir` command outside inline code of
 * other tools (`` `chromium --headless …` ``).
 */
function speaksCli(hint: string): boolean {
  const prose = hint.replace(/`(?!cbir )[^`]*`/g, '');
  return /(^|[\s(/])--[a-z]/.test(prose) || /(^|[^a-z])cbir [a-z]/.test(prose);
}

const WORKBENCH = join(PROJECT_ROOT, 'src', 'workbench');
/** Files whose hints may speak to their own users in their own terms (notebook parameters DATA, MODELS, …). */
const ALLOWED = new Set(['notebook.ts']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return f.endsWith('.ts') ? [p] : [];
  });
}

/**
 * The literal text of the expression starting at `start` (up to a `,` `;` `)` `}` at depth 0):
 * the contents of its string and template literals, `${…}` parts left out, escapes undone.
 */
function literalText(src: string, start: number): string {
  let i = start;
  let depth = 0;
  let text = '';
  const readTemplate = (): void => {
    i++; // opening backtick
    while (i < src.length && src[i] !== '`') {
      if (src[i] === '\\') {
        text += src[i + 1];
        i += 2;
      } else if (src[i] === '$' && src[i + 1] === '{') {
        i += 2;
        skipExpression('}');
        i++;
      } else text += src[i++];
    }
    i++;
    text += ' ';
  };
  const readQuoted = (q: string): void => {
    i++;
    while (i < src.length && src[i] !== q) {
      if (src[i] === '\\') {
        text += src[i + 1];
        i += 2;
      } else text += src[i++];
    }
    i++;
    text += ' ';
  };
  // skip an embedded expression up to its closing `close` (strings inside still read, so nested hints count)
  const skipExpression = (close: string): void => {
    let d = 0;
    while (i < src.length && !(d === 0 && src[i] === close)) {
      const c = src[i];
      if (c === '`') readTemplate();
      else if (c === "'" || c === '"') readQuoted(c);
      else {
        if (c === '{' || c === '(' || c === '[') d++;
        if (c === '}' || c === ')' || c === ']') d--;
        i++;
      }
    }
  };
  while (i < src.length) {
    const c = src[i];
    if (c === '`') readTemplate();
    else if (c === "'" || c === '"') readQuoted(c);
    else if (depth === 0 && (c === ',' || c === ';' || c === ')' || c === '}')) break;
    else {
      if (c === '{' || c === '(' || c === '[') depth++;
      if (c === '}' || c === ')' || c === ']') depth--;
      i++;
    }
  }
  return text;
}

test('no hint in src/workbench names a CLI flag or a `cbir` command', () => {
  const quick = /hint:\s*[`'"][^`'"]*(--[a-z]|`cbir )/;
  // `hint: …`, `hint = …` (defaults), `FOO_HINT = …` and the bodies of `function somethingHint(…)`
  const starts = /\bhint\s*[:=](?!=)|\b[A-Z_]*HINT\s*=|function \w*Hint\([^)]*\)[^{]*\{\s*return/g;
  const offenders: string[] = [];
  let scanned = 0;
  for (const file of sourceFiles(WORKBENCH)) {
    const name = relative(WORKBENCH, file);
    if (ALLOWED.has(name)) continue;
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(starts)) {
      const text = literalText(src, m.index! + m[0].length);
      if (text.trim() === '') continue;
      scanned++;
      const line = src.slice(0, m.index).split('\n').length;
      if (speaksCli(text) || quick.test(src.slice(m.index, m.index! + 400).split('\n')[0]))
        offenders.push(`${name}:${line}: ${text.trim()}`);
    }
  }
  assert.ok(scanned > 100, `only ${scanned} hints found: is the scan broken?`);
  assert.deepEqual(
    offenders,
    [],
    `hints naming CLI flags or commands (put those in src/cli/hints.ts):\n${offenders.join('\n')}`,
  );
});

test('every code in src/cli/hints.ts is a code the core library throws', () => {
  const src = sourceFiles(WORKBENCH)
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  const unknown = Object.keys(CLI_HINTS).filter((c) => !src.includes(`'${c}'`));
  assert.deepEqual(unknown, []);
});
