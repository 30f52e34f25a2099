import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/datasets.js';
import { makeDataset } from './fixtures.js';
import type { Manifest } from '../../src/workbench/data/manifest.js';
import { embedManifest } from '../../src/workbench/embeddings/pipeline.js';
import { importH5, loadH5wasm } from '../../src/workbench/embeddings/hdf5.js';
import { CONSTANT_TOL, checkEmbeddingRows, RowCheck } from '../../src/workbench/embeddings/degenerate.js';
import { GraphBuilder } from '../../src/workbench/onnx/builder.js';
import { builtinCard } from '../../src/workbench/models/builtin/index.js';
import { loadOnnxExtractor } from '../../src/workbench/models/onnx/extractor.js';
import { CbirError } from '../../src/workbench/errors.js';

let tmp: { dir: string; cleanup: () => void };
let manifest: Manifest;

before(async () => {
  tmp = tempDir('cbir-degenerate-');
  manifest = await makeDataset(tmp.dir, { count: 30, size: 32 });
});
after(() => tmp.cleanup());

/** Independent reference: the row indices that are non-finite, zero-norm, and whether all others share one direction. */
function reference(rows: number[][]): { nonFinite: number[]; zero: number[]; constant: boolean } {
  const nonFinite = rows.flatMap((r, i) => (r.some((v) => !Number.isFinite(v)) ? [i] : []));
  const zero = rows.flatMap((r, i) => (!nonFinite.includes(i) && Math.hypot(...r) < 1e-12 ? [i] : []));
  const units = rows
    .filter((_, i) => !nonFinite.includes(i) && !zero.includes(i))
    .map((r) => r.map((v) => v / Math.hypot(...r)));
  const constant = units.length >= 2 && units.every((u) => u.every((v, k) => Math.abs(v - units[0][k]) <= 1e-6));
  return { nonFinite, zero, constant };
}

test('degenerate-row check agrees with an independent reference on hand-made cases', () => {
  const cases: number[][][] = [
    [
      [1, 2, 3],
      [0, 0, 0],
      [3, 1, 0],
    ],
    [
      [1, 2, 3],
      [2, 4, 6],
      [0.5, 1, 1.5],
    ], // one direction, three scales: constant
    [
      [1, 2, 3],
      [1, 2, 3 + 1e-3],
    ], // differ by more than the tolerance
    [
      [1, NaN, 3],
      [0, 0, 0],
      [1, 1, 1],
    ],
    [
      [1e-13, 0, 0],
      [0, 1, 0],
    ], // below ZERO_NORM
    [[5, 5, 5]], // one row is never "constant"
  ];
  for (const rows of cases) {
    const ref = reference(rows);
    const f = checkEmbeddingRows(Float32Array.from(rows.flat()), 3);
    if (ref.nonFinite.length)
      assert.deepEqual(f, { kind: 'non-finite', rows: ref.nonFinite, count: ref.nonFinite.length });
    else if (ref.zero.length) assert.deepEqual(f, { kind: 'zero-norm', rows: ref.zero, count: ref.zero.length });
    else if (ref.constant) assert.equal(f?.kind, 'constant');
    else assert.equal(f, null, JSON.stringify(rows));
  }
  // blocks added in pieces give the same answer, and rows are numbered as given
  const c = new RowCheck(2);
  c.add(Float32Array.from([1, 0, 1, 0]), 10);
  c.add(Float32Array.from([0, 0, 2, 0]), 12);
  assert.deepEqual(c.finding(true), { kind: 'zero-norm', rows: [12], count: 1 });
  // the same vector for identical images is not a finding
  assert.equal(checkEmbeddingRows(Float32Array.from([1, 1, 1, 1]), 2, false), null);
  assert.ok(CONSTANT_TOL === 1e-6);
});

/** A project-built ONNX model whose output ignores the image: zeros, or a constant vector. */
function writeModel(dir: string, name: string, constant: number[] | null): string {
  const g = new GraphBuilder(name);
  const x = g.input('pixel_values', 'float32', ['batch', 3, 64, 64]);
  const mean = g.op('ReduceMean', [x], { axes: { ints: [2, 3] }, keepdims: { int: 0 } });
  const zero = g.op('Mul', [mean, g.initializer('zeros', new Float32Array(3), [3])]);
  if (constant) g.node('Add', [zero, g.initializer('c', Float32Array.from(constant), [3])], ['feat']);
  else g.node('Identity', [zero], ['feat']);
  g.output('feat', 'float32', ['batch', 3]);
  const file = join(dir, `${name}.onnx`);
  writeFileSync(file, g.toBytes());
  return file;
}

async function modelExtractor(name: string, constant: number[] | null) {
  const file = writeModel(tmp.dir, name, constant);
  const card = {
    ...builtinCard('tiny-cnn')!,
    id: name,
    builtin: false,
    onnx: { file: `${name}.onnx`, input: 'pixel_values', output: 'feat' },
    pooling: 'none' as const,
    dim: 3,
  };
  return loadOnnxExtractor(card, { modelPath: file });
}

test('an ONNX model with all-zero output is refused at its first batch, naming rows and files', async () => {
  const ex = await modelExtractor('zero-model', null);
  const out = join(tmp.dir, 'zero');
  try {
    for (const workers of [0, 1]) {
      await assert.rejects(
        embedManifest({ manifest, extractor: ex, out, batchSize: 8, workers, force: true }),
        (e: CbirError) => {
          assert.ok(e instanceof CbirError, String(e));
          assert.equal(e.code, 'embed/zero-norm');
          assert.match(e.message, /zero-norm embeddings .* for 8 of 8 images in the batch of rows 1–8/);
          assert.match(e.message, /model "zero-model"/);
          assert.match(
            e.message,
            /manifest row 1 \("brainset\/c0\/img000\.png"\), manifest row 2 .*, manifest row 3 .* and 5 more/,
          );
          assert.equal(e.file, manifest.resolvePath(0));
          assert.ok(e.hint && /output name or pooling/.test(e.hint));
          return true;
        },
      );
    }
    assert.ok(!existsSync(join(out, 'meta.json')), 'no store is written');
  } finally {
    await ex.close();
  }
});

test('an ONNX model with constant output is refused (at the end of a small run, early in a large one)', async () => {
  const ex = await modelExtractor('const-model', [1, 2, 3]);
  try {
    const out = join(tmp.dir, 'const');
    await assert.rejects(embedManifest({ manifest, extractor: ex, out, batchSize: 8, workers: 0 }), (e: CbirError) => {
      assert.ok(e instanceof CbirError, String(e));
      assert.equal(e.code, 'embed/constant');
      assert.match(e.message, /same embedding .* for all 30 images although their contents differ/);
      assert.match(e.message, /manifest row 1 \("brainset\/c0\/img000\.png"\)/);
      return true;
    });
    assert.ok(!existsSync(join(out, 'meta.json')), 'no store marked complete');
    // 72 distinct images, batches of 8: stopped once 64 have given the same vector, before the last batch
    const t = tempDir('cbir-const-');
    try {
      const big = await makeDataset(t.dir, { count: 72, size: 24, seed: 4 });
      const dir = join(t.dir, 'store');
      await assert.rejects(embedManifest({ manifest: big, extractor: ex, out: dir, batchSize: 8, workers: 0 }), {
        code: 'embed/constant',
      });
      const journal = readFileSync(join(dir, 'partial', 'journal.jsonl'), 'utf8')
        .trim()
        .split('\n');
      assert.equal(journal.length, 7, 'stopped at the 8th of 9 batches');
    } finally {
      t.cleanup();
    }
  } finally {
    await ex.close();
  }
});

/** Write `<dataset>.h5` files holding the given vector for each manifest row. */
async function writeH5(dir: string, m: Manifest, vectorOf: (i: number) => Float32Array): Promise<string> {
  const lib = await loadH5wasm();
  const files = new Map<string, InstanceType<typeof lib.File>>();
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < m.size; i++) {
    const ds = m.datasets[m.datasetIndex[i]];
    if (!files.has(ds)) files.set(ds, new lib.File(join(dir, `${ds}.h5`), 'w'));
    const f = files.get(ds)!;
    const parts = m.filepaths[i].split('/');
    for (let p = 1; p < parts.length; p++) {
      const g = parts.slice(0, p).join('/');
      if (f.get(g) === null) f.create_group(g);
    }
    f.create_dataset({ name: m.filepaths[i], data: vectorOf(i), shape: [4], dtype: '<f' });
  }
  for (const f of files.values()) f.close();
  return dir;
}

test('HDF5 import refuses zero vectors and a constant vector, naming them and their files', async () => {
  const good = (i: number) => Float32Array.from([1, i, (i * 7) % 5, 2]);
  const zeroRows = new Set([4, 9, 17, 22]);
  const h5a = await writeH5(join(tmp.dir, 'h5-zero'), manifest, (i) =>
    zeroRows.has(i) ? new Float32Array(4) : good(i),
  );
  await assert.rejects(importH5({ manifest, from: h5a, out: join(tmp.dir, 'imp-zero') }), (e: CbirError) => {
    assert.ok(e instanceof CbirError, String(e));
    assert.equal(e.code, 'h5/zero-norm');
    assert.match(e.message, /zero-norm embeddings .* from the HDF5 files for 4 of 30 images/);
    assert.match(e.message, /"brainset\/c0\/img004\.png" \(manifest row 5\), .* and 1 more/);
    assert.ok(e.file!.endsWith('brainset.h5'));
    return true;
  });
  assert.ok(!existsSync(join(tmp.dir, 'imp-zero', 'meta.json')));
  const h5b = await writeH5(join(tmp.dir, 'h5-const'), manifest, () => Float32Array.from([0.5, 0.5, 0.5, 0.5]));
  await assert.rejects(importH5({ manifest, from: h5b, out: join(tmp.dir, 'imp-const') }), { code: 'h5/constant' });
  const h5c = await writeH5(join(tmp.dir, 'h5-ok'), manifest, good);
  const r = await importH5({ manifest, from: h5c, out: join(tmp.dir, 'imp-ok') });
  assert.equal(r.found, 30);
  assert.equal(r.renormalized, 30);
});
