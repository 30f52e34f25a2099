import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  exactKnn,
  jointProbabilities,
  klDivergence,
  knnRecall,
  trustworthiness,
  tsne,
} from '../../src/workbench/analysis/index.js';
import { BarnesHut } from '../../src/workbench/analysis/barnesHut.js';
import { conditionalRow } from '../../src/workbench/analysis/affinities.js';
import { CbirError } from '../../src/workbench/errors.js';
import { Rng } from '../../src/workbench/util/rng.js';
import type { ProgressEvent } from '../../src/workbench/util/progress.js';

/** C Gaussian blobs in d dimensions, centres `sep` apart on average, unit noise; labels i % C. */
function blobs(n: number, d: number, C: number, sep: number, seed: number): { x: Float32Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const centres = new Float64Array(C * d).map(() => (sep / Math.SQRT2) * rng.normal());
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % C;
    labels[i] = c;
    for (let j = 0; j < d; j++) x[i * d + j] = centres[c * d + j] + rng.normal();
  }
  return { x, labels };
}

/** Share of points whose 10 nearest map neighbours all have the point's label. */
function pureNeighbourhoods(emb: Float32Array, labels: Int32Array): number {
  const n = labels.length;
  const nb = exactKnn(emb, n, 2, 10);
  let pure = 0;
  for (let i = 0; i < n; i++) {
    let ok = true;
    for (let t = 0; t < 10; t++) if (labels[nb.indices[i * 10 + t]] !== labels[i]) ok = false;
    if (ok) pure++;
  }
  return pure / n;
}

test('tsne: shape, finite output, iterations and progress; well-separated blobs stay apart', () => {
  const { x, labels } = blobs(300, 10, 5, 12, 1);
  const events: ProgressEvent[] = [];
  const r = tsne(x, 300, 10, { seed: 0, iterations: 500, onProgress: (e) => events.push(e) });
  assert.equal(r.embedding.length, 600);
  assert.ok(r.embedding.every(Number.isFinite));
  assert.ok(r.iterations > 250 && r.iterations <= 500);
  assert.ok(r.kl > 0 && r.kl < 1, `kl ${r.kl}`);
  const last = events.filter((e) => e.phase === 't-SNE').at(-1)!;
  assert.equal(last.done, r.iterations);
  assert.ok(events.some((e) => e.phase === 't-SNE neighbours'));
  assert.ok(pureNeighbourhoods(r.embedding, labels) >= 0.99);
  // every blob's points lie closer to their own centroid than to any other blob's centroid
  const cx = new Float64Array(5),
    cy = new Float64Array(5),
    cnt = new Float64Array(5);
  for (let i = 0; i < 300; i++) {
    cx[labels[i]] += r.embedding[2 * i];
    cy[labels[i]] += r.embedding[2 * i + 1];
    cnt[labels[i]]++;
  }
  for (let c = 0; c < 5; c++) {
    cx[c] /= cnt[c];
    cy[c] /= cnt[c];
  }
  for (let i = 0; i < 300; i++) {
    const dist = (c: number) => Math.hypot(r.embedding[2 * i] - cx[c], r.embedding[2 * i + 1] - cy[c]);
    for (let c = 0; c < 5; c++) if (c !== labels[i]) assert.ok(dist(labels[i]) < dist(c), `point ${i}`);
  }
});

test('tsne is deterministic for a seed (both methods); a random start depends on the seed', () => {
  const { x } = blobs(120, 8, 3, 8, 2);
  for (const method of ['barnes-hut', 'exact'] as const) {
    const a = tsne(x, 120, 8, { method, iterations: 300, seed: 5 });
    const b = tsne(x, 120, 8, { method, iterations: 300, seed: 5 });
    assert.deepEqual(a.embedding, b.embedding);
    assert.equal(a.kl, b.kl);
  }
  const c = tsne(x, 120, 8, { init: 'random', iterations: 300, seed: 5 });
  const d = tsne(x, 120, 8, { init: 'random', iterations: 300, seed: 6 });
  assert.notDeepEqual(c.embedding, d.embedding);
});

test('tsne: PCA first for wide inputs; pca init starts on the first two components', () => {
  const { x } = blobs(200, 80, 4, 10, 3);
  const r = tsne(x, 200, 80, { iterations: 300, seed: 0 });
  const s = tsne(x, 200, 80, { iterations: 300, seed: 0, pcaDims: 0 });
  assert.ok(r.embedding.every(Number.isFinite) && s.embedding.every(Number.isFinite));
  // both see the same neighbourhoods (PCA keeps the blob structure): similar quality
  assert.ok(Math.abs(trustworthiness(x, 200, 80, r.embedding) - trustworthiness(x, 200, 80, s.embedding)) < 0.02);
  // one iteration from the 'pca' start: the map is still (almost) the scaled PC plane, sd of column 0 = 1e-4
  const one = tsne(x, 200, 80, { iterations: 1, seed: 0, learningRate: 1e-9 });
  let m = 0,
    v = 0;
  for (let i = 0; i < 200; i++) m += one.embedding[2 * i];
  m /= 200;
  for (let i = 0; i < 200; i++) v += (one.embedding[2 * i] - m) ** 2;
  assert.ok(Math.abs(Math.sqrt(v / 200) - 1e-4) < 1e-6);
});

test('tsne Barnes–Hut reaches the KL of the exact method (same P, exact Z) within 5 %', () => {
  const { x } = blobs(300, 10, 6, 6, 4);
  const P = jointProbabilities(x, 300, 10, 30, { exact: true });
  const bh = tsne(x, 300, 10, { seed: 0 });
  const ex = tsne(x, 300, 10, { seed: 0, method: 'exact' });
  const klBh = klDivergence(P, bh.embedding),
    klEx = klDivergence(P, ex.embedding);
  assert.ok(Math.abs(klEx - ex.kl) < 1e-3 * klEx, `exact method reports ${ex.kl}, recomputed ${klEx}`);
  assert.ok(klBh <= 1.05 * klEx, `BH ${klBh} vs exact ${klEx}`);
  assert.ok(knnRecall(x, 300, 10, bh.embedding) >= knnRecall(x, 300, 10, ex.embedding) - 0.03);
});

test('Barnes–Hut repulsion: θ = 0 is exact, θ = 0.5 within 3 % (checked against a direct O(n²) sum)', () => {
  const n = 3000;
  const rng = new Rng(9);
  const y = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const c = i % 7;
    y[2 * i] = 10 * Math.cos(c) + rng.normal() * (1 + c);
    y[2 * i + 1] = 10 * Math.sin(c) + rng.normal();
  }
  y[2] = y[0];
  y[3] = y[1]; // a duplicate point
  const fx = new Float64Array(2 * n);
  let Z = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const dx = y[2 * i] - y[2 * j],
        dy = y[2 * i + 1] - y[2 * j + 1];
      const q = 1 / (1 + dx * dx + dy * dy);
      Z += q;
      fx[2 * i] += q * q * dx;
      fx[2 * i + 1] += q * q * dy;
    }
  }
  const bh = new BarnesHut(n);
  const rep = new Float64Array(2 * n);
  const z0 = bh.repulsion(y, 0, rep);
  assert.ok(Math.abs(z0 - Z) < 1e-9 * Z);
  let maxErr = 0,
    scale = 0;
  for (let t = 0; t < 2 * n; t++) {
    maxErr = Math.max(maxErr, Math.abs(rep[t] - fx[t]));
    scale = Math.max(scale, Math.abs(fx[t]));
  }
  assert.ok(maxErr < 1e-9 * scale);
  const z5 = bh.repulsion(y, 0.5, rep);
  assert.ok(Math.abs(z5 - Z) < 0.03 * Z, `Z ${z5} vs ${Z}`);
  let num = 0,
    den = 0;
  for (let t = 0; t < 2 * n; t++) {
    num += (rep[t] - fx[t]) ** 2;
    den += fx[t] ** 2;
  }
  assert.ok(Math.sqrt(num / den) < 0.03, `force error ${Math.sqrt(num / den)}`);
});

test('exact k-NN equals a brute-force sort; joint P is symmetric and sums to 1; rows hit the perplexity', () => {
  const n = 500,
    d = 7;
  const { x } = blobs(n, d, 4, 3, 5);
  const k = 20;
  const nb = exactKnn(x, n, d, k);
  for (const i of [0, 17, 250, 499]) {
    const ds = Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let c = 0; c < d; c++) s += (x[i * d + c] - x[j * d + c]) ** 2;
      return [s, j] as [number, number];
    })
      .filter(([, j]) => j !== i)
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    assert.deepEqual(
      Array.from(nb.indices.subarray(i * k, (i + 1) * k)),
      ds.slice(0, k).map(([, j]) => j),
    );
  }
  const P = jointProbabilities(x, n, d, 10);
  let total = 0;
  const get = (i: number, j: number) => {
    for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) if (P.cols[e] === j) return P.vals[e];
    return 0;
  };
  for (let i = 0; i < n; i++) {
    for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) {
      total += P.vals[e];
      if (i % 50 === 0) assert.ok(Math.abs(P.vals[e] - get(P.cols[e], i)) < 1e-15);
      if (e > P.rowPtr[i]) assert.ok(P.cols[e] > P.cols[e - 1]);
      assert.notEqual(P.cols[e], i);
    }
  }
  assert.ok(Math.abs(total - 1) < 1e-12);
  const Pd = jointProbabilities(x, n, d, 10, { exact: true });
  assert.equal(Pd.cols.length, n * (n - 1));
  // each conditional row has entropy log(perplexity) (binary search tolerance 1e-5 nats)
  for (const i of [3, 300]) {
    const out = new Float64Array(k);
    conditionalRow(nb.dist2, i * k, k, 7, out, 0);
    let h = 0,
      sum = 0;
    for (const p of out) {
      sum += p;
      if (p > 0) h -= p * Math.log(p);
    }
    assert.ok(Math.abs(sum - 1) < 1e-12);
    assert.ok(Math.abs(h - Math.log(7)) < 2e-5, `row ${i}: entropy ${h}`);
  }
});

test('quality measures: trustworthiness matches scikit-learn; identity map scores 1', () => {
  // fixture: sklearn.manifold.trustworthiness 1.2.1 on these formula-generated points
  const n = 60;
  const x = new Float32Array(n * 4),
    e = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    x.set([Math.sin(i * 0.7), Math.cos(i * 1.3), Math.sin(i * 0.11) * 2, (i % 7) / 7], i * 4);
    e.set([Math.sin(i * 0.7) + 0.3 * Math.cos(i * 2.9), Math.cos(i * 1.3)], i * 2);
  }
  assert.ok(Math.abs(trustworthiness(x, n, 4, e, 5) - 0.653974358974359) < 1e-6);
  assert.ok(Math.abs(trustworthiness(x, n, 4, e, 10) - 0.6788014981273408) < 1e-6);
  const flat = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) flat.set([x[i * 4], x[i * 4 + 1]], i * 2);
  assert.equal(trustworthiness(flat, n, 2, flat, 10), 1);
  assert.equal(knnRecall(flat, n, 2, flat, 10), 1);
  assert.ok(knnRecall(x, n, 4, e, 10) < 1);
});

test('tsne input checks: NaN rows, bad parameters, bad init', () => {
  const { x } = blobs(50, 4, 2, 5, 6);
  const bad = x.slice();
  bad[13 * 4 + 1] = NaN;
  assert.throws(
    () => tsne(bad, 50, 4, { source: 'store/vectors.f32' }),
    (e: unknown) => {
      assert.ok(e instanceof CbirError);
      assert.equal(e.row, 14);
      assert.equal(e.file, 'store/vectors.f32');
      assert.equal(e.code, 'tsne/non-finite');
      assert.ok(e.hint);
      return true;
    },
  );
  bad[13 * 4 + 1] = Infinity;
  assert.throws(
    () => tsne(bad, 50, 4),
    (e: unknown) => e instanceof CbirError && e.row === 14,
  );
  assert.throws(
    () => tsne(x, 50, 4, { perplexity: 50 }),
    (e: unknown) => e instanceof CbirError && /perplexity/.test(e.message) && !!e.hint,
  );
  assert.throws(
    () => tsne(x, 50, 5),
    (e: unknown) => e instanceof CbirError && /n × d/.test(e.message),
  );
  assert.throws(() => tsne(x, 50, 4, { method: 'fft' as 'exact' }), CbirError);
  assert.throws(() => tsne(x, 50, 4, { iterations: 0 }), CbirError);
  assert.throws(() => tsne(x, 50, 4, { learningRate: -1 }), CbirError);
  assert.throws(
    () => tsne(x, 50, 4, { init: new Float32Array(10) }),
    (e: unknown) => e instanceof CbirError && /t-SNE init/.test(e.message),
  );
  assert.throws(() => tsne(x as unknown as Float32Array, 1, 200), CbirError);
});
