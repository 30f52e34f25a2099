import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CbirError } from '../../src/workbench/errors.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { LinearClassifier, linearProbe, type ProbeSplit } from '../../src/workbench/metrics/index.js';

test('AdamW steps match torch.optim.AdamW (fixture: same init, same batches)', () => {
  const f = JSON.parse(readFileSync(new URL('./fixtures/torch_adamw.json', import.meta.url), 'utf8'));
  const model = new LinearClassifier(
    f.dim,
    f.nClasses,
    { weight: f.initWeight, bias: f.initBias },
    { lr: f.lr, weightDecay: f.weightDecay },
  );
  const x = Float32Array.from(f.x),
    y = Uint16Array.from(f.labels);
  f.batches.forEach((b: number[], i: number) => {
    const loss = model.step(x, y, Int32Array.from(b));
    assert.ok(Math.abs(loss - f.losses[i]) < 1e-5, `loss of step ${i}: ${loss} vs torch ${f.losses[i]}`);
  });
  assert.equal(model.steps, f.batches.length);
  let maxDiff = 0,
    moved = 0;
  for (let i = 0; i < f.finalWeight.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(model.weight[i] - f.finalWeight[i]));
    moved = Math.max(moved, Math.abs(f.finalWeight[i] - f.initWeight[i]));
  }
  for (let c = 0; c < f.nClasses; c++) maxDiff = Math.max(maxDiff, Math.abs(model.bias[c] - f.finalBias[c]));
  assert.ok(moved > 0.01, `the fixture's weights moved (${moved})`);
  assert.ok(maxDiff < 1e-6, `max |W − W_torch| = ${maxDiff}`);
});

/** Gaussian blobs around well separated class centres. */
function blobs(rng: Rng, n: number, centres: Float32Array, C: number, D: number, noise: number): ProbeSplit {
  const x = new Float32Array(n * D),
    labels = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.int(C);
    labels[i] = c;
    for (let d = 0; d < D; d++) x[i * D + d] = centres[c * D + d] + noise * rng.normal();
  }
  return { x, labels };
}

function problem(seed: number, C = 4, D = 16, noise = 0.5) {
  const rng = new Rng(seed);
  const centres = new Float32Array(C * D);
  for (let i = 0; i < centres.length; i++) centres[i] = 2 * rng.normal();
  return {
    train: blobs(rng, 800, centres, C, D, noise),
    val: blobs(rng, 200, centres, C, D, noise),
    test: blobs(rng, 300, centres, C, D, noise),
    C,
    D,
  };
}

test('probe reaches high accuracy on separable data and reports the best epoch', async () => {
  const p = problem(1);
  const seen: number[] = [];
  const r = await linearProbe(p.train, p.val, p.test, p.D, p.C, {
    epochs: 40,
    batchSize: 64,
    patience: 5,
    onEpoch: (e) => seen.push(e.epoch),
  });
  assert.ok(r.metrics.accuracy > 0.97, `test accuracy ${r.metrics.accuracy}`);
  assert.ok(r.metrics.macroAuroc > 0.99, `macro AUROC ${r.metrics.macroAuroc}`);
  assert.equal(r.trainLoss.length, r.epochsRun);
  assert.equal(seen.length, r.epochsRun);
  assert.ok(r.trainLoss[r.epochsRun - 1] < r.trainLoss[0], 'loss goes down');
  assert.equal(r.bestValAccuracy, Math.max(...r.valAccuracy));
  assert.equal(r.valAccuracy.indexOf(r.bestValAccuracy), r.bestEpoch, 'first epoch with the best accuracy');
  if (r.epochsRun < 40)
    assert.equal(r.epochsRun, r.bestEpoch + 5 + 1, 'stopped after patience epochs without improvement');
  assert.equal(r.weight.length, p.C * p.D);
  // the returned layer is the best epoch's: its validation accuracy is the best one
  const m = new LinearClassifier(p.D, p.C, { weight: r.weight, bias: r.bias });
  const pred = m.predict(p.val.x);
  let hit = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === p.val.labels[i]) hit++;
  assert.ok(Math.abs(hit / pred.length - r.bestValAccuracy) < 1e-9);
});

test('early stopping: patience epochs without a strict improvement end training', async () => {
  const p = problem(2, 3, 8, 0.1); // trivially separable: validation accuracy saturates at 1
  const r = await linearProbe(p.train, p.val, p.test, p.D, p.C, { epochs: 100, batchSize: 128, patience: 3, lr: 0.05 });
  assert.equal(r.bestValAccuracy, 1);
  assert.ok(r.epochsRun < 100);
  assert.equal(r.epochsRun, r.bestEpoch + 3 + 1);
});

test('deterministic for a seed, different for another', async () => {
  const p = problem(3);
  const opts = { epochs: 3, batchSize: 100 };
  const a = await linearProbe(p.train, p.val, p.test, p.D, p.C, { ...opts, seed: 5 });
  const b = await linearProbe(p.train, p.val, p.test, p.D, p.C, { ...opts, seed: 5 });
  const c = await linearProbe(p.train, p.val, p.test, p.D, p.C, { ...opts, seed: 6 });
  assert.deepEqual(a.weight, b.weight);
  assert.notDeepEqual(a.weight, c.weight);
});

test('softmax probabilities sum to one', () => {
  const m = new LinearClassifier(3, 4, new Rng(1));
  const x = Float32Array.of(1, 2, 3, -1, 0, 4);
  const pr = m.probabilities(x);
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(pr[i * 4] + pr[i * 4 + 1] + pr[i * 4 + 2] + pr[i * 4 + 3] - 1) < 1e-6);
});

test('input errors', async () => {
  const isErr = (code: string) => (e: unknown) => e instanceof CbirError && e.code === code;
  const p = problem(4, 3, 4);
  const bad = { x: p.train.x.slice(), labels: p.train.labels };
  bad.x[13] = NaN;
  await assert.rejects(
    () => linearProbe(bad, p.val, p.test, p.D, p.C, { source: 'emb.h5' }),
    (e: unknown) => isErr('metrics/not-finite')(e) && /emb\.h5/.test(String(e)),
  );
  await assert.rejects(() => linearProbe(p.train, p.val, p.test, p.D + 1, p.C), isErr('metrics/length-mismatch'));
  await assert.rejects(() => linearProbe(p.train, p.val, p.test, p.D, 2), isErr('metrics/label-out-of-range'));
  await assert.rejects(
    () => linearProbe(p.train, p.val, p.test, p.D, p.C, { batchSize: 0 }),
    isErr('metrics/bad-argument'),
  );
  assert.throws(
    () => new LinearClassifier(2, 2, { weight: [0, 0, 0], bias: [0, 0] }),
    isErr('metrics/length-mismatch'),
  );
  assert.throws(() => new LinearClassifier(2, 2, new Rng(0), { beta1: 1 }), isErr('metrics/bad-argument'));
});
