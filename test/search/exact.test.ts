import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildIndex,
  loadIndex,
  exactSearchPlain,
  ExactIndex,
  type SearchResult,
} from '../../src/workbench/search/index.js';
import { CbirError } from '../../src/workbench/errors.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { tempDir } from '../helpers/datasets.js';
import { clustered, compareTopK, orderViolation, randomUnit } from './vectors.js';

/** Naive reference for the reference: all similarities, full sort. */
function bruteForce(x: Float32Array, dim: number, q: Float32Array, k: number, ids?: Int32Array): SearchResult {
  const n = x.length / dim,
    nq = q.length / dim,
    kk = Math.min(k, n);
  const outIds = new Int32Array(nq * kk),
    outSims = new Float32Array(nq * kk);
  for (let a = 0; a < nq; a++) {
    const s = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let c = 0; c < dim; c++) d += q[a * dim + c] * x[i * dim + c];
      s[i] = Math.fround(d);
    }
    const id = (i: number) => (ids ? ids[i] : i);
    const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => s[j] - s[i] || id(i) - id(j));
    for (let j = 0; j < kk; j++) {
      outIds[a * kk + j] = id(order[j]);
      outSims[a * kk + j] = s[order[j]];
    }
  }
  return { ids: outIds, sims: outSims, k: kk, queries: nq };
}

/** Vectors with components in {-0.5, 0, 0.5}: every inner product is exact in float32, so ties are real ties. */
function tieVectors(n: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * dim);
  for (let i = 0; i < x.length; i++) x[i] = (rng.int(3) - 1) * 0.5;
  return x;
}

test('exactSearchPlain equals a full sort, including ties and custom ids', () => {
  const x = tieVectors(300, 6, 1),
    q = tieVectors(20, 6, 2);
  const ids = new Int32Array(300);
  for (let i = 0; i < 300; i++) ids[i] = 5000 - 7 * i; // descending ids: ties must still go to the lower id
  for (const k of [1, 10, 57]) {
    const a = exactSearchPlain(x, 6, q, k, ids),
      b = bruteForce(x, 6, q, k, ids);
    assert.deepEqual(a.ids, b.ids, `ids k=${k}`);
    assert.deepEqual(a.sims, b.sims, `sims k=${k}`);
  }
  const r = randomUnit(500, 16, 3),
    qq = randomUnit(30, 16, 4);
  assert.deepEqual(exactSearchPlain(r, 16, qq, 25).ids, bruteForce(r, 16, qq, 25).ids);
});

test('onnx exact search agrees with the plain reference on random data (k=100, uneven blocks)', async () => {
  const dim = 48;
  const x = randomUnit(3000, dim, 10),
    q = randomUnit(200, dim, 11);
  const ref = exactSearchPlain(x, dim, q, 100);
  const index = await buildIndex(x, dim, {
    kind: 'exact',
    backend: 'onnx',
    indexBlock: 700,
    queryBlock: 64,
    threads: 2,
  });
  const got = await index.search(q, 100);
  assert.equal(got.k, 100);
  assert.equal(got.queries, 200);
  const { swaps, problems } = compareTopK(ref, got, 2e-6);
  assert.deepEqual(problems, []);
  assert.ok(swaps <= 4, `${swaps} near-tie swaps`);
  assert.equal(orderViolation(got), '');
  const plain = await buildIndex(x, dim, { kind: 'exact', backend: 'plain', indexBlock: 700 });
  assert.deepEqual(compareTopK(ref, await plain.search(q, 100), 2e-6).problems, []);
});

test('onnx exact search agrees with the reference on clustered data, k beyond 100', async () => {
  const dim = 64;
  const { x } = clustered(4000, dim, 12, 0.6, 20);
  const q = clustered(150, dim, 12, 0.6, 21).x;
  const ref = exactSearchPlain(x, dim, q, 250);
  const got = await (
    await buildIndex(x, dim, { kind: 'exact', backend: 'onnx', indexBlock: 1024, queryBlock: 100, threads: 2 })
  ).search(q, 250);
  const { problems } = compareTopK(ref, got, 2e-6);
  assert.deepEqual(problems, []);
  assert.equal(orderViolation(got), '');
});

test('ties go to the lower id, identically in onnx, plain and reference (shuffled ids, rows subset)', async () => {
  const dim = 8,
    n = 900;
  const x = tieVectors(n, dim, 30),
    q = tieVectors(40, dim, 31);
  const rng = new Rng(32);
  const rows = new Int32Array(600);
  for (let i = 0; i < 600; i++) rows[i] = i + 150;
  const ids = new Int32Array(600);
  for (let i = 0; i < 600; i++) ids[i] = i * 3 + 1;
  rng.shuffle(ids);
  const sub = new Float32Array(600 * dim);
  for (let i = 0; i < 600; i++) sub.set(x.subarray(rows[i] * dim, (rows[i] + 1) * dim), i * dim);
  const ref = exactSearchPlain(sub, dim, q, 60, ids);
  for (const backend of ['onnx', 'plain'] as const) {
    const index = await buildIndex(
      x,
      dim,
      { kind: 'exact', backend, indexBlock: 128, queryBlock: 16, threads: 2 },
      { rows, ids },
    );
    const got = await index.search(q, 60);
    assert.deepEqual(got.ids, ref.ids, backend);
    assert.deepEqual(got.sims, ref.sims, backend);
    assert.equal(orderViolation(got), '', backend);
  }
  // there really are ties in this data
  let ties = 0;
  for (let i = 1; i < ref.sims.length; i++) if (i % 60 && ref.sims[i] === ref.sims[i - 1]) ties++;
  assert.ok(ties > 500, `only ${ties} ties`);
});

test('k larger than the index is clamped to the index size', async () => {
  const dim = 16;
  const x = randomUnit(37, dim, 40),
    q = randomUnit(5, dim, 41);
  for (const backend of ['onnx', 'plain'] as const) {
    const r = await (await buildIndex(x, dim, { kind: 'exact', backend, indexBlock: 10 })).search(q, 100);
    assert.equal(r.k, 37);
    assert.equal(r.ids.length, 5 * 37);
    assert.deepEqual(
      [...r.ids.subarray(0, 37)].sort((a, b) => a - b),
      Array.from({ length: 37 }, (_, i) => i),
    );
    assert.deepEqual(r.ids, exactSearchPlain(x, dim, q, 100).ids);
    assert.equal(
      (await (await buildIndex(x, dim, { kind: 'exact', backend })).search(new Float32Array(0), 5)).queries,
      0,
    );
  }
});

test('bad inputs give CbirErrors that say what to do', async () => {
  const dim = 8;
  const x = randomUnit(20, dim, 50);
  await assert.rejects(
    () => buildIndex(x.subarray(0, 20 * dim - 3), dim, { kind: 'exact' }),
    (e: unknown) => e instanceof CbirError && /multiple of the dimension/.test(e.message),
  );
  const bad = x.slice();
  bad[5 * dim + 2] = NaN;
  await assert.rejects(
    () => buildIndex(bad, dim, { kind: 'exact' }),
    (e: unknown) => e instanceof CbirError && /row 5/.test(e.message) && e.hint !== undefined,
  );
  const index = await buildIndex(x, dim, { kind: 'exact' });
  await assert.rejects(() => index.search(x.subarray(0, 7), 3), CbirError);
  await assert.rejects(() => index.search(x.subarray(0, dim), 0), CbirError);
  await assert.rejects(
    () => buildIndex(x, dim, { kind: 'exact' }, { ids: Int32Array.from({ length: 20 }, (_, i) => i % 10) }),
    (e: unknown) => e instanceof CbirError && /twice/.test(e.message),
  );
  await assert.rejects(
    () => buildIndex(x, dim, { kind: 'exact' }, { rows: Int32Array.of(3, 25) }),
    (e: unknown) => e instanceof CbirError && /outside/.test(e.message),
  );
});

test('exact index save / load / view round trip', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const dim = 32;
    const x = randomUnit(2500, dim, 60),
      q = randomUnit(64, dim, 61);
    const rows = Int32Array.from({ length: 2000 }, (_, i) => i + 500);
    const index = await buildIndex(x, dim, { kind: 'exact', backend: 'onnx', indexBlock: 300, threads: 2 }, { rows });
    const want = await index.search(q, 30);
    const file = join(dir, 'flat.index');
    await index.save(file);
    assert.ok(statSync(file).size >= 2000 * dim * 4 + 2000 * 4);
    for (const view of [false, true]) {
      const again = await loadIndex(file, { view, backend: 'onnx', threads: 2 });
      assert.ok(again instanceof ExactIndex);
      assert.equal(again.size, 2000);
      assert.equal(again.dim, dim);
      const got = await again.search(q, 30);
      assert.deepEqual(got.ids, want.ids, `view=${view}`);
      assert.deepEqual(got.sims, want.sims, `view=${view}`);
      const plain = await loadIndex(file, { view, backend: 'plain' });
      assert.deepEqual(compareTopK(want, await plain.search(q, 30), 2e-6).problems, []);
      await plain.close();
      await again.close();
    }
    // a truncated file is refused with a hint
    const bytes = readFileSync(file);
    writeFileSync(join(dir, 'cut.index'), bytes.subarray(0, bytes.length - 100));
    await assert.rejects(
      () => loadIndex(join(dir, 'cut.index')),
      (e: unknown) => e instanceof CbirError && /cut\.index/.test(e.message) && /rebuild/.test(e.message),
    );
    writeFileSync(join(dir, 'junk.index'), 'hello world, not an index');
    await assert.rejects(
      () => loadIndex(join(dir, 'junk.index')),
      (e: unknown) => e instanceof CbirError && /not a radcbir index/.test(e.message),
    );
  } finally {
    cleanup();
  }
});
