import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CbirError } from '../../src/workbench/errors.js';
import { Rng } from '../../src/workbench/util/rng.js';
import {
  argmaxRows,
  classificationSummary,
  f1,
  knnClassification,
  knnClassScores,
  knnMicroF1ByK,
  type KnnCap,
} from '../../src/workbench/metrics/index.js';

// Index: rows 0-2 class 0, rows 3-4 class 1, row 5 class 2 → counts [3, 2, 1].
const indexLabels = Uint16Array.of(0, 0, 0, 1, 1, 2);
const counts = Int32Array.of(3, 2, 1);
const one = { neighbors: Int32Array.of(5, 3, 4, 0, 1), labels: Uint16Array.of(2) };

test('class scores per cap, hand-worked', () => {
  // neighbour classes 2, 1, 1, 0, 0
  // perClass, k = 5: k_0 = 3 (no class 0 in the top 3) → 0; k_1 = 2 (one in the top 2) → 1/2; k_2 = 1 → 1/1
  assert.deepEqual([...knnClassScores(one, indexLabels, counts, 5, 'perClass')], [0, 0.5, 1]);
  // perClass, k = 1: only the first neighbour
  assert.deepEqual([...knnClassScores(one, indexLabels, counts, 1, 'perClass')], [0, 0, 1]);
  // none, k = 5: shares of the top 5
  assert.deepEqual([...knnClassScores(one, indexLabels, counts, 5, 'none')], [0.4, 0.4, 0.2].map(Math.fround));
  // queryClass (the study's code): n = min(k, count of the TRUE class 2) = 1 for every class
  assert.deepEqual([...knnClassScores(one, indexLabels, counts, 5, 'queryClass')], [0, 0, 1]);
  // queryClass with true class 0: n = min(5, 3) = 3 for every class → [0, 2/3, 1/3]
  assert.deepEqual(
    [...knnClassScores({ ...one, labels: Uint16Array.of(0) }, indexLabels, counts, 5, 'queryClass')],
    [0, 2 / 3, 1 / 3].map(Math.fround),
  );
});

test('argmax ties go to the lowest class code', () => {
  const curve = (neighbors: Int32Array, y: number, k: number, cap: KnnCap) =>
    knnMicroF1ByK({ neighbors, labels: Uint16Array.of(y) }, indexLabels, counts, k, cap)[k - 1];
  // none, k = 5: classes 0 and 1 tie at 2/5 → class 0
  assert.equal(curve(one.neighbors, 0, 5, 'none'), 1);
  assert.equal(curve(one.neighbors, 1, 5, 'none'), 0);
  // perClass, k = 2, neighbours of classes 0, 1: both score 1/2 → class 0
  const tie = Int32Array.of(0, 3, 5, 1, 2);
  assert.equal(curve(tie, 0, 2, 'perClass'), 1);
  assert.equal(curve(tie, 1, 2, 'perClass'), 0);
  // k = 1 predicts the class of the first neighbour
  assert.equal(curve(one.neighbors, 2, 1, 'perClass'), 1);
});

function randomTable(rng: Rng, Q: number, K: number, indexL: Uint16Array, C: number) {
  const labels = new Uint16Array(Q);
  const neighbors = new Int32Array(Q * K);
  for (let q = 0; q < Q; q++) {
    labels[q] = rng.int(C);
    for (let j = 0; j < K; j++) {
      // mostly same-class neighbours, some padding
      let id = rng.int(indexL.length);
      if (rng.next() < 0.5) for (let t = 0; t < 20 && indexL[id] !== labels[q]; t++) id = rng.int(indexL.length);
      neighbors[q * K + j] = rng.next() < 0.02 ? -1 : id;
    }
  }
  return { neighbors, labels };
}

function indexOf(rng: Rng, n: number, C: number) {
  const labels = new Uint16Array(n);
  for (let i = 0; i < n; i++) labels[i] = i < C ? i : Math.min(C - 1, Math.floor(C * rng.next() ** 2));
  const counts = new Int32Array(C);
  for (const l of labels) counts[l]++;
  return { labels, counts };
}

test('the one-pass validation curve equals scoring every k from scratch (all caps)', () => {
  const rng = new Rng(7);
  const C = 9,
    K = 30;
  const idx = indexOf(rng, 200, C);
  assert.ok(
    [...idx.counts].some((c) => c < K),
    'some class has fewer index images than K',
  );
  const set = randomTable(rng, 120, K, idx.labels, C);
  for (const cap of ['perClass', 'queryClass', 'none'] as const) {
    const curve = knnMicroF1ByK(set, idx.labels, idx.counts, K, cap);
    for (let k = 1; k <= K; k++) {
      const pred = argmaxRows(knnClassScores(set, idx.labels, idx.counts, k, cap), C);
      assert.ok(Math.abs(curve[k - 1] - f1(set.labels, pred, 'micro')) < 1e-12, `${cap} k=${k}`);
    }
  }
});

test('knnClassification picks the best validation k and scores the test set with it', () => {
  const rng = new Rng(11);
  const C = 6,
    K = 40;
  const idx = indexOf(rng, 300, C);
  const val = randomTable(rng, 150, K, idx.labels, C);
  const tst = randomTable(rng, 150, K, idx.labels, C);
  const r = knnClassification(val, tst, idx.labels, idx.counts, { kMax: 25 });
  assert.equal(r.validationMicroF1.length, 25);
  const bestF1 = Math.max(...r.validationMicroF1);
  assert.equal(r.validationMicroF1[r.k - 1], bestF1);
  assert.equal(r.validationMicroF1.indexOf(bestF1), r.k - 1, 'ties → smallest k');
  const expected = classificationSummary(knnClassScores(tst, idx.labels, idx.counts, r.k), tst.labels, C, {
    absentClasses: 'skip',
  });
  assert.equal(r.macroAuroc, expected.macroAuroc);
  assert.equal(r.microAveragePrecision, expected.microAveragePrecision);
  assert.ok(r.accuracy > 1 / C, `better than chance: ${r.accuracy}`);
  assert.ok(r.microAuroc > 0.5 && r.microAuroc <= 1);
  assert.equal(r.nTest, 150);
});

test('input errors', () => {
  const isErr = (code: string) => (e: unknown) => e instanceof CbirError && e.code === code;
  assert.throws(() => knnClassScores(one, indexLabels, counts, 6), isErr('metrics/bad-argument'));
  assert.throws(
    () => knnClassScores({ ...one, neighbors: Int32Array.of(5, 3, 9, 0, 1) }, indexLabels, counts, 3),
    isErr('metrics/neighbor-out-of-range'),
  );
  assert.throws(
    () => knnClassScores({ ...one, labels: Uint16Array.of(3) }, indexLabels, counts, 3),
    isErr('metrics/label-out-of-range'),
  );
  assert.throws(
    () => knnMicroF1ByK({ neighbors: Int32Array.of(5, 3, 4), labels: Uint16Array.of(2, 1) }, indexLabels, counts, 1),
    isErr('metrics/length-mismatch'),
  );
  assert.throws(
    () => knnClassScores(one, indexLabels, Int32Array.of(3, 2, 0), 2, 'queryClass'),
    isErr('metrics/class-absent-from-index'),
  );
  assert.throws(() => knnClassScores(one, indexLabels, counts, 2, 'other' as KnnCap), isErr('metrics/bad-argument'));
});
