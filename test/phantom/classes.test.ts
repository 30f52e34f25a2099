import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClassName } from '../../src/workbench/data/manifest.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { CbirError } from '../../src/workbench/errors.js';
import { PHANTOM_CLASSES, phantomCounts, planPhantom, renderPhantom } from '../../src/workbench/data/phantom.js';

test('class table: MOD/region/label names, one anatomical normal class per modality/region, kinds right', () => {
  const names = new Set<string>();
  const anatomical = new Map<string, number>();
  for (const c of PHANTOM_CLASSES) {
    const p = parseClassName(c.name);
    assert.deepEqual([p.modality, p.region, p.label], [c.modality, c.region, c.label]);
    assert.ok(!names.has(c.name), `duplicate ${c.name}`);
    names.add(c.name);
    assert.equal(c.kind, c.label === 'normal' ? 'anatomical' : 'pathological', c.name);
    assert.equal(c.dataset, `phantom-${c.modality.toLowerCase()}`);
    const key = `${c.modality}/${c.region}`;
    if (c.kind === 'anatomical') anatomical.set(key, (anatomical.get(key) ?? 0) + 1);
    else anatomical.set(key, anatomical.get(key) ?? 0);
  }
  for (const [key, n] of anatomical) assert.equal(n, 1, `${key} has ${n} anatomical classes`);
  const modalities = new Set(PHANTOM_CLASSES.map((c) => c.modality));
  assert.deepEqual([...modalities].sort(), ['CT', 'MR', 'US', 'XR']);
  assert.ok(anatomical.size >= 6 && anatomical.size <= 8, `${anatomical.size} modality/region pairs`);
  assert.ok(PHANTOM_CLASSES.length >= 18 && PHANTOM_CLASSES.length <= 30, `${PHANTOM_CLASSES.length} classes`);
});

test('class sizes are long-tailed and about 2,000 images at scale 1, with a floor at small scales', () => {
  const c1 = phantomCounts(1);
  const total = c1.reduce((s, v) => s + v, 0);
  assert.ok(total >= 1800 && total <= 2200, `total ${total}`);
  const sorted = Array.from(c1).sort((a, b) => b - a);
  assert.ok(sorted[0] / sorted[sorted.length - 1] >= 15, `max/min ${sorted[0]}/${sorted[sorted.length - 1]}`);
  // a few big classes hold a large share (head of the tail)
  assert.ok((sorted[0] + sorted[1] + sorted[2]) / total > 0.3);
  const c10 = phantomCounts(10);
  assert.equal(
    c10.reduce((s, v) => s + v, 0),
    total * 10,
  );
  for (const v of phantomCounts(0.01)) assert.equal(v, 6);
  assert.throws(() => phantomCounts(0), CbirError);
});

test('planned splits are stratified ~70/10/20 with every class in every split, and seeded', () => {
  for (const scale of [1, 0.1, 0.01]) {
    const plan = planPhantom({ scale, seed: 5 });
    const per = new Map<string, Record<string, number>>();
    for (const e of plan.entries) {
      const r = per.get(e.className) ?? { train: 0, val: 0, test: 0 };
      r[e.split]++;
      per.set(e.className, r);
    }
    assert.equal(per.size, PHANTOM_CLASSES.length);
    for (const [name, r] of per)
      for (const s of ['train', 'val', 'test']) assert.ok(r[s] >= 2, `${name} ${s} ${r[s]} at scale ${scale}`);
  }
  const plan = planPhantom({ scale: 1 });
  const n = plan.entries.length;
  const frac = (s: string) => plan.entries.filter((e) => e.split === s).length / n;
  assert.ok(Math.abs(frac('train') - 0.7) < 0.03, `train ${frac('train')}`);
  assert.ok(Math.abs(frac('val') - 0.1) < 0.03, `val ${frac('val')}`);
  assert.ok(Math.abs(frac('test') - 0.2) < 0.03, `test ${frac('test')}`);
  const again = planPhantom({ scale: 1 });
  assert.deepEqual(again.entries, plan.entries);
  assert.deepEqual(again.imageSeeds, plan.imageSeeds);
  const other = planPhantom({ scale: 1, seed: 1 });
  assert.notDeepEqual(
    other.entries.map((e) => e.split),
    plan.entries.map((e) => e.split),
  );
  assert.equal(new Set(plan.imageSeeds).size, n, 'image seeds are distinct');
});

test('renderPhantom is pure: same class and seed give the same pixels, another seed differs', () => {
  for (const c of PHANTOM_CLASSES) {
    const a = renderPhantom(c, new Rng(11), 40);
    const b = renderPhantom(c.name, new Rng(11), 40);
    const d = renderPhantom(c, new Rng(12), 40);
    assert.equal(a.width, 40);
    assert.equal(a.height, 40);
    assert.equal(a.data.length, 40 * 40 * 3);
    assert.equal(a.grayscale, true);
    assert.deepEqual(a.data, b.data, c.name);
    assert.notDeepEqual(a.data, d.data, c.name);
    for (let p = 0; p < 40 * 40; p++)
      assert.ok(a.data[3 * p] === a.data[3 * p + 1] && a.data[3 * p] === a.data[3 * p + 2]);
  }
  assert.throws(
    () => renderPhantom('CT/foot/normal', new Rng(1)),
    (e: unknown) => e instanceof CbirError && /CT\/head\/normal/.test((e as Error).message),
  );
  assert.throws(() => renderPhantom('CT/head/normal', new Rng(1), 8), CbirError);
});

test('modalities look different: dark air around CT/MR, black outside the US fan, bright XR bone', () => {
  const mean = (d: Uint8Array, n: number, f: (x: number, y: number) => boolean) => {
    let s = 0;
    let k = 0;
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++)
        if (f(x, y)) {
          s += d[3 * (y * n + x)];
          k++;
        }
    return s / k;
  };
  const n = 64;
  const corner = (x: number, y: number) => (x < 5 || x >= n - 5) && (y < 5 || y >= n - 5);
  const centre = (x: number, y: number) => Math.abs(x - n / 2) < 10 && Math.abs(y - n / 2) < 10;
  for (let s = 0; s < 5; s++) {
    for (const name of ['CT/head/normal', 'CT/abdomen/normal', 'MR/brain/normal']) {
      const img = renderPhantom(name, new Rng(s), n);
      assert.ok(mean(img.data, n, corner) < 30, `${name} corners are air`);
      assert.ok(mean(img.data, n, centre) > 60, `${name} centre is tissue`);
    }
    const us = renderPhantom('US/breast/normal', new Rng(s), n);
    // the fan's apex is at the top centre: top corners lie outside it
    assert.ok(mean(us.data, n, (x, y) => y < 8 && (x < 6 || x >= n - 6)) < 3, 'US top corners are black');
    const knee = renderPhantom('XR/knee/normal', new Rng(s), n);
    assert.ok(
      mean(knee.data, n, centre) > mean(knee.data, n, corner) + 60,
      'XR knee bone brighter than the background',
    );
  }
});

test('retrieval on the phantom is non-trivial: raw 8x8 pixels 1-NN is well above chance and below perfect', (t) => {
  const plan = planPhantom({ scale: 0.15, seed: 2, size: 32 });
  const D = 64;
  const X = new Float32Array(plan.entries.length * D);
  plan.entries.forEach((e, i) => {
    const img = renderPhantom(plan.classes[plan.classIndex[i]], new Rng(plan.imageSeeds[i]), 32);
    const v = X.subarray(i * D, (i + 1) * D);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) v[(y >> 2) * 8 + (x >> 2)] += img.data[3 * (y * 32 + x)];
    let mu = 0;
    for (let k = 0; k < D; k++) mu += v[k];
    mu /= D;
    let nn = 0;
    for (let k = 0; k < D; k++) {
      v[k] -= mu;
      nn += v[k] * v[k];
    }
    nn = Math.sqrt(nn) || 1;
    for (let k = 0; k < D; k++) v[k] /= nn;
  });
  const train = plan.entries.flatMap((e, i) => (e.split === 'train' ? [i] : []));
  const test_ = plan.entries.flatMap((e, i) => (e.split === 'test' ? [i] : []));
  let hits = 0;
  let chance = 0;
  const K = plan.classes.length;
  const nTrain = new Float64Array(K);
  const nTest = new Float64Array(K);
  for (const i of train) nTrain[plan.classIndex[i]]++;
  for (const q of test_) {
    nTest[plan.classIndex[q]]++;
    let best = -1;
    let bs = -Infinity;
    for (const t of train) {
      let s = 0;
      for (let k = 0; k < D; k++) s += X[q * D + k] * X[t * D + k];
      if (s > bs) {
        bs = s;
        best = t;
      }
    }
    if (plan.classIndex[best] === plan.classIndex[q]) hits++;
  }
  // chance P@1 of a random neighbour: Σ_c p_test(c) · p_train(c)
  for (let c = 0; c < K; c++) chance += (nTest[c] / test_.length) * (nTrain[c] / train.length);
  const p1 = hits / test_.length;
  t.diagnostic(`raw-pixel 1-NN P@1 ${p1.toFixed(3)}, chance ${chance.toFixed(3)}, ${test_.length} queries`);
  assert.ok(p1 > 3 * chance, `P@1 ${p1.toFixed(3)} vs chance ${chance.toFixed(3)}`);
  assert.ok(p1 < 0.95, `P@1 ${p1.toFixed(3)} should leave room for better descriptors`);
});
