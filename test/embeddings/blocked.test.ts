/**
 * The blocked paths, forced tiny (CBIR_BLOCK_ROWS = 3 rows) on small data, agree exactly with the
 * default path: store reads (readAll, rows), the exact k-NN table (and an HNSW one, one thread)
 * and the report's tables. readAll's size limit fires as a CbirError, on a sparse store file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Manifest, classInfoFromName, writeManifest } from '../../src/workbench/data/manifest.js';
import { openEmbeddings, writeEmbeddings } from '../../src/workbench/embeddings/index.js';
import { blockRows, MAX_ARRAY_VALUES, VECTORS_FILE } from '../../src/workbench/embeddings/store.js';
import { computeKnnTable, type KnnTable } from '../../src/workbench/knn/index.js';
import { runReport } from '../../src/workbench/index.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { rejectsCbir } from '../helpers/assert.js';
import { tempDir } from '../helpers/datasets.js';

const DIM = 8;
const N = 151; // not a multiple of 3: the last block is partial
const classes = ['MR/brain/normal', 'MR/brain/tumor', 'CT/chest/nodule', 'CT/chest/normal'].map((c) =>
  classInfoFromName(c),
);

/** A manifest of N rows in 4 classes and clustered unit vectors (ties included: rows 0 and 1 are equal). */
function data(): { m: Manifest; vectors: Float32Array } {
  const rng = new Rng(11);
  const entries = Array.from({ length: N }, (_, i) => {
    const c = classes[i % 4];
    return {
      filepath: `d/img${i}.png`,
      dataset: i % 2 ? 'a' : 'b',
      split: (['train', 'train', 'val', 'test'] as const)[Math.floor(i / 4) % 4],
      modality: c.modality,
      anatomicRegion: c.region,
      className: c.name,
    };
  });
  const centres = Array.from({ length: 4 }, () => Array.from({ length: DIM }, () => rng.normal()));
  const vectors = new Float32Array(N * DIM);
  for (let i = 0; i < N; i++) {
    const r = vectors.subarray(i * DIM, (i + 1) * DIM);
    for (let d = 0; d < DIM; d++) r[d] = centres[i % 4][d] + 0.9 * rng.normal();
    const s = Math.hypot(...r);
    r.forEach((x, d) => (r[d] = x / s));
  }
  vectors.copyWithin(DIM, 0, DIM);
  return { m: Manifest.fromEntries(entries, classes), vectors };
}

/** Run `f` with CBIR_BLOCK_ROWS set to `rows` (restored after). */
async function withBlockRows<T>(rows: string, f: () => Promise<T>): Promise<T> {
  const before = process.env.CBIR_BLOCK_ROWS;
  process.env.CBIR_BLOCK_ROWS = rows;
  try {
    return await f();
  } finally {
    if (before === undefined) delete process.env.CBIR_BLOCK_ROWS;
    else process.env.CBIR_BLOCK_ROWS = before;
  }
}

test('CBIR_BLOCK_ROWS = 3: rows() yields 3-row blocks, readAll reads the same matrix as the default path', async () => {
  const t = tempDir();
  try {
    const { m, vectors } = data();
    await writeEmbeddings(t.dir, vectors, m.filepaths, DIM, { modelId: 'toy', fingerprint: 'f', manifestHash: m.hash });
    const s = await openEmbeddings(t.dir);
    const whole = await s.readAll();
    assert.deepEqual(whole, vectors);
    const starts: number[] = [];
    const joined = new Float32Array(N * DIM);
    await withBlockRows('3', async () => {
      assert.equal(blockRows(4096), 3, 'the variable overrides the caller');
      assert.deepEqual(await s.readAll(), whole);
      for await (const { start, data } of s.rows(1000)) {
        starts.push(start);
        assert.equal(data.length, Math.min(3, N - start) * DIM);
        joined.set(data, start * DIM);
      }
    });
    assert.deepEqual(
      starts,
      Array.from({ length: Math.ceil(N / 3) }, (_, i) => 3 * i),
    );
    assert.deepEqual(joined, vectors);
    const defaultBlocks: number[] = [];
    for await (const { start } of s.rows()) defaultBlocks.push(start);
    assert.deepEqual(defaultBlocks, [0], 'default: one block of up to 4096 rows');
    await withBlockRows('0', () => rejectsCbir(s.readAll(), /CBIR_BLOCK_ROWS must be a positive integer/));
    assert.throws(() => s.rows(-2), /block size must be a positive integer, got -2/);
  } finally {
    t.cleanup();
  }
});

test('readAll past 2^32 − 1 values is a CbirError naming the limit and the blocked reader (sparse file, nothing allocated)', async () => {
  const t = tempDir();
  try {
    const dim = 2048;
    const count = 2 ** 21; // 2^32 values: one more than a Float32Array holds
    await writeFile(join(t.dir, 'ids.txt'), 'x\n'.repeat(count));
    const fh = await open(join(t.dir, VECTORS_FILE), 'w');
    await fh.truncate(count * dim * 4); // 16 GiB, sparse: no disk, no memory
    await fh.close();
    const meta = { format: 'radcbir-embeddings', version: 1, modelId: 'big', fingerprint: 'f', dim, count };
    await writeFile(join(t.dir, 'meta.json'), JSON.stringify({ ...meta, manifestHash: 'h', contentHash: 'c' }));
    const s = await openEmbeddings(t.dir);
    assert.equal(count * dim, MAX_ARRAY_VALUES + 1);
    await rejectsCbir(
      s.readAll(),
      /2097152 rows × 2048 = 4294967296 values do not fit one Float32Array \(at most 2\^32 − 1 = 4294967295 values/,
      'embeddings/too-large',
    );
    await s.readAll().catch((e) => assert.match(e.hint, /rows\(blockSize\)/));
    // the blocked reader still works on it: the first block is there (zeros of the sparse file)
    for await (const { start, data } of s.rows(2)) {
      assert.equal(start, 0);
      assert.equal(data.length, 2 * dim);
      break;
    }
  } finally {
    t.cleanup();
  }
});

const tableOf = (x: KnnTable) => ({ ids: Array.from(x.ids), sims: Array.from(x.sims), k: x.k });

test('the exact k-NN table (and an HNSW one on one thread) is the same with 3-row blocks as with the default blocks', async () => {
  const { m, vectors } = data();
  const input = { embeddings: vectors, dim: DIM, indexRows: m.indicesOf('train'), queryRows: m.indicesOf('test') };
  for (const index of [{ kind: 'exact' as const }, { kind: 'hnsw' as const, threads: 1 }]) {
    const a = await computeKnnTable({ ...input, k: 20, index });
    const b = await withBlockRows('3', () => computeKnnTable({ ...input, k: 20, index }));
    assert.equal(a.queryRows.length, 36);
    assert.deepEqual(tableOf(b), tableOf(a), index.kind);
    assert.equal(a.ids[0] >= 0, true);
  }
});

test("the report's tables are the same with 3-row blocks as with the default blocks", async () => {
  const t = tempDir();
  try {
    const { m, vectors } = data();
    const dataDir = join(t.dir, 'data');
    await writeManifest(dataDir, m);
    const store = join(t.dir, 'store');
    await writeEmbeddings(store, vectors, m.filepaths, DIM, { modelId: 'toy', fingerprint: 'f', manifestHash: m.hash });
    const run = (work: string) =>
      runReport({ data: dataDir, stores: [store], workDir: join(t.dir, work), contentCheck: false, replicates: 50 });
    const a = await run('work-default');
    const b = await withBlockRows('3', () => run('work-blocked'));
    assert.deepEqual(tableOf(b.evaluations[0].table), tableOf(a.evaluations[0].table));
    assert.deepEqual(b.report.tables, a.report.tables);
    const model = ({ precision, knnClassification, probe }: (typeof a.report.models)[number]) => ({
      precision,
      knnClassification,
      probe,
    });
    assert.deepEqual(model(b.report.models[0]), model(a.report.models[0]));
    assert.ok(a.report.tables.table3_retrieval!.rows.length >= 2);
  } finally {
    t.cleanup();
  }
});
