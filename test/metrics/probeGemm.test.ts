import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/workbench/util/rng.js';
import { linearProbe, type ProbeSplit } from '../../src/workbench/metrics/index.js';
import { ProbeGemm } from '../../src/workbench/metrics/probeGemm.js';

const D = 24,
  C = 7;

/** Overlapping Gaussian classes (accuracy well below 1, so the epochs differ). */
function problem(seed: number) {
  const rng = new Rng(seed);
  const centres = Float64Array.from({ length: C * D }, () => rng.normal());
  const split = (n: number): ProbeSplit => {
    const x = new Float32Array(n * D),
      labels = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = rng.int(C);
      for (let d = 0; d < D; d++) x[i * D + d] = 0.4 * centres[labels[i] * D + d] + rng.normal();
    }
    return { x, labels };
  };
  return { train: split(700), val: split(250), test: split(250) };
}

/**
 * The study protocol written out directly: W ~ 0.01·N(0, 1) from Rng(seed), b = 0; per epoch a
 * Fisher–Yates shuffle, batches of `batch` rows, mean cross-entropy gradient, torch's AdamW;
 * validation accuracy after each epoch; the first epoch with the best accuracy is kept.
 */
function reference(p: ReturnType<typeof problem>, epochs: number, batch: number, seed: number) {
  const lr = 1e-3,
    b1 = 0.9,
    b2 = 0.999,
    eps = 1e-8,
    wd = 0.01;
  const rng = new Rng(seed);
  const P = C * D + C; // W then b, one parameter vector
  const w = new Float64Array(P);
  for (let i = 0; i < C * D; i++) w[i] = 0.01 * rng.normal();
  const m = new Float64Array(P),
    v = new Float64Array(P);
  const logits = (x: Float32Array, r: number) =>
    Array.from({ length: C }, (_, c) => {
      let s = w[C * D + c];
      for (let d = 0; d < D; d++) s += w[c * D + d] * x[r * D + d];
      return s;
    });
  const N = p.train.labels.length,
    order = Int32Array.from({ length: N }, (_, i) => i);
  let t = 0,
    best = -1,
    bestW = w.slice();
  const acc: number[] = [],
    losses: number[] = [];
  for (let e = 0; e < epochs; e++) {
    rng.shuffle(order);
    let lossSum = 0,
      nb = 0;
    for (let s = 0; s < N; s += batch) {
      const rows = order.subarray(s, Math.min(N, s + batch));
      const g = new Float64Array(P);
      let loss = 0;
      for (const r of rows) {
        const z = logits(p.train.x, r),
          mx = Math.max(...z);
        const ex = z.map((q) => Math.exp(q - mx)),
          se = ex.reduce((a, b) => a + b, 0);
        const y = p.train.labels[r];
        loss += mx + Math.log(se) - z[y];
        for (let c = 0; c < C; c++) {
          const gc = (ex[c] / se - (c === y ? 1 : 0)) / rows.length;
          g[C * D + c] += gc;
          for (let d = 0; d < D; d++) g[c * D + d] += gc * p.train.x[r * D + d];
        }
      }
      t++;
      for (let i = 0; i < P; i++) {
        w[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        w[i] -= ((lr / (1 - b1 ** t)) * m[i]) / (Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps);
      }
      lossSum += loss / rows.length;
      nb++;
    }
    let hit = 0;
    for (let i = 0; i < p.val.labels.length; i++) {
      const z = logits(p.val.x, i);
      if (z.indexOf(Math.max(...z)) === p.val.labels[i]) hit++;
    }
    acc.push(hit / p.val.labels.length);
    losses.push(lossSum / nb);
    if (acc[e] > best) [best, bestW] = [acc[e], w.slice()];
  }
  return { acc, losses, weight: bestW.subarray(0, C * D), bias: bestW.subarray(C * D) };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('onnx and plain backends follow the directly written study protocol (weights, losses, accuracy)', async () => {
  const p = problem(11);
  const epochs = 4,
    batchSize = 64;
  const ref = reference(p, epochs, batchSize, 3);
  assert.ok(ref.acc[0] < 0.99 && ref.acc[0] > 1 / C, `the problem is neither trivial nor hopeless (${ref.acc})`);
  assert.ok(maxDiff(ref.weight, new Float64Array(C * D)) > 0.01, 'the weights moved');
  for (const backend of ['onnx', 'plain'] as const) {
    const r = await linearProbe(p.train, p.val, p.test, D, C, { epochs, batchSize, patience: 10, seed: 3, backend });
    const tol = backend === 'plain' ? 1e-6 : 1e-4;
    assert.equal(r.epochsRun, epochs);
    assert.ok(maxDiff(r.valAccuracy, ref.acc) <= 1e-4, `${backend}: val accuracy ${r.valAccuracy} vs ${ref.acc}`);
    assert.ok(maxDiff(r.trainLoss, ref.losses) < tol, `${backend}: losses ${r.trainLoss} vs ${ref.losses}`);
    assert.ok(maxDiff(r.weight, ref.weight) < tol, `${backend}: max |W − W_ref| = ${maxDiff(r.weight, ref.weight)}`);
    assert.ok(maxDiff(r.bias, ref.bias) < tol, `${backend}: max |b − b_ref| = ${maxDiff(r.bias, ref.bias)}`);
  }
});

test('splits given as rows of one matrix train exactly as the same rows copied out', async () => {
  const p = problem(12);
  // one matrix: test, then train, then val rows, interleaved with unused rows
  const parts = [p.test, p.train, p.val];
  const total = parts.reduce((s, q) => s + 2 * q.labels.length, 0);
  const x = new Float32Array(total * D).fill(NaN); // unused rows are never read (NaN would fail the checks)
  let at = 0;
  const asRows = (q: ProbeSplit): ProbeSplit => {
    const rows = new Int32Array(q.labels.length);
    for (let i = 0; i < rows.length; i++, at += 2) {
      rows[i] = at + 1;
      x.set(q.x.subarray(i * D, i * D + D), (at + 1) * D);
    }
    return { x, rows, labels: q.labels };
  };
  const [test2, train2, val2] = parts.map(asRows);
  for (const backend of ['onnx', 'plain'] as const) {
    const o = { epochs: 3, batchSize: 50, seed: 1, backend };
    const dense = await linearProbe(p.train, p.val, p.test, D, C, o);
    const viaRows = await linearProbe(train2, val2, test2, D, C, o);
    assert.deepEqual(viaRows.weight, dense.weight, backend);
    assert.deepEqual(viaRows.valAccuracy, dense.valAccuracy, backend);
    assert.equal(viaRows.metrics.accuracy, dense.metrics.accuracy, backend);
  }
  const bad = { ...train2, rows: train2.rows!.map((r) => r - 1) }; // the NaN rows
  await assert.rejects(() => linearProbe(bad, val2, test2, D, C), /not a finite number/);
  const out = { ...train2, rows: Int32Array.of(...train2.rows!.subarray(1), total) };
  await assert.rejects(() => linearProbe(out, val2, test2, D, C), /is not a row of the/);
});

test('the step graph gives the gradient and loss of the mean cross-entropy', async () => {
  const rng = new Rng(5);
  const B = 9;
  const x = Float32Array.from({ length: B * D }, () => rng.normal());
  const w = Float32Array.from({ length: C * D }, () => 0.3 * rng.normal());
  const b = Float32Array.from({ length: C }, () => rng.normal());
  const y = new Float32Array(B * C),
    labels = Array.from({ length: B }, () => rng.int(C));
  labels.forEach((c, i) => (y[i * C + c] = 1));
  const gemm = await ProbeGemm.create(D, C, 1);
  try {
    const g = await gemm.gradient(x, y, B, w, b);
    const gW = new Float64Array(C * D),
      gB = new Float64Array(C);
    let loss = 0;
    for (let i = 0; i < B; i++) {
      const z = Array.from(
        { length: C },
        (_, c) => b[c] + w.subarray(c * D, c * D + D).reduce((s, wd, d) => s + wd * x[i * D + d], 0),
      );
      const lse = Math.log(z.reduce((s, q) => s + Math.exp(q), 0));
      loss += lse - z[labels[i]];
      for (let c = 0; c < C; c++) {
        const gc = (Math.exp(z[c] - lse) - y[i * C + c]) / B;
        gB[c] += gc;
        for (let d = 0; d < D; d++) gW[c * D + d] += gc * x[i * D + d];
      }
    }
    assert.ok(Math.abs(g.lossSum - loss) < 1e-4 * B, `loss ${g.lossSum} vs ${loss}`);
    assert.ok(maxDiff(g.gW, gW) < 1e-6, `gW off by ${maxDiff(g.gW, gW)}`);
    assert.ok(maxDiff(g.gB, gB) < 1e-6, `gB off by ${maxDiff(g.gB, gB)}`);
    const z = await gemm.logits(x, B, w, b);
    const z0 = b[2] + w.subarray(2 * D, 3 * D).reduce((s, wd, d) => s + wd * x[D + d], 0);
    assert.ok(Math.abs(z[C + 2] - z0) < 1e-5, `logit (1, 2) ${z[C + 2]} vs ${z0}`);
  } finally {
    await gemm.release();
  }
});
