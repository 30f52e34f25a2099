import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { commonFolder, prepareDataset } from '../../src/workbench/data/prepare.js';
import { parseSourceSpec, validateSource } from '../../src/workbench/data/sources.js';
import { manifestImagesRoot, readManifest } from '../../src/workbench/data/manifest.js';
import { tempDir } from '../helpers/datasets.js';
import { writeNpz } from '../helpers/npz.js';
import { writeRandomPng } from '../helpers/png.js';

let seed = 1000;
/** An 8×8 gray PNG of distinct random pixels (no accidental duplicates). */
const png = (file: string): Promise<void> => writeRandomPng(file, seed++);

/** Two folder sources under `<dir>/data`: mr (glioma, notumor) and us (benign, malignant: no normal class). */
async function twoSources(dir: string): Promise<string[]> {
  for (const cls of ['glioma', 'notumor']) for (let i = 0; i < 6; i++) await png(join(dir, 'data/mr', cls, `${i}.png`));
  for (const cls of ['benign', 'malignant'])
    for (let i = 0; i < 6; i++) await png(join(dir, 'data/us', cls, `${i}.png`));
  return [
    `folder:path=${join(dir, 'data/mr')},dataset=mr,modality=MR,region=brain,labels=notumor:normal,normal=normal`,
    `folder:path=${join(dir, 'data/us')},dataset=us,modality=US,region=breast`,
  ];
}

test('commonFolder: the deepest folder holding all', () => {
  assert.equal(commonFolder(['/a/b/c', '/a/b/d/e']), '/a/b');
  assert.equal(commonFolder(['/a/b', '/a/b']), '/a/b');
  assert.equal(commonFolder(['/a/bc', '/a/b']), '/a', 'whole path components only');
  assert.equal(commonFolder(['/x', '/y']), '/');
});

test('prepare: paths relative to the images root; the images move with one field or CBIR_IMAGES_ROOT', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const specs = await twoSources(dir);
    const out = join(dir, 'runs', 'set');
    const r = await prepareDataset({ sources: specs.map((s) => parseSourceSpec(s)), out });
    assert.equal(r.manifest.imagesRoot, join(dir, 'data'));
    assert.ok(
      r.manifest.filepaths.every((p) => /^(mr|us)\/[a-z]+\/\d\.png$/.test(p)),
      r.manifest.filepaths.join(),
    );
    assert.ok(r.manifest.filepaths.includes('mr/notumor/0.png'), 'the path is the file, not the renamed label');
    const meta = JSON.parse(readFileSync(join(out, 'dataset.json'), 'utf8'));
    assert.equal(meta.imagesRoot, join(dir, 'data'), 'a root outside the manifest folder is stored absolute');
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /relative to the images root `[^`]*data`/);

    // The manifest folder moves: the paths still resolve.
    const moved = join(dir, 'elsewhere', 'set');
    mkdirSync(dirname(moved), { recursive: true });
    renameSync(out, moved);
    let m = await readManifest(moved, { env: {} });
    for (let i = 0; i < m.size; i++) assert.ok(existsSync(m.resolvePath(i)), m.resolvePath(i));
    const hash = m.hash;

    // The images move: CBIR_IMAGES_ROOT (relative to the working directory) or one edited field.
    renameSync(join(dir, 'data'), join(dir, 'data-moved'));
    m = await readManifest(moved, { env: {} });
    assert.ok(!existsSync(m.resolvePath(0)));
    m = await readManifest(moved, { env: { CBIR_IMAGES_ROOT: join(dir, 'data-moved') } });
    for (let i = 0; i < m.size; i++) assert.ok(existsSync(m.resolvePath(i)), m.resolvePath(i));
    assert.equal(m.hash, hash, 'the manifest (and every cache keyed by it) is unchanged');
    writeFileSync(join(moved, 'dataset.json'), JSON.stringify({ ...meta, imagesRoot: join(dir, 'data-moved') }));
    m = await readManifest(moved, { env: {} });
    for (let i = 0; i < m.size; i++) assert.ok(existsSync(m.resolvePath(i)), m.resolvePath(i));
    assert.equal(m.hash, hash);
    assert.equal((await readManifest(moved, { imagesRoot: '/explicit', env: {} })).imagesRoot, '/explicit');
  } finally {
    cleanup();
  }
});

test('CBIR_IMAGES_ROOT leaves manifests that hold their own images alone', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const npz = join(dir, 'xr.npz');
    const imgs = new Uint8Array(8 * 4 * 4).map((_, i) => (i * 37) % 256);
    writeNpz(npz, {
      train_images: { dtype: 'u1', shape: [4, 4, 4], data: imgs.slice(0, 64) },
      train_labels: { dtype: 'u1', shape: [4, 1], data: Uint8Array.from([0, 1, 0, 1]) },
      test_images: { dtype: 'u1', shape: [4, 4, 4], data: imgs.slice(64) },
      test_labels: { dtype: 'u1', shape: [4, 1], data: Uint8Array.from([0, 1, 1, 0]) },
    });
    const out = join(dir, 'set');
    await prepareDataset({
      sources: [parseSourceSpec(`npz:path=${npz},labels=0:normal;1:pneumonia,dataset=xr,modality=XR,region=chest`)],
      out,
    });
    assert.equal(JSON.parse(readFileSync(join(out, 'dataset.json'), 'utf8')).imagesRoot, '.');
    const m = await readManifest(out, { env: { CBIR_IMAGES_ROOT: '/nowhere' } });
    assert.equal(m.imagesRoot, out);
    assert.ok(m.filepaths.every((p) => p.startsWith('images/xr/')));
    // the folder moves with its images
    cpSync(out, join(dir, 'copy'), { recursive: true });
    const c = await readManifest(join(dir, 'copy'), { env: {} });
    for (let i = 0; i < c.size; i++) assert.ok(existsSync(c.resolvePath(i)));
  } finally {
    cleanup();
  }
});

test('manifestImagesRoot: explicit > CBIR_IMAGES_ROOT (images outside only) > dataset.json > the folder', () => {
  const env = { CBIR_IMAGES_ROOT: '/env' };
  assert.equal(manifestImagesRoot('/m', { imagesRoot: '/data' }, { imagesRoot: 'x', env }), '/m/x');
  assert.equal(manifestImagesRoot('/m', { imagesRoot: '/data' }, { env }), '/env');
  assert.equal(manifestImagesRoot('/m', { imagesRoot: '../data' }, { env }), '/env');
  assert.equal(manifestImagesRoot('/m', {}, { env }), '/env', 'a study CSV without dataset.json');
  assert.equal(manifestImagesRoot('/m', { imagesRoot: '.' }, { env }), '/m');
  assert.equal(manifestImagesRoot('/m', { imagesRoot: 'images' }, { env }), '/m/images');
  assert.equal(manifestImagesRoot('/m', { imagesRoot: '../data' }, { env: {} }), '/data');
  assert.equal(manifestImagesRoot('/m', {}, { env: {} }), '/m');
});

test('prepare: dataset.json records each source spec in full; a source without a normal class is warned about', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const specs = await twoSources(dir);
    const out = join(dir, 'set');
    const parsed = specs.map((s) => parseSourceSpec(s));
    const r = await prepareDataset({ sources: parsed, out });
    const meta = JSON.parse(readFileSync(join(out, 'dataset.json'), 'utf8'));
    assert.equal(meta.sources.length, 2);
    assert.deepEqual(meta.sources[0].labels, { notumor: 'normal' });
    assert.equal(meta.sources[0].normal, 'normal');
    for (let k = 0; k < 2; k++) {
      const { origin: _o, ...expected } = parsed[k];
      assert.deepEqual(
        validateSource(meta.sources[k]),
        { ...expected, origin: '--source' },
        'rebuilt from dataset.json',
      );
    }
    assert.equal(r.warnings.length, 1, r.warnings.join('\n'));
    assert.match(
      r.warnings[0],
      /source folder:us \(--source\) names no normal class.*\(benign, malignant\).*pathological/,
    );
    assert.deepEqual(
      r.manifest.classes.filter((c) => c.kind === 'anatomical').map((c) => c.name),
      ['MR/brain/normal'],
    );
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(md, /## Warnings \(1\)\n\n- source folder:us /);
    // naming the normal class silences it
    const ok = await prepareDataset({
      sources: [parsed[0], parseSourceSpec(`${specs[1]},normal=benign`)],
      out: join(dir, 'set2'),
    });
    assert.deepEqual(ok.warnings, []);
    assert.doesNotMatch(readFileSync(join(dir, 'set2', 'report.md'), 'utf8'), /## Warnings/);
  } finally {
    cleanup();
  }
});
