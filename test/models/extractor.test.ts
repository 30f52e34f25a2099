import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  buildTinyCnn,
  buildTinySam,
  buildTinyVit,
  TINY_CNN,
  TINY_SAM,
  TINY_VIT,
} from '../../src/workbench/models/builtin/graphs.js';
import {
  BUILTIN_CARDS,
  builtinCard,
  builtinGraphBytes,
  ensureBuiltinGraph,
} from '../../src/workbench/models/builtin/index.js';
import { loadCard } from '../../src/workbench/models/cards.js';
import { GraphBuilder } from '../../src/workbench/onnx/builder.js';
import { cudaAvailable, loadOnnxExtractor } from '../../src/workbench/models/onnx/extractor.js';
import { preprocessImage } from '../../src/workbench/models/preprocess.js';
import { poolOutput } from '../../src/workbench/models/pooling.js';
import type { ModelCard } from '../../src/workbench/models/types.js';
import { isCbirError } from '../../src/workbench/errors.js';
import { sha256 } from '../../src/workbench/util/fsx.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { tempDir } from '../helpers/datasets.js';
import { refTinyCnn, refTinySam, refTinyVit } from './reference.js';

const N = 3;
const S = 64;
const rng = new Rng(7);
const input = new Float32Array(N * 3 * S * S).map(() => rng.normal());
const image = (b: number) => Float64Array.from(input.subarray(b * 3 * S * S, (b + 1) * 3 * S * S));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const memo = new Map<string, unknown>();
function once<T>(key: string, f: () => T): T {
  if (!memo.has(key)) memo.set(key, f());
  return memo.get(key) as T;
}
const vitRef = (b: number) =>
  once(`vit${b}`, () =>
    refTinyVit(
      once('vitw', () => buildTinyVit().weights),
      TINY_VIT,
      image(b),
    ),
  );
const cnnRef = (b: number) =>
  once(`cnn${b}`, () =>
    refTinyCnn(
      once('cnnw', () => buildTinyCnn().weights),
      TINY_CNN,
      image(b),
    ),
  );
const samRef = (b: number) =>
  once(`sam${b}`, () =>
    refTinySam(
      once('samw', () => buildTinySam().weights),
      TINY_SAM,
      image(b),
    ),
  );

/** Reference embedding of each built-in card, from the independent forward passes. */
function referenceEmbeddings(card: ModelCard): Float64Array {
  const out = new Float64Array(N * card.dim);
  for (let b = 0; b < N; b++) {
    let e: ArrayLike<number>;
    if (card.id === 'tiny-vit' || card.id === 'tiny-vit-mean' || card.id === 'tiny-clip') {
      const r = vitRef(b);
      const D = TINY_VIT.dim;
      if (card.pooling === 'cls-token') e = r.lhs.subarray(0, D);
      else if (card.pooling === 'projected') e = r.embeds;
      else {
        const p = card.onnx.prefixTokens ?? 1;
        const m = new Float64Array(D);
        for (let t = p; t < r.T; t++) for (let d = 0; d < D; d++) m[d] += r.lhs[t * D + d] / (r.T - p);
        e = m;
      }
    } else if (card.id.startsWith('tiny-cnn')) {
      const r = cnnRef(b);
      e = card.pooling === 'logits' ? r.logits : r.pooled;
    } else {
      const r = samRef(b);
      const C = TINY_SAM.neckDim,
        G = r.grid * r.grid;
      const m = new Float64Array(C);
      for (let c = 0; c < C; c++) for (let i = 0; i < G; i++) m[c] += r.emb[c * G + i] / G;
      e = m;
    }
    out.set(e, b * card.dim);
  }
  return out;
}

test('built-in graphs match an independent float64 forward pass (raw outputs)', async () => {
  const x = new ort.Tensor('float32', input, [N, 3, S, S]);
  const vit = await ort.InferenceSession.create(builtinGraphBytes('tiny-vit'));
  const cnn = await ort.InferenceSession.create(builtinGraphBytes('tiny-cnn'));
  const sam = await ort.InferenceSession.create(builtinGraphBytes('tiny-sam'));
  try {
    const v = await vit.run({ pixel_values: x });
    const c = await cnn.run({ pixel_values: x });
    const s = await sam.run({ pixel_values: x });
    assert.deepEqual(v.last_hidden_state.dims, [N, 1 + (S / TINY_VIT.patch) ** 2, TINY_VIT.dim]);
    assert.deepEqual(s.image_embeddings.dims, [N, TINY_SAM.neckDim, S / TINY_SAM.patch, S / TINY_SAM.patch]);
    for (let b = 0; b < N; b++) {
      const rv = vitRef(b);
      const L = rv.lhs.length;
      assert.ok(
        maxAbsDiff((v.last_hidden_state.data as Float32Array).subarray(b * L, (b + 1) * L), rv.lhs) < 2e-3,
        'tiny-vit last_hidden_state',
      );
      assert.ok(
        maxAbsDiff(
          (v.image_embeds.data as Float32Array).subarray(b * TINY_VIT.projDim, (b + 1) * TINY_VIT.projDim),
          rv.embeds,
        ) < 2e-3,
        'tiny-vit image_embeds',
      );
      const rc = cnnRef(b);
      const C = rc.pooled.length,
        K = rc.logits.length;
      assert.ok(
        maxAbsDiff((c.pooled.data as Float32Array).subarray(b * C, (b + 1) * C), rc.pooled) < 2e-3,
        'tiny-cnn pooled',
      );
      assert.ok(
        maxAbsDiff((c.logits.data as Float32Array).subarray(b * K, (b + 1) * K), rc.logits) < 2e-3,
        'tiny-cnn logits',
      );
      const rs = samRef(b);
      const E = rs.emb.length;
      assert.ok(
        maxAbsDiff((s.image_embeddings.data as Float32Array).subarray(b * E, (b + 1) * E), rs.emb) < 2e-3,
        'tiny-sam image_embeddings',
      );
    }
  } finally {
    await Promise.all([vit.release(), cnn.release(), sam.release()]);
  }
});

test('every pooling path of the built-in cards matches the reference computation', async () => {
  const seen = new Set<string>();
  for (const card of BUILTIN_CARDS) {
    seen.add(card.pooling);
    const ex = await loadOnnxExtractor(card, { batchSize: 2 }); // 2 < N: also exercises batching
    try {
      const got = await ex.embedTensor(input, N);
      assert.equal(got.length, N * card.dim, card.id);
      const want = referenceEmbeddings(card);
      const d = maxAbsDiff(got, want);
      assert.ok(d < 2e-3, `${card.id} (${card.pooling}): max |diff| ${d}`);
    } finally {
      await ex.close();
    }
  }
  assert.deepEqual([...seen].sort(), ['cls-token', 'logits', 'mean-patch-tokens', 'mean-spatial', 'none', 'projected']);
});

test('poolOutput: hand-computed cases and shape errors', () => {
  // [B=1, T=3, D=2]
  const tok = Float32Array.from([1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...poolOutput(tok, [1, 3, 2], 'cls-token').out], [1, 2]);
  assert.deepEqual([...poolOutput(tok, [1, 3, 2], 'mean-patch-tokens', 1).out], [4, 5]);
  assert.deepEqual([...poolOutput(tok, [1, 3, 2], 'mean-patch-tokens', 2).out], [5, 6]);
  // [B=1, C=2, H=1, W=3]
  assert.deepEqual([...poolOutput(tok, [1, 2, 1, 3], 'mean-spatial').out], [2, 5]);
  assert.deepEqual([...poolOutput(tok, [2, 3], 'projected').out], [1, 2, 3, 4, 5, 6]);
  assert.throws(() => poolOutput(tok, [2, 3], 'cls-token'), /rank-3/);
  assert.throws(() => poolOutput(tok, [1, 3, 2], 'mean-patch-tokens', 3), /no patch tokens/);
});

test('embed(images) = preprocess + embedTensor, and batching does not change results', async () => {
  const card = builtinCard('tiny-clip')!;
  const r = new Rng(3);
  const imgs = [40, 90, 64].map((w, i) => {
    const h = 50 + 10 * i;
    return {
      width: w,
      height: h,
      channels: 3 as const,
      data: new Uint8Array(w * h * 3).map(() => r.int(256)),
      grayscale: false,
    };
  });
  const a = await loadOnnxExtractor(card, { batchSize: 1 });
  const b = await loadOnnxExtractor(card, { batchSize: 16 });
  try {
    const e1 = await a.embed(imgs);
    const e2 = await b.embed(imgs);
    assert.ok(maxAbsDiff(e1, e2) < 1e-5);
    const len = 3 * 64 * 64;
    const x = new Float32Array(imgs.length * len);
    for (let i = 0; i < imgs.length; i++) await preprocessImage(imgs[i], card.preprocess, x, i * len);
    assert.ok(maxAbsDiff(await b.embedTensor(x, imgs.length), e2) < 1e-6);
    assert.equal(a.fingerprint, b.fingerprint);
    await assert.rejects(b.embedTensor(new Float32Array(10), 1), /expected 1 × 12288/);
  } finally {
    await a.close();
    await b.close();
  }
});

test('built-in graph bytes are deterministic and the cache file is stable', async () => {
  assert.equal(sha256(buildTinyVit().bytes), sha256(buildTinyVit().bytes));
  assert.equal(sha256(buildTinyCnn().bytes), sha256(buildTinyCnn().bytes));
  assert.equal(sha256(buildTinySam().bytes), sha256(buildTinySam().bytes));
  const { dir, cleanup } = tempDir();
  try {
    const p = await ensureBuiltinGraph('tiny-sam', dir);
    const m1 = statSync(p).mtimeMs;
    assert.equal(await ensureBuiltinGraph('tiny-sam', dir), p);
    assert.equal(statSync(p).mtimeMs, m1, 'an up-to-date cache file is not rewritten');
    writeFileSync(p, 'stale');
    await ensureBuiltinGraph('tiny-sam', dir);
    assert.equal(sha256(readFileSync(p)), sha256(builtinGraphBytes('tiny-sam')), 'a stale cache file is replaced');
  } finally {
    cleanup();
  }
});

test('a model that does not match its card fails at load, naming both files and what each says', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const onnx = await ensureBuiltinGraph('tiny-vit', dir);
    const base = builtinCard('tiny-vit')!;
    const write = (patch: (c: ModelCard) => void) => {
      const c = JSON.parse(JSON.stringify(base)) as ModelCard;
      c.builtin = false;
      c.id = 'wrong';
      patch(c);
      const f = join(dir, 'wrong.json');
      writeFileSync(f, JSON.stringify(c, null, 2));
      return { card: loadCard(f), file: f };
    };
    const cases: [string, (c: ModelCard) => void, RegExp][] = [
      [
        'dim',
        (c) => {
          c.dim = 99;
        },
        /dim 99.*\[batch, 65, 48\]/,
      ],
      [
        'size',
        (c) => {
          c.preprocess.size = [96, 96];
          c.preprocess.resizeTo = 96;
        },
        /height 96.*\[batch, 3, 64, 64\]/,
      ],
      [
        'channels',
        (c) => {
          c.preprocess.channels = 'gray';
        },
        /channels 1.*\[batch, 3, 64, 64\]/,
      ],
      [
        'input',
        (c) => {
          c.onnx.input = 'images';
        },
        /input is "images".*"pixel_values"/,
      ],
      [
        'output',
        (c) => {
          c.onnx.output = 'pooler_output';
        },
        /output is "pooler_output".*"last_hidden_state", "image_embeds"/,
      ],
      [
        'rank',
        (c) => {
          c.pooling = 'mean-spatial';
        },
        /rank-4 output.*\[batch, 65, 48\]/,
      ],
    ];
    for (const [what, patch, re] of cases) {
      const { card, file } = write(patch);
      await assert.rejects(loadOnnxExtractor(card, { modelPath: onnx }), (e: unknown) => {
        assert.ok(isCbirError(e), what);
        const m = (e as Error).message;
        assert.ok(m.includes(file), `${what}: names the card file: ${m}`);
        assert.ok(m.includes(onnx), `${what}: names the ONNX file: ${m}`);
        assert.match(m, re, what);
        return true;
      });
    }
  } finally {
    cleanup();
  }
});

test('a dim the graph leaves symbolic is checked on the first run', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const g = new GraphBuilder('sym');
    const x = g.input('pixel_values', 'float32', ['batch', 3, 64, 64]);
    // feat = Tile(mean over H, W, [1, ceil(max(x))]): its width depends on the data, so no
    // shape inference can fix it at load.
    const m = g.op('ReduceMean', [x], { axes: { ints: [2, 3] }, keepdims: { int: 0 } }); // opset 17: axes attribute
    const r = g.op('Cast', [g.op('Ceil', [g.op('ReduceMax', [x], { keepdims: { int: 0 } })])], { to: { int: 7 } });
    const reps = g.op('Concat', [g.constInt64([1]), g.op('Unsqueeze', [r, g.constInt64([0])])], { axis: { int: 0 } });
    g.node('Tile', [m, reps], ['feat']);
    g.output('feat', 'float32', ['batch', 'features']);
    const f = join(dir, 'sym.onnx');
    writeFileSync(f, g.toBytes());
    const card = {
      ...builtinCard('tiny-cnn')!,
      id: 'sym',
      onnx: { file: 'sym.onnx', input: 'pixel_values', output: 'feat' },
      dim: 64,
    };
    const ex = await loadOnnxExtractor(card, { modelPath: f });
    try {
      await assert.rejects(ex.embedTensor(new Float32Array(3 * 64 * 64).fill(2), 1), /dim 64.*\[1, 6\]/);
    } finally {
      await ex.close();
    }
    const ok = await loadOnnxExtractor({ ...card, dim: 6 }, { modelPath: f });
    try {
      const e = await ok.embedTensor(new Float32Array(3 * 64 * 64).fill(2), 1);
      assert.deepEqual([...e], [2, 2, 2, 2, 2, 2]);
    } finally {
      await ok.close();
    }
  } finally {
    cleanup();
  }
});

test(
  'executionProvider cuda fails clearly when this install has no CUDA',
  { skip: cudaAvailable() ? 'CUDA provider present in this install' : false },
  async () => {
    await assert.rejects(
      loadOnnxExtractor(builtinCard('tiny-cnn')!, { executionProvider: 'cuda' }),
      /CUDA is not available in this onnxruntime-node install/,
    );
  },
);
