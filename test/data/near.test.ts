import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { prepareDataset } from '../../src/workbench/data/prepare.js';
import { parseSourceSpec } from '../../src/workbench/data/sources.js';
import { readManifest } from '../../src/workbench/data/manifest.js';
import { parseCsv } from '../../src/workbench/util/csv.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { tempDir } from '../helpers/datasets.js';

let seed = 100;
/** A 64×64 gray picture: random smooth waves plus noise, distinct per seed (thumbnail MAD ≫ 6 between two). */
function picture(): Buffer {
  const rng = new Rng(seed++);
  const u = () => rng.int(10000) / 10000;
  const waves = Array.from({ length: 3 }, () => ({
    a: 20 + 40 * u(),
    fx: 2 + 10 * u(),
    fy: 2 + 10 * u(),
    p: 6.3 * u(),
    q: 6.3 * u(),
  }));
  const px = Buffer.alloc(64 * 64);
  for (let y = 0; y < 64; y++)
    for (let x = 0; x < 64; x++) {
      let v = 128 + rng.int(21) - 10;
      for (const w of waves) v += w.a * Math.sin(x / w.fx + w.p) * Math.cos(y / w.fy + w.q);
      px[y * 64 + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  return px;
}
async function save(file: string, px: Buffer, as: 'png' | 'jpeg' = 'png'): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const img = sharp(px, { raw: { width: 64, height: 64, channels: 1 } });
  writeFileSync(file, await (as === 'png' ? img.png() : img.jpeg({ quality: 90 })).toBuffer());
}
function rows(out: string): string[][] {
  return [...parseCsv(readFileSync(join(out, 'report.csv'), 'utf8'))].slice(1).map((r) => r.cells);
}

/**
 * Training/Testing folders with: a picture in Testing and its JPEG re-encode in Training (a
 * near-duplicate across splits), a picture in two Training classes re-encoded (a near-duplicate
 * label conflict), a picture in Testing and a copy 4 gray levels brighter in Training (similar,
 * not near-identical), and distinct pictures elsewhere.
 */
async function fixture(root: string): Promise<void> {
  const a = picture();
  await save(join(root, 'Testing/glioma/a.png'), a);
  await save(join(root, 'Training/glioma/a-reencoded.jpg'), a, 'jpeg');
  const c = picture();
  await save(join(root, 'Training/glioma/c.png'), c);
  await save(join(root, 'Training/meningioma/c-again.jpg'), c, 'jpeg');
  const s = picture();
  await save(join(root, 'Testing/meningioma/s.png'), s);
  await save(join(root, 'Training/meningioma/s-brighter.png'), Buffer.from(s.map((v) => Math.min(255, v + 4))));
  for (const cls of ['glioma', 'meningioma']) {
    for (let i = 0; i < 12; i++) await save(join(root, `Training/${cls}/t${i}.png`), picture());
    for (let i = 0; i < 3; i++) await save(join(root, `Testing/${cls}/q${i}.png`), picture());
  }
}

test('prepare: near-duplicates are resolved like exact duplicates, similar pairs across splits are warned about', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const root = join(dir, 'mr');
    await fixture(root);
    const spec = parseSourceSpec(`folder:path=${root},dataset=mr,modality=MR,region=brain`);
    const out = join(dir, 'out');
    const r = await prepareDataset({ sources: [spec], out, seed: 1 });
    const m = await readManifest(out);
    const files = new Set(m.filepaths.map((f) => f.split('/').slice(-2).join('/')));
    assert.ok(files.has('glioma/a.png'), 'the Testing copy is kept');
    assert.ok(!files.has('glioma/a-reencoded.jpg'), 'its Training re-encode is dropped');
    assert.ok(
      !files.has('glioma/c.png') && !files.has('meningioma/c-again.jpg'),
      'a near-duplicate label conflict drops both',
    );
    assert.ok(files.has('meningioma/s.png') && files.has('meningioma/s-brighter.png'), 'similar images are kept');
    assert.equal(m.size, 2 * 15 + 3);
    assert.equal(r.duplicates.groups, 0);
    const { seconds: _a, pairs: _b, ...near } = r.nearDuplicates;
    assert.deepEqual(near, { threshold: 2, groups: 1, dropped: 1, conflictGroups: 1, conflictDropped: 2 });
    assert.equal(r.similar.pairs, 1);
    assert.deepEqual(r.similar.byDataset, [{ dataset: 'mr', pairs: 1, queries: 1 }]);

    const rs = rows(out);
    const dropped = rs.find((x) => x[0] === 'near-duplicate-dropped')!;
    assert.equal(dropped[2], 'Training/glioma/a-reencoded.jpg');
    assert.match(
      dropped[5],
      /near-identical to mr\/Testing\/glioma\/a\.png \(kept, in test\), thumbnail MAD \d\.\d\d\/255; this copy was in train/,
    );
    assert.deepEqual(
      rs
        .filter((x) => x[0] === 'near-label-conflict')
        .map((x) => x[2])
        .sort(),
      ['Training/glioma/c.png', 'Training/meningioma/c-again.jpg'],
    );
    const similar = rs.find((x) => x[0] === 'similar-across-splits')!;
    assert.equal(similar[2], 'Testing/meningioma/s.png');
    assert.match(
      similar[5],
      /similar to mr\/Training\/meningioma\/s-brighter\.png \(train, meningioma\), thumbnail MAD 4\.\d\d\/255/,
    );
    assert.match(
      r.warnings.join('\n'),
      /1 pairs of similar but not near-identical images lie in different splits \(thumbnail MAD < 6\/255; mr 1\)/,
    );
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(md, /## Near-duplicates \(1 group, 1 copies dropped; thumbnail MAD < 2\/255\)/);
    assert.match(md, /## Near-duplicate label conflicts \(1 group, 2 images dropped\)/);
    assert.match(md, /\| mr \| 1 \| 1 \|/);
    assert.match(md, /\*\*Near-duplicates\*\*/);
    assert.equal(JSON.parse(readFileSync(join(out, 'dataset.json'), 'utf8')).nearDuplicateMad, 2);

    // Thresholds are settings: off keeps every copy; a looser near threshold also takes the brighter copy.
    const off = await prepareDataset({
      sources: [spec],
      out: join(dir, 'off'),
      seed: 1,
      nearDuplicateMad: 0,
      similarMad: 0,
      relevance: { ordinal: { 'MR/brain': ['notumor', 'glioma'] } },
    });
    assert.equal(off.manifest.size, 2 * 15 + 6);
    // The recipe's "relevance" is written verbatim next to the manifest; without it there is none.
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'off', 'relevance.json'), 'utf8')), {
      ordinal: { 'MR/brain': ['notumor', 'glioma'] },
    });
    assert.equal(existsSync(join(out, 'relevance.json')), false);
    assert.equal(off.nearDuplicates.dropped + off.similar.pairs, 0);
    assert.match(readFileSync(join(dir, 'off', 'report.md'), 'utf8'), /threshold is off/);
    const loose = await prepareDataset({ sources: [spec], out: join(dir, 'loose'), seed: 1, nearDuplicateMad: 5 });
    assert.equal(loose.nearDuplicates.dropped, 2);
    assert.equal(loose.similar.pairs, 0);
  } finally {
    cleanup();
  }
});

test('prepare: a bad threshold is refused with what to give', async () => {
  const spec = parseSourceSpec('folder:path=/nonexistent,dataset=x,modality=MR,region=brain');
  await assert.rejects(
    prepareDataset({ sources: [spec], out: '/tmp/x', nearDuplicateMad: -1 }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'prepare/bad-threshold');
      assert.match(e.message, /e\.g\. 2/);
      return true;
    },
  );
});
