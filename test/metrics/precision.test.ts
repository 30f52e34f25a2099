import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CbirError } from '../../src/workbench/errors.js';
import {
  classCounts,
  column,
  groupedPrecision,
  perClassPrecision,
  precisionAtN,
} from '../../src/workbench/metrics/index.js';

const close = (a: number, b: number, tol = 1e-6, msg = '') => assert.ok(Math.abs(a - b) <= tol, `${msg} ${a} vs ${b}`);

// Index: rows 0-2 class 0, rows 3-4 class 1, row 5 class 2 → counts [3, 2, 1].
const indexLabels = Uint16Array.of(0, 0, 0, 1, 1, 2);
const counts = Int32Array.of(3, 2, 1);
// Queries (K = 5): A class 0, B class 2 (1 index image), C class 1, D class 1 with padding (−1).
const queryLabels = Uint16Array.of(0, 2, 1, 1);
const neighbors = Int32Array.of(
  0,
  3,
  1,
  5,
  2, // A hits 1 0 1 0 1
  5,
  0,
  1,
  2,
  3, // B hits 1 0 0 0 0
  0,
  3,
  4,
  1,
  2, // C hits 0 1 1 0 0
  3,
  -1,
  -1,
  -1,
  -1, // D hits 1 then nothing
);

test('study P@N uses n = min(N, index count of the class), hand-worked', () => {
  const r = precisionAtN(neighbors, queryLabels, indexLabels, counts);
  assert.deepEqual([...r.ns], [1, 2, 3, 4, 5]);
  const expected = [
    [1, 1 / 2, 2 / 3, 2 / 3, 2 / 3], // A: N ≥ 3 capped at n = 3
    [1, 1, 1, 1, 1], // B: class with one index image, n = 1 for every N
    [0, 1 / 2, 1 / 2, 1 / 2, 1 / 2], // C: n = 2 for N ≥ 2, only the top 2 count
    [1, 1 / 2, 1 / 2, 1 / 2, 1 / 2], // D: padding counts as a miss
  ];
  for (let q = 0; q < 4; q++)
    for (let t = 0; t < 5; t++) close(r.perQuery[q * 5 + t], expected[q][t], 1e-7, `q${q} N${t + 1}`);
  close(r.micro[0], 0.75);
  close(r.macro[0], (1 + 0.5 + 1) / 3); // classes 0, 1 (mean of 0 and 1), 2
  close(r.micro[2], (2 / 3 + 1 + 0.5 + 0.5) / 4);
  close(r.macro[2], (2 / 3 + 0.5 + 1) / 3);
  assert.equal(r.nClasses, 3);
  assert.equal(r.nQueries, 4);
});

test('textbook P@N always divides by N', () => {
  const r = precisionAtN(neighbors, queryLabels, indexLabels, counts, { definition: 'textbook', ns: [1, 3, 5] });
  const expected = [
    [1, 2 / 3, 3 / 5],
    [1, 1 / 3, 1 / 5],
    [0, 2 / 3, 2 / 5],
    [1, 1 / 3, 1 / 5],
  ];
  for (let q = 0; q < 4; q++) for (let t = 0; t < 3; t++) close(r.perQuery[q * 3 + t], expected[q][t], 1e-7);
  assert.equal(r.definition, 'textbook');
});

test('matches the study formula on a random table (fixture from make_fixtures.py), stds as pandas', () => {
  const f = JSON.parse(readFileSync(new URL('./fixtures/precision.json', import.meta.url), 'utf8'));
  const r = precisionAtN(
    Int32Array.from(f.neighbors),
    Uint16Array.from(f.queryLabels),
    Uint16Array.from(f.indexLabels),
    Int32Array.from(f.indexClassCounts),
  );
  assert.ok(
    f.indexClassCounts.some((c: number) => c < f.K),
    'fixture has a class with fewer index images than K',
  );
  for (let i = 0; i < f.perQuery.length; i++) close(r.perQuery[i], f.perQuery[i], 1e-6, `perQuery[${i}]`);
  for (let t = 0; t < f.K; t++) {
    close(r.micro[t], f.micro[t], 1e-6, `micro N=${t + 1}`);
    close(r.macro[t], f.macro[t], 1e-6, `macro N=${t + 1}`);
    close(r.microStd[t], f.microStd[t], 1e-6, `microStd N=${t + 1}`);
    close(r.macroStd[t], f.macroStd[t], 1e-6, `macroStd N=${t + 1}`);
  }
  assert.deepEqual([...classCounts(Uint16Array.from(f.indexLabels), f.nClasses)], f.indexClassCounts);
});

test('groupedPrecision: micro and macro per group with sample and class counts', () => {
  const r = precisionAtN(neighbors, queryLabels, indexLabels, counts, { ns: [1, 3] });
  const g = groupedPrecision(r.perQuery, Uint8Array.of(0, 0, 1, 1), queryLabels, { nGroups: 3 });
  assert.equal(g.length, 3);
  assert.equal(g[0].nQueries, 2);
  assert.equal(g[0].nClasses, 2);
  close(g[0].micro[0], 1);
  close(g[0].macro[1], (2 / 3 + 1) / 2);
  assert.equal(g[1].nQueries, 2);
  assert.equal(g[1].nClasses, 1);
  close(g[1].micro[0], 0.5);
  close(g[1].macro[0], 0.5);
  close(g[1].micro[1], 0.5);
  assert.equal(g[2].nQueries, 0);
  assert.ok(Number.isNaN(g[2].micro[0]));
  // one group = the whole set
  const all = groupedPrecision(r.perQuery, new Uint8Array(4), queryLabels);
  close(all[0].micro[1], r.micro[1]);
  close(all[0].macro[1], r.macro[1]);
  // a class split over two groups is averaged within each group only
  const split = groupedPrecision(r.perQuery, Uint8Array.of(0, 0, 0, 1), queryLabels);
  close(split[0].macro[0], (1 + 1 + 0) / 3);
  close(split[1].macro[0], 1);
});

test('perClassPrecision: one row per class with queries (Fig. 5)', () => {
  const r = precisionAtN(neighbors, queryLabels, indexLabels, counts, { ns: [1] });
  const rows = perClassPrecision(column(r.perQuery, 1, 0), queryLabels, counts, [
    'anatomical',
    'pathological',
    'pathological',
  ]);
  assert.deepEqual(
    rows.map((x) => [x.classCode, x.indexCount, x.nQueries, x.precision, x.kind]),
    [
      [0, 3, 1, 1, 'anatomical'],
      [1, 2, 2, 0.5, 'pathological'],
      [2, 1, 1, 1, 'pathological'],
    ],
  );
});

test('a class absent from the index: error by default, zero on request, defined for textbook', () => {
  const c0 = Int32Array.of(3, 2, 0);
  const il = Uint16Array.of(0, 0, 0, 1, 1, 1);
  assert.throws(
    () => precisionAtN(neighbors, queryLabels, il, c0, { source: 'knn.csv' }),
    (e: unknown) =>
      e instanceof CbirError && e.code === 'metrics/class-absent-from-index' && /knn\.csv:3/.test(e.message),
  );
  const z = precisionAtN(neighbors, queryLabels, il, c0, { absentFromIndex: 'zero' });
  assert.equal(z.perQuery[5], 0);
  const t = precisionAtN(neighbors, queryLabels, il, c0, { definition: 'textbook' });
  assert.equal(t.perQuery[5], 0);
});

test('input errors name the problem', () => {
  const isErr = (code: string) => (e: unknown) => e instanceof CbirError && e.code === code;
  assert.throws(
    () => precisionAtN(neighbors.subarray(1), queryLabels, indexLabels, counts),
    isErr('metrics/length-mismatch'),
  );
  assert.throws(
    () => precisionAtN(neighbors, Uint16Array.of(0, 2, 7, 1), indexLabels, counts),
    isErr('metrics/label-out-of-range'),
  );
  assert.throws(
    () =>
      precisionAtN(
        Int32Array.from(neighbors, (v) => (v === 4 ? 60 : v)),
        queryLabels,
        indexLabels,
        counts,
      ),
    isErr('metrics/neighbor-out-of-range'),
  );
  assert.throws(
    () => precisionAtN(neighbors, queryLabels, indexLabels, counts, { ns: [1, 6] }),
    isErr('metrics/bad-argument'),
  );
  assert.throws(
    () => precisionAtN(neighbors, queryLabels, indexLabels, Int32Array.of(3, -1, 1)),
    isErr('metrics/bad-count'),
  );
  assert.throws(
    () => groupedPrecision(new Float32Array(7), new Uint8Array(4), queryLabels),
    isErr('metrics/length-mismatch'),
  );
  assert.throws(() => column(new Float32Array(8), 2, 2), isErr('metrics/bad-argument'));
});
