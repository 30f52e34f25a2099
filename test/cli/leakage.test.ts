import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/workbench/util/rng.js';
import { parseCsv } from '../../src/workbench/util/csv.js';
import { tempDir } from '../helpers/datasets.js';
import { cbir } from '../helpers/cli.js';

let tmp: { dir: string; cleanup: () => void };

/**
 * A hand-written manifest in <tmp>/man whose images live in <tmp>/img/base: 10 train, 2 val and 3
 * test images per class, plus two leaks — the train image g0 listed again as a test query under
 * the path `../img/./base/g0.png` (the same file), and a byte-identical copy of the train image
 * n0 under another name as a test query — and one multi-label row (excluded when read).
 */
before(async () => {
  tmp = tempDir('cbir-leak-');
  const base = join(tmp.dir, 'img', 'base');
  mkdirSync(base, { recursive: true });
  const rng = new Rng(77);
  const lines = ['filepath,dataset,split,modality,anatomic_region,MR/brain/glioma,MR/brain/notumor'];
  for (const [cls, onehot] of [
    ['g', '1,0'],
    ['n', '0,1'],
  ] as const) {
    for (let i = 0; i < 15; i++) {
      const px = Buffer.alloc(32 * 32);
      for (let p = 0; p < px.length; p++) px[p] = rng.int(256);
      writeFileSync(
        join(base, `${cls}${i}.png`),
        await sharp(px, { raw: { width: 32, height: 32, channels: 1 } })
          .png()
          .toBuffer(),
      );
      const split = i < 10 ? 'train' : i < 12 ? 'val' : 'test';
      lines.push(`../img/base/${cls}${i}.png,hand,${split},MR,brain,${onehot}`);
    }
  }
  copyFileSync(join(base, 'n0.png'), join(base, 'n0-copy.png'));
  lines.push('../img/./base/g0.png,hand,test,MR,brain,1,0');
  lines.push('../img/base/n0-copy.png,hand,test,MR,brain,0,1');
  lines.push('../img/base/g14.png,hand,test,MR,brain,1,1');
  mkdirSync(join(tmp.dir, 'man'));
  writeFileSync(join(tmp.dir, 'man', 'manifest.csv'), lines.join('\n') + '\n');
});
after(() => tmp.cleanup());

test('cbir report warns in summary.md when test queries have copies in the index (same file, same bytes); excluded rows too', async () => {
  const out = join(tmp.dir, 'rep');
  const r = await cbir(
    ...['report', '--data', join(tmp.dir, 'man'), '--models', 'tiny16', '--out', out],
    ...['--no-figures', '--no-probe', '--index-size', 'off', '--replicates', '0'],
  );
  assert.equal(r.code, 0, r.err);
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  assert.match(summary, /### ⚠ Data warnings/);
  assert.match(
    summary,
    /2 of 8 test queries have a copy in the index \(train\): 1 the same file, 1 the same bytes under another name, 0 a near-identical picture/,
  );
  assert.match(summary, /1 manifest row\(s\) were excluded while reading: line 34 \(multi-label/);
  // The same notes are in report.json (each model's notes), so every reader of the report sees them.
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.ok(report.models[0].notes.some((n: string) => /^Data check: 2 of 8 test queries/.test(n)));
  // The excluded multi-label row is in report.json too, not only in summary.md, and the report's
  // counts leave it out (15 images per class, plus the two leaked test rows).
  assert.ok(
    report.models[0].notes.some((n: string) =>
      /^Data check: 1 manifest row\(s\) were excluded while reading: line 34 \(multi-label/.test(n),
    ),
    report.models[0].notes.join('\n'),
  );
  assert.equal(report.dataset.images, 32);
  assert.equal(report.dataset.splits.test, 8);
  // Said on the console as well.
  assert.match(r.out + r.err, /Data check: 2 of 8 test queries have a copy/);
  // And the leak is real: those queries find themselves at rank 1.
  const knn = [...parseCsv(readFileSync(join(out, 'tiny16', 'knn.csv'), 'utf8'))].map((x) => x.cells);
  const g0 = knn.find((c) => c[0].endsWith('g0.png'));
  assert.ok(g0 && g0[1].endsWith('base/g0.png'));
});

test('cbir report refuses a model given twice before any work', async () => {
  const out = join(tmp.dir, 'twice');
  const r = await cbir('report', '--data', join(tmp.dir, 'man'), '--models', 'tiny16,hist64,tiny16', '--out', out);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /model "tiny16" is given twice/);
  assert.match(r.err, /name each model once/);
  assert.ok(!existsSync(out), 'nothing is written (no embedding started): --out stays absent');
});

test('cbir data audit: pairs by normalised path, bytes and cosine, tables per kind, CSV', async () => {
  const csv = join(tmp.dir, 'pairs.csv');
  const store = join(tmp.dir, 'rep', 'work', 'embeddings', 'tiny16');
  const r = await cbir('data', 'audit', '--data', join(tmp.dir, 'man'), '--embeddings', store, '--csv', csv, '-q');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /same-path: the same file \(the same path once normalised\) — 1 pair\n/);
  assert.match(r.out, /same-bytes: the same bytes under another path — 1 pair\n/);
  assert.match(r.out, /near: near-identical pictures .* — 0 pairs/);
  assert.match(r.out, /cosine: near-identical embeddings .* — 2 pairs/);
  assert.match(r.out, /^ {2}hand +1 +1$/m);
  const rows = [...parseCsv(readFileSync(csv, 'utf8'))].map((x) => x.cells);
  assert.deepEqual(rows[0], [
    'kind',
    'value',
    'split_a',
    'dataset_a',
    'class_a',
    'path_a',
    'split_b',
    'dataset_b',
    'class_b',
    'path_b',
  ]);
  const byKind = (k: string) => rows.filter((x) => x[0] === k);
  assert.deepEqual(
    byKind('same-path').map((x) => [x[2], x[5], x[6], x[9]]),
    [['train', '../img/base/g0.png', 'test', '../img/./base/g0.png']],
  );
  assert.deepEqual(
    byKind('same-bytes').map((x) => [x[5], x[9], x[1]]),
    [['../img/base/n0.png', '../img/base/n0-copy.png', '0']],
  );
  assert.equal(byKind('cosine').length, 2);
  assert.ok(byKind('cosine').every((x) => Number(x[1]) >= 0.9999));
  // --json gives the same pairs as data.
  const j = await cbir('data', 'audit', '--data', join(tmp.dir, 'man'), '--json', '--similar', 'off');
  const result = JSON.parse(j.out);
  assert.equal(result.pairs.length, 2);
  assert.equal(result.thresholds.similarMad, 0);
  assert.deepEqual(
    result.counts.map((c: { kind: string; pairs: number }) => [c.kind, c.pairs]),
    [
      ['same-path', 1],
      ['same-bytes', 1],
    ],
  );
});

test('cbir data audit: bad options are named', async () => {
  const none = await cbir('data', 'audit');
  assert.notEqual(none.code, 0);
  assert.match(none.err, /--data is required/);
  assert.match(none.err, /cbir data audit --data <dir>/);
  const bad = await cbir('data', 'audit', '--data', join(tmp.dir, 'man'), '--threshold', 'lots');
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /--threshold.*threshold "lots" must be a mean absolute difference/);
});

test('cbir data prepare --near-duplicates / --similar: thresholds in gray levels, "off", bad values named', async () => {
  const src = join(tmp.dir, 'src');
  const rng = new Rng(5);
  for (const cls of ['glioma', 'notumor'])
    for (let i = 0; i < 6; i++) {
      const px = Buffer.alloc(32 * 32);
      for (let p = 0; p < px.length; p++) px[p] = rng.int(256);
      mkdirSync(join(src, cls), { recursive: true });
      const img = sharp(px, { raw: { width: 32, height: 32, channels: 1 } });
      writeFileSync(join(src, cls, `${i}.png`), await img.png().toBuffer());
      // a re-encoded copy of the first image of each class: near-identical, not byte-identical
      if (i === 0) writeFileSync(join(src, cls, `0-again.jpg`), await img.jpeg({ quality: 95 }).toBuffer());
    }
  const spec = `folder:path=${src},dataset=s,modality=MR,region=brain`;
  const on = await cbir('data', 'prepare', '--source', spec, '--out', join(tmp.dir, 'p-on'), '-q');
  assert.equal(on.code, 0, on.err);
  assert.match(on.out, /^near-duplicates \(thumbnail MAD < 2\/255\): 2 groups, 2 copies dropped/m);
  const off = await cbir(
    'data',
    'prepare',
    '--source',
    spec,
    '--out',
    join(tmp.dir, 'p-off'),
    '--near-duplicates',
    'off',
    '--similar',
    '0',
    '-q',
  );
  assert.equal(off.code, 0, off.err);
  assert.match(off.out, /^near-duplicates: not checked \(off\)$/m);
  assert.match(off.out, /^similar images across splits: not checked \(off\)$/m);
  assert.match(off.out, /^all +14 +14 /m);
  const bad = await cbir(
    'data',
    'prepare',
    '--source',
    spec,
    '--out',
    join(tmp.dir, 'p-bad'),
    '--near-duplicates',
    '300',
  );
  assert.notEqual(bad.code, 0);
  assert.match(
    bad.err,
    /--near-duplicates: threshold "300" must be a mean absolute difference in gray levels, 0 to 255/,
  );
});
