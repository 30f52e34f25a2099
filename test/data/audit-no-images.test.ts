import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Manifest, type ManifestEntry } from '../../src/workbench/data/manifest.js';
import { PRESENCE_PROBE_ROWS, auditManifest, dataNotes, formatAudit } from '../../src/workbench/data/audit.js';
import { tempDir } from '../helpers/datasets.js';
import { writeRandomPng } from '../helpers/png.js';

let tmp: { dir: string; cleanup: () => void };
before(() => {
  tmp = tempDir('cbir-audit-noimg-');
});
after(() => tmp.cleanup());

const CLASSES = [
  { name: 'MR/brain/glioma', modality: 'MR', region: 'brain', label: 'glioma', kind: 'pathological' },
  { name: 'MR/brain/normal', modality: 'MR', region: 'brain', label: 'normal', kind: 'anatomical' },
] as const;

/** `n` rows (train, then val, then test), two classes; row i's file is `img/<i>.png` (or `path(i)`). */
function entries(n: number, path = (i: number) => `img/${i}.png`): ManifestEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    filepath: path(i),
    dataset: 'hand',
    split: i < 0.7 * n ? 'train' : i < 0.8 * n ? 'val' : 'test',
    modality: 'MR',
    anatomicRegion: 'brain',
    className: CLASSES[i % 2].name,
  }));
}

const manifest = (e: ManifestEntry[], dir: string) =>
  Manifest.fromEntries(
    e,
    CLASSES.map((c) => ({ ...c })),
    { dir },
  );

test('no image files: one note, paths still compared, no per-row unreadable warnings, no cache written', async () => {
  const dir = join(tmp.dir, 'absent');
  const e = entries(300);
  // a test query that is a train image's file again (the same path once normalised)
  e.push({ ...e[3], filepath: 'img/./3.png', split: 'test' });
  const m = manifest(e, dir);
  const cacheFile = join(tmp.dir, 'absent-cache.csv');
  const r = await auditManifest(m, { similarMad: 0, querySplits: ['test'], cacheFile });
  assert.deepEqual(r.imagesAbsent, { root: m.imagesRoot, probed: PRESENCE_PROBE_ROWS });
  assert.equal(r.unchecked.length, 0, 'no per-row "could not be read" entries');
  assert.deepEqual(
    r.pairs.map((p) => [p.kind, p.a, p.b]),
    [['same-path', 3, 300]],
  );
  assert.equal(existsSync(cacheFile), false, 'nothing was read, so no content cache is written');
  const notes = dataNotes(m, r);
  const absent = notes.filter((n) => n.includes('image files not found under'));
  assert.equal(absent.length, 1, notes.join('\n'));
  assert.match(absent[0], new RegExp(`not found under ${m.imagesRoot}: the copy check compared paths only`));
  assert.ok(!notes.some((n) => /could not be read/.test(n)), notes.join('\n'));
  assert.ok(
    notes.some((n) => /1 of \d+ test queries have a copy in the index/.test(n)),
    'the same-path leak is still reported',
  );
  const text = formatAudit(r, m);
  assert.equal(text.split('image files not found').length - 1, 1, text);
  assert.doesNotMatch(text, /could not be read or decoded/);
});

test('no image files, fewer rows than the probe, absolute paths: every row probed, their common folder named', async () => {
  const where = join(tmp.dir, 'gone', 'study');
  const m = manifest(
    entries(20, (i) => join(where, i % 2 ? 'nih14' : 'mimic', `${i}.png`)),
    join(tmp.dir, 'elsewhere'),
  );
  const r = await auditManifest(m, { similarMad: 0 });
  assert.deepEqual(r.imagesAbsent, { root: where, probed: 20 });
  assert.equal(r.unchecked.length, 0);
});

test('some image files present: the content check reads them and reports the missing rows one by one', async () => {
  const dir = join(tmp.dir, 'mixed');
  const n = 100;
  // only the first 20 rows have files (row 0 is among the probed rows)
  for (let i = 0; i < 20; i++) await writeRandomPng(join(dir, 'img', `${i}.png`), 500 + i);
  const e = entries(n);
  // a test query with the same bytes as train row 5 under another name
  copyFileSync(join(dir, 'img', '5.png'), join(dir, 'img', 'copy-of-5.png'));
  e.push({ ...e[5], filepath: 'img/copy-of-5.png', split: 'test' });
  const m = manifest(e, dir);
  const r = await auditManifest(m, { similarMad: 0 });
  assert.equal(r.imagesAbsent, undefined);
  assert.equal(r.unchecked.length, n - 20, 'each missing file is listed');
  assert.ok(
    r.pairs.some((p) => p.kind === 'same-bytes' && p.a === 5 && p.b === n),
    JSON.stringify(r.pairs),
  );
  const notes = dataNotes(m, r);
  assert.ok(
    notes.some((x) => x.includes(`${n - 20} images could not be read`)),
    notes.join('\n'),
  );
  assert.ok(!notes.some((x) => x.includes('image files not found')));
});
