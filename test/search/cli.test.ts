import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cbir } from '../helpers/cli.js';
import { IndexSearcher } from '../../src/workbench/index.js';
import { parseCsv } from '../../src/workbench/util/csv.js';
import { searchFixture, type SearchFixture } from './fixture.js';

let fx: SearchFixture;
before(async () => {
  fx = await searchFixture('cbir-search-cli-');
});
after(() => fx.cleanup());

test('cbir index build / info, then cbir search --json / --csv / --grid with a test image and a folder', async () => {
  const idx = join(fx.dir, 'idx');
  const b = await cbir('index', 'build', '--embeddings', fx.storeDir, '--data', fx.data, '--out', idx, '--quiet');
  assert.equal(b.code, 0, b.err);
  const train = fx.manifest.indicesOf('train').length;
  assert.match(b.out, new RegExp(`indexed ${train} × 144 \\(exact, model hog4x4x9\\)`));
  const again = await cbir('index', 'build', '--embeddings', fx.storeDir, '--data', fx.data, '--out', idx, '--quiet');
  assert.equal(again.code, 1);
  assert.match(again.err, /already holds a saved index[\s\S]*→ in the CLI: pass another --out, or --force/);

  const info = await cbir('index', 'info', idx);
  assert.equal(info.code, 0, info.err);
  assert.match(info.out, /format {7}radcbir-index v1/);
  assert.match(info.out, /model {8}hog4x4x9 \(descriptor\)/);
  const json = JSON.parse((await cbir('index', 'info', idx, '--json')).out);
  assert.equal(json.info.size, train);
  assert.equal(json.imagesFound, true);

  const row = fx.manifest.indicesOf('test')[0];
  const image = fx.manifest.resolvePath(row);
  const s = await cbir('search', '--index', idx, '--k', '5', '--json', image);
  assert.equal(s.code, 0, s.err);
  const r = JSON.parse(s.out);
  assert.equal(r.model, 'hog4x4x9');
  assert.equal(r.index.format, 'radcbir-index');
  assert.equal(r.queries[0].query, image);
  assert.equal(r.queries[0].results.length, 5);
  for (const key of ['rank', 'path', 'similarity', 'class', 'dataset', 'modality'])
    assert.ok(key in r.queries[0].results[0], key);
  const text = await cbir('search', '--index', idx, '--k', '2', image);
  assert.match(
    text.out,
    new RegExp(`^${image} \\(${fx.manifest.entry(row).className}\\)\\n +1 {2}0\\.\\d{4} {2}[✓✗] `),
  );

  const csv = join(fx.dir, 'out', 'results.csv');
  const grid = join(fx.dir, 'out', 'grid.html');
  const folder = join(fx.data, 'images', 'MR');
  const f = await cbir('search', '--index', idx, '--k', '3', '--csv', csv, '--grid', grid, '--quiet', folder);
  assert.equal(f.code, 0, f.err);
  const mr = fx.manifest.filepaths.filter((p) => p.startsWith('images/MR/')).length;
  const wide = [...parseCsv(readFileSync(csv, 'utf8'))];
  assert.equal(wide.length, 1 + mr);
  assert.ok(existsSync(join(fx.dir, 'out', 'results_long.csv')));
  assert.ok(!existsSync(`${csv}.partial.jsonl`), 'the partial results file is removed when done');
  const html = readFileSync(grid, 'utf8');
  assert.match(html, /<table>/);
  assert.equal((html.match(/<tr>/g) ?? []).length, 1 + mr);

  const filtered = JSON.parse(
    (await cbir('search', '--index', idx, '--json', '--filter', 'modality=US', '--exclude-self', image)).out,
  );
  assert.ok(filtered.queries[0].results.every((h: { modality: string }) => h.modality === 'US'));
  const bad = await cbir('search', '--index', idx, '--filter', 'modality=PET', image);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /no index image has modality "PET"\n {2}→ modality values in this index: CT, MR, XR, US/);
  assert.match(bad.err, /→ in the CLI: e\.g\. --filter modality=CT/);
  const badGrid = await cbir('search', '--index', idx, '--grid', 'x.svg', image);
  assert.equal(badGrid.code, 1);
  assert.match(badGrid.err, /must end in \.png or \.html/);
});

test('cbir index import-faiss, and the errors a new user meets', async () => {
  const noIndex = await cbir('search', '--index', join(fx.dir, 'nothing'), 'x.png');
  assert.equal(noIndex.code, 1);
  assert.match(noIndex.err, /query image or folder not found/);
  const notIndex = await cbir('search', '--index', fx.data, fx.manifest.resolvePath(0));
  assert.equal(notIndex.code, 1);
  assert.match(notIndex.err, /not a saved index[\s\S]*→ in the CLI: pass the --out folder of `cbir index build`/);
  const missing = await cbir('index', 'build', '--out', join(fx.dir, 'x'));
  assert.equal(missing.code, 1);
  assert.match(missing.err, /--embeddings is required/);

  // a FAISS IndexFlatIP of the train vectors in faiss's byte layout, with the study's metadata.json
  const train = fx.manifest.indicesOf('train');
  const d = fx.store.dim;
  const head = new Uint8Array(45);
  const v = new DataView(head.buffer);
  head.set(new TextEncoder().encode('IxFI'));
  v.setInt32(4, d, true);
  v.setBigInt64(8, BigInt(train.length), true);
  v.setBigInt64(16, 1n << 20n, true);
  v.setBigInt64(24, 1n << 20n, true);
  head[32] = 1;
  v.setBigUint64(37, BigInt(train.length * d), true);
  const x = new Float32Array(train.length * d);
  train.forEach((r, i) => x.set(fx.vectors.subarray(r * d, (r + 1) * d), i * d));
  const faiss = join(fx.dir, 'faiss.index');
  writeFileSync(faiss, Buffer.concat([head, new Uint8Array(x.buffer)]));
  const meta = join(fx.dir, 'metadata.json');
  writeFileSync(meta, JSON.stringify(Array.from(train, (r) => fx.manifest.filepaths[r])));
  const out = join(fx.dir, 'imported');
  const args = ['index', 'import-faiss', '--faiss', faiss, '--metadata', meta, '--data', fx.data, '--out', out];
  const i = await cbir(...args, '--model', 'hog4x4x9', '--quiet');
  assert.equal(i.code, 0, i.err);
  assert.match(i.out, /FAISS IxFI \(inner product\); \d+ of \d+ paths found in the manifest/);
  const image = fx.manifest.resolvePath(fx.manifest.indicesOf('test')[1]);
  const a = JSON.parse((await cbir('search', '--index', out, '--json', image)).out);
  const idx = join(fx.dir, 'built');
  await cbir('index', 'build', '--embeddings', fx.storeDir, '--data', fx.data, '--out', idx, '--quiet');
  const b = JSON.parse((await cbir('search', '--index', idx, '--json', image)).out);
  assert.deepEqual(
    a.queries[0].results.map((h: { path: string }) => h.path),
    b.queries[0].results.map((h: { path: string }) => h.path),
  );
  const wrong = await cbir(...args, '--model', 'lbp4x4', '--force', '--quiet');
  assert.equal(wrong.code, 1);
  assert.match(wrong.err, /144 dimensions, model "lbp4x4" gives \d+[\s\S]*→ in the CLI: pass the --model/);
});

test('cbir search --ef: an HNSW index searched with a wider beam finds the exact top-k; --ef 0 is refused', async () => {
  const exact = join(fx.dir, 'idx-exact-ef');
  const hnsw = join(fx.dir, 'idx-hnsw-ef');
  for (const [dir, kind] of [
    [exact, 'exact'],
    [hnsw, 'hnsw'],
  ]) {
    const b = await cbir(
      'index',
      'build',
      '--embeddings',
      fx.storeDir,
      '--data',
      fx.data,
      '--kind',
      kind,
      '--out',
      dir,
      '--quiet',
    );
    assert.equal(b.code, 0, b.err);
  }
  const image = fx.manifest.resolvePath(fx.manifest.indicesOf('test')[0]);
  const paths = async (...args: string[]) => {
    const r = await cbir('search', '--k', '5', '--json', ...args, image);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out).queries[0].results.map((h: { path: string }) => h.path);
  };
  assert.deepEqual(await paths('--index', hnsw, '--ef', '500'), await paths('--index', exact));
  // the beam width reaches the HNSW index (what --ef passes to IndexSearcher.open)
  const searcher = await IndexSearcher.open(hnsw, { expansionSearch: 7 });
  try {
    assert.equal(searcher.saved.index.params.expansionSearch, 7);
  } finally {
    await searcher.close();
  }
  const bad = await cbir('search', '--index', hnsw, '--ef', '0', image);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /--ef/);
});
