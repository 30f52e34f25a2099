import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CbirError } from '../../src/workbench/errors.js';
import { knnIntersection } from '../../src/workbench/metrics/index.js';
import { Rng } from '../../src/workbench/util/rng.js';

const close = (a: number, b: number, tol = 1e-12, msg = '') => assert.ok(Math.abs(a - b) <= tol, `${msg} ${a} vs ${b}`);
const table = (ids: number[], sims: number[] | undefined, k: number) => ({
  ids: Int32Array.from(ids),
  sims: sims ? Float32Array.from(sims) : undefined,
  k,
});
const exactTable = (ids: number[], sims: number[], k: number) => ({
  ids: Int32Array.from(ids),
  sims: Float32Array.from(sims),
  k,
});

/**
 * A random case without ties: per query, 60 candidates with distinct similarities (multiples of
 * 1/64, far apart next to the tolerance); exact = the true top k, best first; approx = k of the
 * true top k + 6, in a shuffled order, with their true similarities.
 */
function randomCase(seed: number, Q: number, k: number) {
  const rng = new Rng(seed);
  const C = 60;
  const exact = { ids: new Int32Array(Q * k), sims: new Float32Array(Q * k), k };
  const approx = { ids: new Int32Array(Q * k), sims: new Float32Array(Q * k), k };
  for (let q = 0; q < Q; q++) {
    const cand = Int32Array.from({ length: C }, (_, i) => i + 1000 * q);
    rng.shuffle(cand);
    // cand[r] has similarity 1 − r/64: rank r in the true order
    const sim = (r: number) => 1 - r / 64;
    for (let j = 0; j < k; j++) {
      exact.ids[q * k + j] = cand[j];
      exact.sims[q * k + j] = sim(j);
    }
    const pool = Int32Array.from({ length: k + 6 }, (_, r) => r);
    rng.shuffle(pool);
    for (let j = 0; j < k; j++) {
      approx.ids[q * k + j] = cand[pool[j]];
      approx.sims[q * k + j] = sim(pool[j]);
    }
  }
  return { exact, approx };
}

/** FAISS's knn_intersection_measure, transcribed: Σ_q |unique(I1_q) ∩ unique(I2_q)| / I1.size. */
function faissFormula(I1: Int32Array, I2: Int32Array, k: number): number {
  let inter = 0;
  for (let q = 0; q < I1.length / k; q++) {
    const a = new Set(I1.subarray(q * k, q * k + k));
    for (const id of new Set(I2.subarray(q * k, q * k + k))) if (a.has(id)) inter++;
  }
  return inter / I1.length;
}

test('knnIntersection: identical tables give 1, with and without sims', () => {
  const { exact } = randomCase(1, 30, 10);
  assert.equal(knnIntersection(exact, exact, 10), 1);
  assert.equal(knnIntersection(exact, { ids: exact.ids, k: 10 }, 10), 1);
  assert.equal(knnIntersection(exact, exact, 4), 1);
});

test('knnIntersection: disjoint tables give 0', () => {
  const exact = exactTable([0, 1, 2, 3, 4, 5], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], 3);
  const approx = table([10, 11, 12, 13, 14, 15], [0.5, 0.4, 0.3, 0.3, 0.2, 0.1], 3);
  assert.equal(knnIntersection(exact, approx, 3), 0);
  assert.equal(knnIntersection(exact, { ids: approx.ids, k: 3 }, 3), 0);
});

test('knnIntersection: hand-worked example, first k columns of wider tables', () => {
  // query 0: exact {0, 1, 2}, approx top 3 {0, 2, 9} → 2 hits; query 1: exact {5, 6, 7}, approx {7, 8} (and −1) → 1
  const exact = exactTable([0, 1, 2, 5, 6, 7], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], 3);
  const approx = table([0, 2, 9, 1, 7, 8, -1, 5], [0.9, 0.7, 0.3, 0.8, 0.4, 0.2, -Infinity, 0.6], 4);
  close(knnIntersection(exact, approx, 3), (2 / 3 + 1 / 3) / 2);
  close(knnIntersection(exact, { ids: approx.ids, k: 4 }, 3), 0.5);
  // k = 2: exact {0, 1} / {5, 6}; approx {0, 2} / {7, 8}: 1 hit, then 0 (7 has 0.4 < 0.5 − tol)
  close(knnIntersection(exact, approx, 2), (1 / 2 + 0) / 2);
  // k = 1: 0 = 0 and 7 ≠ 5
  close(knnIntersection(exact, approx, 1), 0.5);
});

test('knnIntersection: a different id tied with the exact k-th similarity is a hit with sims, a miss without', () => {
  const exact = exactTable([0, 1, 2], [0.9, 0.8, 0.7], 3);
  const tied = table([0, 1, 3], [0.9, 0.8, 0.7], 3);
  assert.equal(knnIntersection(exact, tied, 3), 1);
  close(knnIntersection(exact, { ids: tied.ids, k: 3 }, 3), 2 / 3);
  // a float near-tie within the default tolerance (1e-6) still counts; 0 tolerance credits exact ties only
  const near = table([0, 1, 3], [0.9, 0.8, Math.fround(0.7) - 5e-7], 3);
  assert.equal(knnIntersection(exact, near, 3), 1);
  close(knnIntersection(exact, near, 3, { tieTolerance: 0 }), 2 / 3);
  assert.equal(knnIntersection(exact, tied, 3, { tieTolerance: 0 }), 1);
  // clearly below the k-th similarity: a miss
  close(knnIntersection(exact, table([0, 1, 3], [0.9, 0.8, 0.69], 3), 3), 2 / 3);
  // a tie counts once: the same id twice is one neighbour
  close(knnIntersection(exact, table([0, 3, 3], [0.9, 0.7, 0.7], 3), 3), 2 / 3);
});

test('knnIntersection: −1 ids (no neighbour) are ignored on both sides, repeated ids count once', () => {
  const exact = exactTable([0, -1, 4, 5], [0.9, -Infinity, 0.5, 0.4], 2);
  close(knnIntersection(exact, table([0, -1, 4, 4], undefined, 2), 2), (1 / 2 + 1 / 2) / 2);
  // a row whose exact top k is empty gives no tie credit
  const none = exactTable([-1, -1], [NaN, NaN], 2);
  assert.equal(knnIntersection(none, table([3, 4], [1, 1], 2), 2), 0);
});

test('knnIntersection: invariant to the order within the top k', () => {
  const { exact, approx } = randomCase(7, 40, 8);
  const base = knnIntersection(exact, approx, 8);
  const baseIds = knnIntersection(exact, { ids: approx.ids, k: 8 }, 8);
  const rng = new Rng(11);
  const permuteRows = (t: { ids: Int32Array; sims: Float32Array; k: number }) => {
    const ids = new Int32Array(t.ids.length),
      sims = new Float32Array(t.sims.length);
    for (let q = 0; q < t.ids.length / t.k; q++) {
      const p = Int32Array.from({ length: t.k }, (_, j) => j);
      rng.shuffle(p);
      for (let j = 0; j < t.k; j++) {
        ids[q * t.k + j] = t.ids[q * t.k + p[j]];
        sims[q * t.k + j] = t.sims[q * t.k + p[j]];
      }
    }
    return { ids, sims, k: t.k };
  };
  for (let rep = 0; rep < 3; rep++) {
    const e = permuteRows(exact),
      a = permuteRows(approx);
    assert.equal(knnIntersection(e, a, 8), base);
    assert.equal(knnIntersection(e, { ids: a.ids, k: 8 }, 8), baseIds);
  }
  assert.ok(base > 0 && base < 1, `a non-trivial case: ${base}`);
});

test('knnIntersection: without ties it is FAISS contrib knn_intersection_measure (transcribed formula)', () => {
  const { exact, approx } = randomCase(3, 50, 10);
  const want = faissFormula(exact.ids, approx.ids, 10);
  close(knnIntersection(exact, approx, 10), want);
  close(knnIntersection(exact, { ids: approx.ids, k: 10 }, 10), want);
});

const python = '/usr/bin/python3';
const faissAbsent =
  spawnSync(python, ['-c', 'import faiss.contrib.evaluation, numpy'], { stdio: 'ignore' }).status === 0
    ? false
    : `faiss not importable by ${python} (apt-get install python3-faiss): compared with the transcribed formula only`;

test('knnIntersection: agrees with faiss.contrib.evaluation.knn_intersection_measure', { skip: faissAbsent }, () => {
  const Q = 50,
    k = 10;
  const { exact, approx } = randomCase(5, Q, k);
  const script = [
    'import sys, json, numpy as np',
    'from faiss.contrib.evaluation import knn_intersection_measure',
    'd = json.load(sys.stdin)',
    'I1 = np.array(d["exact"], dtype=np.int64).reshape(d["q"], d["k"])',
    'I2 = np.array(d["approx"], dtype=np.int64).reshape(d["q"], d["k"])',
    'print(repr(float(knn_intersection_measure(I1, I2))))',
  ].join('\n');
  const r = spawnSync(python, ['-c', script], {
    input: JSON.stringify({ q: Q, k, exact: [...exact.ids], approx: [...approx.ids] }),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const want = Number(r.stdout.trim());
  close(knnIntersection(exact, approx, k), want);
  close(knnIntersection(exact, { ids: approx.ids, k }, k), want);
});

test('knnIntersection: input errors are CbirErrors naming the problem', () => {
  const exact = exactTable([0, 1, 2, 3], [0.9, 0.8, 0.7, 0.6], 2);
  const approx = table([0, 1, 2, 3], [0.9, 0.8, 0.7, 0.6], 2);
  const fails = (f: () => unknown, re: RegExp, code: string) =>
    assert.throws(f, (e: unknown) => e instanceof CbirError && re.test(e.message) && e.code === code);
  fails(() => knnIntersection(exact, approx, 3), /k = 3 but the exact table holds only 2/, 'metrics/bad-argument');
  fails(
    () => knnIntersection(exactTable([0, 1, 2, 3], [1, 1, 1, 1], 4), approx, 3),
    /approx table holds only 2/,
    'metrics/bad-argument',
  );
  fails(() => knnIntersection(exact, approx, 0), /k must be a positive integer/, 'metrics/bad-argument');
  fails(() => knnIntersection(exact, approx, 1.5), /k must be a positive integer/, 'metrics/bad-argument');
  fails(() => knnIntersection({ ...exact, k: 0 }, approx, 1), /exact\.k must be/, 'metrics/bad-argument');
  fails(
    () => knnIntersection(exactTable([0, 1, 2], [1, 1, 1], 2), approx, 2),
    /exact\.ids has 3 entries, not a multiple of its width 2/,
    'metrics/length-mismatch',
  );
  fails(
    () => knnIntersection(exact, table([0, 1], undefined, 2), 2),
    /exact table has 2 queries but the approximate one has 1/,
    'metrics/length-mismatch',
  );
  fails(
    () => knnIntersection(exactTable([0, 1, 2, 3], [1, 1, 1], 2), approx, 2),
    /exact\.sims has 3 entries, expected 4/,
    'metrics/length-mismatch',
  );
  fails(
    () => knnIntersection(exact, table([0, 1, 2, 3], [1], 2), 2),
    /approx\.sims has 1 entries, expected 4/,
    'metrics/length-mismatch',
  );
  fails(
    () => knnIntersection(exactTable([], [], 2), table([], undefined, 2), 2),
    /number of queries must be a positive integer, got 0/,
    'metrics/bad-argument',
  );
  fails(
    () => knnIntersection(exact, table([0, -2, 2, 3], undefined, 2), 2),
    /approx\.ids\[1\] = -2 is neither a row id nor −1/,
    'metrics/neighbor-out-of-range',
  );
  for (const tieTolerance of [-1e-6, NaN, Infinity])
    fails(() => knnIntersection(exact, approx, 2, { tieTolerance }), /tieTolerance = /, 'metrics/bad-argument');
  // the source is named
  assert.throws(
    () => knnIntersection(exact, approx, 3, { source: 'run/knn.bin' }),
    (e: unknown) => e instanceof CbirError && e.message.startsWith('run/knn.bin: '),
  );
});
