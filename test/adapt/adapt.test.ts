import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Manifest, type ClassInfo, type ManifestEntry } from '../../src/workbench/data/manifest.js';
import { openEmbeddings, writeEmbeddings } from '../../src/workbench/embeddings/store.js';
import {
  adaptEmbeddings,
  saveAdaptedStore,
  supConLoss,
  trainAdapter,
  valPrecisionAt1,
} from '../../src/workbench/adapt/index.js';
import { normalizeBackward, normalizeRows } from '../../src/workbench/adapt/supcon.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { tempDir } from '../helpers/datasets.js';

test('SupCon gradient through the normalisation matches finite differences', () => {
  const rng = new Rng(3);
  const m = 5;
  const labels = Int32Array.of(0, 1, 0, 2, 1, 0);
  const u = Float64Array.from({ length: labels.length * m }, () => rng.normal());
  const loss = (v: Float64Array) => {
    const z = new Float64Array(v.length);
    normalizeRows(v, m, z);
    return supConLoss(z, labels, m, 0.3, new Float64Array(v.length));
  };
  const z = new Float64Array(u.length);
  const norms = normalizeRows(u, m, z);
  const g = new Float64Array(u.length);
  supConLoss(z, labels, m, 0.3, g);
  normalizeBackward(z, norms, m, g);
  for (let i = 0; i < u.length; i++) {
    const h = 1e-6;
    const a = Float64Array.from(u);
    const b = Float64Array.from(u);
    a[i] += h;
    b[i] -= h;
    const fd = (loss(a) - loss(b)) / (2 * h);
    assert.ok(Math.abs(fd - g[i]) < 1e-6, `entry ${i}: analytic ${g[i]} vs numeric ${fd}`);
  }
  // a batch whose rows all differ in class has no anchors: loss 0
  assert.equal(supConLoss(z.subarray(0, 2 * m), Int32Array.of(0, 1), m, 0.3, new Float64Array(2 * m)), 0);
});

/** Classes that differ along 2 weak directions, drowned by 6 strong nuisance directions. */
function nuisance(n: number, seed: number) {
  const rng = new Rng(seed);
  const dim = 8;
  const x = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = (labels[i] = i % 3);
    const row = [
      Math.cos((2 * Math.PI * c) / 3) + 0.3 * rng.normal(),
      Math.sin((2 * Math.PI * c) / 3) + 0.3 * rng.normal(),
    ];
    for (let d = 0; d < 6; d++) row.push(3 * rng.normal());
    const nrm = Math.hypot(...row);
    row.forEach((v, d) => (x[i * dim + d] = v / nrm));
  }
  return { x, labels, dim };
}

for (const kind of ['linear', 'mlp'] as const) {
  test(`a ${kind} adapter learns to ignore nuisance directions: val P@1 rises, epoch 0 is the identity`, () => {
    const train = nuisance(600, 1);
    const val = nuisance(150, 2);
    const r = trainAdapter(train, val, 8, { kind, epochs: 25, patience: 25, batch: 64, lr: 3e-3, seed: 1 });
    assert.equal(r.history[0].valP1, valPrecisionAt1(null, train, val, 8), 'epoch 0 scores the frozen rows');
    const best = r.history[r.bestEpoch].valP1;
    assert.ok(best >= r.history[0].valP1 + 0.1, `${kind}: val P@1 ${r.history[0].valP1} → ${best}`);
    assert.ok(r.history.at(-1)!.loss < r.history[1].loss, 'the loss falls');
    const out = r.adapter.apply(val.x.subarray(0, 8));
    assert.ok(Math.abs(Math.hypot(...out) - 1) < 1e-5, 'adapted rows are unit length');
  });
}

test('adaptEmbeddings: test rows never change the adapter, the store is written and reopens', async () => {
  const n = 240;
  const data = nuisance(n, 5);
  const classes: ClassInfo[] = [0, 1, 2].map((c) => ({
    name: `XR/chest/c${c}`,
    modality: 'XR',
    region: 'chest',
    label: `c${c}`,
    kind: 'pathological' as const,
  }));
  const entries: ManifestEntry[] = Array.from({ length: n }, (_, i) => ({
    filepath: `img/${i}.png`,
    dataset: 'synthetic',
    split: i % 5 === 0 ? 'test' : i % 5 === 1 ? 'val' : 'train',
    modality: 'XR',
    anatomicRegion: 'chest',
    className: classes[data.labels[i]].name,
  }));
  const m = Manifest.fromEntries(entries, classes);
  const t = tempDir();
  try {
    const ids = m.filepaths;
    await writeEmbeddings(`${t.dir}/a`, data.x, ids, 8, { modelId: 'toy', fingerprint: 'f', manifestHash: m.hash });
    const other = Float32Array.from(data.x);
    for (const r of m.indicesOf('test')) other.set(new Float32Array(8).fill(Math.SQRT1_2 / 2), r * 8); // new test rows
    await writeEmbeddings(`${t.dir}/b`, other, ids, 8, { modelId: 'toy', fingerprint: 'f', manifestHash: m.hash });
    const opts = { epochs: 5, patience: 5, batch: 32, seed: 2 };
    const a = await adaptEmbeddings(m, await openEmbeddings(`${t.dir}/a`), opts);
    const b = await adaptEmbeddings(m, await openEmbeddings(`${t.dir}/b`), opts);
    assert.deepEqual(a.trained.adapter.snapshot(), b.trained.adapter.snapshot(), 'test rows did not touch training');
    const meta = await saveAdaptedStore(a, await openEmbeddings(`${t.dir}/a`), `${t.dir}/out`);
    assert.equal(meta.modelId, 'toy+adapter-linear');
    const again = await openEmbeddings(`${t.dir}/out`);
    assert.deepEqual(Array.from(await again.readAll()), Array.from(a.vectors));
  } finally {
    t.cleanup();
  }
});
