import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';
import { decodeImage } from '../../src/workbench/images/decode.js';
import { THUMB_PIXELS, findNearPairs, forEachNearPair, thumbL1, thumbnail16 } from '../../src/workbench/data/thumbs.js';
import { findNearDuplicates } from '../../src/workbench/data/duplicates.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { tempDir } from '../helpers/datasets.js';

const PYTHON = '/usr/bin/python3';

/** numpy's exact area average of BT.601 luma, unrounded (an independent formula: overlap-weight matrices). */
const NUMPY_REFERENCE = `
import sys, json
import numpy as np
from PIL import Image
def wmat(N, S=16):
    M = np.zeros((S, N))
    for c in range(S):
        a, b = c * N / S, (c + 1) * N / S
        for x in range(N):
            M[c, x] = max(0.0, min(b, x + 1) - max(a, x))
    return M / (N / S)
out = []
for f in sys.argv[1:]:
    rgb = np.asarray(Image.open(f).convert('RGB'), dtype=np.float64)
    g = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    H, W = g.shape
    out.append((wmat(H) @ g @ wmat(W).T).reshape(-1).tolist())
print(json.dumps(out))
`;

function hasPython(): boolean {
  const r = spawnSync(PYTHON, ['-c', 'import numpy, PIL'], { encoding: 'utf8' });
  return r.status === 0;
}

test('thumbnail16: exact area average of the luma, as numpy computes it', async (t) => {
  if (!hasPython()) return t.skip(`${PYTHON} with numpy and PIL not found: the reference cannot run`);
  const { dir, cleanup } = tempDir();
  try {
    const rng = new Rng(5);
    const files: string[] = [];
    // Sizes that divide 16, that do not (both ways), smaller than 16 (upsampling), RGB and gray.
    for (const [w, h, ch] of [
      [64, 64, 1],
      [37, 23, 3],
      [300, 211, 3],
      [9, 5, 1],
      [16, 40, 3],
    ] as const) {
      const px = Buffer.alloc(w * h * ch);
      for (let i = 0; i < px.length; i++) px[i] = (rng.int(200) + ((i / ch) % w) * 3) % 256;
      const f = join(dir, `${w}x${h}x${ch}.png`);
      writeFileSync(
        f,
        await sharp(px, { raw: { width: w, height: h, channels: ch } })
          .png()
          .toBuffer(),
      );
      files.push(f);
    }
    const r = spawnSync(PYTHON, ['-c', NUMPY_REFERENCE, ...files], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const ref = JSON.parse(r.stdout) as number[][];
    for (let k = 0; k < files.length; k++) {
      const mine = thumbnail16(await decodeImage(files[k]));
      for (let p = 0; p < THUMB_PIXELS; p++) {
        const v = ref[k][p];
        // Rounded half up; at an exact .5 (up to floating point) either neighbour is right.
        const tie = Math.abs((v % 1) - 0.5) < 1e-6;
        if (tie) assert.ok(Math.abs(mine[p] - v) <= 0.5 + 1e-6, `${files[k]} pixel ${p}: ${mine[p]} vs ${v}`);
        else assert.equal(mine[p], Math.round(v), `${files[k]} pixel ${p}: ${mine[p]} vs ${v}`);
      }
    }
  } finally {
    cleanup();
  }
});

test('thumbnail16: a constant image is its value; a re-encoded JPEG stays within MAD 2/255', async () => {
  const flat = thumbnail16({
    width: 50,
    height: 30,
    channels: 3,
    data: new Uint8Array(50 * 30 * 3).fill(77),
    grayscale: true,
  });
  assert.ok(flat.every((v) => v === 77));
  const rng = new Rng(9);
  const w = 96;
  const px = Buffer.alloc(w * w);
  for (let y = 0; y < w; y++)
    for (let x = 0; x < w; x++)
      px[y * w + x] = Math.round(128 + 80 * Math.sin(x / 9) * Math.cos(y / 13)) + rng.int(9) - 4;
  const png = await sharp(px, { raw: { width: w, height: w, channels: 1 } })
    .png()
    .toBuffer();
  const jpg = await sharp(px, { raw: { width: w, height: w, channels: 1 } })
    .jpeg({ quality: 85 })
    .toBuffer();
  const a = thumbnail16(await decodeImage(png));
  const b = thumbnail16(await decodeImage(jpg));
  const both = new Uint8Array(512);
  both.set(a, 0);
  both.set(b, 256);
  const mad = thumbL1(both, 0, 1) / 256;
  assert.ok(mad < 2, `MAD ${mad}`);
  assert.ok(mad > 0, 'the JPEG differs a little');
});

/** n thumbnails: clusters of a base image and perturbations of graded size, plus random ones. */
function clustered(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const t = new Uint8Array(n * THUMB_PIXELS);
  for (let i = 0; i < n; i++) {
    if (i % 5 === 0 || i < 5) {
      for (let p = 0; p < THUMB_PIXELS; p++) t[i * THUMB_PIXELS + p] = rng.int(256);
    } else {
      const base = (i - (i % 5)) * THUMB_PIXELS;
      const amp = [0, 1, 3, 7, 12][i % 5];
      for (let p = 0; p < THUMB_PIXELS; p++) {
        const v = t[base + p] + rng.int(2 * amp + 1) - amp;
        t[i * THUMB_PIXELS + p] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return t;
}

test('findNearPairs finds exactly the pairs brute force finds, at any threshold', () => {
  const n = 700;
  const t = clustered(n, 3);
  for (const mad of [1, 2, 6, 12]) {
    const brute = new Set<string>();
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) if (thumbL1(t, i, j) < mad * 256) brute.add(`${i},${j},${thumbL1(t, i, j)}`);
    const got = findNearPairs(t, n, mad);
    const mine = new Set<string>();
    for (let k = 0; k < got.count; k++) {
      assert.ok(got.a[k] < got.b[k]);
      mine.add(`${got.a[k]},${got.b[k]},${got.l1[k]}`);
    }
    assert.equal(mine.size, got.count, 'no pair twice');
    assert.deepEqual([...mine].sort(), [...brute].sort(), `MAD ${mad}`);
    assert.ok(brute.size > 0, 'the fixture has pairs at this threshold');
    assert.ok(got.candidates < (n * (n - 1)) / 2, 'not all pairs were looked at');
  }
  // keep() skips pairs: only pairs across "splits" (i mod 2).
  let kept = 0;
  forEachNearPair(
    t,
    n,
    6,
    (i, j) => {
      assert.notEqual(i % 2, j % 2);
      kept++;
    },
    (i, j) => i % 2 !== j % 2,
  );
  assert.ok(kept > 0);
  assert.equal(findNearPairs(t, n, 0).count, 0, 'threshold 0 is off');
});

test('findNearDuplicates: near pairs group transitively, the query-side copy is kept, mixed classes drop all', () => {
  const items = [
    { ref: 'a/train1', className: 'MR/brain/glioma', split: 'train' as const },
    { ref: 'a/test1', className: 'MR/brain/glioma', split: 'test' as const },
    { ref: 'a/train2', className: 'MR/brain/glioma', split: 'train' as const },
    { ref: 'b/x', className: 'MR/brain/glioma' },
    { ref: 'b/y', className: 'MR/brain/notumor' },
    { ref: 'c/alone', className: 'MR/brain/glioma', split: 'test' as const },
  ];
  // 0–1 and 1–2 are near (0–2 only through 1); 3–4 near with different classes.
  const r = findNearDuplicates(items, { a: Int32Array.of(0, 1, 3), b: Int32Array.of(1, 2, 4), count: 3 });
  assert.deepEqual([...r.drop], [1, 0, 1, 2, 2, 0]);
  assert.equal(r.groups.length, 2);
  const g = r.groups.find((x) => !x.conflict)!;
  assert.equal(g.kept, 1);
  assert.equal(g.identical, 'near');
  assert.deepEqual(r.groups.find((x) => x.conflict)!.classes, ['MR/brain/glioma', 'MR/brain/notumor']);
});
