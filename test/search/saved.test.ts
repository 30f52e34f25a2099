import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildSavedIndex,
  openSavedIndex,
  readSavedIndexInfo,
  rowFile,
  saveSavedIndex,
  savedIndexSummary,
} from '../../src/workbench/search/saved.js';
import { ExactIndex } from '../../src/workbench/search/exact.js';
import { HnswIndex } from '../../src/workbench/search/hnsw.js';
import { exactSearchPlain } from '../../src/workbench/search/topk.js';
import { writeEmbeddings } from '../../src/workbench/embeddings/store.js';
import { rejectsCbir } from '../helpers/assert.js';
import { randomUnit } from './vectors.js';
import { searchFixture, type SearchFixture } from './fixture.js';

let fx: SearchFixture;
before(async () => {
  fx = await searchFixture('cbir-saved-');
});
after(() => fx.cleanup());

/** The train rows' vectors in manifest order, and their manifest rows. */
function trainVectors(): { rows: Int32Array; x: Float32Array } {
  const rows = fx.manifest.indicesOf('train');
  const d = fx.store.dim;
  const x = new Float32Array(rows.length * d);
  rows.forEach((r, i) => x.set(fx.vectors.subarray(r * d, (r + 1) * d), i * d));
  return { rows, x };
}

test('build → save → open: the train split, labelled from the manifest, searches like a plain scan', async () => {
  const built = await buildSavedIndex({ store: fx.storeDir, manifest: fx.manifest });
  const { rows, x } = trainVectors();
  assert.equal(built.index.size, rows.length);
  assert.equal(built.info.manifest?.split, 'train');
  for (const p of [0, 7, rows.length - 1]) {
    const e = fx.manifest.entry(rows[p]);
    assert.equal(built.rows.paths[p], e.filepath);
    assert.deepEqual(built.rows.labels(p), {
      class: e.className,
      dataset: e.dataset,
      modality: e.modality,
      region: e.anatomicRegion,
      split: 'train',
    });
  }
  const out = join(fx.dir, 'idx');
  await saveSavedIndex(built, out);
  await built.index.close();
  const info = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
  assert.equal(info.format, 'radcbir-index');
  assert.equal(info.version, 1);
  assert.equal(info.model.id, 'hog4x4x9');
  assert.equal(info.model.fingerprint, fx.store.meta.fingerprint);
  assert.match(info.model.cardHash, /^[0-9a-f]{64}$/);
  assert.equal(info.source.contentHash, fx.store.meta.contentHash);
  assert.equal(info.images.root, '../data');

  const opened = await openSavedIndex(out);
  const queries = fx.manifest.indicesOf('test');
  const d = fx.store.dim;
  const q = new Float32Array(queries.length * d);
  queries.forEach((r, i) => q.set(fx.vectors.subarray(r * d, (r + 1) * d), i * d));
  const got = await opened.index.search(q, 5);
  const want = exactSearchPlain(x, d, q, 5);
  assert.deepEqual([...got.ids], [...want.ids]);
  for (let i = 0; i < got.sims.length; i++) assert.ok(Math.abs(got.sims[i] - want.sims[i]) < 1e-5);
  assert.equal(rowFile(opened, 3), fx.manifest.resolvePath(rows[3]));
  await opened.index.close();

  const s = await savedIndexSummary(out);
  assert.equal(s.imagesFound, true);
  assert.equal(
    Object.values(s.counts.modality).reduce((a, b) => a + b, 0),
    rows.length,
  );
  assert.equal(s.counts.classes, fx.manifest.classes.length);

  await rejectsCbir(saveSavedIndex(await openSavedIndex(out), out), /already holds a saved index/, 'index/exists');
});

test('paths resolve when the index folder moves alone, and when it moves together with the data', async () => {
  const base = join(fx.dir, 'move');
  const built = await buildSavedIndex({ store: fx.storeDir, manifest: fx.manifest, split: 'test' });
  await saveSavedIndex(built, join(base, 'a', 'idx'));
  await built.index.close();
  // the index alone moves: the relative root (../../data from the old place) is gone, the absolute one holds
  renameSync(join(base, 'a', 'idx'), join(base, 'idx2'));
  const alone = await openSavedIndex(join(base, 'idx2'));
  assert.equal(alone.imagesRoot, fx.manifest.imagesRoot);
  await alone.index.close();
  // index and data move together: the relative root resolves in the new place
  const together = join(base, 'together');
  cpSync(fx.data, join(together, 'data'), { recursive: true });
  const moved = await buildSavedIndex({ store: fx.storeDir, manifest: fx.manifest, split: 'test' });
  await saveSavedIndex(moved, join(together, 'runs', 'idx'));
  await moved.index.close();
  const info = await readSavedIndexInfo(join(together, 'runs', 'idx'));
  info.images.root = '../../data'; // as if it had been built in the new place
  info.images.absoluteRoot = '/nonexistent/old/place';
  writeFileSync(join(together, 'runs', 'idx', 'index.json'), JSON.stringify(info));
  const again = await openSavedIndex(join(together, 'runs', 'idx'));
  assert.equal(again.imagesRoot, join(together, 'data'));
  assert.equal(rowFile(again, 0), join(together, 'data', again.rows.paths[0]));
  await again.index.close();
});

test('HNSW kind, split all, no manifest, and the errors of a build', async () => {
  const h = await buildSavedIndex({ store: fx.storeDir, manifest: fx.manifest, index: { kind: 'hnsw' } });
  assert.equal(h.info.kind, 'hnsw');
  const { x } = trainVectors();
  const d = fx.store.dim;
  const q = x.subarray(0, 4 * d);
  const r = await h.index.search(q, 1);
  assert.deepEqual([...r.ids], [0, 1, 2, 3]); // each train vector finds itself
  const out = join(fx.dir, 'hnsw');
  await saveSavedIndex(h, out);
  const back = await openSavedIndex(out);
  assert.equal(back.index.kind, 'hnsw');
  assert.deepEqual([...(await back.index.search(q, 1)).ids], [0, 1, 2, 3]);

  const all = await buildSavedIndex({ store: fx.storeDir });
  assert.equal(all.index.size, fx.store.count);
  assert.equal(all.info.manifest, null);
  assert.equal(all.rows.known('class'), false);
  assert.equal(all.imagesRoot, null);
  assert.equal(rowFile(all, 0), null);
  await rejectsCbir(buildSavedIndex({ store: fx.storeDir, split: 'train' }), /needs the manifest/, 'index/no-manifest');

  // a store that lacks some train images
  const partial = join(fx.dir, 'partial-store');
  const ids = fx.store.ids.slice(0, 10);
  await writeEmbeddings(partial, fx.vectors.slice(0, 10 * d), ids, d, {
    modelId: 'hog4x4x9',
    fingerprint: fx.store.meta.fingerprint,
    manifestHash: fx.manifest.hash,
  });
  await rejectsCbir(
    buildSavedIndex({ store: partial, manifest: fx.manifest }),
    /train images have no embedding in the store/,
    'index/missing-embedding',
  );
});

test('openSavedIndex refuses what is not a complete, known index', async () => {
  const out = join(fx.dir, 'broken');
  const built = await buildSavedIndex({ store: fx.storeDir, manifest: fx.manifest });
  await saveSavedIndex(built, out);
  await built.index.close();
  const infoFile = join(out, 'index.json');
  const good = readFileSync(infoFile, 'utf8');
  await rejectsCbir(openSavedIndex(join(fx.dir, 'nope')), /saved index folder not found/, 'index/not-found');
  await rejectsCbir(openSavedIndex(fx.data), /not a saved index \(no index\.json\)/, 'index/not-a-saved-index');
  writeFileSync(infoFile, JSON.stringify({ ...JSON.parse(good), version: 2 }));
  await rejectsCbir(openSavedIndex(out), /index version 2 is newer/, 'index/newer-version');
  writeFileSync(infoFile, JSON.stringify({ ...JSON.parse(good), format: 'radcbir-report' }));
  await rejectsCbir(openSavedIndex(out), /format "radcbir-report"/, 'index/bad-format');
  writeFileSync(infoFile, '{"format": "radcbir-index", "version": 1');
  await rejectsCbir(openSavedIndex(out), /not valid JSON/, 'index/bad-format');
  writeFileSync(infoFile, good);
  const rows = readFileSync(join(out, 'rows.csv'), 'utf8').split('\n');
  writeFileSync(join(out, 'rows.csv'), rows.slice(0, -3).join('\n') + '\n');
  await rejectsCbir(openSavedIndex(out), /rows, but the index holds/, 'index/bad-rows');
  rmSync(infoFile);
  await rejectsCbir(openSavedIndex(out), /no index\.json/, 'index/not-a-saved-index');
});

test('fromRowBlocks (streamed, one copy) gives the same index as build, for any block split', async () => {
  const dim = 24,
    n = 1000;
  const x = randomUnit(n, dim, 3);
  const q = randomUnit(7, dim, 4);
  const ref = ExactIndex.build(x, dim, { indexBlock: 96, backend: 'plain' });
  const parts = [1, 95, 96, 97, 300, 411]; // block sizes that straddle index blocks
  const blocks: Float32Array[] = [];
  for (let s = 0, i = 0; s < n; i++) {
    const m = Math.min(parts[i % parts.length], n - s);
    blocks.push(x.slice(s * dim, (s + m) * dim));
    s += m;
  }
  for (const backend of ['plain', 'onnx'] as const) {
    const streamed = await ExactIndex.fromRowBlocks(dim, n, blocks, { indexBlock: 96, backend });
    const a = await ref.search(q, 10);
    const b = await streamed.search(q, 10);
    assert.deepEqual([...b.ids], [...a.ids], backend);
    const file = join(fx.dir, `streamed-${backend}.index`);
    await streamed.save(file);
    const reread = await ExactIndex.load(file, { backend });
    assert.deepEqual([...(await reread.search(q, 10)).ids], [...a.ids]);
  }
  await assert.rejects(ExactIndex.fromRowBlocks(dim, n - 1, blocks), /more than the announced/);
  await assert.rejects(ExactIndex.fromRowBlocks(dim, n + 1, blocks), /1000 vectors were given, 1001 announced/);
  const h = await HnswIndex.fromRowBlocks(dim, n, blocks, { threads: 1 });
  assert.equal(h.size, n);
  assert.deepEqual([...(await h.search(x.subarray(0, 5 * dim), 1)).ids], [0, 1, 2, 3, 4]);
});
