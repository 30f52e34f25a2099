/**
 * `cbir eval --knn-csv`: a knn.csv in the study's layout, written from radcbir's own k-NN table on
 * the same vectors, scores to the same tables (Table 3 P@N micro/macro with intervals, and the
 * rest) as radcbir's own `cbir eval`; bad rows are refused naming the file, the line and the path.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  computeKnnTable,
  generatePhantom,
  openEmbeddings,
  openReport,
  readManifest,
  writeKnnCsv,
  type Manifest,
} from '../../src/workbench/index.js';
import { cbir } from '../helpers/cli.js';
import { tempDir } from '../helpers/datasets.js';

let tmp: { dir: string; cleanup: () => void };
let data: string;
let m: Manifest;
/** The experiment folder's knn.csv (test rows, then val rows), from radcbir's table on the eval's vectors. */
let csv: string;
const MODEL = 'tiny16';

before(async () => {
  tmp = tempDir('cbir-knncsv-');
  data = join(tmp.dir, 'data');
  await generatePhantom({ out: data, seed: 9, scale: 0.1, size: 32 });
  m = await readManifest(data);
  const own = await cbir(
    'eval',
    ...['--data', data, '--model', MODEL, '--out', join(tmp.dir, 'own'), '--only', 'retrieval', '--replicates', '200'],
  );
  assert.equal(own.code, 0, own.err);
  const store = await openEmbeddings(join(tmp.dir, 'own', 'work', 'embeddings', MODEL));
  const vectors = await store.readAll();
  const train = m.indicesOf('train');
  const table = (queryRows: Int32Array) =>
    computeKnnTable({ embeddings: vectors, dim: store.dim, indexRows: train, queryRows, k: 100 });
  const [t, v] = [await table(m.indicesOf('test')), await table(m.indicesOf('val'))];
  assert.equal(t.k, Math.min(100, train.length));
  csv = join(tmp.dir, 'experiments', MODEL, 'knn.csv');
  await writeKnnCsv(
    {
      k: t.k,
      queryRows: Int32Array.from([...t.queryRows, ...v.queryRows]),
      ids: Int32Array.from([...t.ids, ...v.ids]),
    },
    m.filepaths,
    csv,
  );
});
after(() => tmp.cleanup());

test("cbir eval --knn-csv gives radcbir's own Table 3 (and every other table) from the study's layout", async () => {
  const out = join(tmp.dir, 'scored');
  const r = await cbir('eval', '--data', data, '--knn-csv', csv, '--out', out, '--replicates', '200');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Precision at N \(tiny16, study definition/);
  const own = await openReport(join(tmp.dir, 'own'));
  const scored = await openReport(out);
  const t3 = (x: typeof own) => x.tables.table3_retrieval!;
  assert.equal(t3(scored).rows[0][0], MODEL, 'named after the experiment folder');
  assert.ok((t3(own).rows[0][1] as number) > 0, 'P@1 is measured');
  assert.deepEqual(t3(scored), t3(own));
  assert.deepEqual(scored.tables, own.tables);
  assert.deepEqual(scored.models[0].knnClassification, own.models[0].knnClassification);
  assert.deepEqual(scored.models[0].precision, own.models[0].precision);
  assert.equal(scored.protocol.probe, false);
  assert.equal(scored.models[0].store.source, 'knn-csv', 'the report says the neighbours came from a knn.csv');
  assert.equal(own.models[0].store.source, 'embedded');
  assert.match(scored.models[0].notes.join('\n'), /no embeddings, so no linear probe/);
  assert.doesNotMatch(scored.models[0].notes.join('\n'), /chose k on the test queries/);
  // the per-model knn.csv of the scored report holds the file's test rows
  const head = (f: string) => readFileSync(f, 'utf8').split('\n').slice(0, 3);
  assert.deepEqual(head(join(out, MODEL, 'knn.csv')), head(csv));
});

test('--knn-csv without val rows chooses k on test and says so; --name names the model', async () => {
  const lines = readFileSync(csv, 'utf8').trimEnd().split('\n');
  const nTest = m.indicesOf('test').length;
  const file = join(tmp.dir, 'test-only.csv');
  writeFileSync(file, lines.slice(0, nTest + 1).join('\n') + '\n');
  const out = join(tmp.dir, 'test-only');
  const r = await cbir('eval', '--data', data, '--knn-csv', file, '--name', 'study', '--out', out, '--replicates', '0');
  assert.equal(r.code, 0, r.err);
  const rep = await openReport(out);
  assert.equal(rep.models[0].modelId, 'study');
  assert.match(rep.models[0].notes.join('\n'), /chose k on the test queries \(no val neighbour lists\)/);
});

test('a knn.csv row naming an image not in the manifest is refused with the file, its line and the path', async () => {
  const lines = readFileSync(csv, 'utf8').trimEnd().split('\n');
  const bad = (edit: (cells: string[]) => void, name: string): string => {
    const copy = [...lines];
    const cells = copy[5].split(',');
    edit(cells);
    copy[5] = cells.join(',');
    const f = join(tmp.dir, name);
    writeFileSync(f, copy.join('\n') + '\n');
    return f;
  };
  const query = bad((c) => (c[0] = 'elsewhere/ghost.png'), 'bad-query.csv');
  const r1 = await cbir('eval', '--data', data, '--knn-csv', query, '--out', join(tmp.dir, 'x1'));
  assert.equal(r1.code, 1);
  assert.match(r1.err, /bad-query\.csv:6: query "elsewhere\/ghost\.png" is not in the manifest/);
  assert.match(r1.err, /in the CLI: pass --knn-csv the knn\.csv of one experiment folder/);
  const neighbour = bad((c) => (c[3] = 'elsewhere/other.png'), 'bad-neighbour.csv');
  const r2 = await cbir('eval', '--data', data, '--knn-csv', neighbour, '--out', join(tmp.dir, 'x2'));
  assert.equal(r2.code, 1);
  assert.match(r2.err, /bad-neighbour\.csv:6: neighbour 3 "elsewhere\/other\.png" is not in the manifest/);
  assert.doesNotMatch(r1.err + r2.err, /\n\s+at /, 'no stack trace');
  const clash = await cbir('eval', '--data', data, '--knn-csv', csv, '--model', MODEL, '--out', join(tmp.dir, 'x3'));
  assert.equal(clash.code, 1);
  assert.match(clash.err, /--knn-csv excludes --model/);
});
