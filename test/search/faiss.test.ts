import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFaissHeader } from '../../src/workbench/search/faiss.js';
import { buildSavedIndex, importFaissIndex, openSavedIndex, saveSavedIndex } from '../../src/workbench/search/saved.js';
import { IndexSearcher } from '../../src/workbench/search/query.js';
import { exactSearchPlain } from '../../src/workbench/search/topk.js';
import { rejectsCbir } from '../helpers/assert.js';
import { tempDir } from '../helpers/datasets.js';
import { randomUnit } from './vectors.js';
import { searchFixture, type SearchFixture } from './fixture.js';

/**
 * A flat FAISS index in faiss's byte layout (write_index_header, then the codes): fourcc, d
 * int32, ntotal int64, two int64 dummies (2^20), is_trained uint8, metric_type int32, metric_arg
 * float32 when metric_type > 1, then the vector block: uint64 n and the float32 rows. faiss 1.7.3
 * writes n as the float count (`floats`), later versions as the byte count.
 */
function faissBytes(
  x: Float32Array,
  dim: number,
  opts: { fourcc?: string; metric?: number; count?: 'floats' | 'bytes' } = {},
): Uint8Array {
  const metric = opts.metric ?? 0;
  const fourcc = opts.fourcc ?? (metric === 0 ? 'IxFI' : metric === 1 ? 'IxF2' : 'IxFl');
  const ntotal = x.length / dim;
  const head = 37 + (metric > 1 ? 4 : 0) + 8;
  const out = new Uint8Array(head + x.byteLength);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode(fourcc), 0);
  v.setInt32(4, dim, true);
  v.setBigInt64(8, BigInt(ntotal), true);
  v.setBigInt64(16, 1n << 20n, true);
  v.setBigInt64(24, 1n << 20n, true);
  out[32] = 1;
  v.setInt32(33, metric, true);
  let off = 37;
  if (metric > 1) off += 4;
  v.setBigUint64(off, BigInt((opts.count ?? 'floats') === 'floats' ? x.length : x.byteLength), true);
  out.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), off + 8);
  return out;
}

let tmp: { dir: string; cleanup: () => void };
let fx: SearchFixture;
before(async () => {
  tmp = tempDir('cbir-faiss-');
  fx = await searchFixture('cbir-faiss-fx-');
});
after(() => {
  tmp.cleanup();
  fx.cleanup();
});

const paths = (n: number) => Array.from({ length: n }, (_, i) => `images/x/${String(i).padStart(4, '0')}.png`);

test('IndexFlatIP and IndexFlatL2 files in the TS-written layout import and search like a plain scan', async () => {
  const dim = 32,
    n = 300;
  const x = randomUnit(n, dim, 11);
  const q = randomUnit(9, dim, 12);
  const want = exactSearchPlain(x, dim, q, 10);
  const meta = join(tmp.dir, 'metadata.json');
  writeFileSync(meta, JSON.stringify(paths(n)));
  for (const [metric, count] of [
    [0, 'floats'],
    [0, 'bytes'],
    [1, 'floats'],
    [1, 'bytes'],
  ] as const) {
    const file = join(tmp.dir, `flat-${metric}-${count}.index`);
    writeFileSync(file, faissBytes(x, dim, { metric, count }));
    const h = await readFaissHeader(file);
    assert.deepEqual([h.fourcc, h.metric, h.dim, h.ntotal], [metric ? 'IxF2' : 'IxFI', metric ? 'l2' : 'ip', dim, n]);
    const saved = await importFaissIndex({ faiss: file, metadata: meta, model: 'my-model', index: { kind: 'exact' } });
    assert.equal(saved.info.source.kind, 'faiss');
    assert.equal(saved.rows.paths[5], 'images/x/0005.png');
    const got = await saved.index.search(q, 10);
    assert.deepEqual([...got.ids], [...want.ids], `metric ${metric}, ${count}`);
    for (let i = 0; i < got.sims.length; i++) assert.ok(Math.abs(got.sims[i] - want.sims[i]) < 1e-5);
  }
});

test('FAISS import errors: other types by four-character code, metadata length, L2 of non-unit vectors, truncation', async () => {
  const dim = 8;
  const x = randomUnit(20, dim, 2);
  const meta = join(tmp.dir, 'm20.json');
  writeFileSync(meta, JSON.stringify(paths(20)));
  const hnsw = join(tmp.dir, 'hnsw.index');
  writeFileSync(hnsw, faissBytes(x, dim, { fourcc: 'IHNf' }));
  await rejectsCbir(
    readFaissHeader(hnsw),
    /unsupported FAISS index type "IHNf" \(IndexHNSWFlat\)/,
    'faiss/unsupported',
  );
  const odd = join(tmp.dir, 'odd.index');
  writeFileSync(odd, faissBytes(x, dim, { fourcc: 'IxQQ' }));
  await rejectsCbir(readFaissHeader(odd), /unsupported FAISS index type "IxQQ"/, 'faiss/unsupported');
  const l1 = join(tmp.dir, 'l1.index');
  writeFileSync(l1, faissBytes(x, dim, { metric: 2 }));
  await rejectsCbir(readFaissHeader(l1), /metric type 2/, 'faiss/unsupported');

  const ok = join(tmp.dir, 'ok.index');
  writeFileSync(ok, faissBytes(x, dim));
  const m19 = join(tmp.dir, 'm19.json');
  writeFileSync(m19, JSON.stringify(paths(19)));
  await rejectsCbir(
    importFaissIndex({ faiss: ok, metadata: m19, model: 'hog4x4x9' }),
    /lists 19 images but the FAISS index holds 20 vectors/,
    'faiss/metadata-count',
  );
  writeFileSync(m19, '{"a": 1}');
  await rejectsCbir(
    importFaissIndex({ faiss: ok, metadata: m19, model: 'x' }),
    /not a JSON list/,
    'faiss/bad-metadata',
  );

  const y = x.slice();
  for (let c = 0; c < dim; c++) y[3 * dim + c] *= 2;
  const l2 = join(tmp.dir, 'l2-nonunit.index');
  writeFileSync(l2, faissBytes(y, dim, { metric: 1 }));
  await rejectsCbir(
    importFaissIndex({ faiss: l2, metadata: meta, model: 'x' }),
    /vector 3 \("images\/x\/0003\.png"\) has length 2\.0000, not 1/,
    'faiss/not-unit',
  );
  // an IndexFlatIP of non-unit vectors keeps FAISS's inner-product ranking and says so
  const ip = join(tmp.dir, 'ip-nonunit.index');
  writeFileSync(ip, faissBytes(y, dim));
  const s = await importFaissIndex({ faiss: ip, metadata: meta, model: 'x' });
  assert.equal(s.info.source.kind === 'faiss' && s.info.source.unitVectors, false);

  const cut = join(tmp.dir, 'cut.index');
  writeFileSync(cut, faissBytes(x, dim).subarray(0, 200));
  await rejectsCbir(readFaissHeader(cut), /expected at least/, 'faiss/truncated');
  await rejectsCbir(
    importFaissIndex({ faiss: ok, metadata: meta, model: 'hog4x4x9' }),
    /8 dimensions, model "hog4x4x9" gives 144/,
    'faiss/dim-mismatch',
  );
});

const PY = `
import sys, json, numpy as np, faiss
d, nq, k = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]); xf, qf, out = sys.argv[4:7]
X = np.fromfile(xf, dtype=np.float32).reshape(-1, d)
Q = np.fromfile(qf, dtype=np.float32).reshape(nq, d)
res = {}
for name, index in (("ip", faiss.IndexFlatIP(d)), ("l2", faiss.IndexFlatL2(d))):
    index.add(X)
    faiss.write_index(index, out + "." + name + ".index")
    D, I = index.search(Q, k)
    res[name] = {"ids": I.tolist(), "dist": D.tolist()}
print(json.dumps(res))
`;

function hasFaiss(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import faiss, numpy'], { stdio: 'ignore' }).status === 0;
}

test(
  'files written by python3 faiss from the train vectors give the same results after import as faiss and as the built index',
  { timeout: 120_000 },
  async (t) => {
    if (!hasFaiss()) return t.skip('python3 with faiss and numpy not found (apt-get install python3-faiss)');
    const d = fx.store.dim;
    const train = fx.manifest.indicesOf('train');
    const test_ = fx.manifest.indicesOf('test');
    const pick = (rows: Int32Array) => {
      const out = new Float32Array(rows.length * d);
      rows.forEach((r, i) => out.set(fx.vectors.subarray(r * d, (r + 1) * d), i * d));
      return out;
    };
    const x = pick(train);
    const q = pick(test_);
    const xf = join(tmp.dir, 'x.f32'),
      qf = join(tmp.dir, 'q.f32'),
      base = join(tmp.dir, 'py');
    writeFileSync(xf, x);
    writeFileSync(qf, q);
    const k = 10;
    const r = spawnSync('/usr/bin/python3', ['-c', PY, String(d), String(test_.length), String(k), xf, qf, base], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const faissRes = JSON.parse(r.stdout) as Record<'ip' | 'l2', { ids: number[][]; dist: number[][] }>;
    const metadata = join(tmp.dir, 'metadata.json'); // the study's layout: image paths in index order
    writeFileSync(metadata, JSON.stringify(Array.from(train, (i) => fx.manifest.filepaths[i])));

    const built = await buildSavedIndex({ store: fx.storeDir, manifest: fx.manifest });
    const builtDir = join(tmp.dir, 'built');
    await saveSavedIndex(built, builtDir);
    for (const metric of ['ip', 'l2'] as const) {
      const imported = await importFaissIndex({
        faiss: `${base}.${metric}.index`,
        metadata,
        model: fx.model,
        manifest: fx.manifest,
      });
      assert.equal(imported.info.source.kind === 'faiss' && imported.info.source.inManifest, train.length);
      const got = await imported.index.search(q, k);
      let same = 0;
      for (let a = 0; a < test_.length; a++)
        for (let j = 0; j < k; j++) {
          const fi = faissRes[metric].ids[a][j];
          const sim = metric === 'ip' ? faissRes[metric].dist[a][j] : 1 - faissRes[metric].dist[a][j] / 2;
          assert.ok(Math.abs(got.sims[a * k + j] - sim) < 1e-4, `${metric} q${a} rank ${j}`);
          if (got.ids[a * k + j] === fi) same++;
          // a differing id must be a float near-tie with FAISS's own similarity
          else assert.ok(Math.abs(got.sims[a * k + j] - sim) < 1e-5);
        }
      assert.ok(same / (test_.length * k) > 0.99, `${metric}: ${same} of ${test_.length * k} ids equal`);

      // searching images: the imported database and the index built from the store answer alike
      const dir = join(tmp.dir, `imported-${metric}`);
      await saveSavedIndex(imported, dir);
      const files = Array.from(test_.slice(0, 6), (i) => ({
        path: fx.manifest.filepaths[i],
        file: fx.manifest.resolvePath(i),
        explicit: true,
      }));
      const a = await IndexSearcher.open(dir);
      const b = await IndexSearcher.open(builtDir);
      const ra = await a.searchFiles(files, { k: 5 });
      const rb = await b.searchFiles(files, { k: 5 });
      assert.deepEqual(
        ra.queries.map((x) => x.results.map((h) => [h.path, h.class])),
        rb.queries.map((x) => x.results.map((h) => [h.path, h.class])),
      );
      await a.close();
      await b.close();
    }
    const back = await openSavedIndex(join(tmp.dir, 'imported-ip'));
    assert.equal(back.info.model.fingerprint, null);
    assert.equal(JSON.parse(readFileSync(join(tmp.dir, 'imported-ip', 'index.json'), 'utf8')).source.fourcc, 'IxFI');
  },
);
