import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDescriptor, listDescriptors, resizePlane } from '../../src/workbench/models/descriptors/index.js';
import { UNIFORM_LBP_MAP } from '../../src/workbench/models/descriptors/lbp.js';
import { decodeImage, type RgbImage } from '../../src/workbench/images/decode.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { sha256 } from '../../src/workbench/util/fsx.js';
import { DATASETS_DIR, realData } from '../helpers/datasets.js';

/** A synthetic gray image from a pixel function. */
function image(w: number, h: number, f: (x: number, y: number) => number, rgb = false): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = Math.max(0, Math.min(255, Math.round(f(x, y))));
      data.set(rgb ? [v, Math.round(v * 0.8), 255 - v] : [v, v, v], (y * w + x) * 3);
    }
  return { width: w, height: h, channels: 3, data, grayscale: !rgb };
}

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);

test('listDescriptors: ids, dims and the vectors they produce', async () => {
  const list = listDescriptors();
  assert.deepEqual(
    list.map((d) => d.id),
    ['hist64', 'hog4x4x9', 'lbp4x4', 'tiny16', 'classic'],
  );
  const img = image(70, 50, (x, y) => 128 + 60 * Math.sin(x / 5) + 30 * Math.cos(y / 7));
  for (const d of list) {
    const ex = createDescriptor(d.id);
    assert.equal(ex.dim, d.dim);
    const v = await ex.embed([img, img]);
    assert.equal(v.length, 2 * d.dim);
    let n = 0;
    for (let k = 0; k < d.dim; k++) n += v[k] ** 2;
    assert.ok(Math.abs(n - 1) < 1e-5, `${d.id} is L2-normalised (norm² ${n})`);
    assert.deepEqual(v.subarray(0, d.dim), v.subarray(d.dim), `${d.id} is deterministic`);
    assert.ok(v.every(Number.isFinite));
  }
  assert.equal(list.find((d) => d.id === 'classic')!.dim, 144 + 944 + 256 + 64);
  assert.throws(() => createDescriptor('sift'), /unknown descriptor "sift"/);
});

test('fingerprints are stable hashes of id + parameters', () => {
  const fps = listDescriptors().map((d) => createDescriptor(d.id).fingerprint);
  assert.equal(new Set(fps).size, fps.length);
  for (const f of fps) assert.match(f, /^[0-9a-f]{64}$/);
  assert.equal(createDescriptor('hog4x4x9').fingerprint, createDescriptor('hog4x4x9').fingerprint);
});

test('descriptor properties: histogram, tiny image, HOG orientation, uniform LBP', async () => {
  // histogram of a constant image: all mass in the bins around its value
  const flat = await createDescriptor('hist64').embed([image(32, 32, () => 100)]);
  const bin = Math.floor(100 / 4);
  assert.ok(flat[bin] + flat[bin - 1] + flat[bin + 1] > 0.99 * Math.hypot(...flat));
  // tiny image is zero-mean: brightness offset and contrast do not change it
  const base = (x: number, y: number) => 60 + 40 * Math.sin(x / 4) * Math.cos(y / 3);
  const [a, b] = [
    await createDescriptor('tiny16').embed([image(64, 64, base)]),
    await createDescriptor('tiny16').embed([image(64, 64, (x, y) => 2 * base(x, y) + 20)]),
  ];
  assert.ok(cosine(a, b) > 0.999);
  // HOG: vertical and horizontal stripes differ, stripes of other phase match
  const hog = createDescriptor('hog4x4x9');
  const [v1, v2, h1] = [
    await hog.embed([image(64, 64, (x) => (Math.floor(x / 4) % 2 ? 200 : 50))]),
    await hog.embed([image(64, 64, (x) => (Math.floor((x + 2) / 4) % 2 ? 200 : 50))]),
    await hog.embed([image(64, 64, (_x, y) => (Math.floor(y / 4) % 2 ? 200 : 50))]),
  ];
  assert.ok(cosine(v1, v2) > 0.9, `same orientation: ${cosine(v1, v2)}`);
  assert.ok(cosine(v1, h1) < 0.3, `orthogonal orientation: ${cosine(v1, h1)}`);
  // uniform LBP: 58 uniform codes + 1 bin for the rest
  assert.equal(Math.max(...UNIFORM_LBP_MAP), 58);
  assert.equal(new Set(UNIFORM_LBP_MAP).size, 59);
  assert.equal(UNIFORM_LBP_MAP[0b01010101], 58);
});

test('resizePlane: exact size passes through, area-consistent when shrinking', () => {
  const src = Float32Array.from({ length: 64 }, (_, i) => i % 8);
  assert.deepEqual(resizePlane(src, 8, 8, 8, 8), src);
  const small = resizePlane(src, 8, 8, 4, 4);
  const mean = (x: Float32Array) => x.reduce((s, v) => s + v, 0) / x.length;
  assert.ok(Math.abs(mean(small) - mean(src)) < 0.3);
  const flat = resizePlane(new Float32Array(100 * 30).fill(77), 100, 30, 16, 16);
  assert.ok(flat.every((v) => Math.abs(v - 77) < 1e-3));
});

test('descriptors retrieve generated classes above chance', async () => {
  const rng = new Rng(3);
  const gens = [
    (p: number) => (x: number) => 128 + 100 * Math.sin((x + p) / 3),
    (p: number) => (x: number, y: number) => (Math.hypot(x - 24, y - 24) < 10 + p ? 220 : 40),
    (p: number) => (x: number, y: number) => (((x >> 3) + (y >> 3) + (p > 3 ? 1 : 0)) % 2 ? 200 : 60),
  ];
  const imgs: RgbImage[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 24; i++) {
    const c = i % 3;
    const g = gens[c](rng.next() * 6);
    imgs.push(image(48, 48, (x, y) => g(x, y) + (rng.next() - 0.5) * 60, i % 2 === 0));
    labels.push(c);
  }
  for (const id of ['hog4x4x9', 'lbp4x4', 'classic']) {
    const ex = createDescriptor(id);
    const x = await ex.embed(imgs);
    let hits = 0;
    for (let q = 0; q < imgs.length; q++) {
      let best = -1,
        bj = -1;
      for (let j = 0; j < imgs.length; j++) {
        if (j === q) continue;
        const s = cosine(x.subarray(q * ex.dim, (q + 1) * ex.dim), x.subarray(j * ex.dim, (j + 1) * ex.dim));
        if (s > best) {
          best = s;
          bj = j;
        }
      }
      if (labels[bj] === labels[q]) hits++;
    }
    assert.ok(hits / imgs.length >= 0.9, `${id}: P@1 ${hits / imgs.length}`);
  }
});

test(
  'real MR brain images: descriptors retrieve the tumour class well above chance',
  { skip: realData('mr-brain-tumor') },
  async () => {
    // 30 images per class from Training (byte-identical duplicates dropped), leave-one-out P@1
    const rng = new Rng(11);
    const files: string[] = [];
    const labels: number[] = [];
    const seen = new Set<string>();
    ['glioma', 'meningioma', 'notumor', 'pituitary'].forEach((c, k) => {
      const dir = join(DATASETS_DIR, 'mr-brain-tumor', 'Training', c);
      const all = readdirSync(dir)
        .filter((f) => /\.jpe?g$/i.test(f))
        .sort();
      rng.shuffle(all);
      let n = 0;
      for (const f of all) {
        if (n === 30) break;
        const h = sha256(readFileSync(join(dir, f)));
        if (seen.has(h)) continue;
        seen.add(h);
        files.push(join(dir, f));
        labels.push(k);
        n++;
      }
    });
    const imgs: RgbImage[] = [];
    for (const f of files) imgs.push(await decodeImage(f));
    const ex = createDescriptor('classic');
    const x = await ex.embed(imgs);
    let hits = 0;
    for (let q = 0; q < imgs.length; q++) {
      let best = -2,
        bj = -1;
      for (let j = 0; j < imgs.length; j++) {
        if (j === q) continue;
        const s = cosine(x.subarray(q * ex.dim, (q + 1) * ex.dim), x.subarray(j * ex.dim, (j + 1) * ex.dim));
        if (s > best) {
          best = s;
          bj = j;
        }
      }
      if (labels[bj] === labels[q]) hits++;
    }
    const p1 = hits / imgs.length;
    assert.ok(p1 > 0.5, `classic P@1 on 120 MR brain images: ${p1} (chance 0.25)`);
  },
);
