/**
 * Invariance properties of the study's retrieval and k-NN classification metrics, in the spirit
 * of scikit-learn's metric invariance tests: what must not change when the queries are reordered
 * or the class codes renamed, and when the two P@N definitions must (and must not) agree.
 * Means are compared to 1e-12 where the summation order changes; everything else exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/workbench/util/rng.js';
import {
  classificationSummary,
  knnClassScores,
  knnMicroF1ByK,
  precisionAtN,
  type KnnCap,
  type PrecisionDefinition,
} from '../../src/workbench/metrics/index.js';

const close = (a: number, b: number, tol = 1e-12, msg = '') =>
  assert.ok(Math.abs(a - b) <= tol || (Number.isNaN(a) && Number.isNaN(b)), `${msg} ${a} vs ${b}`);
const closeAll = (a: ArrayLike<number>, b: ArrayLike<number>, msg = '') => {
  assert.equal(a.length, b.length, msg);
  for (let i = 0; i < a.length; i++) close(a[i], b[i], 1e-12, `${msg}[${i}]`);
};
const DEFINITIONS: PrecisionDefinition[] = ['study', 'textbook'];
const CAPS: KnnCap[] = ['perClass', 'queryClass', 'none'];

/** An imbalanced index of n rows over C classes (every class at least once, some rarer than K). */
function imbalancedIndex(rng: Rng, n: number, C: number) {
  const labels = new Uint16Array(n);
  for (let i = 0; i < n; i++) labels[i] = i < C ? i : Math.min(C - 1, Math.floor(C * rng.next() ** 2));
  return { labels, counts: countsOf(labels, C) };
}

/** A balanced index: every class exactly `perClass` rows, in shuffled order. */
function balancedIndex(rng: Rng, perClass: number, C: number) {
  const labels = Uint16Array.from({ length: perClass * C }, (_, i) => i % C);
  rng.shuffle(labels as unknown as Int32Array);
  return { labels, counts: countsOf(labels, C) };
}

function countsOf(labels: ArrayLike<number>, C: number): Int32Array {
  const counts = new Int32Array(C);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

/** Q queries with K neighbours each: mostly same-class neighbours, some other rows, a few −1. */
function randomTable(rng: Rng, queryLabels: ArrayLike<number>, K: number, indexLabels: Uint16Array) {
  const Q = queryLabels.length;
  const neighbors = new Int32Array(Q * K);
  for (let q = 0; q < Q; q++) {
    for (let j = 0; j < K; j++) {
      let id = rng.int(indexLabels.length);
      if (rng.next() < 0.6)
        for (let t = 0; t < 30 && indexLabels[id] !== queryLabels[q]; t++) id = rng.int(indexLabels.length);
      neighbors[q * K + j] = rng.next() < 0.03 ? -1 : id;
    }
  }
  return neighbors;
}

function randomLabels(rng: Rng, Q: number, C: number): Uint16Array {
  return Uint16Array.from({ length: Q }, () => rng.int(C));
}

function permutation(rng: Rng, n: number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  rng.shuffle(p);
  return p;
}

/** Rows of a row-major table reordered: row r of the result = row perm[r] of the input. */
function permuteRows<T extends Int32Array | Float32Array | Uint16Array>(a: T, width: number, perm: Int32Array): T {
  const out = new (a.constructor as new (n: number) => T)(a.length);
  for (let r = 0; r < perm.length; r++) out.set(a.subarray(perm[r] * width, perm[r] * width + width), r * width);
  return out;
}

/** Class codes renamed by π: label c → pi[c]; counts moved to the new codes. */
function relabel(labels: Uint16Array, pi: Int32Array): Uint16Array {
  return labels.map((c) => pi[c]);
}
function relabelCounts(counts: Int32Array, pi: Int32Array): Int32Array {
  const out = new Int32Array(counts.length);
  for (let c = 0; c < counts.length; c++) out[pi[c]] = counts[c];
  return out;
}

test('P@N: permuting the queries permutes perQuery and leaves micro and macro unchanged', () => {
  const rng = new Rng(101);
  const C = 7,
    K = 20,
    Q = 150;
  const idx = imbalancedIndex(rng, 240, C);
  assert.ok(
    [...idx.counts].some((c) => c < K),
    'some class has fewer index images than K',
  );
  const labels = randomLabels(rng, Q, C);
  const neighbors = randomTable(rng, labels, K, idx.labels);
  for (const definition of DEFINITIONS) {
    const base = precisionAtN(neighbors, labels, idx.labels, idx.counts, { definition });
    for (let rep = 0; rep < 3; rep++) {
      const perm = permutation(rng, Q);
      const r = precisionAtN(permuteRows(neighbors, K, perm), permuteRows(labels, 1, perm), idx.labels, idx.counts, {
        definition,
      });
      assert.deepEqual(r.perQuery, permuteRows(base.perQuery, K, perm), `${definition}: per-query values permute`);
      closeAll(r.micro, base.micro, `${definition} micro`);
      closeAll(r.macro, base.macro, `${definition} macro`);
      closeAll(r.microStd, base.microStd, `${definition} microStd`);
      closeAll(r.macroStd, base.macroStd, `${definition} macroStd`);
      assert.equal(r.nClasses, base.nClasses);
    }
  }
});

test('P@N: relabelling the classes leaves perQuery, micro and macro unchanged', () => {
  const rng = new Rng(202);
  const C = 9,
    K = 15,
    Q = 120;
  const idx = imbalancedIndex(rng, 200, C);
  const labels = randomLabels(rng, Q, C);
  const neighbors = randomTable(rng, labels, K, idx.labels);
  for (const definition of DEFINITIONS) {
    const base = precisionAtN(neighbors, labels, idx.labels, idx.counts, { definition });
    for (let rep = 0; rep < 3; rep++) {
      const pi = permutation(rng, C);
      const r = precisionAtN(neighbors, relabel(labels, pi), relabel(idx.labels, pi), relabelCounts(idx.counts, pi), {
        definition,
      });
      // same hits and the same per-class index counts for every query, same query order: exact
      assert.deepEqual(r.perQuery, base.perQuery, `${definition} perQuery`);
      assert.deepEqual(r.micro, base.micro, `${definition} micro`);
      closeAll(r.macro, base.macro, `${definition} macro`);
      closeAll(r.macroStd, base.macroStd, `${definition} macroStd`);
      assert.equal(r.nClasses, base.nClasses);
    }
  }
});

test('P@N: study and textbook agree exactly when every class has at least N index images', () => {
  const rng = new Rng(303);
  const C = 8,
    K = 14,
    Q = 160;
  const idx = balancedIndex(rng, 12, C); // 12 index images per class
  const labels = randomLabels(rng, Q, C);
  const neighbors = randomTable(rng, labels, K, idx.labels);
  const ns = [1, 2, 3, 5, 8, 10, 12]; // all ≤ 12
  const study = precisionAtN(neighbors, labels, idx.labels, idx.counts, { ns, definition: 'study' });
  const textbook = precisionAtN(neighbors, labels, idx.labels, idx.counts, { ns, definition: 'textbook' });
  assert.deepEqual(study.perQuery, textbook.perQuery);
  assert.deepEqual(study.micro, textbook.micro);
  assert.deepEqual(study.macro, textbook.macro);
  // N = 13, 14 > 12 images per class: study divides hits in the top 12 by 12, textbook hits in the top N by N
  const beyond = { ns: [13, 14] };
  const s2 = precisionAtN(neighbors, labels, idx.labels, idx.counts, { ...beyond, definition: 'study' });
  const t2 = precisionAtN(neighbors, labels, idx.labels, idx.counts, { ...beyond, definition: 'textbook' });
  assert.notDeepEqual(s2.perQuery, t2.perQuery);
  assert.notEqual(s2.micro[0], t2.micro[0]);
});

test('P@N: study and textbook differ for N above the index images of a class (counter-example)', () => {
  // Index: class 0 has 3 images (rows 0-2), class 1 has 6 (rows 3-8).
  const indexLabels = Uint16Array.of(0, 0, 0, 1, 1, 1, 1, 1, 1);
  const counts = Int32Array.of(3, 6);
  // Query of class 0: its 3 images first, then class 1 rows; query of class 1: 3 hits, 2 misses.
  const neighbors = Int32Array.of(0, 1, 2, 3, 4, 3, 0, 4, 1, 5);
  const labels = Uint16Array.of(0, 1);
  const ns = [1, 3, 5];
  const s = precisionAtN(neighbors, labels, indexLabels, counts, { ns, definition: 'study' });
  const t = precisionAtN(neighbors, labels, indexLabels, counts, { ns, definition: 'textbook' });
  // N ≤ 3 (every class has ≥ 3 index images): identical
  assert.deepEqual([s.perQuery[0], s.perQuery[1], s.perQuery[3], s.perQuery[4]], [1, 1, 1, 2 / 3].map(Math.fround));
  assert.deepEqual([t.perQuery[0], t.perQuery[1], t.perQuery[3], t.perQuery[4]], [1, 1, 1, 2 / 3].map(Math.fround));
  // N = 5: class 0 has only 3 images — study 3/min(5, 3) = 1, textbook 3/5; class 1 (6 ≥ 5) agrees at 3/5
  assert.equal(s.perQuery[2], 1);
  assert.equal(t.perQuery[2], Math.fround(3 / 5));
  assert.equal(s.perQuery[5], Math.fround(3 / 5));
  assert.equal(t.perQuery[5], Math.fround(3 / 5));
  assert.notEqual(s.micro[2], t.micro[2]);
  assert.notEqual(s.macro[2], t.macro[2]);
  assert.equal(s.micro[1], t.micro[1]);
});

test('P@N: micro equals macro when every class has the same number of queries, and not otherwise', () => {
  // micro = mean over queries; macro = mean over classes of the class means: equal for equal class sizes
  const rng = new Rng(404);
  const C = 6,
    K = 12,
    perClass = 25;
  const idx = imbalancedIndex(rng, 150, C);
  const labels = Uint16Array.from({ length: C * perClass }, (_, i) => i % C);
  rng.shuffle(labels as unknown as Int32Array);
  const neighbors = randomTable(rng, labels, K, idx.labels);
  for (const definition of DEFINITIONS) {
    const r = precisionAtN(neighbors, labels, idx.labels, idx.counts, { definition });
    closeAll(r.micro, r.macro, `${definition}: balanced queries`);
  }
  // unbalanced: class 0 gets 3 extra queries, all misses → micro drops more than macro
  const extra = 3;
  const labels2 = Uint16Array.from([...labels, ...Array<number>(extra).fill(0)]);
  const miss = [...idx.labels.keys()].find((i) => idx.labels[i] !== 0)!;
  const neighbors2 = Int32Array.from([...neighbors, ...Array<number>(extra * K).fill(miss)]);
  for (const definition of DEFINITIONS) {
    const r = precisionAtN(neighbors2, labels2, idx.labels, idx.counts, { definition });
    assert.ok(Math.abs(r.micro[0] - r.macro[0]) > 1e-6, `${definition}: ${r.micro[0]} vs ${r.macro[0]}`);
  }
});

test('k-NN classification: permuting the queries permutes the class scores, the curve and summary do not change', () => {
  const rng = new Rng(505);
  const C = 6,
    K = 25,
    Q = 140;
  const idx = imbalancedIndex(rng, 220, C);
  const labels = randomLabels(rng, Q, C);
  const neighbors = randomTable(rng, labels, K, idx.labels);
  for (const cap of CAPS) {
    const curve = knnMicroF1ByK({ neighbors, labels }, idx.labels, idx.counts, K, cap);
    const scores = knnClassScores({ neighbors, labels }, idx.labels, idx.counts, 7, cap);
    const summary = classificationSummary(scores, labels, C, { absentClasses: 'skip' });
    const perm = permutation(rng, Q);
    const set = { neighbors: permuteRows(neighbors, K, perm), labels: permuteRows(labels, 1, perm) };
    // the curve is a count of correct queries over Q: exact
    assert.deepEqual(knnMicroF1ByK(set, idx.labels, idx.counts, K, cap), curve, `${cap} curve`);
    const s2 = knnClassScores(set, idx.labels, idx.counts, 7, cap);
    assert.deepEqual(s2, permuteRows(scores, C, perm), `${cap} scores permute`);
    const sum2 = classificationSummary(s2, set.labels, C, { absentClasses: 'skip' });
    for (const key of Object.keys(summary) as (keyof typeof summary)[])
      close(sum2[key], summary[key], 1e-12, `${cap} ${key}`);
  }
});

test('k-NN classification: relabelling the classes permutes the score columns; AUC, AP and k = 1 F1 do not change', () => {
  const rng = new Rng(606);
  const C = 7,
    K = 20,
    Q = 130;
  const idx = imbalancedIndex(rng, 210, C);
  const labels = randomLabels(rng, Q, C);
  const neighbors = randomTable(rng, labels, K, idx.labels);
  const firstFilled = neighbors.map((id, i) => (i % K === 0 && id < 0 ? 0 : id));
  const pi = permutation(rng, C);
  const labels2 = relabel(labels, pi),
    index2 = relabel(idx.labels, pi),
    counts2 = relabelCounts(idx.counts, pi);
  for (const cap of CAPS) {
    for (const k of [1, 6, 20]) {
      const a = knnClassScores({ neighbors, labels }, idx.labels, idx.counts, k, cap);
      const b = knnClassScores({ neighbors, labels: labels2 }, index2, counts2, k, cap);
      for (let q = 0; q < Q; q++)
        for (let c = 0; c < C; c++) assert.equal(b[q * C + pi[c]], a[q * C + c], `${cap} k=${k} q${q} c${c}`);
      const sa = classificationSummary(a, labels, C, { absentClasses: 'skip' });
      const sb = classificationSummary(b, labels2, C, { absentClasses: 'skip' });
      for (const key of ['microAuroc', 'macroAuroc', 'microAveragePrecision', 'macroAveragePrecision'] as const)
        close(sb[key], sa[key], 1e-12, `${cap} k=${k} ${key}`);
    }
    // at k = 1 a query's prediction is the class of its first neighbour: no argmax ties, so F1 is
    // invariant — once no first neighbour is −1 (an all-zero score row is a tie, predicted code 0)
    const fa = knnMicroF1ByK({ neighbors: firstFilled, labels }, idx.labels, idx.counts, 1, cap);
    const fb = knnMicroF1ByK({ neighbors: firstFilled, labels: labels2 }, index2, counts2, 1, cap);
    assert.deepEqual(fb, fa, `${cap} k=1 F1`);
  }
});

test('k-NN classification: argmax ties go to the lowest code, so relabelling can flip a tied prediction', () => {
  // Not an invariance: documents where it stops. Neighbours of classes 0 and 1 tie at 1/2 (k = 2, 'none').
  const indexLabels = Uint16Array.of(0, 1);
  const counts = Int32Array.of(1, 1);
  const set = { neighbors: Int32Array.of(0, 1), labels: Uint16Array.of(0) };
  assert.equal(knnMicroF1ByK(set, indexLabels, counts, 2, 'none')[1], 1, 'tie → class 0 = the true class');
  const pi = Int32Array.of(1, 0);
  const swapped = { neighbors: set.neighbors, labels: relabel(set.labels, pi) };
  assert.equal(
    knnMicroF1ByK(swapped, relabel(indexLabels, pi), relabelCounts(counts, pi), 2, 'none')[1],
    0,
    'the same tie now resolves to code 0, which is no longer the true class',
  );
});
