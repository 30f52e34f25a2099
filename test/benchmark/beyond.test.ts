import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Manifest, type ClassInfo, type ManifestEntry } from '../../src/workbench/data/manifest.js';
import { computeKnnTable } from '../../src/workbench/knn/table.js';
import {
  rankingScores,
  rankingTable,
  readRelevanceConfig,
  rerankAndAdapt,
  rerankTable,
} from '../../src/workbench/benchmark/beyond.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { CbirError } from '../../src/workbench/errors.js';
import { tempDir } from '../helpers/datasets.js';

// five knee grades on a line (grade g near grade g ± 1), plus one CT class far away
const grades = ['0', '1', '2', '3', '4'];
const classes: ClassInfo[] = [
  ...grades.map((g) => ({
    name: `XR/knee/${g}`,
    modality: 'XR',
    region: 'knee',
    label: g,
    kind: 'pathological' as const,
  })),
  { name: 'CT/chest/normal', modality: 'CT', region: 'chest', label: 'normal', kind: 'anatomical' as const },
];
const dim = 8;
function dataset(seed: number) {
  const rng = new Rng(seed);
  const n = 360;
  const entries: ManifestEntry[] = [];
  const v = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = i % 6;
    entries.push({
      filepath: `img/${i}.png`,
      dataset: 'knee',
      split: i % 6 === i % 12 ? (i % 5 === 0 ? 'test' : i % 5 === 1 ? 'val' : 'train') : i % 3 === 0 ? 'test' : 'train',
      modality: classes[c].modality,
      anatomicRegion: classes[c].region,
      className: classes[c].name,
    });
    const row = v.subarray(i * dim, (i + 1) * dim);
    if (c < 5) ((row[0] = Math.cos(c * 0.35)), (row[1] = Math.sin(c * 0.35)));
    else row[2] = 1;
    for (let d = 0; d < dim; d++) row[d] += 0.25 * rng.normal();
    const s = Math.hypot(...row);
    row.forEach((x, d) => (row[d] = x / s));
  }
  return { m: Manifest.fromEntries(entries, classes), v };
}

async function tables(m: Manifest, v: Float32Array) {
  const train = m.indicesOf('train');
  return {
    test: await computeKnnTable({ embeddings: v, dim, indexRows: train, queryRows: m.indicesOf('test'), k: 30 }),
    val: await computeKnnTable({ embeddings: v, dim, indexRows: train, queryRows: m.indicesOf('val'), k: 30 }),
  };
}

test('ranking scores: hierarchical and ordinal nDCG credit near misses; the top-1 grade error is reported', async () => {
  const { m, v } = dataset(1);
  const t = await tables(m, v);
  const rows = rankingScores(m, t.test, 10, { 'XR/knee': grades });
  assert.deepEqual(
    rows.map((r) => r.relevance),
    ['binary', 'hierarchical', 'ordinal'],
  );
  const [bin, hier, ord] = rows;
  assert.ok(hier.ndcgMicro > bin.ndcgMicro, 'same-region neighbours earn gain 0.5');
  assert.ok(ord.ndcgMicro > bin.ndcgMicro, 'adjacent grades earn partial gain');
  assert.equal(bin.mapMicro, ord.mapMicro, 'mAP keeps the binary relevance');
  assert.ok(ord.gradeMAE! > 0 && ord.gradeMAE! < 1.5, `top-1 grade error ${ord.gradeMAE}`);
  assert.ok(ord.withinOneGrade! > 0.5);
  const table = rankingTable([{ model: 'toy', rows }]);
  assert.equal(table.rows.length, 3);
  assert.equal(table.rows[0].length, table.columns.length);
});

test('re-ranking and the adapter: choices depend on train and val only, never on test', async () => {
  const a = dataset(2);
  const ta = await tables(a.m, a.v);
  const rows = await rerankAndAdapt({
    manifest: a.m,
    vectors: a.v,
    dim,
    tables: ta,
    replicates: 50,
    adapter: { epochs: 3 },
  });
  assert.deepEqual(
    rows.map((r) => r.method),
    ['plain', 'αQE', 'DBA', 'k-reciprocal', 'adapter'],
  );
  assert.equal(rows[0].gainP1, null);
  for (const r of rows.slice(1)) {
    assert.ok(r.gainP1 && r.gainP1.lo <= r.gainP1.difference && r.gainP1.difference <= r.gainP1.hi);
    assert.ok(Math.abs(r.p1.estimate - rows[0].p1.estimate - r.gainP1.difference) < 1e-9, 'gain = P@1 − plain P@1');
  }
  // scramble the test vectors: the chosen parameters must not move
  const b = { m: a.m, v: Float32Array.from(a.v) };
  const rng = new Rng(9);
  for (const r of a.m.indicesOf('test')) for (let d = 0; d < dim; d++) b.v[r * dim + d] = rng.normal();
  const rowsB = await rerankAndAdapt({
    manifest: b.m,
    vectors: b.v,
    dim,
    tables: await tables(b.m, b.v),
    replicates: 50,
    adapter: { epochs: 3 },
  });
  assert.deepEqual(
    rowsB.map((r) => r.params),
    rows.map((r) => r.params),
  );
  const t = rerankTable([{ model: 'toy', rows }]);
  assert.equal(t.rows[0].length, t.columns.length);
});

test('relevance.json: read next to the manifest; a bad one is a clear error', () => {
  const t = tempDir();
  try {
    assert.deepEqual(readRelevanceConfig(t.dir), {});
    writeFileSync(join(t.dir, 'relevance.json'), JSON.stringify({ ordinal: { 'XR/knee': grades } }));
    assert.deepEqual(readRelevanceConfig(t.dir).ordinal, { 'XR/knee': grades });
    writeFileSync(join(t.dir, 'relevance.json'), JSON.stringify({ ordinal: { 'XR/knee': '0,1' } }));
    assert.throws(
      () => readRelevanceConfig(t.dir),
      (e) => e instanceof CbirError && e.code === 'benchmark/bad-relevance',
    );
    writeFileSync(join(t.dir, 'relevance.json'), '{');
    assert.throws(
      () => readRelevanceConfig(t.dir),
      (e) => e instanceof CbirError && /not valid JSON/.test(e.message),
    );
  } finally {
    t.cleanup();
  }
});
