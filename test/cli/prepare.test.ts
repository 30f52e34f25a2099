import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/datasets.js';
import { writeRandomPng } from '../helpers/png.js';
import { main } from '../../src/cli/main.js';
import { combinedName } from '../../src/cli/commands/data.js';

let tmp: { dir: string; cleanup: () => void };
let seed = 2000;

/** An 8×8 gray PNG of distinct random pixels. */
const png = (file: string): Promise<void> => writeRandomPng(file, seed++);

before(async () => {
  tmp = tempDir('cbir-prepare-cli-');
  for (const cls of ['normal', 'benign', 'malignant'])
    for (let i = 0; i < 8; i++) await png(join(tmp.dir, 'sets', 'us', cls, `${i}.png`));
  for (const cls of ['glioma', 'meningioma', 'pituitary'])
    for (let i = 0; i < 8; i++) await png(join(tmp.dir, 'sets', 'mr', cls, `${i}.png`));
  writeFileSync(
    join(tmp.dir, 'us.json'),
    JSON.stringify({
      name: 'us-only',
      sources: [{ type: 'folder', path: 'sets/us', dataset: 'us', modality: 'US', region: 'breast' }],
    }),
  );
});
after(() => tmp.cleanup());

async function cbir(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await main(args);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const MR = () => `folder:path=${join(tmp.dir, 'sets', 'mr')},dataset=mr,modality=MR,region=brain`;

test('cbir data --help: --recipe and --source combine; the folder example renames labels', async () => {
  const r = await cbir('data', '--help');
  assert.equal(r.code, 0);
  assert.match(r.out, /cbir data prepare \[--recipe <file\.json>\] \[--source <spec> \.\.\.\] --out <dir>/);
  assert.doesNotMatch(r.out, /\| --recipe/);
  assert.ok(
    r.out.split('\n').some((l) => /^ {2}folder:.*labels=[^,]+:[^,]+/.test(l)),
    'a folder example with labels=',
  );
  assert.match(r.out, /CBIR_IMAGES_ROOT/);
});

test('cbir data prepare: recipe + --source is named "<recipe>+1 source"; --name wins', async () => {
  assert.equal(combinedName('radiology5', 0), 'radiology5');
  assert.equal(combinedName('radiology5', 1), 'radiology5+1 source');
  assert.equal(combinedName('radiology5', 2), 'radiology5+2 sources');
  const recipe = join(tmp.dir, 'us.json');
  const out = join(tmp.dir, 'combined');
  const r = await cbir('data', 'prepare', '--recipe', recipe, '--source', `${MR()},normal=glioma`, '--out', out, '-q');
  assert.equal(r.code, 0, r.err);
  const meta = JSON.parse(readFileSync(join(out, 'dataset.json'), 'utf8'));
  assert.equal(meta.name, 'us-only+1 source');
  assert.deepEqual(
    meta.sources.map((s: { dataset: string }) => s.dataset),
    ['us', 'mr'],
  );
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /^# Data preparation report: us-only\+1 source/);
  const named = await cbir(
    'data',
    'prepare',
    '--recipe',
    recipe,
    '--source',
    MR(),
    '--name',
    'mine',
    '--out',
    join(tmp.dir, 'n'),
    '-q',
  );
  assert.equal(named.code, 0, named.err);
  assert.equal(JSON.parse(readFileSync(join(tmp.dir, 'n', 'dataset.json'), 'utf8')).name, 'mine');
  const alone = await cbir('data', 'prepare', '--recipe', recipe, '--out', join(tmp.dir, 'alone'), '-q');
  assert.equal(alone.code, 0, alone.err);
  assert.equal(JSON.parse(readFileSync(join(tmp.dir, 'alone', 'dataset.json'), 'utf8')).name, 'us-only');
});

test('cbir data prepare warns about a source with no normal class; knn.csv shows root-relative paths', async () => {
  const out = join(tmp.dir, 'mr-set');
  const r = await cbir('data', 'prepare', '--source', MR(), '--out', out, '-q');
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /^warning: source folder:mr \(--source\) names no normal class .*\(glioma, meningioma, pituitary\)/m,
  );
  assert.match(
    r.out,
    new RegExp(`^image paths relative to ${join(tmp.dir, 'sets', 'mr').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
  );
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /## Warnings \(1\)/);
  assert.match(readFileSync(join(out, 'manifest.csv'), 'utf8'), /\nglioma\/0\.png,mr,/);

  const rep = join(tmp.dir, 'eval');
  const e = await cbir(...['eval', '--data', out, '--model', 'tiny16', '--out', rep], '--only', 'index-size');
  assert.equal(e.code, 0, e.err);
  // the index-size table names the classes it used (here all three: at least 3 take part)
  const isz = JSON.parse(readFileSync(join(rep, 'index_size.json'), 'utf8'));
  assert.deepEqual(isz.notes, [
    'Classes used (3 of 3, 2 test queries each): MR/brain/glioma, MR/brain/meningioma, MR/brain/pituitary.',
  ]);
  const knn = readFileSync(join(rep, 'tiny16', 'knn.csv'), 'utf8');
  assert.doesNotMatch(knn, /\.\.\//, 'no ../ paths');
  assert.match(knn, /(glioma|meningioma|pituitary)\/\d\.png/);
});
