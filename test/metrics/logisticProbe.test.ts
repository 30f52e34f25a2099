import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  fitLogisticRegression,
  fitStandardizer,
  lbfgs,
  linearProbe,
  logisticProbabilities,
  logisticProbe,
  majorityBaseline,
  runProbe,
  standardize,
  type ProbeSplit,
} from '../../src/workbench/metrics/index.js';
import { CbirError } from '../../src/workbench/errors.js';
import { Rng } from '../../src/workbench/util/rng.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'logreg.json');

interface Fit {
  nIter: number;
  coef: number[];
  intercept: number[];
  probaHeldOut: number[];
}
interface FitCase {
  name: string;
  n: number;
  dim: number;
  nClasses: number;
  C: number;
  x: number[];
  y: number[];
  xHeldOut: number[];
  exact: Fit;
  default: Fit;
}
const fixture = JSON.parse(readFileSync(FIX, 'utf8')) as {
  sklearn: string;
  fits: FitCase[];
  probe: {
    dim: number;
    nClasses: number;
    cs: number[];
    train: { x: number[]; y: number[] };
    val: { x: number[]; y: number[] };
    test: { x: number[]; y: number[] };
    mean: number[];
    scale: number[];
    grid: { C: number; valAccuracy: number; valLoss: number }[];
    chosenC: number;
    probaTest: number[];
  };
};

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** sklearn's coef_ layout: C×D, except binary problems, where it holds one row w with W = (−w, w). */
function sklearnCoef(w: Float64Array, c: FitCase): Float64Array {
  if (c.nClasses > 2) return w;
  return Float64Array.from({ length: c.dim }, (_, j) => (w[c.dim + j] - w[j]) / 2);
}
function sklearnIntercept(b: Float64Array, c: FitCase): Float64Array {
  return c.nClasses > 2 ? b : Float64Array.of((b[1] - b[0]) / 2);
}

test(`fixtures come from scikit-learn ${fixture.sklearn}`, () => {
  assert.equal(fixture.sklearn, '1.2.1');
  assert.equal(fixture.fits.length, 5);
});

for (const c of fixture.fits) {
  test(`multinomial logistic regression = sklearn lbfgs (tol 1e-4, max_iter 1000): ${c.name}`, () => {
    const fit = fitLogisticRegression(Float32Array.from(c.x), Int32Array.from(c.y), c.dim, c.nClasses, {
      C: c.C,
      tol: 1e-4,
      maxIter: 1000,
      scale: 'sum',
    });
    assert.ok(fit.converged, `stopped by ${fit.status}`);
    const coef = maxDiff(sklearnCoef(fit.weight, c), c.default.coef);
    const icpt = maxDiff(sklearnIntercept(fit.bias, c), c.default.intercept);
    const proba = maxDiff(logisticProbabilities(fit, Float32Array.from(c.xHeldOut)), c.default.probaHeldOut);
    assert.ok(coef < 1e-4, `coef differs by ${coef}`);
    assert.ok(icpt < 1e-4, `intercept differs by ${icpt}`);
    assert.ok(proba < 1e-4, `probabilities differ by ${proba}`);
    // the same path as scipy's L-BFGS-B (same steps and stopping test): the same iteration count
    assert.ok(Math.abs(fit.iterations - c.default.nIter) <= 2, `${fit.iterations} vs sklearn's ${c.default.nIter}`);
  });

  test(`run to a tight tolerance it reaches sklearn's newton-cg optimum: ${c.name}`, () => {
    const fit = fitLogisticRegression(Float32Array.from(c.x), Int32Array.from(c.y), c.dim, c.nClasses, {
      C: c.C,
      tol: 1e-9,
      ftol: 0,
      maxIter: 5000,
    });
    const coef = maxDiff(sklearnCoef(fit.weight, c), c.exact.coef);
    const proba = maxDiff(logisticProbabilities(fit, Float32Array.from(c.xHeldOut)), c.exact.probaHeldOut);
    assert.ok(coef < 1e-6, `coef differs by ${coef}`);
    assert.ok(proba < 1e-6, `probabilities differ by ${proba}`);
  });
}

test("the mean-scaled objective (sklearn ≥ 1.4's) has the same optimum", () => {
  const c = fixture.fits[0];
  const fit = fitLogisticRegression(Float32Array.from(c.x), Int32Array.from(c.y), c.dim, c.nClasses, {
    C: c.C,
    scale: 'mean',
  });
  const proba = maxDiff(logisticProbabilities(fit, Float32Array.from(c.xHeldOut)), c.exact.probaHeldOut);
  assert.ok(proba < 1e-3, `probabilities differ by ${proba}`);
  assert.equal(fit.status, 'gradient');
});

test('logisticProbe = StandardScaler on train + one sklearn fit per C + C chosen on val accuracy', () => {
  const p = fixture.probe;
  const split = (s: { x: number[]; y: number[] }): ProbeSplit => ({
    x: Float32Array.from(s.x),
    labels: Int32Array.from(s.y),
  });
  const r = logisticProbe(split(p.train), split(p.val), split(p.test), p.dim, p.nClasses, {
    cs: p.cs,
    scale: 'sum',
    warmStart: false,
  });
  assert.ok(maxDiff(r.mean, p.mean) < 1e-5 && maxDiff(r.scale, p.scale) < 1e-5, 'train mean and std');
  assert.deepEqual(
    r.grid.map((g) => g.valAccuracy),
    p.grid.map((g) => g.valAccuracy),
  );
  assert.ok(
    maxDiff(
      Float64Array.from(r.grid, (g) => g.valLoss),
      Float64Array.from(p.grid, (g) => g.valLoss),
    ) < 1e-4,
  );
  assert.equal(r.C, p.chosenC);
  const std = { mean: Float64Array.from(r.mean), scale: Float64Array.from(r.scale) };
  const probs = logisticProbabilities(
    { dim: p.dim, nClasses: p.nClasses, weight: Float64Array.from(r.weight), bias: Float64Array.from(r.bias) },
    standardize(Float32Array.from(p.test.x), p.dim, std),
  );
  const d = maxDiff(probs, p.probaTest);
  assert.ok(d < 1e-4, `test probabilities differ by ${d}`);
  // warm starts along the grid reach the same optima
  const warm = logisticProbe(split(p.train), split(p.val), split(p.test), p.dim, p.nClasses, { cs: p.cs });
  assert.equal(warm.C, r.C);
  assert.ok(Math.abs(warm.metrics.accuracy - r.metrics.accuracy) < 0.02);
});

test('the standardiser is sklearn StandardScaler: population std, scale 1 for a constant column', () => {
  const x = Float32Array.from([1, 5, 2, 5, 3, 5, 6, 5]);
  const s = fitStandardizer(x, 2);
  assert.deepEqual(Array.from(s.mean), [3, 5]);
  assert.ok(Math.abs(s.scale[0] - Math.sqrt(3.5)) < 1e-12);
  assert.equal(s.scale[1], 1);
  const z = standardize(x, 2, s);
  assert.equal(z[1], 0);
  assert.ok(Math.abs(z[0] + 2 / Math.sqrt(3.5)) < 1e-6);
});

test('L-BFGS: Rosenbrock from (−1.2, 1) to (1, 1); the iteration cap is reported as such', () => {
  const rosen = (x: Float64Array, g: Float64Array) => {
    const [a, b] = [x[0], x[1]];
    g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
    g[1] = 200 * (b - a * a);
    return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
  };
  const r = lbfgs(rosen, Float64Array.of(-1.2, 1), { gtol: 1e-8, ftol: 0 });
  assert.ok(r.converged, r.status);
  assert.ok(Math.abs(r.x[0] - 1) < 1e-6 && Math.abs(r.x[1] - 1) < 1e-6, `${r.x}`);
  const capped = lbfgs(rosen, Float64Array.of(-1.2, 1), { maxIter: 5 });
  assert.equal(capped.status, 'max-iter');
  assert.equal(capped.iterations, 5);
  assert.equal(capped.converged, false);
  // a quadratic with a known minimiser, in many dimensions
  const n = 50;
  const quad = (x: Float64Array, g: Float64Array) => {
    let f = 0;
    for (let i = 0; i < n; i++) {
      const d = (i + 1) * (x[i] - i);
      f += 0.5 * d * (x[i] - i);
      g[i] = d;
    }
    return f;
  };
  const q = lbfgs(quad, new Float64Array(n), { gtol: 1e-10, ftol: 0 });
  for (let i = 0; i < n; i++) assert.ok(Math.abs(q.x[i] - i) < 1e-8, `x[${i}] = ${q.x[i]}`);
});

test('bad inputs give a CbirError, not NaN', () => {
  const x = Float32Array.from([0, 1, 1, 0]);
  const y = Int32Array.from([0, 1]);
  const code = (c: string) => (e: unknown) => e instanceof CbirError && e.code === c;
  assert.throws(() => fitLogisticRegression(x, y, 2, 2, { C: 0 }), code('metrics/bad-argument'));
  assert.throws(() => fitLogisticRegression(x, y, 3, 2), code('metrics/length-mismatch'));
  assert.throws(() => fitLogisticRegression(x, Int32Array.from([0, 2]), 2, 2), code('metrics/label-out-of-range'));
  const s = { x, labels: y };
  assert.throws(() => logisticProbe(s, s, s, 2, 2, { cs: [] }), code('metrics/bad-argument'));
  assert.throws(
    () => logisticProbe({ x: Float32Array.from([0, NaN, 1, 0]), labels: y }, s, s, 2, 2),
    code('metrics/not-finite'),
  );
});

/**
 * An imbalanced 5-class set with weak signal (8,000 rows, seeded): class shares 50/20/15/10/5 %,
 * class means 0.35 standard deviations apart along a few of 16 dimensions, split 70/10/20.
 */
function weakImbalanced(seed: number) {
  const rng = new Rng(seed);
  const N = 8000,
    D = 16,
    C = 5;
  const shares = [0.5, 0.2, 0.15, 0.1, 0.05];
  const means = Array.from({ length: C }, () => Float64Array.from({ length: D }, () => 0.35 * rng.normal()));
  const x = new Float32Array(N * D),
    y = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let u = rng.next(),
      c = 0;
    while (c < C - 1 && u >= shares[c]) u -= shares[c++];
    y[i] = c;
    for (let d = 0; d < D; d++) x[i * D + d] = means[c][d] + rng.normal() * (1 + 0.3 * (d % 3));
  }
  const part = (a: number, b: number): ProbeSplit => ({ x: x.slice(a * D, b * D), labels: y.slice(a, b) });
  return { D, C, train: part(0, 5600), val: part(5600, 6400), test: part(6400, 8000) };
}

test('imbalanced weak-signal 5-class set (8,000 rows): the default probe does at least as well as the majority class', async () => {
  const s = weakImbalanced(0);
  const majority = majorityBaseline(s.train.labels, s.test.labels, s.C);
  const logistic = await runProbe('logistic', s, s.D, s.C, { majorityAccuracy: majority.accuracy });
  assert.ok(
    logistic.metrics.accuracy >= majority.accuracy,
    `probe accuracy ${logistic.metrics.accuracy} < majority ${majority.accuracy}`,
  );
  assert.ok(logistic.metrics.macroF1 > majority.macroF1 + 0.1, `macro F1 ${logistic.metrics.macroF1}`);
  assert.ok(logistic.metrics.macroRecall > majority.macroRecall, `macro recall ${logistic.metrics.macroRecall}`);
  assert.ok(logistic.testPredictedClasses > 1);
  assert.ok(logistic.protocol === 'logistic' && logistic.converged, 'the default probe converges');
  assert.deepEqual(logistic.flags, []);
});

test('the study protocol on a small set collapses and is flagged; a degenerate probe says single_class', async () => {
  // 300 train rows: with batch 512 one AdamW step (lr 1e-3) per epoch barely moves W ~ N(0, 0.01²)
  const s = weakImbalanced(1);
  const small = {
    train: { x: s.train.x.slice(0, 300 * s.D), labels: s.train.labels.slice(0, 300) },
    val: s.val,
    test: s.test,
  };
  const majority = majorityBaseline(small.train.labels, small.test.labels, s.C);
  const study = await runProbe('study', small, s.D, s.C, { majorityAccuracy: majority.accuracy });
  assert.ok(study.flags.length > 0, `accuracy ${study.metrics.accuracy}, flags ${study.flags}`);
  assert.ok(study.flags.includes('prior_level'), `${study.flags}`);
  // a C so small that every row gets the prior: one class predicted, flagged
  const tiny = await runProbe('logistic', small, s.D, s.C, {
    logistic: { cs: [1e-6] },
    majorityAccuracy: majority.accuracy,
  });
  assert.equal(tiny.testPredictedClasses, 1);
  assert.ok(tiny.flags.includes('single_class') && tiny.flags.includes('majority_level'), `${tiny.flags}`);
  // an epoch cap reached without early stopping is flagged
  const capped = await runProbe('study', small, s.D, s.C, { study: { epochs: 3, patience: 20 } });
  assert.ok(capped.flags.includes('iteration_cap'), `${capped.flags}`);
  const capL = await runProbe('logistic', small, s.D, s.C, { logistic: { cs: [100], maxIter: 2 } });
  assert.ok(capL.flags.includes('iteration_cap'), `${capL.flags}`);
  // a fit stopped at its cap is not chosen while another C converged (from zero: 14 and 21 iterations)
  const mixed = await runProbe('logistic', small, s.D, s.C, {
    logistic: { cs: [0.01, 1e6], maxIter: 17, warmStart: false },
  });
  assert.ok(mixed.protocol === 'logistic');
  if (mixed.protocol === 'logistic') {
    assert.deepEqual(
      mixed.grid.map((g) => g.status === 'max-iter'),
      [false, true],
      JSON.stringify(mixed.grid),
    );
    assert.equal(mixed.C, 0.01);
    assert.deepEqual(mixed.flags, []);
  }
  // the study probe itself is unchanged by the flags
  const direct = await linearProbe(small.train, small.val, small.test, s.D, s.C);
  assert.equal(direct.metrics.accuracy, study.metrics.accuracy);
});
