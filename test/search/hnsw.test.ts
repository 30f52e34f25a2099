import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildIndex, loadIndex, exactSearchPlain, HnswIndex } from '../../src/workbench/search/index.js';
import { CbirError } from '../../src/workbench/errors.js';
import { tempDir } from '../helpers/datasets.js';
import { clustered, orderViolation, randomUnit } from './vectors.js';

function recallAt(exact: { ids: Int32Array; k: number }, approx: { ids: Int32Array; k: number }, k: number): number {
  let hit = 0,
    total = 0;
  const nq = exact.ids.length / exact.k;
  for (let q = 0; q < nq; q++) {
    const want = new Set(exact.ids.subarray(q * exact.k, q * exact.k + k));
    for (let j = 0; j < k; j++) if (want.has(approx.ids[q * approx.k + j])) hit++;
    total += k;
  }
  return hit / total;
}

const dim = 32;
const data = clustered(4000, dim, 20, 0.8, 7);
const queries = clustered(200, dim, 20, 0.8, 8).x;
const exact = exactSearchPlain(data.x, dim, queries, 10);

test('HNSW recall@10 ≥ 0.95 against exact search on a small clustered set', async () => {
  const index = await buildIndex(data.x, dim, {
    kind: 'hnsw',
    connectivity: 16,
    expansionAdd: 128,
    expansionSearch: 128,
    threads: 2,
  });
  assert.equal(index.size, 4000);
  const got = await index.search(queries, 10);
  const recall = recallAt(exact, got, 10);
  assert.ok(recall >= 0.95, `recall@10 = ${recall}`);
  assert.equal(orderViolation(got), '');
  // similarities are inner products of the returned rows
  for (let j = 0; j < 10; j++) {
    const id = got.ids[j];
    let s = 0;
    for (let c = 0; c < dim; c++) s += queries[c] * data.x[id * dim + c];
    assert.ok(Math.abs(s - got.sims[j]) < 1e-5, `sim of ${id}: ${got.sims[j]} vs ${s}`);
  }
});

test('HNSW keys are the given ids; k beyond the size is clamped and unfound slots are -1', async () => {
  const x = randomUnit(60, dim, 9);
  const rows = Int32Array.from({ length: 30 }, (_, i) => 2 * i);
  const ids = Int32Array.from({ length: 30 }, (_, i) => 1000 + 3 * i);
  const index = await buildIndex(x, dim, { kind: 'hnsw', threads: 2 }, { rows, ids });
  const r = await index.search(x.subarray(0, 2 * dim), 100);
  assert.equal(r.k, 30);
  assert.equal(r.ids[0], 1000, 'row 0 finds itself under its id');
  for (const id of r.ids) assert.ok(id === -1 || (id >= 1000 && (id - 1000) % 3 === 0), `unexpected id ${id}`);
  for (let i = 0; i < r.ids.length; i++) if (r.ids[i] === -1) assert.equal(r.sims[i], -Infinity);
  const one = await index.search(x.subarray(2 * dim, 3 * dim), 5); // a single query (usearch answers it differently)
  assert.equal(one.queries, 1);
  assert.equal(one.ids[0], 1003);
  assert.equal((await index.search(new Float32Array(0), 5)).ids.length, 0);
  await assert.rejects(() => buildIndex(x, dim, { kind: 'hnsw', connectivity: 0 }), CbirError);
});

test('HNSW save / load / view round trip, with expansionSearch override', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const index = await buildIndex(data.x, dim, {
      kind: 'hnsw',
      connectivity: 12,
      expansionAdd: 64,
      expansionSearch: 32,
      threads: 2,
    });
    const want = await index.search(queries, 10);
    const file = join(dir, 'graph.usearch');
    await index.save(file);
    assert.ok(existsSync(`${file}.json`));
    for (const view of [false, true]) {
      const again = await loadIndex(file, { view });
      assert.ok(again instanceof HnswIndex);
      assert.equal(again.size, 4000);
      assert.equal(again.params.connectivity, 12);
      assert.equal(again.params.expansionSearch, 32);
      const got = await again.search(queries, 10);
      assert.deepEqual(got.ids, want.ids, `view=${view}`);
      assert.deepEqual(got.sims, want.sims, `view=${view}`);
    }
    const wide = await loadIndex(file, { expansionSearch: 256 });
    assert.equal(wide.params.expansionSearch, 256);
    assert.ok(recallAt(exact, await wide.search(queries, 10), 10) >= recallAt(exact, want, 10));
    rmSync(`${file}.json`);
    await assert.rejects(
      () => loadIndex(file),
      (e: unknown) => e instanceof CbirError && /not a radcbir index/.test(e.message),
    );
  } finally {
    cleanup();
  }
});
