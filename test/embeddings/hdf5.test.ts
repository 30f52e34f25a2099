import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/datasets.js';
import { makeDataset, FakeExtractor } from './fixtures.js';
import { Manifest, classInfoFromName } from '../../src/workbench/data/manifest.js';
import { embedManifest } from '../../src/workbench/embeddings/pipeline.js';
import { exportH5, importH5, h5NameProblem, loadH5wasm } from '../../src/workbench/embeddings/hdf5.js';
import { openEmbeddings } from '../../src/workbench/embeddings/store.js';
import { CbirError } from '../../src/workbench/errors.js';

let tmp: { dir: string; cleanup: () => void };
let manifest: Manifest;
let store: string;

before(async () => {
  tmp = tempDir('cbir-h5-');
  manifest = await makeDataset(tmp.dir, { count: 16, size: 24 });
  store = join(tmp.dir, 'store');
  await embedManifest({ manifest, extractor: new FakeExtractor(), out: store, batchSize: 5, workers: 0 });
});
after(() => tmp.cleanup());

test('export writes the study layout (one <dataset>.h5, one float32 vector per image path) and import round-trips', async () => {
  const h5dir = join(tmp.dir, 'h5');
  const r = await exportH5({ manifest, store, out: h5dir });
  assert.deepEqual(readdirSync(h5dir).sort(), ['brainset.h5', 'chestset.h5']);
  assert.equal(
    r.files.reduce((s, f) => s + f.count, 0),
    16,
  );
  // read one file directly: dataset named by the filepath, float32, shape [dim]
  const h5wasm = await loadH5wasm();
  const s = await openEmbeddings(store);
  const all = await s.readAll();
  const f = new h5wasm.File(join(h5dir, 'brainset.h5'), 'r');
  try {
    const ds = f.get(manifest.filepaths[1]) as InstanceType<typeof h5wasm.Dataset>;
    assert.ok(ds instanceof h5wasm.Dataset);
    assert.deepEqual(ds.shape, [13]);
    assert.equal(ds.dtype, '<f');
    assert.deepEqual(ds.value, all.slice(13, 26));
    assert.equal(f.get(manifest.filepaths[2]), null, 'a chest image is not in the brain file');
  } finally {
    f.close();
  }
  const back = join(tmp.dir, 'back');
  const rep = await importH5({ manifest, from: h5dir, out: back });
  assert.equal(rep.found, 16);
  assert.equal(rep.missing, 0);
  assert.equal(rep.extra, 0);
  assert.equal(rep.renormalized, 0);
  assert.equal(rep.meta.modelId, 'fake', "model id from the files' attribute");
  assert.deepEqual(readFileSync(join(back, 'vectors.f32')), readFileSync(join(store, 'vectors.f32')));
  assert.equal(rep.meta.contentHash, s.meta.contentHash, 'same content hash after the round trip');
});

test('import reports missing and extra paths clearly', async () => {
  const h5dir = join(tmp.dir, 'h5-partial');
  // export only the brain images' store: build a manifest with more rows than the files hold
  await exportH5({ manifest, store, out: h5dir });
  const entries = [...Array(manifest.size).keys()].map((i) => manifest.entry(i));
  entries.pop(); // one image fewer: the files then hold one extra
  entries.push(
    { ...manifest.entry(0), filepath: 'brainset/c0/new-1.png' },
    { ...manifest.entry(0), filepath: 'brainset/c0/new-2.png' },
  );
  const m2 = Manifest.fromEntries(
    entries,
    manifest.classes.map((c) => classInfoFromName(c.name)),
    { dir: manifest.dir, imagesRoot: manifest.imagesRoot },
  );
  await assert.rejects(importH5({ manifest: m2, from: h5dir, out: join(tmp.dir, 'x') }), (e: CbirError) => {
    assert.ok(e instanceof CbirError);
    assert.match(e.message, /2 of 17 manifest paths are not in the HDF5 files/);
    assert.match(e.message, /brainset\/c0\/new-1\.png/);
    assert.match(e.message, /allow missing images to import the found rows only/);
    assert.equal(e.code, 'h5/missing');
    return true;
  });
  const rep = await importH5({
    manifest: m2,
    from: h5dir,
    out: join(tmp.dir, 'y'),
    allowMissing: true,
    modelId: 'published',
  });
  assert.equal(rep.found, 15);
  assert.equal(rep.missing, 2);
  assert.equal(rep.extra, 1);
  assert.equal(rep.extraExamples.length, 1);
  assert.match(rep.extraExamples[0], /img015\.png$/);
  assert.equal(rep.meta.modelId, 'published');
  const s = await openEmbeddings(join(tmp.dir, 'y'));
  assert.equal(s.count, 15);
  assert.ok(!s.ids.includes('brainset/c0/new-1.png'));
});

test('HDF5 dataset names: paths that do not map are refused', () => {
  assert.equal(h5NameProblem('a/b/c.png'), null);
  assert.match(h5NameProblem('/abs/x.png')!, /starts with/);
  assert.match(h5NameProblem('a/../x.png')!, /"\.\."/);
  assert.match(h5NameProblem('a//x.png')!, /empty path component/);
});
