import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { computeKnnTable, knnTableCached, readKnnTable } from '../../src/workbench/knn/index.js';
import { exactSearchPlain, type IndexParams } from '../../src/workbench/search/index.js';
import { CbirError } from '../../src/workbench/errors.js';
import type { ProgressEvent } from '../../src/workbench/util/progress.js';
import { tempDir } from '../helpers/datasets.js';
import { clustered, compareTopK } from '../search/vectors.js';

const dim = 24;
const { x } = clustered(1200, dim, 8, 0.7, 3);
const range = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);
const train = range(0, 800),
  val = range(800, 1000),
  testRows = range(1000, 1200);

function gather(rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(x.subarray(r * dim, (r + 1) * dim), i * dim));
  return out;
}

test('computeKnnTable: neighbours of the test rows among the train rows, as manifest row ids', async () => {
  const events: ProgressEvent[] = [];
  const table = await computeKnnTable({
    embeddings: x,
    dim,
    indexRows: train,
    queryRows: testRows,
    k: 20,
    onProgress: (e) => events.push(e),
  });
  assert.equal(table.k, 20);
  assert.equal(table.ids.length, 200 * 20);
  const ref = exactSearchPlain(gather(train), dim, gather(testRows), 20, train);
  assert.deepEqual(compareTopK(ref, { ids: table.ids, sims: table.sims, k: 20 }, 2e-6).problems, []);
  for (const id of table.ids) assert.ok(id >= 0 && id < 800, `neighbour ${id} is not a train row`);
  const last = events.filter((e) => e.unit === 'queries').at(-1);
  assert.ok(last && last.done === 200 && last.total === 200, 'search progress reaches 200/200');
  assert.equal(table.meta.index.kind, 'exact');
  // k = 100 by default, clamped to a small index
  const small = await computeKnnTable({ embeddings: x, dim, indexRows: range(0, 30), queryRows: range(30, 35) });
  assert.equal(small.k, 30);
  assert.equal(small.meta.requestedK, 100);
});

test('knnTableCached: second call reads the cache; changed inputs miss it', async () => {
  const { dir, cleanup } = tempDir();
  try {
    let progress = 0;
    const base = {
      cacheDir: dir,
      embeddings: x,
      dim,
      indexRows: train,
      queryRows: testRows,
      k: 15,
      embeddingsHash: 'emb-aaa',
      manifestHash: 'man-1',
      split: 'test',
      indexSplit: 'train',
      index: { kind: 'exact' } as IndexParams,
      onProgress: () => {
        progress++;
      },
    };
    const first = await knnTableCached(base);
    assert.equal(first.cached, false);
    assert.ok(progress > 0);
    const seen = progress;
    const second = await knnTableCached(base);
    assert.equal(second.cached, true);
    assert.equal(progress, seen, 'a cache hit does not recompute (no progress events)');
    assert.equal(second.dir, first.dir);
    assert.deepEqual(second.table.ids, first.table.ids);
    assert.deepEqual(second.table.sims, first.table.sims);
    assert.deepEqual(second.table.queryRows, testRows);
    assert.deepEqual(second.table.indexRows, train);
    const meta = JSON.parse(readFileSync(join(first.dir, 'meta.json'), 'utf8'));
    assert.equal(meta.embeddingsHash, 'emb-aaa');
    assert.equal(meta.manifestHash, 'man-1');
    assert.equal(meta.k, 15);
    assert.equal(meta.index.kind, 'exact');
    assert.equal(meta.queryRows.length, 200);
    assert.equal(meta.indexRows[799], 799);

    const misses = [
      { ...base, k: 16 },
      { ...base, queryRows: val, split: 'val' },
      { ...base, embeddingsHash: 'emb-bbb' },
      { ...base, manifestHash: 'man-2' },
      { ...base, index: { kind: 'hnsw' as const, threads: 2 } },
      { ...base, index: { kind: 'hnsw' as const, threads: 2, expansionSearch: 200 } },
    ];
    const dirs = new Set([first.dir]);
    for (const m of misses) {
      const r = await knnTableCached(m);
      assert.equal(
        r.cached,
        false,
        JSON.stringify({ k: m.k, split: m.split, emb: m.embeddingsHash, man: m.manifestHash, index: m.index }),
      );
      dirs.add(r.dir);
    }
    assert.equal(dirs.size, misses.length + 1, 'each input set has its own folder');
    // the exact search backend / threads do not change the key
    assert.equal(
      (await knnTableCached({ ...base, index: { kind: 'exact', backend: 'plain', threads: 1 } })).cached,
      true,
    );
    // a damaged table is recomputed, not trusted
    writeFileSync(join(first.dir, 'ids.i32'), new Uint8Array(12));
    const again = await knnTableCached(base);
    assert.equal(again.cached, false);
    assert.deepEqual(again.table.ids, first.table.ids);
    assert.equal((await knnTableCached(base)).cached, true);
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temporary folders left');
  } finally {
    cleanup();
  }
});

test('readKnnTable round trip and errors naming the file', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = await knnTableCached({
      cacheDir: dir,
      embeddings: x,
      dim,
      indexRows: train,
      queryRows: val,
      k: 5,
      embeddingsHash: 'h',
      split: 'val',
    });
    const t = await readKnnTable(r.dir);
    assert.deepEqual(t.ids, r.table.ids);
    assert.deepEqual(t.sims, r.table.sims);
    assert.equal(t.meta.split, 'val');
    await assert.rejects(
      () => readKnnTable(join(dir, 'nope')),
      (e: unknown) => e instanceof CbirError && /meta\.json/.test(e.message),
    );
    writeFileSync(join(r.dir, 'sims.f32'), new Uint8Array(8));
    await assert.rejects(
      () => readKnnTable(r.dir),
      (e: unknown) => e instanceof CbirError && /sims\.f32/.test(e.message) && /recomputed/.test(e.message),
    );
  } finally {
    cleanup();
  }
});

test('rowIds map manifest rows to a partial embedding store; a missing row is a clear error', async () => {
  // embeddings exist for manifest rows 0..1199 except 1000..1009, stored in reverse order
  const keep = [...range(0, 1200)].filter((r) => r < 1000 || r >= 1010).reverse();
  const rowIds = Int32Array.from(keep);
  const emb = gather(rowIds);
  const q = range(1010, 1200);
  const t = await computeKnnTable({ embeddings: emb, dim, rowIds, indexRows: train, queryRows: q, k: 10 });
  const ref = await computeKnnTable({ embeddings: x, dim, indexRows: train, queryRows: q, k: 10 });
  assert.deepEqual(compareTopK(ref, t, 2e-6).problems, []);
  await assert.rejects(
    () => computeKnnTable({ embeddings: emb, dim, rowIds, indexRows: train, queryRows: range(1000, 1020) }),
    (e: unknown) => e instanceof CbirError && /query row 1000/.test(e.message) && /embed/.test(e.message),
  );
});

test('HNSW k-NN table is close to the exact one', async () => {
  const exact = await computeKnnTable({ embeddings: x, dim, indexRows: train, queryRows: testRows, k: 10 });
  const approx = await computeKnnTable({
    embeddings: x,
    dim,
    indexRows: train,
    queryRows: testRows,
    k: 10,
    index: { kind: 'hnsw', threads: 2 },
  });
  let hit = 0;
  for (let q = 0; q < 200; q++) {
    const want = new Set(exact.ids.subarray(q * 10, q * 10 + 10));
    for (let j = 0; j < 10; j++) if (want.has(approx.ids[q * 10 + j])) hit++;
  }
  assert.ok(hit / 2000 >= 0.95, `recall@10 ${hit / 2000}`);
  assert.equal(approx.meta.index.kind, 'hnsw');
  assert.equal(approx.meta.index.connectivity, 16);
});
