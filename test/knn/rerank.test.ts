import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CbirError } from '../../src/workbench/errors.js';
import { computeKnnTable } from '../../src/workbench/knn/table.js';
import { databaseAugmentation, kReciprocalRerank, queryExpansion } from '../../src/workbench/knn/rerank.js';
import { averagePrecisionAtK, classCounts, classRelevance } from '../../src/workbench/metrics/index.js';

/** Seeded clusters on the unit sphere: `classes` centres, rows = centre + noise, normalised. */
function clustered(n: number, dim: number, classes: number, noise: number, seed = 7) {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const centres = Float32Array.from({ length: classes * dim }, rnd);
  const v = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = (labels[i] = i % classes);
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += (v[i * dim + d] = centres[c * dim + d] + noise * rnd()) ** 2;
    for (let d = 0; d < dim; d++) v[i * dim + d] /= Math.sqrt(ss);
  }
  return { v, labels };
}

const dim = 16;
const { v, labels } = clustered(400, dim, 4, 1.6);
const indexRows = Int32Array.from({ length: 300 }, (_, i) => i);
const queryRows = Int32Array.from({ length: 100 }, (_, i) => 300 + i);
const k = 30;
const map = (t: { ids: Int32Array }) => {
  const rel = classRelevance(
    Int32Array.from(queryRows, (r) => labels[r]),
    labels.subarray(0, 300),
    classCounts(labels.subarray(0, 300), 4),
  );
  return averagePrecisionAtK(t.ids, rel, 10).micro;
};

test('αQE: the expanded query is norm(x_q + Σ s^α x_n), and it lifts mAP@10 on clustered data', async () => {
  const two = Float32Array.of(1, 0, 0.8, 0.6, 0, 1);
  const t = await computeKnnTable({
    embeddings: two,
    dim: 2,
    indexRows: Int32Array.of(1, 2),
    queryRows: Int32Array.of(0),
    k: 2,
  });
  assert.deepEqual(Array.from(t.ids), [1, 2]);
  // q' = norm((1,0) + 0.8²·(0.8,0.6)) = norm(1.512, 0.384): s(q', row 1) = (1.512·0.8 + 0.384·0.6)/|q'|
  const e = await queryExpansion(two, 2, t, { n: 1, alpha: 2 });
  const norm = Math.hypot(1.512, 0.384);
  assert.ok(Math.abs(e.sims[0] - (1.512 * 0.8 + 0.384 * 0.6) / norm) < 1e-6);
  assert.equal(e.meta.index.rerank, 'aqe(n=1,alpha=2)');

  const plain = await computeKnnTable({ embeddings: v, dim, indexRows, queryRows, k });
  const qe = await queryExpansion(v, dim, plain, { n: 5, alpha: 3 });
  assert.ok(map(qe) > map(plain), `αQE mAP@10 ${map(qe)} vs plain ${map(plain)}`);
});

test('DBA with n = 1 (each row its own expansion) returns the plain table; n > 1 changes it', async () => {
  const plain = await computeKnnTable({ embeddings: v, dim, indexRows, queryRows, k });
  const self = await computeKnnTable({ embeddings: v, dim, indexRows, queryRows: indexRows, k });
  const same = await databaseAugmentation(v, dim, plain, self, { n: 1, alpha: 0 });
  assert.deepEqual(Array.from(same.ids), Array.from(plain.ids));
  const dba = await databaseAugmentation(v, dim, plain, self, { n: 5, alpha: 3 });
  assert.notDeepEqual(Array.from(dba.ids), Array.from(plain.ids));
  assert.ok(map(dba) > map(plain) - 0.02, `DBA mAP@10 ${map(dba)} vs plain ${map(plain)}`);
});

test('k-reciprocal: λ = 1 keeps the order; λ < 1 re-ranks within the shortlist and lifts mAP@10', async () => {
  const plain = await computeKnnTable({ embeddings: v, dim, indexRows, queryRows, k });
  const self = await computeKnnTable({ embeddings: v, dim, indexRows, queryRows: indexRows, k });
  const keep = kReciprocalRerank(plain, self, { k1: 20, k2: 1, lambda: 1 });
  assert.deepEqual(Array.from(keep.ids), Array.from(plain.ids));
  const rr = kReciprocalRerank(plain, self, { k1: 20, k2: 6, lambda: 0.3 });
  for (let q = 0; q < queryRows.length; q++) {
    const a = Array.from(plain.ids.subarray(q * k, (q + 1) * k)).sort();
    const b = Array.from(rr.ids.subarray(q * k, (q + 1) * k)).sort();
    assert.deepEqual(b, a, 'the same shortlist, re-ordered');
  }
  assert.ok(map(rr) > map(plain), `k-reciprocal mAP@10 ${map(rr)} vs plain ${map(plain)}`);
});

test('bad parameters are refused with the table size named', async () => {
  const plain = await computeKnnTable({ embeddings: v, dim, indexRows, queryRows, k: 5 });
  await assert.rejects(
    queryExpansion(v, dim, plain, { n: 9, alpha: 1 }),
    (e) => e instanceof CbirError && /holds 5/.test(e.message),
  );
  assert.throws(
    () => kReciprocalRerank(plain, plain, { k1: 20, k2: 6, lambda: 0.3 }),
    (e) => e instanceof CbirError && e.code === 'knn/bad-parameter',
  );
});
