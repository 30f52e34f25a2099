import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CbirError } from '../../src/workbench/errors.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { bootstrapPrecision, groupedPrecision, pairedPrecisionTest } from '../../src/workbench/metrics/index.js';

/** Per-query P@1 (0/1) and P@5 (k/5) for Q queries over C classes; class c hits with probability pHit[c]. */
function simulate(seed: number, Q: number, C: number, shift = 0) {
  const rng = new Rng(seed);
  const labels = new Uint16Array(Q);
  const perQuery = new Float32Array(Q * 2);
  for (let q = 0; q < Q; q++) {
    const c = Math.min(C - 1, Math.floor(C * rng.next() ** 1.5)); // imbalanced classes
    labels[q] = c;
    const p = Math.min(1, 0.4 + (0.5 * c) / C + shift);
    perQuery[q * 2] = rng.next() < p ? 1 : 0;
    let h = 0;
    for (let j = 0; j < 5; j++) if (rng.next() < p) h++;
    perQuery[q * 2 + 1] = h / 5;
  }
  return { labels, perQuery };
}

test('intervals contain the point estimate, which equals micro / macro precision', () => {
  const s = simulate(1, 600, 8);
  const r = bootstrapPrecision(s.perQuery, s.labels, { replicates: 300, seed: 3 });
  const g = groupedPrecision(s.perQuery, new Uint8Array(600), s.labels)[0];
  for (let t = 0; t < 2; t++) {
    assert.ok(Math.abs(r.micro[t].estimate - g.micro[t]) < 1e-9);
    assert.ok(Math.abs(r.macro[t].estimate - g.macro[t]) < 1e-9);
    for (const iv of [r.micro[t], r.macro[t]]) {
      assert.ok(iv.lo < iv.estimate && iv.estimate < iv.hi, `${iv.lo} < ${iv.estimate} < ${iv.hi}`);
      assert.ok(iv.se > 0);
    }
  }
  // micro P@1 of n Bernoulli queries: se ≈ sqrt(p(1−p)/n)
  const p = r.micro[0].estimate;
  const se = Math.sqrt((p * (1 - p)) / 600);
  assert.ok(Math.abs(r.micro[0].se - se) < 0.25 * se, `bootstrap se ${r.micro[0].se} vs binomial ${se}`);
  assert.deepEqual([...r.columns], [0, 1]);
});

test('intervals shrink with more queries (about 1/√Q)', () => {
  const small = bootstrapPrecision(simulate(2, 400, 6).perQuery, simulate(2, 400, 6).labels, {
    replicates: 300,
    columns: [0],
  });
  const big = simulate(3, 6400, 6);
  const large = bootstrapPrecision(big.perQuery, big.labels, { replicates: 300, columns: [0] });
  for (const k of ['micro', 'macro'] as const) {
    const ws = small[k][0].hi - small[k][0].lo,
      wl = large[k][0].hi - large[k][0].lo;
    assert.ok(wl < ws / 2.5, `${k}: width ${wl} with 6400 queries vs ${ws} with 400`);
  }
});

test('seeded: same seed same intervals, another seed different', () => {
  const s = simulate(4, 300, 5);
  const a = bootstrapPrecision(s.perQuery, s.labels, { replicates: 100, seed: 9, columns: [1] });
  const b = bootstrapPrecision(s.perQuery, s.labels, { replicates: 100, seed: 9, columns: [1] });
  const c = bootstrapPrecision(s.perQuery, s.labels, { replicates: 100, seed: 10, columns: [1] });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.micro, c.micro);
});

test('macro intervals are stratified: a class with constant precision adds no variance', () => {
  // two classes, every query of each class has the same value → stratified macro has zero width
  const labels = Uint16Array.of(0, 0, 0, 1, 1);
  const perQuery = Float32Array.of(1, 1, 1, 0, 0);
  const r = bootstrapPrecision(perQuery, labels, { replicates: 200 });
  assert.equal(r.macro[0].lo, 0.5);
  assert.equal(r.macro[0].hi, 0.5);
  assert.ok(r.micro[0].hi > r.micro[0].lo, 'micro resampling mixes the classes');
});

test('paired test: identical models give p = 1 and a zero difference', () => {
  const s = simulate(5, 500, 6);
  const r = pairedPrecisionTest(s.perQuery, s.perQuery.slice(), s.labels, { column: 1, replicates: 200 });
  assert.equal(r.difference, 0);
  assert.equal(r.pValue, 1);
  assert.equal(r.nonZero, 0);
  assert.equal(r.lo, 0);
  assert.equal(r.hi, 0);
});

test('paired test: a real difference gives a small p and an interval away from 0', () => {
  const a = simulate(6, 800, 6, 0.15);
  const b = simulate(6, 800, 6, 0); // same queries and draws, lower hit rate
  assert.deepEqual(a.labels, b.labels);
  for (const average of ['micro', 'macro'] as const) {
    const r = pairedPrecisionTest(a.perQuery, b.perQuery, a.labels, {
      average,
      column: 0,
      permutations: 2000,
      replicates: 300,
    });
    assert.ok(r.difference > 0.05, `${average} difference ${r.difference}`);
    assert.ok(r.pValue < 0.01, `${average} p = ${r.pValue}`);
    assert.equal(r.exact, false);
    assert.ok(r.lo > 0 && r.lo < r.difference && r.difference < r.hi, `${average} CI [${r.lo}, ${r.hi}]`);
  }
  // the reverse comparison: same p, negative difference
  const rev = pairedPrecisionTest(b.perQuery, a.perQuery, a.labels, { column: 0, permutations: 2000, replicates: 300 });
  assert.ok(rev.difference < 0 && rev.hi < 0);
});

test('exact sign-flip test on a few differing queries, hand-worked', () => {
  // three queries differ, all by +1 (micro weights equal): of the 8 sign patterns, 2 reach |T| → p = 2/8
  const A = Float32Array.of(1, 1, 1, 0, 1, 0),
    B = Float32Array.of(0, 0, 0, 0, 1, 0);
  const labels = Uint8Array.of(0, 1, 2, 0, 1, 2);
  const r = pairedPrecisionTest(A, B, labels, { replicates: 50 });
  assert.equal(r.exact, true);
  assert.equal(r.nonZero, 3);
  assert.equal(r.pValue, 0.25);
  assert.equal(r.difference, 0.5);
  // differences +1, +1, −1: patterns with |Σ| ≥ 1 are all 8 → p = 1
  const r2 = pairedPrecisionTest(A, Float32Array.of(0, 0, 1, 0, 1, 1), labels, { replicates: 50 });
  assert.equal(r2.pValue, 1);
});

test('input errors', () => {
  const isErr = (code: string) => (e: unknown) => e instanceof CbirError && e.code === code;
  const s = simulate(7, 50, 3);
  assert.throws(() => bootstrapPrecision(s.perQuery.subarray(1), s.labels), isErr('metrics/length-mismatch'));
  assert.throws(() => bootstrapPrecision(s.perQuery, s.labels, { columns: [2] }), isErr('metrics/bad-argument'));
  assert.throws(() => bootstrapPrecision(s.perQuery, s.labels, { alpha: 1.5 }), isErr('metrics/bad-argument'));
  assert.throws(() => bootstrapPrecision(s.perQuery, s.labels, { replicates: 0 }), isErr('metrics/bad-argument'));
  assert.throws(
    () => pairedPrecisionTest(s.perQuery, s.perQuery.subarray(2), s.labels),
    isErr('metrics/length-mismatch'),
  );
  assert.throws(
    () => pairedPrecisionTest(s.perQuery, s.perQuery, s.labels, { exactLimit: 40 }),
    isErr('metrics/bad-argument'),
  );
});
