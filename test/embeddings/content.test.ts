import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/datasets.js';
import { makeDataset } from './fixtures.js';
import type { Manifest } from '../../src/workbench/data/manifest.js';
import { embedManifest } from '../../src/workbench/embeddings/pipeline.js';
import { openEmbeddings, readImageRecords } from '../../src/workbench/embeddings/store.js';
import { STAT_FIELDS } from '../../src/workbench/embeddings/content.js';
import { createDescriptor } from '../../src/workbench/models/descriptors/index.js';
import { knnTableCached } from '../../src/workbench/knn/table.js';
import { runReport } from '../../src/workbench/benchmark/report.js';
import { sha256 } from '../../src/workbench/util/fsx.js';

let tmp: { dir: string; cleanup: () => void };
let manifest: Manifest;

before(async () => {
  tmp = tempDir('cbir-content-');
  manifest = await makeDataset(tmp.dir, { count: 40, size: 32 });
});
after(() => tmp.cleanup());

/** Rows whose images get another class's picture (same names); with batches of 4 they touch batches 0,1,2,3,5,7,8. */
const VICTIMS = [0, 1, 5, 10, 11, 15, 20, 21, 30, 35];

/** Give each victim the bytes of the next row's image (another class), under its own name. */
function replaceImages(m: Manifest, rows: readonly number[]): void {
  const bytes = rows.map((i) => readFileSync(m.resolvePath((i + 1) % m.size)));
  rows.forEach((i, k) => writeFileSync(m.resolvePath(i), bytes[k]));
}

const embed = (out: string, m = manifest) =>
  embedManifest({ manifest: m, extractor: createDescriptor('hog4x4x9'), out, batchSize: 4, workers: 0 });

test('images replaced under the same names: only their batches are embedded again, the store equals a fresh run, and the k-NN table is rebuilt', async () => {
  const t = tempDir('cbir-stale-');
  try {
    const m = await makeDataset(t.dir, { count: 40, size: 32, seed: 5 });
    const work = join(t.dir, 'work');
    const first = await embed(work, m);
    const dim = first.meta.dim;
    const oldVectors = new Float32Array(readFileSync(join(work, 'vectors.f32')).buffer.slice(0));
    const test = m.indicesOf('test');
    const train = m.indicesOf('train');
    const knn = (hash: string, vectors: Float32Array) =>
      knnTableCached({
        embeddings: vectors,
        dim,
        indexRows: train,
        queryRows: test,
        k: 5,
        embeddingsHash: hash,
        manifestHash: m.hash,
        cacheDir: join(t.dir, 'knn'),
      });
    const staleTable = await knn(first.meta.contentHash, oldVectors);
    assert.equal(staleTable.cached, false);

    replaceImages(m, VICTIMS);
    const second = await embed(work, m);
    assert.equal(second.alreadyComplete, false, 'the store is not reused as it is');
    assert.equal(second.changed, 10, 'the 10 replaced images are found');
    assert.equal(second.embedded, 7 * 4, 'the 7 batches holding them are embedded again');
    assert.equal(second.reused, 40 - 28, 'the other batches are copied from the store');
    const fresh = await embed(join(t.dir, 'fresh'), m);
    assert.equal(second.meta.contentHash, fresh.meta.contentHash, 'same store as a fresh run');
    assert.notEqual(second.meta.contentHash, first.meta.contentHash);
    assert.deepEqual(readFileSync(join(work, 'vectors.f32')), readFileSync(join(t.dir, 'fresh', 'vectors.f32')));
    assert.equal(second.meta.images?.digest, fresh.meta.images?.digest);
    const newVectors = await (await openEmbeddings(work)).readAll();
    for (const i of VICTIMS) {
      const a = oldVectors.subarray(i * dim, (i + 1) * dim);
      assert.notDeepEqual(a, newVectors.subarray(i * dim, (i + 1) * dim), `row ${i} was embedded again`);
    }
    // the k-NN table of the changed store is computed, not read from the cache, and is the fresh one
    const table = await knn(second.meta.contentHash, newVectors);
    assert.equal(table.cached, false);
    assert.notEqual(table.dir, staleTable.dir);
    const freshTable = await knn(fresh.meta.contentHash, await (await openEmbeddings(join(t.dir, 'fresh'))).readAll());
    assert.equal(freshTable.cached, true, 'same content, same cache entry');
    assert.deepEqual(table.table.ids, freshTable.table.ids);
    assert.notDeepEqual(table.table.ids, staleTable.table.ids, 'the replaced images change the neighbours');

    // nothing changed: reused as it is
    const third = await embed(work, m);
    assert.equal(third.alreadyComplete, true);
    assert.equal(third.embedded, 0);
    // touched (new mtime) but the same bytes: hashed, found unchanged, the stat record refreshed
    const later = new Date(Date.now() + 5000);
    utimesSync(m.resolvePath(3), later, later);
    const fourth = await embed(work, m);
    assert.equal(fourth.alreadyComplete, true);
    assert.equal(fourth.changed, 0);
    const rec = await readImageRecords(work, m.size);
    assert.equal(rec!.stat[3 * STAT_FIELDS + 1], statSync(m.resolvePath(3)).mtimeMs, 'the new mtime is recorded');
    assert.ok(Math.abs(rec!.stat[3 * STAT_FIELDS + 1] - later.getTime()) < 1);
  } finally {
    t.cleanup();
  }
});

test('a partial run is resumed only up to the first row whose image changed since it was recorded', async () => {
  const t = tempDir('cbir-stale-partial-');
  try {
    const m = await makeDataset(t.dir, { count: 24, size: 32, seed: 8 });
    const dir = join(t.dir, 'store');
    let n = 0;
    await assert.rejects(
      embedManifest({
        manifest: m,
        extractor: createDescriptor('hog4x4x9'),
        out: dir,
        batchSize: 4,
        workers: 0,
        onStage: (s) => {
          if (s === 'batch-recorded' && ++n === 5) throw new Error('stop');
        },
      }),
      /stop/,
    );
    replaceImages(m, [6]); // in the 2nd of the 5 recorded batches
    const r = await embed(dir, m);
    assert.equal(r.resumed, 4, 'only the batch before the changed row is kept');
    assert.equal(r.changed, 16, 'rows 4–19 were dropped');
    assert.equal(r.embedded, 20);
    const fresh = await embed(join(t.dir, 'fresh'), m);
    assert.equal(r.meta.contentHash, fresh.meta.contentHash);
  } finally {
    t.cleanup();
  }
});

test('cbir report twice into the same work folder with 10 images replaced gives the numbers of a fresh run', async () => {
  const work = join(tmp.dir, 'report-work');
  const report = (workDir: string, log?: (l: string) => void) =>
    runReport({
      data: manifest,
      models: ['hog4x4x9'],
      workDir,
      replicates: 0,
      probe: false,
      indexSize: false,
      workers: 0,
      ...(log ? { log } : {}),
    });
  const p1 = (r: Awaited<ReturnType<typeof report>>) => r.evaluations[0].precision.micro[0];
  const knnKey = (r: Awaited<ReturnType<typeof report>>) => sha256(Buffer.from(r.evaluations[0].table.ids.buffer));
  const before1 = await report(work);
  replaceImages(manifest, VICTIMS);
  const lines: string[] = [];
  const again = await report(work, (l) => lines.push(l));
  assert.ok(!lines.some((l) => /embeddings reused/.test(l)), lines.join('\n'));
  const fresh = await report(join(tmp.dir, 'report-fresh'));
  assert.equal(p1(again), p1(fresh), 'P@1 of the rerun is the fresh P@1');
  assert.equal(knnKey(again), knnKey(fresh), 'same k-NN table as a fresh run');
  assert.notEqual(knnKey(again), knnKey(before1), 'the stale k-NN table was not reused');
  assert.notEqual(again.report.models[0].store.contentHash, before1.report.models[0].store.contentHash);
});
