import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  jointProbabilities,
  klDivergence,
  knnRecall,
  trustworthiness,
  tsne,
  tsneReference,
} from '../../src/workbench/analysis/index.js';
import { Rng } from '../../src/workbench/util/rng.js';

/**
 * The fast t-SNE against the tsne-js package (exact O(n²), its own optimiser) on 200 points of
 * clustered data (5 overlapping Gaussian blobs in 20-d). tsne-js builds P from plain (not
 * squared) distances, so each map is scored under both P's: the standard t-SNE P (what `tsne`
 * minimises) and tsne-js's own P (what tsne-js minimises).
 *
 * Tolerances: KL of the fast map ≤ 1.1 × tsne-js's KL under either P; trustworthiness (k = 10)
 * at least tsne-js's − 0.01; 10-NN recall at least tsne-js's − 0.05.
 */
test('fast t-SNE vs tsne-js (200 points): KL within 1.1×, neighbourhoods as well kept', () => {
  const n = 200,
    d = 20,
    C = 5;
  const rng = new Rng(3);
  const centres = new Float64Array(C * d).map(() => 4 * rng.normal());
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = centres[(i % C) * d + j] + rng.normal();

  const ref = tsneReference(x, n, d, { seed: 0 });
  const fast = tsne(x, n, d, { seed: 0 });
  assert.equal(ref.embedding.length, 2 * n);
  assert.ok(ref.embedding.every(Number.isFinite));

  // tsne-js's own report is its KL under its own P (recomputed here with the exact Z)
  assert.ok(Math.abs(klDivergence(ref.P, ref.embedding) - ref.kl) < 0.02 * ref.kl, `tsne-js kl ${ref.kl}`);
  const Pstd = jointProbabilities(x, n, d, 30, { exact: true });
  const kl = {
    fastStd: klDivergence(Pstd, fast.embedding),
    refStd: klDivergence(Pstd, ref.embedding),
    fastRefP: klDivergence(ref.P, fast.embedding),
    refRefP: klDivergence(ref.P, ref.embedding),
  };
  assert.ok(kl.fastStd <= 1.1 * kl.refStd, JSON.stringify(kl));
  assert.ok(kl.fastRefP <= 1.1 * kl.refRefP, JSON.stringify(kl));
  const tFast = trustworthiness(x, n, d, fast.embedding, 10),
    tRef = trustworthiness(x, n, d, ref.embedding, 10);
  assert.ok(tFast >= tRef - 0.01, `trustworthiness ${tFast} vs tsne-js ${tRef}`);
  const rFast = knnRecall(x, n, d, fast.embedding, 10),
    rRef = knnRecall(x, n, d, ref.embedding, 10);
  assert.ok(rFast >= rRef - 0.05, `10-NN recall ${rFast} vs tsne-js ${rRef}`);
});
