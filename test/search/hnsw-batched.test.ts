/**
 * HNSW built by batched adds from blocks read from an embedding store (one batch of extra
 * memory) is the index `HnswIndex.build` makes from the whole matrix: with one thread the same
 * graph (identical results) whatever the read block size; with two threads the same recall.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADD_BATCH, HnswIndex } from '../../src/workbench/search/hnsw.js';
import { exactSearchPlain } from '../../src/workbench/search/topk.js';
import { openEmbeddings, writeEmbeddings, type EmbeddingStore } from '../../src/workbench/embeddings/index.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { rejectsCbir } from '../helpers/assert.js';
import { tempDir } from '../helpers/datasets.js';

const DIM = 12;
const N = 2 * ADD_BATCH + 1500; // the index (even rows) spans two add batches
const PARAMS = { connectivity: 8, expansionAdd: 32, expansionSearch: 48 };

function clustered(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const centres = Array.from({ length: 40 }, () => Array.from({ length: DIM }, () => rng.normal()));
  const v = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    const r = v.subarray(i * DIM, (i + 1) * DIM);
    const c = centres[rng.int(centres.length)];
    for (let d = 0; d < DIM; d++) r[d] = c[d] + 0.6 * rng.normal();
    const s = Math.hypot(...r);
    r.forEach((x, d) => (r[d] = x / s));
  }
  return v;
}

/** The even store rows, streamed from `store.rows(blockSize)` (fresh arrays, no full copy). */
async function* evenRows(store: EmbeddingStore, blockSize: number): AsyncGenerator<Float32Array> {
  for await (const { start, data } of store.rows(blockSize)) {
    const first = start % 2 === 0 ? 0 : 1;
    const n = Math.ceil((data.length / DIM - first) / 2);
    const out = new Float32Array(n * DIM);
    for (let j = 0; j < n; j++) out.set(data.subarray((first + 2 * j) * DIM, (first + 2 * j + 1) * DIM), j * DIM);
    yield out;
  }
}

function recallAt10(got: Int32Array, truth: Int32Array, nq: number): number {
  let hit = 0;
  for (let q = 0; q < nq; q++) {
    const t = new Set(truth.subarray(q * 10, q * 10 + 10));
    for (const id of got.subarray(q * 10, q * 10 + 10)) if (t.has(id)) hit++;
  }
  return hit / (nq * 10);
}

test('HNSW from store blocks (3, 1000, ADD_BATCH + 1 rows) equals the in-memory build on one thread; same recall on two', async () => {
  const t = tempDir();
  try {
    const x = clustered(N, 21);
    const ids = Array.from({ length: N }, (_, i) => `r${i}`);
    await writeEmbeddings(t.dir, x, ids, DIM, { modelId: 'toy', fingerprint: 'f', manifestHash: 'h' });
    const store = await openEmbeddings(t.dir);
    const rows = Int32Array.from({ length: Math.ceil(N / 2) }, (_, i) => 2 * i);
    const queries = clustered(300, 22);
    const built = HnswIndex.build(x, DIM, { ...PARAMS, threads: 1 }, { rows });
    const ref = await built.search(queries, 10);
    const index = new Float32Array(rows.length * DIM);
    rows.forEach((r, i) => index.set(x.subarray(r * DIM, (r + 1) * DIM), i * DIM));
    const truth = exactSearchPlain(index, DIM, queries, 10, rows);
    const refRecall = recallAt10(ref.ids, truth.ids, 300);
    assert.ok(refRecall > 0.8, `recall@10 ${refRecall}`);
    for (const blockSize of [3, 1000, ADD_BATCH + 1]) {
      const done: number[] = [];
      const streamed = await HnswIndex.fromRowBlocks(
        DIM,
        rows.length,
        evenRows(store, blockSize),
        { ...PARAMS, threads: 1 },
        (d) => done.push(d),
        rows,
      );
      assert.deepEqual(done, [ADD_BATCH, rows.length], `adds in batches of ${ADD_BATCH} (blocks of ${blockSize})`);
      const r = await streamed.search(queries, 10);
      assert.deepEqual(Array.from(r.ids), Array.from(ref.ids), `blocks of ${blockSize}`);
      assert.deepEqual(Array.from(r.sims), Array.from(ref.sims), `blocks of ${blockSize}`);
    }
    const two = await HnswIndex.fromRowBlocks(
      DIM,
      rows.length,
      evenRows(store, 1000),
      { ...PARAMS, threads: 2 },
      undefined,
      rows,
    );
    const twoBuilt = HnswIndex.build(x, DIM, { ...PARAMS, threads: 2 }, { rows });
    const a = recallAt10((await two.search(queries, 10)).ids, truth.ids, 300);
    const b = recallAt10((await twoBuilt.search(queries, 10)).ids, truth.ids, 300);
    assert.ok(Math.abs(a - b) < 0.03 && Math.abs(a - refRecall) < 0.03, `recall ${a} / ${b} / ${refRecall}`);
    await rejectsCbir(
      HnswIndex.fromRowBlocks(DIM, rows.length, evenRows(store, 1000), PARAMS, undefined, rows.subarray(1)),
      /ids for/,
      'index/bad-ids',
    );
  } finally {
    t.cleanup();
  }
});
