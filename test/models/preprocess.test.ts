import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { preprocessImage, resizedSize } from '../../src/workbench/models/preprocess.js';
import { resizePil, type ResampleFilter } from '../../src/workbench/models/resample.js';
import type { PreprocessSpec } from '../../src/workbench/models/types.js';
import type { RgbImage } from '../../src/workbench/images/decode.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { PROJECT_ROOT, tempDir } from '../helpers/datasets.js';
import { readFileSync } from 'node:fs';

/** A gray image whose pixel (x, y) is f(x, y). */
function grayImage(w: number, h: number, f: (x: number, y: number) => number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.fill(f(x, y), 3 * (y * w + x), 3 * (y * w + x) + 3);
  return { width: w, height: h, channels: 3, data, grayscale: true };
}

const ID: Pick<PreprocessSpec, 'rescale' | 'mean' | 'std' | 'channels'> = {
  rescale: 1,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  channels: 'rgb',
};

function plane(t: Float32Array, c: number, H: number, W: number): number[][] {
  return Array.from({ length: H }, (_, y) => [...t.subarray(c * H * W + y * W, c * H * W + (y + 1) * W)]);
}

test('resizedSize follows the reference rules', () => {
  const se: PreprocessSpec = {
    size: [224, 224],
    resize: 'shortest-edge',
    interpolation: 'bicubic',
    crop: 'center',
    ...ID,
  };
  assert.deepEqual(resizedSize(300, 200, se), [224, 336]); // [height, width]; long = int(224·300/200)
  assert.deepEqual(resizedSize(200, 301, se), [337, 224]); // int(337.12)
  assert.deepEqual(resizedSize(300, 200, { ...se, resizeTo: 256 }), [256, 384]);
  const lp: PreprocessSpec = {
    size: [1024, 1024],
    resize: 'longest-edge-pad',
    interpolation: 'bilinear',
    crop: 'none',
    ...ID,
  };
  assert.deepEqual(resizedSize(640, 480, lp), [768, 1024]);
  assert.deepEqual(resizedSize(3, 1000, lp), [1024, 3]); // int(3.072 + 0.5)
  assert.deepEqual(resizedSize(999, 7, { ...lp, size: [64, 64] }), [0 + Math.trunc((7 * 64) / 999 + 0.5), 64]);
  assert.deepEqual(resizedSize(50, 80, { ...se, resize: 'exact', crop: 'none' }), [224, 224]);
});

test('rescale, mean and std per channel, CHW layout', async () => {
  const img: RgbImage = {
    width: 2,
    height: 1,
    channels: 3,
    data: Uint8Array.from([255, 0, 51, 0, 102, 255]),
    grayscale: false,
  };
  const spec: PreprocessSpec = {
    size: [1, 2],
    resize: 'exact',
    interpolation: 'bilinear',
    crop: 'none',
    rescale: 1 / 255,
    mean: [0.5, 0.25, 0],
    std: [0.5, 0.25, 2],
    channels: 'rgb',
  };
  const t = await preprocessImage(img, spec);
  // R: (1−.5)/.5 = 1, (0−.5)/.5 = −1; G: (0−.25)/.25 = −1, (.4−.25)/.25 = .6; B: .2/2 = .1, 1/2 = .5
  const want = [1, -1, -1, 0.6, 0.1, 0.5];
  assert.equal(t.length, 6);
  want.forEach((v, i) => assert.ok(Math.abs(t[i] - v) < 1e-6, `index ${i}: ${t[i]} vs ${v}`));
});

test('gray channel = BT.601 luma, one plane', async () => {
  const img: RgbImage = {
    width: 2,
    height: 1,
    channels: 3,
    data: Uint8Array.from([255, 0, 0, 10, 200, 30]),
    grayscale: false,
  };
  const t = await preprocessImage(img, {
    size: [1, 2],
    resize: 'exact',
    interpolation: 'nearest',
    crop: 'none',
    ...ID,
    channels: 'gray',
  });
  // round(.299·255) = round(76.2) = 76; round(.299·10 + .587·200 + .114·30) = round(123.81) = 124
  assert.deepEqual([...t], [76, 124]);
});

test('shortest-edge resize then centre crop (floor and half-even offsets)', async () => {
  const img = grayImage(7, 4, (x) => x * 10); // short side already 4: no resampling
  const spec: PreprocessSpec = {
    size: [4, 4],
    resize: 'shortest-edge',
    interpolation: 'bicubic',
    crop: 'center',
    ...ID,
  };
  const floor = await preprocessImage(img, spec);
  assert.deepEqual(plane(floor, 0, 4, 4)[0], [10, 20, 30, 40]); // left = floor(3/2) = 1
  const even = await preprocessImage(img, { ...spec, cropRounding: 'half-even' });
  assert.deepEqual(plane(even, 0, 4, 4)[0], [20, 30, 40, 50]); // left = round(1.5) = 2 (torchvision)
  const tall = await preprocessImage(
    grayImage(4, 6, (_x, y) => y),
    spec,
  );
  assert.deepEqual(
    plane(tall, 2, 4, 4).map((r) => r[0]),
    [1, 2, 3, 4],
  ); // top = 1, all channels equal
});

test('longest-edge resize then pad: pixel vs normalised padding, top-left vs centre', async () => {
  const img = grayImage(4, 2, () => 100);
  const base: PreprocessSpec = {
    size: [4, 4],
    resize: 'longest-edge-pad',
    interpolation: 'bilinear',
    crop: 'none',
    rescale: 1 / 255,
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    channels: 'rgb',
  };
  const v = (100 / 255 - 0.5) / 0.25;
  const norm = await preprocessImage(img, { ...base, padStage: 'normalized', padValue: 0 });
  assert.deepEqual(
    plane(norm, 0, 4, 4).map((r) => r[0]),
    [v, v, 0, 0].map(Math.fround),
  ); // SAM: rows 2–3 padded with 0 after normalising
  const pix = await preprocessImage(img, { ...base, padValue: 255 });
  assert.deepEqual(
    plane(pix, 1, 4, 4).map((r) => r[3]),
    [v, v, (1 - 0.5) / 0.25, (1 - 0.5) / 0.25].map(Math.fround),
  );
  const centre = await preprocessImage(img, { ...base, padStage: 'normalized', padAlign: 'center' });
  assert.deepEqual(
    plane(centre, 2, 4, 4).map((r) => r[1]),
    [0, v, v, 0].map(Math.fround),
  );
  // a wide image scaled down: 8×2 → 4×1, then padded
  const wide = await preprocessImage(
    grayImage(8, 2, () => 200),
    { ...base, padStage: 'normalized' },
  );
  assert.deepEqual(
    plane(wide, 0, 4, 4).map((r) => r[0]),
    [(200 / 255 - 0.5) / 0.25, 0, 0, 0].map(Math.fround),
  );
});

test('interpolation kernels: hand-computed up- and downscales (Pillow conventions)', () => {
  const row = (vals: number[]) => Uint8Array.from(vals);
  assert.deepEqual([...resizePil(row([0, 100]), 2, 1, 1, 4, 1, 'nearest')], [0, 0, 100, 100]);
  // bilinear 2→4: sample centres 0.25, 0.75, 1.25, 1.75 (in source pixel units), edges clamped
  assert.deepEqual([...resizePil(row([0, 100]), 2, 1, 1, 4, 1, 'bilinear')], [0, 25, 75, 100]);
  // nearest 4→2 picks source pixels floor(0.5·2) = 1 and floor(1.5·2) = 3
  assert.deepEqual([...resizePil(row([10, 20, 30, 40]), 4, 1, 1, 2, 1, 'nearest')], [20, 40]);
  // bilinear 4→2 is a triangle filter of support 2: output 0 = (1·10 + 3·20 + 1·30)/... edge-normalised
  // weights at centre 1: x+0.5−1 ∈ {−0.5, 0.5, 1.5} → triangle(·/2) = .75, .75, .25 → (7.5+15+7.5)/1.75
  assert.deepEqual(
    [...resizePil(row([10, 20, 30, 40]), 4, 1, 1, 2, 1, 'bilinear')],
    [Math.round((0.75 * 10 + 0.75 * 20 + 0.25 * 30) / 1.75), Math.round((0.25 * 20 + 0.75 * 30 + 0.75 * 40) / 1.75)],
  );
  // constant images stay constant under every kernel
  for (const f of ['nearest', 'bilinear', 'bicubic', 'lanczos'] as ResampleFilter[]) {
    const out = resizePil(new Uint8Array(5 * 3 * 3).fill(77), 5, 3, 3, 11, 7, f);
    assert.ok(
      out.every((v) => v === 77),
      f,
    );
  }
  // bicubic and lanczos overshoot at a step, bilinear does not
  const step = row([0, 0, 0, 255, 255, 255]);
  const bl = resizePil(step, 6, 1, 1, 12, 1, 'bilinear');
  const bc = resizePil(step, 6, 1, 1, 12, 1, 'bicubic');
  assert.ok(Math.min(...bl) === 0 && Math.max(...bl) === 255);
  assert.ok(bc.some((v) => v === 0) && [...bc].filter((v) => v > 0 && v < 255).length > 0);
});

const pil = spawnSync('/usr/bin/python3', ['-c', 'import PIL, numpy'], { encoding: 'utf8' });
const noPil =
  pil.status === 0 ? false : 'python3 with Pillow and numpy not installed (apt-get install python3-pil python3-numpy)';

test('resizePil is bit-identical to Pillow Image.resize', { skip: noPil }, () => {
  const script = `
import sys, json, base64, numpy as np
from PIL import Image
rng = np.random.default_rng(1)
out = []
for (w, h, ow, oh) in [(37, 23, 64, 64), (300, 200, 64, 48), (50, 50, 50, 80), (13, 7, 5, 3), (96, 96, 112, 112), (100, 60, 60, 100)]:
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    for name, rs in [('nearest', Image.NEAREST), ('bilinear', Image.BILINEAR), ('bicubic', Image.BICUBIC), ('lanczos', Image.LANCZOS)]:
        o = np.array(Image.fromarray(a, 'RGB').resize((ow, oh), rs))
        out.append(dict(w=w, h=h, ow=ow, oh=oh, f=name, src=base64.b64encode(a.tobytes()).decode(), out=base64.b64encode(o.tobytes()).decode()))
with open(sys.argv[1], 'w') as f:
    json.dump(out, f)
`;
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'pil.json');
    const r = spawnSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const cases = JSON.parse(readFileSync(file, 'utf8')) as {
      w: number;
      h: number;
      ow: number;
      oh: number;
      f: ResampleFilter;
      src: string;
      out: string;
    }[];
    assert.equal(cases.length, 24);
    for (const c of cases) {
      const want = Buffer.from(c.out, 'base64');
      const got = resizePil(new Uint8Array(Buffer.from(c.src, 'base64')), c.w, c.h, 3, c.ow, c.oh, c.f);
      assert.equal(got.length, want.length);
      let diff = 0;
      for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) diff++;
      assert.equal(diff, 0, `${c.w}×${c.h}→${c.ow}×${c.oh} ${c.f}: ${diff} values differ from Pillow`);
    }
  } finally {
    cleanup();
  }
});

test("resampler 'sharp' (libvips) gives the same shape and close values on downscales", async () => {
  const r = new Rng(2);
  const img = grayImage(96, 80, (x, y) => Math.round(127 + 60 * Math.sin(x / 9) * Math.cos(y / 7) + r.normal() * 3));
  const spec: PreprocessSpec = {
    size: [32, 32],
    resize: 'shortest-edge',
    interpolation: 'bicubic',
    crop: 'center',
    ...ID,
  };
  const a = await preprocessImage(img, spec);
  const b = await preprocessImage(img, { ...spec, resampler: 'sharp' });
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  assert.ok(sum / a.length < 3, `mean |pil − sharp| = ${sum / a.length}`);
});

test('preprocessImage runs in a worker thread with the same result', async () => {
  const img = grayImage(50, 30, (x, y) => (x * 7 + y * 3) % 256);
  const spec: PreprocessSpec = {
    size: [16, 16],
    resize: 'shortest-edge',
    resizeTo: 20,
    interpolation: 'lanczos',
    crop: 'center',
    rescale: 1 / 255,
    mean: [0.4, 0.4, 0.4],
    std: [0.2, 0.2, 0.2],
    channels: 'rgb',
  };
  const main = await preprocessImage(img, spec);
  const mod = pathToFileURL(join(PROJECT_ROOT, 'src/workbench/models/preprocess.ts')).href;
  // a worker gets its own module loader: register tsx there as the embedding pipeline's workers do
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `const { parentPort, workerData } = require('node:worker_threads');
import(workerData.tsx).then((t) => { t.register(); return import(workerData.mod); })
  .then(async (m) => parentPort.postMessage(await m.preprocessImage(workerData.img, workerData.spec)));`;
  const worker = new Worker(code, { eval: true, workerData: { mod, tsx, img, spec } });
  try {
    const got = await new Promise<Float32Array>((res, rej) => {
      worker.once('message', res);
      worker.once('error', rej);
    });
    assert.deepEqual([...got], [...main]);
  } finally {
    await worker.terminate();
  }
});
