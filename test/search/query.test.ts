import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSavedIndex, saveSavedIndex } from '../../src/workbench/search/saved.js';
import { IndexSearcher, type QueryFile } from '../../src/workbench/search/query.js';
import { collectQueryFiles, longCsvPath, searchGridData, writeSearchCsv } from '../../src/workbench/search/results.js';
import { parseSearchFilter } from '../../src/workbench/search/filter.js';
import { exactSearchPlain } from '../../src/workbench/search/topk.js';
import { computeKnnTable } from '../../src/workbench/knn/table.js';
import { writeKnnCsv } from '../../src/workbench/knn/csv.js';
import { loadExtractor } from '../../src/workbench/models/registry.js';
import { decodeImage, toGray } from '../../src/workbench/images/decode.js';
import { renderQueryGrid } from '../../src/workbench/figures/grid.js';
import { parseCsv } from '../../src/workbench/util/csv.js';
import type { ProgressEvent } from '../../src/workbench/util/progress.js';
import { rejectsCbir } from '../helpers/assert.js';
import { writeDicom } from '../helpers/dicom.js';
import { searchFixture, type SearchFixture } from './fixture.js';

let fx: SearchFixture;
let indexDir: string;
let searcher: IndexSearcher;
before(async () => {
  fx = await searchFixture('cbir-query-');
  indexDir = join(fx.dir, 'index');
  const built = await buildSavedIndex({ store: fx.storeDir, manifest: fx.manifest });
  await saveSavedIndex(built, indexDir);
  await built.index.close();
  searcher = await IndexSearcher.open(indexDir);
});
after(async () => {
  await searcher.close();
  fx.cleanup();
});

const fileOf = (row: number): QueryFile => ({
  path: fx.manifest.filepaths[row],
  file: fx.manifest.resolvePath(row),
  explicit: true,
});

test("done when: searching with test images gives their rows of the report's knn.csv", async () => {
  const train = fx.manifest.indicesOf('train');
  const test_ = fx.manifest.indicesOf('test');
  const k = 10;
  const table = await computeKnnTable({
    embeddings: fx.vectors,
    dim: fx.store.dim,
    indexRows: train,
    queryRows: test_,
    k,
  });
  const knnCsv = join(fx.dir, 'knn.csv');
  await writeKnnCsv(table, fx.manifest.filepaths, knnCsv);
  const knn = new Map([...parseCsv(readFileSync(knnCsv, 'utf8'))].slice(1).map((r) => [r.cells[0], r.cells.slice(1)]));
  const queries = Array.from(test_, fileOf);
  const r = await searcher.searchFiles(queries, { k });
  assert.equal(r.model, 'hog4x4x9');
  assert.equal(r.index.size, train.length);
  assert.equal(r.queries.length, test_.length);
  for (const q of r.queries) {
    assert.deepEqual(
      q.results.map((h) => h.path),
      knn.get(q.query),
      q.query,
    );
    const row = fx.manifest.filepaths.indexOf(q.query);
    assert.equal(q.class, fx.manifest.entry(row).className, 'the query of the manifest gets its class');
    assert.deepEqual(
      q.results.map((h) => h.rank),
      Array.from({ length: k }, (_, j) => j + 1),
    );
    for (let j = 1; j < k; j++) assert.ok(q.results[j - 1].similarity >= q.results[j].similarity);
  }
  // labels and similarities against the k-NN table itself
  const first = r.queries[0].results[0];
  const e = fx.manifest.entry(table.ids[0]);
  assert.deepEqual([first.class, first.dataset, first.modality], [e.className, e.dataset, e.modality]);
  assert.ok(Math.abs(first.similarity - table.sims[0]) < 1e-6);
});

test('a folder is searched recursively, in order, with progress; unreadable files found in it are reported', async () => {
  const folder = join(fx.dir, 'queries');
  const picks = Array.from(fx.manifest.indicesOf('test').slice(0, 5));
  mkdirSync(join(folder, 'sub', 'deeper'), { recursive: true });
  mkdirSync(join(folder, '.hidden'), { recursive: true });
  copyFileSync(fx.manifest.resolvePath(picks[0]), join(folder, 'a.png'));
  copyFileSync(fx.manifest.resolvePath(picks[1]), join(folder, 'sub', 'b.png'));
  copyFileSync(fx.manifest.resolvePath(picks[2]), join(folder, 'sub', 'deeper', 'c.png'));
  copyFileSync(fx.manifest.resolvePath(picks[3]), join(folder, '.hidden', 'd.png'));
  writeFileSync(join(folder, 'notes.txt'), 'not an image');
  writeFileSync(join(folder, 'sub', 'broken.png'), 'not a png either');
  const files = await collectQueryFiles([folder]);
  assert.deepEqual(
    files.map((f) => f.path),
    ['a.png', 'sub/b.png', 'sub/broken.png', 'sub/deeper/c.png'].map((p) => join(folder, p)),
  );
  const events: ProgressEvent[] = [];
  const r = await searcher.searchFiles(files, { k: 3, batchSize: 2, onProgress: (e) => events.push(e) });
  assert.equal(events.at(-1)?.done, 4);
  assert.equal(events.at(-1)?.total, 4);
  assert.match(r.queries[2].error ?? '', /broken\.png/);
  assert.equal(r.queries[2].results.length, 0);
  const direct = await searcher.searchFiles([fileOf(picks[1])], { k: 3 });
  assert.deepEqual(r.queries[1].results, direct.queries[0].results);
  // a broken file named explicitly is an error
  await rejectsCbir(
    searcher.searchFiles([{ path: 'sub/broken.png', file: join(folder, 'sub', 'broken.png'), explicit: true }]),
    /broken\.png/,
  );
  await rejectsCbir(collectQueryFiles([join(folder, 'nope')]), /not found/, 'search/not-found');
  mkdirSync(join(fx.dir, 'empty'));
  await rejectsCbir(collectQueryFiles([join(fx.dir, 'empty')]), /no images in this folder/, 'search/no-images');
});

test('a DICOM query (written by the test, with and without .dcm) gives the results of the same pixels as PNG', async () => {
  const row = fx.manifest.indicesOf('test')[3];
  const img = await decodeImage(fx.manifest.resolvePath(row));
  const gray = toGray(img);
  const dcm = join(fx.dir, 'query.dcm');
  writeDicom(dcm, { rows: img.height, cols: img.width, pixels: gray, bitsAllocated: 8, modality: 'CT' });
  copyFileSync(dcm, join(fx.dir, 'query-no-extension'));
  const files = await collectQueryFiles([dcm, join(fx.dir, 'query-no-extension')]);
  const r = await searcher.searchFiles(files, { k: 5 });
  const png = await searcher.searchFiles([fileOf(row)], { k: 5 });
  assert.deepEqual(r.queries[0].results, png.queries[0].results);
  assert.deepEqual(r.queries[1].results, png.queries[0].results);
  const upload = await searcher.searchBytes(readFileSync(dcm), { k: 5, name: 'scan.dcm' });
  assert.deepEqual(upload.queries[0].results, png.queries[0].results);
  // folders find extensionless DICOM files too
  mkdirSync(join(fx.dir, 'dicoms'));
  copyFileSync(dcm, join(fx.dir, 'dicoms', 'IM0001'));
  assert.equal((await collectQueryFiles([join(fx.dir, 'dicoms')])).length, 1);
});

test('filters apply before top-k: the results are the top-k of the filtered index rows', async () => {
  const q = fileOf(fx.manifest.indicesOf('test')[0]);
  const filter = parseSearchFilter('modality=XR', 'region=knee|hand');
  assert.deepEqual(filter, { modality: ['XR'], region: ['knee', 'hand'] });
  const r = await searcher.searchFiles([q], { k: 4, filter });
  const rows = searcher.saved.rows;
  const keep: number[] = [];
  for (let p = 0; p < rows.size; p++) {
    const l = rows.labels(p);
    if (l.modality === 'XR' && (l.region === 'knee' || l.region === 'hand')) keep.push(p);
  }
  assert.ok(keep.length >= 4 && keep.length < rows.size / 4);
  const d = fx.store.dim;
  const byPath = new Map(fx.store.ids.map((id, i) => [id, i]));
  const sub = new Float32Array(keep.length * d);
  keep.forEach((p, i) => {
    const s = byPath.get(rows.paths[p])!;
    sub.set(fx.vectors.subarray(s * d, (s + 1) * d), i * d);
  });
  const qs = byPath.get(q.path)!;
  const want = exactSearchPlain(sub, d, fx.vectors.slice(qs * d, (qs + 1) * d), 4);
  assert.deepEqual(
    r.queries[0].results.map((h) => h.row),
    Array.from(want.ids, (i) => keep[i]),
  );
  // a filter that keeps fewer rows than k returns all of them
  const few = await searcher.searchFiles([q], { k: 50, filter: { region: ['knee'] } });
  assert.equal(few.queries[0].results.length, rows.counts('region').knee);
  await rejectsCbir(searcher.searchFiles([q], { filter: { modality: ['PET'] } }), /no index image has modality "PET"/);
  assert.throws(() => parseSearchFilter('colour=red'), /not key=value/);
});

test('--exclude-self drops the query image, by path and by identical bytes elsewhere', async () => {
  const row = fx.manifest.indicesOf('train')[4];
  const self = fileOf(row);
  const plain = await searcher.searchFiles([self], { k: 3 });
  assert.equal(plain.queries[0].results[0].path, self.path);
  assert.ok(plain.queries[0].results[0].similarity > 0.9999);
  const ex = await searcher.searchFiles([self], { k: 3, excludeSelf: true });
  assert.ok(!ex.queries[0].results.some((h) => h.path === self.path));
  assert.deepEqual(
    ex.queries[0].results.map((h) => h.path),
    (await searcher.searchFiles([self], { k: 4 })).queries[0].results.slice(1).map((h) => h.path),
  );
  const copy = join(fx.dir, 'copy-of-train.png');
  copyFileSync(self.file, copy);
  const byBytes = await searcher.searchFiles([{ path: copy, file: copy, explicit: true }], { k: 3, excludeSelf: true });
  assert.deepEqual(byBytes.queries[0].results, ex.queries[0].results);
  const upload = await searcher.searchBytes(readFileSync(self.file), { k: 3, excludeSelf: true });
  assert.deepEqual(upload.queries[0].results, ex.queries[0].results);
  assert.equal(upload.queries[0].query, '<upload>');
});

test('the index model is enforced: another model, or changed weights, is refused naming both', async () => {
  const other = await loadExtractor('lbp4x4');
  await rejectsCbir(
    IndexSearcher.open(indexDir, { extractor: other }),
    /made with model "hog4x4x9", but the queries would be embedded with "lbp4x4"/,
    'search/model-mismatch',
  );
  const tampered = join(fx.dir, 'tampered');
  const built = await buildSavedIndex({ store: fx.storeDir, manifest: fx.manifest });
  await saveSavedIndex(built, tampered);
  await built.index.close();
  const info = JSON.parse(readFileSync(join(tampered, 'index.json'), 'utf8'));
  info.model.fingerprint = 'f'.repeat(64);
  writeFileSync(join(tampered, 'index.json'), JSON.stringify(info));
  await rejectsCbir(
    IndexSearcher.open(tampered),
    /fingerprint ffffffffffff…, but the loaded model has fingerprint [0-9a-f]{12}…/,
    'search/model-mismatch',
  );
  info.model.fingerprint = null;
  info.model.cardHash = '0'.repeat(64);
  writeFileSync(join(tampered, 'index.json'), JSON.stringify(info));
  await rejectsCbir(IndexSearcher.open(tampered), /card hash 000000000000…, but its card now hashes to/);
  await rejectsCbir(searcher.searchBytes(new TextEncoder().encode('hello')), /<upload>/);
});

test('a long folder run resumes from its partial results file and gives the same answer', async () => {
  const picks = Array.from(fx.manifest.indicesOf('test').slice(0, 7), fileOf);
  const journal = join(fx.dir, 'run.partial.jsonl');
  const full = await searcher.searchFiles(picks, { k: 4 });
  // the run stops at its third batch (an unreadable image), after two batches are recorded
  const stops = join(fx.dir, 'stops.png');
  writeFileSync(stops, 'not yet an image');
  const files = [...picks.slice(0, 4), { path: picks[4].path, file: stops, explicit: true }, ...picks.slice(5)];
  await rejectsCbir(searcher.searchFiles(files, { k: 4, batchSize: 2, journal }), /cannot decode/);
  const lines = readFileSync(journal, 'utf8').split('\n').filter(Boolean);
  assert.equal(lines.length, 1 + 4); // header + two batches of two
  writeFileSync(journal, readFileSync(journal, 'utf8') + '{"file": "torn'); // a torn line from a kill
  copyFileSync(picks[4].file, stops);
  const events: ProgressEvent[] = [];
  const resumed = await searcher.searchFiles(files, { k: 4, batchSize: 2, journal, onProgress: (e) => events.push(e) });
  assert.equal(events[0].done, 6, 'the first event after the resumed four is the next batch');
  assert.deepEqual(
    resumed.queries.map((q) => q.results),
    full.queries.map((q) => q.results),
  );
  assert.equal(readFileSync(journal, 'utf8').split('\n').filter(Boolean).length, 1 + 7);
  // other options start again
  const other = await searcher.searchFiles(picks, { k: 2, journal });
  assert.equal(other.queries[0].results.length, 2);
  assert.equal(readFileSync(journal, 'utf8').split('\n').filter(Boolean).length, 1 + 7);
});

test("results.csv in the study's layout, the long form, and the query grid", async () => {
  const picks = Array.from(fx.manifest.indicesOf('test').slice(0, 2), fileOf);
  const r = await searcher.searchFiles(picks, { k: 3 });
  const file = join(fx.dir, 'out', 'results.csv');
  const w = await writeSearchCsv(r, file);
  assert.equal(w.long, longCsvPath(file));
  assert.equal(w.long, join(fx.dir, 'out', 'results_long.csv'));
  const wide = [...parseCsv(readFileSync(file, 'utf8'))].map((x) => x.cells);
  assert.deepEqual(wide[0], ['query_path', 'similar_1', 'similar_2', 'similar_3']);
  assert.deepEqual(wide[1], [picks[0].path, ...r.queries[0].results.map((h) => h.path)]);
  const long = [...parseCsv(readFileSync(w.long, 'utf8'))].map((x) => x.cells);
  assert.deepEqual(long[0], ['query_path', 'rank', 'path', 'similarity', 'class', 'dataset', 'modality']);
  assert.equal(long.length, 1 + 6);
  const h = r.queries[1].results[2];
  assert.deepEqual(long[6].slice(0, 3), [picks[1].path, '3', h.path]);
  assert.ok(Math.abs(Number(long[6][3]) - h.similarity) < 1e-8);
  assert.deepEqual(long[6].slice(4), [h.class, h.dataset, h.modality]);

  const data = searchGridData(r, searcher, 3);
  const grid = await renderQueryGrid(data.manifest, data.queries, { matches: 3, tile: 48 });
  assert.equal(grid.warnings.length, 0, grid.warnings.join('\n'));
  assert.equal(grid.layout.cells.length, 2 * 4);
  const cell = grid.layout.cells.find((c) => c.line === 1 && c.column === 3)!;
  assert.equal(cell.className, h.class);
  assert.equal(cell.frame, h.class === r.queries[1].class ? 'match' : 'mismatch');
  assert.ok(grid.png.subarray(1, 4).toString() === 'PNG');
});
