import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pca, pcaFit } from '../../src/workbench/analysis/index.js';
import { CbirError } from '../../src/workbench/errors.js';
import { Rng } from '../../src/workbench/util/rng.js';

/** Orthonormalise the columns of a (rows × cols, row-major) by Gram–Schmidt. */
function orthonormalColumns(a: Float64Array, rows: number, cols: number): void {
  for (let c = 0; c < cols; c++) {
    for (let b = 0; b < c; b++) {
      let dot = 0;
      for (let r = 0; r < rows; r++) dot += a[r * cols + c] * a[r * cols + b];
      for (let r = 0; r < rows; r++) a[r * cols + c] -= dot * a[r * cols + b];
    }
    let s = 0;
    for (let r = 0; r < rows; r++) s += a[r * cols + c] ** 2;
    s = Math.sqrt(s);
    for (let r = 0; r < rows; r++) a[r * cols + c] /= s;
  }
}

/**
 * Data whose PCA is known exactly: X = S·diag(σ)·Vᵀ + μ with V (d × d) orthonormal and S (n × d)
 * orthonormal, centred columns. Axis t is V's column t, its variance σ_t² / (n − 1).
 */
function knownPca(n: number, d: number, seed: number) {
  const rng = new Rng(seed);
  const V = new Float64Array(d * d).map(() => rng.normal());
  orthonormalColumns(V, d, d);
  const S = new Float64Array(n * d).map(() => rng.normal());
  for (let c = 0; c < d; c++) {
    let m = 0;
    for (let r = 0; r < n; r++) m += S[r * d + c];
    m /= n;
    for (let r = 0; r < n; r++) S[r * d + c] -= m;
  }
  orthonormalColumns(S, n, d);
  const sigma = Float64Array.from({ length: d }, (_, t) => 40 * 0.8 ** t);
  const mu = Float64Array.from({ length: d }, () => 5 * rng.normal());
  const x = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < d; j++) {
      let v = mu[j];
      for (let t = 0; t < d; t++) v += S[r * d + t] * sigma[t] * V[j * d + t];
      x[r * d + j] = v;
    }
  }
  return { x, V, S, sigma };
}

for (const solver of ['covariance', 'randomized'] as const) {
  test(`pca (${solver}) finds the known axes, variances and scores`, () => {
    const n = 400,
      d = 30,
      k = 6;
    const { x, V, S, sigma } = knownPca(n, d, 7);
    const m = pcaFit(x, n, d, k, { solver, powerIterations: 12 });
    assert.equal(m.solver, solver);
    for (let t = 0; t < k; t++) {
      assert.ok(
        Math.abs(m.explainedVariance[t] - sigma[t] ** 2 / (n - 1)) < (1e-3 * sigma[t] ** 2) / (n - 1),
        `variance ${t}`,
      );
      let dot = 0;
      for (let j = 0; j < d; j++) dot += m.components[t * d + j] * V[j * d + t];
      assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-4, `axis ${t}: |cos| = ${Math.abs(dot)}`);
    }
    const total = sigma.reduce((a, s) => a + s * s, 0) / (n - 1);
    assert.ok(Math.abs(m.totalVariance - total) < 1e-4 * total);
    const scores = pca(x, n, d, k, { solver, powerIterations: 12 });
    assert.equal(scores.length, n * k);
    for (let t = 0; t < k; t++) {
      // scores of axis t are S[:, t]·σ_t up to the axis sign
      let dot = 0;
      for (let j = 0; j < d; j++) dot += m.components[t * d + j] * V[j * d + t];
      const sgn = Math.sign(dot);
      let err = 0;
      for (let r = 0; r < n; r++) err = Math.max(err, Math.abs(scores[r * k + t] - sgn * S[r * d + t] * sigma[t]));
      assert.ok(err < 1e-3 * sigma[t], `scores ${t}: max error ${err}`);
    }
  });
}

test('pca signs: the largest-|value| loading of each axis is positive; same seed, same bits', () => {
  const n = 300,
    d = 24;
  const { x } = knownPca(n, d, 3);
  const m = pcaFit(x, n, d, 5, { seed: 1 });
  for (let t = 0; t < 5; t++) {
    let best = 0;
    for (let j = 0; j < d; j++) if (Math.abs(m.components[t * d + j]) > Math.abs(best)) best = m.components[t * d + j];
    assert.ok(best > 0, `axis ${t}`);
  }
  const a = pca(x, n, d, 5, { seed: 1 }),
    b = pca(x, n, d, 5, { seed: 1 });
  assert.deepEqual(a, b);
  // another seed converges to the same axes (signs fixed), so nearly the same scores
  const c = pca(x, n, d, 5, { seed: 2 });
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - c[i]));
  assert.ok(diff < 1e-3, `seed 1 vs 2 differ by ${diff}`);
});

test('pca rejects NaN rows (naming the row and the source) and impossible k', () => {
  const n = 20,
    d = 6;
  const x = new Float32Array(n * d).map((_, i) => Math.sin(i));
  x[7 * d + 2] = NaN;
  assert.throws(
    () => pca(x, n, d, 2, { source: 'emb/vectors.f32' }),
    (e: unknown) => {
      assert.ok(e instanceof CbirError);
      assert.equal(e.row, 8);
      assert.equal(e.file, 'emb/vectors.f32');
      assert.match(e.message, /row 8/);
      assert.ok(e.hint);
      return true;
    },
  );
  x[7 * d + 2] = 0;
  assert.throws(
    () => pca(x, n, d, 7),
    (e: unknown) => e instanceof CbirError && /1 ≤ k ≤ 6/.test(e.message),
  );
  assert.throws(() => pca(x, n, d + 1, 2), CbirError);
});
