import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexSizeAblation } from '../../src/workbench/knn/index.js';
import { CbirError } from '../../src/workbench/errors.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { normalizeRows, randomUnit } from '../search/vectors.js';

/**
 * Classes made of many small modes: a small index misses most modes of a class, so a query's
 * nearest neighbour is often another class; a large index covers them. P@1 must rise with N.
 */
function modalData(
  dim: number,
  classes: number,
  modes: number,
  perClassTrain: number,
  perClassTest: number,
  seed: number,
) {
  const rng = new Rng(seed);
  const centres = randomUnit(classes * modes, dim, seed + 1);
  const rowsPerClass = perClassTrain + perClassTest;
  const extra = 40; // a class with too few images, which must be left out
  const n = classes * rowsPerClass + extra;
  const x = new Float32Array(n * dim);
  const labels = new Uint16Array(n);
  const train: number[] = [],
    test: number[] = [];
  const s = 0.45 / Math.sqrt(dim);
  for (let i = 0; i < n; i++) {
    const c = i < classes * rowsPerClass ? Math.floor(i / rowsPerClass) : classes;
    const m = c < classes ? c * modes + rng.int(modes) : rng.int(classes * modes);
    labels[i] = c;
    for (let j = 0; j < dim; j++) x[i * dim + j] = centres[m * dim + j] + s * rng.normal();
    const within = c < classes ? i % rowsPerClass : i;
    (c < classes ? within < perClassTrain : i % 2 === 0) ? train.push(i) : test.push(i);
  }
  return { x: normalizeRows(x, dim), labels, train: Int32Array.from(train), test: Int32Array.from(test) };
}

test('index-size ablation: P@1 rises with the index size; seeded and reproducible', async () => {
  const dim = 32;
  const d = modalData(dim, 5, 60, 300, 40, 11);
  const opts = {
    embeddings: d.x,
    dim,
    labels: d.labels,
    indexRows: d.train,
    queryRows: d.test,
    minIndexPerClass: 300,
    queriesPerClass: 20,
    sizes: [300, 5, 30],
    seeds: [1, 2, 3],
    threads: 2,
  };
  const r = await indexSizeAblation(opts);
  assert.deepEqual(r.classes, [0, 1, 2, 3, 4], 'the small class is left out');
  assert.equal(r.queryRows.length, 5 * 20);
  for (const q of r.queryRows) assert.ok(d.test.includes(q), `query ${q} is a test row`);
  assert.equal(r.points.length, 9);
  const at = (N: number) => r.mean[r.sizes.indexOf(N)];
  assert.ok(at(5) < at(30) && at(30) < at(300), `P@1 ${at(5)} → ${at(30)} → ${at(300)}`);
  assert.ok(at(300) - at(5) > 0.2, `P@1 rises by ${at(300) - at(5)}`);
  for (let i = 0; i < r.sizes.length; i++) {
    const vals = [...r.p1.subarray(i * 3, i * 3 + 3)];
    const mean = vals.reduce((a, b) => a + b, 0) / 3;
    assert.ok(Math.abs(r.mean[i] - mean) < 1e-12);
    assert.ok(Math.abs(r.std[i] - Math.sqrt(vals.reduce((a, v) => a + (v - mean) ** 2, 0) / 2)) < 1e-12);
    for (const v of vals) assert.ok(v >= 0 && v <= 1);
  }
  assert.ok(r.std[r.sizes.indexOf(5)] > 0, 'different seeds draw different small indices');
  const again = await indexSizeAblation(opts);
  assert.deepEqual(again.p1, r.p1);
  assert.deepEqual(again.queryRows, r.queryRows);
  const otherQueries = await indexSizeAblation({ ...opts, querySeed: 9, sizes: [5], seeds: [1] });
  assert.notDeepEqual(otherQueries.queryRows, r.queryRows);
});

test('index-size ablation: bad parameters are CbirErrors with a hint', async () => {
  const dim = 8;
  const d = modalData(dim, 3, 4, 50, 10, 3);
  const base = {
    embeddings: d.x,
    dim,
    labels: d.labels,
    indexRows: d.train,
    queryRows: d.test,
    minIndexPerClass: 50,
    queriesPerClass: 5,
  };
  await assert.rejects(
    () => indexSizeAblation({ ...base, sizes: [5, 60] }),
    (e: unknown) => e instanceof CbirError && /60/.test(e.message) && e.hint !== undefined,
  );
  await assert.rejects(
    () => indexSizeAblation({ ...base, minIndexPerClass: 3000, sizes: [5] }),
    (e: unknown) => e instanceof CbirError && /class/.test(e.message),
  );
  const ok = await indexSizeAblation({ ...base, sizes: [5, 50], seeds: [0] });
  assert.equal(ok.std[0], 0);
});
