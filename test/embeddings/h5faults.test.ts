import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, PROJECT_ROOT } from '../helpers/datasets.js';
import { makeDataset, FakeExtractor } from './fixtures.js';
import { Manifest, readManifest, writeManifest } from '../../src/workbench/data/manifest.js';
import { embedManifest } from '../../src/workbench/embeddings/pipeline.js';
import { checkHdf5File, exportH5, h5Keys, importH5, loadH5wasm } from '../../src/workbench/embeddings/hdf5.js';
import { openEmbeddings } from '../../src/workbench/embeddings/store.js';
import { runReport } from '../../src/workbench/benchmark/report.js';
import { CbirError } from '../../src/workbench/errors.js';

let tmp: { dir: string; cleanup: () => void };
let manifest: Manifest;
let store: string;
let h5dir: string;

before(async () => {
  tmp = tempDir('cbir-h5faults-');
  manifest = await makeDataset(tmp.dir, { count: 20, size: 24 });
  store = join(tmp.dir, 'store');
  await embedManifest({ manifest, extractor: new FakeExtractor(), out: store, batchSize: 5, workers: 0 });
  h5dir = join(tmp.dir, 'h5');
  await exportH5({ manifest, store, out: h5dir });
});
after(() => tmp.cleanup());

/** `cbir embeddings import-h5` in a child process (h5wasm's diagnostics go to the process's own stderr). */
function importCli(file: string, out: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    [join(PROJECT_ROOT, 'bin', 'cbir.js'), 'embeddings', 'import-h5', '--data', manifest.dir, '--out', out, file],
    { encoding: 'utf8', timeout: 120_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a text file named .h5 and a truncated .h5 give one clear error naming the file, without HDF5 diagnostics', async () => {
  const text = join(tmp.dir, 'notes.h5');
  writeFileSync(text, 'filepath,vector\nthis is not HDF5\n');
  const good = readFileSync(join(h5dir, 'brainset.h5'));
  const cut = join(tmp.dir, 'cut.h5');
  writeFileSync(cut, good.subarray(0, Math.floor(good.length / 2)));
  const damaged = join(tmp.dir, 'damaged.h5');
  const bytes = Buffer.from(good);
  bytes.fill(0x5a, 200); // signature and superblock intact, everything after them garbage
  writeFileSync(damaged, bytes);
  for (const [file, re] of [
    [text, /not an HDF5 file \(no HDF5 signature; 33 bytes\)/],
    [
      cut,
      new RegExp(`the HDF5 file is truncated: ${Math.floor(good.length / 2)} bytes, its header says ${good.length}`),
    ],
    [damaged, /HDF5 could not (open|list|look up|read)/],
  ] as const) {
    const r = importCli(file, join(tmp.dir, 'never'));
    assert.equal(r.status, 1, r.stderr.slice(0, 2000));
    assert.ok(r.stderr.length < 1500, `short stderr (${r.stderr.length} bytes): ${r.stderr.slice(0, 3000)}`);
    assert.doesNotMatch(r.stderr + r.stdout, /HDF5-DIAG|name not defined|\n\s+at /);
    assert.ok(r.stderr.includes(file), r.stderr);
    assert.match(r.stderr, re);
  }
  assert.throws(() => checkHdf5File(h5dir), { code: 'h5/not-a-file' });
  checkHdf5File(join(h5dir, 'brainset.h5')); // a good file passes
});

test('import with missing rows writes the manifest of the found rows, and eval on it works', async () => {
  const entries = [...Array(manifest.size).keys()].map((i) => manifest.entry(i));
  const extra = [
    { ...manifest.entry(0), filepath: 'brainset/c0/not-embedded-1.png' },
    { ...manifest.entry(5), filepath: 'brainset/c1/not-embedded-2.png', split: 'test' as const },
  ];
  const full = Manifest.fromEntries([...entries, ...extra], manifest.classes, {
    dir: join(tmp.dir, 'full'),
    imagesRoot: manifest.imagesRoot,
  });
  await writeManifest(full.dir, full);
  const out = join(tmp.dir, 'partial-import');
  const r = await importH5({ manifest: full, from: h5dir, out, allowMissing: true });
  assert.equal(r.missing, 2);
  assert.ok(r.subset);
  assert.deepEqual(
    readFileSync(r.subset.missingList, 'utf8').trim().split('\n'),
    extra.map((e) => e.filepath),
  );
  const sub = await readManifest(r.subset.manifestDir);
  assert.equal(sub.size, 20);
  assert.equal(sub.hash, r.meta.manifestHash, 'the store belongs to the written manifest');
  assert.equal(sub.imagesRoot, manifest.imagesRoot);
  assert.equal((sub.meta as { missing?: { count: number } }).missing?.count, 2);
  const run = await runReport({
    data: r.subset.manifestDir,
    stores: [out],
    workDir: join(tmp.dir, 'eval-work'),
    replicates: 0,
    probe: false,
    indexSize: false,
  });
  assert.equal(run.evaluations[0].table.queryRows.length, sub.indicesOf('test').length);
  // the same store against the full manifest does not line up (the store says which manifest it belongs to)
  const s = await openEmbeddings(out);
  assert.equal((s.meta.source as { manifest?: string }).manifest, 'manifest');
});

test("export-h5 of a manifest whose paths climb out with '..' keys the images below their common folder, and imports back", async () => {
  // a hand-written manifest in its own folder, paths relative to it: ../images/<dataset>/...
  const dir = join(tmp.dir, 'runs', 'mydata');
  mkdirSync(dir, { recursive: true });
  const rel = (p: string) => `../../images/${p}`;
  const entries = [...Array(manifest.size).keys()].map((i) => ({
    ...manifest.entry(i),
    filepath: rel(manifest.filepaths[i]),
  }));
  const m = Manifest.fromEntries(entries, manifest.classes, { dir, imagesRoot: dir });
  assert.deepEqual(h5Keys(m), { keys: manifest.filepaths, base: 'common-folder' });
  assert.deepEqual(h5Keys(manifest), { keys: manifest.filepaths, base: 'filepath' });
  const dotted = Manifest.fromEntries(
    entries.map((e, i) => ({ ...e, filepath: manifest.filepaths[i].replace('/c', '/./c') })),
    manifest.classes,
    { dir: manifest.dir, imagesRoot: manifest.imagesRoot },
  );
  assert.deepEqual(h5Keys(dotted).keys, manifest.filepaths, '"a/./b" is keyed "a/b"');
  const s2 = join(tmp.dir, 'store-dotdot');
  await embedManifest({ manifest: m, extractor: new FakeExtractor(), out: s2, batchSize: 5, workers: 0 });
  const out = join(tmp.dir, 'h5-dotdot');
  const x = await exportH5({ manifest: m, store: s2, out });
  assert.equal(
    x.files.reduce((n, f) => n + f.count, 0),
    20,
  );
  const lib = await loadH5wasm();
  const f = new lib.File(join(out, 'brainset.h5'), 'r');
  try {
    assert.ok(f.get(manifest.filepaths[0]) instanceof lib.Dataset, 'keyed below the common folder');
  } finally {
    f.close();
  }
  const back = await importH5({ manifest: m, from: out, out: join(tmp.dir, 'back-dotdot') });
  assert.equal(back.found, 20);
  assert.deepEqual(readFileSync(join(tmp.dir, 'back-dotdot', 'vectors.f32')), readFileSync(join(s2, 'vectors.f32')));
  // and the study-layout files exported from the clean manifest import with the '..' manifest too
  const cross = await importH5({ manifest: m, from: h5dir, out: join(tmp.dir, 'cross') });
  assert.equal(cross.found, 20);
  await assert.rejects(
    importH5({ manifest: m, from: join(tmp.dir, 'nope.h5'), out: join(tmp.dir, 'x') }),
    (e: CbirError) => e instanceof CbirError && e.code === 'h5/not-found',
  );
});
