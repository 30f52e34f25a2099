/**
 * The report browser's API (`cbir serve --report`): Tables 3 and 4 as the report holds them, each
 * test query with the neighbours of the report's knn.csv (misses first, a class filter), images
 * only of manifest rows, and the t-SNE map computed by the server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsv } from '../../src/workbench/index.js';
import { MODEL, serve, webFixture, type Served, type WebFixture } from './fixture.js';

let fx: WebFixture;
let srv: Served;

before(async () => {
  fx = await webFixture('cbir-web-report-');
  srv = await serve(fx, { withReport: true });
});
after(async () => {
  await srv?.close();
  fx?.cleanup();
});

/** JSON answers are checked field by field against independent sources, so they are left untyped here. */
type Json = any;

const get = async (path: string, base = srv.url): Promise<{ status: number; body: Json }> => {
  const res = await fetch(new URL(path, base));
  return { status: res.status, body: await res.json() };
};

/** The report's knn.csv: query path → neighbour paths, best first. */
function knnCsv(): Map<string, string[]> {
  const rows = [...parseCsv(readFileSync(join(fx.reportDir, MODEL, 'knn.csv'), 'utf8'))].map((r) => r.cells);
  return new Map(rows.slice(1).map((r) => [r[0], r.slice(1)]));
}

test('GET /api/report: the models and Tables 3 and 4 exactly as the report holds them', async () => {
  const r = await get('/api/report');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.models, [MODEL]);
  assert.deepEqual(r.body.tables.table3, fx.report.tables.table3_retrieval);
  assert.deepEqual(r.body.tables.table4, fx.report.tables.table4_modality);
  assert.equal(r.body.dataset.splits.test, fx.manifest.indicesOf('test').length);
  assert.ok(r.body.tables.table3.rows.some((row: unknown[]) => row[0] === MODEL));
});

test('GET /api/report/queries: every test query with its knn.csv neighbours, misses first', async () => {
  const csv = knnCsv();
  const m = fx.manifest;
  const r = await get(`/api/report/queries?model=${MODEL}&limit=200`);
  assert.equal(r.status, 200);
  const qs = r.body.queries;
  assert.equal(r.body.total, m.indicesOf('test').length);
  assert.equal(qs.length, r.body.total);
  assert.deepEqual(new Set(qs.map((q: { path: string }) => q.path)), new Set(csv.keys()));
  let misses = 0;
  for (const q of qs) {
    const expected = csv.get(q.path)!.slice(0, q.neighbours.length);
    assert.deepEqual(
      q.neighbours.map((n: { path: string }) => n.path),
      expected,
      q.path,
    );
    const top = m.filepaths.indexOf(expected[0]);
    const miss = m.entry(top).className !== q.class;
    assert.equal(q.miss, miss, q.path);
    if (miss) misses++;
    for (const n of q.neighbours) assert.equal(n.correct, n.class === q.class);
    assert.ok(q.neighbours.every((n: { similarity: number }) => n.similarity > -1 && n.similarity <= 1.0001));
  }
  assert.equal(r.body.misses, misses);
  assert.ok(misses > 0 && misses < qs.length, `${misses} misses: the phantom should have some`);
  const firstHit = qs.findIndex((q: { miss: boolean }) => !q.miss);
  assert.equal(firstHit, misses, 'misses come first');
  // paging: offset and limit cut the same order
  const page = await get(`/api/report/queries?model=${MODEL}&offset=3&limit=4`);
  assert.deepEqual(
    page.body.queries.map((q: { row: number }) => q.row),
    qs.slice(3, 7).map((q: { row: number }) => q.row),
  );
});

test('the class filter keeps only queries of that class; an unknown class or model is a 404', async () => {
  const m = fx.manifest;
  const cls = m.entry(m.indicesOf('test')[0]).className;
  const r = await get(`/api/report/queries?class=${encodeURIComponent(cls)}&limit=200`);
  const n = Array.from(m.indicesOf('test')).filter((row) => m.entry(row).className === cls).length;
  assert.equal(r.body.total, n);
  assert.ok(r.body.queries.every((q: { class: string }) => q.class === cls));
  assert.equal((await get('/api/report/queries?class=nope')).status, 404);
  const bad = await get('/api/report/queries?model=nope');
  assert.equal(bad.status, 404);
  assert.match(bad.body.hint, new RegExp(MODEL));
});

test('GET /api/report/image serves manifest rows only', async () => {
  const row = fx.manifest.indicesOf('test')[0];
  const res = await fetch(new URL(`/api/report/image?row=${row}`, srv.url));
  assert.equal(res.status, 200);
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array(readFileSync(fx.manifest.resolvePath(row))));
  assert.equal((await get(`/api/report/image?row=${fx.manifest.size}`)).status, 400);
});

test('GET /api/report/tsne: a map of the sampled manifest rows, computed once by the server', async () => {
  const r = await get(`/api/report/tsne?model=${MODEL}`);
  assert.equal(r.status, 200);
  const map = r.body;
  const n = Math.min(1000, fx.manifest.size);
  assert.equal(map.rows.length, n);
  assert.equal(map.x.length, n);
  assert.ok(map.x.every(Number.isFinite) && map.y.every(Number.isFinite));
  assert.ok(new Set(map.x).size > n / 2, 'points are spread out');
  for (let i = 0; i < n; i += 17) {
    assert.equal(map.paths[i], fx.manifest.filepaths[map.rows[i]]);
    assert.equal(map.classes[map.cls[i]], fx.manifest.entry(map.rows[i]).className);
  }
  assert.match(map.note, /computed by the server/);
  const again = await get(`/api/report/tsne?model=${MODEL}`);
  assert.deepEqual(again.body, map);
});

test('without a report the report endpoints say so; with its k-NN cache gone the queries come from knn.csv', async () => {
  const plain = await serve(fx);
  try {
    const r = await get('/api/report', plain.url);
    assert.equal(r.status, 404);
    assert.match(r.body.error, /no report/);
    assert.equal((await get('/api/index', plain.url)).body.report, false);
  } finally {
    await plain.close();
  }
  const knn = fx.report.models[0].knn.test;
  renameSync(knn, `${knn}.moved`);
  const again = await serve(fx, { withReport: true });
  try {
    const r = await get('/api/report/queries?limit=200', again.url);
    assert.equal(r.status, 200);
    assert.equal(r.body.similarities, false);
    assert.match(r.body.source, /knn\.csv$/);
    const csv = knnCsv();
    for (const q of r.body.queries)
      assert.deepEqual(
        q.neighbours.map((x: { path: string }) => x.path),
        csv.get(q.path)!.slice(0, q.neighbours.length),
      );
  } finally {
    await again.close();
    renameSync(`${knn}.moved`, knn);
  }
});
