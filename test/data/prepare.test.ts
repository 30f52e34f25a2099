import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';
import { prepareDataset } from '../../src/workbench/data/prepare.js';
import { parseSourceSpec, loadRecipe } from '../../src/workbench/data/sources.js';
import { readManifest } from '../../src/workbench/data/manifest.js';
import { parseCsv } from '../../src/workbench/util/csv.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { CbirError } from '../../src/workbench/errors.js';
import { tempDir, PROJECT_ROOT } from '../helpers/datasets.js';
import { encodePngRaw } from '../helpers/png.js';

let seedCounter = 1;
/** Distinct random pixels (8×8) so no two fixtures collide by accident. */
function pixels(channels: 1 | 3): Buffer {
  const rng = new Rng(seedCounter++);
  const b = Buffer.alloc(8 * 8 * channels);
  for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
  return b;
}
async function png(file: string, channels: 1 | 3 = 1, px = pixels(channels), level = 6): Promise<Buffer> {
  mkdirSync(dirname(file), { recursive: true });
  const bytes = await sharp(px, { raw: { width: 8, height: 8, channels } })
    .png({ compressionLevel: level })
    .toBuffer();
  writeFileSync(file, bytes);
  return px;
}
async function jpeg(file: string): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    await sharp(pixels(3), { raw: { width: 8, height: 8, channels: 3 } })
      .jpeg()
      .toBuffer(),
  );
}
function put(file: string, data: string | Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, data);
}
function copy(from: string, to: string): void {
  put(to, readFileSync(from));
}

/** A messy MR-like folder source with Training/Testing, plus a head-CT-like label-CSV source and a one-hot CSV source. */
async function buildFixtures(root: string): Promise<void> {
  const mr = join(root, 'mr');
  for (let i = 0; i < 20; i++) await png(join(mr, 'Training/glioma', `g${String(i).padStart(2, '0')}.png`));
  await jpeg(join(mr, 'Training/glioma/rgb.jpg'));
  const g16 = new Uint16Array(8 * 8).map((_, i) => 1000 + i * 37);
  put(
    join(mr, 'Training/glioma/sixteen.png'),
    encodePngRaw({ width: 8, height: 8, bitDepth: 16, colorType: 0, pixels: g16 }),
  );
  const palette = new Uint8Array(768).map((_, i) => (i * 7) % 256);
  put(
    join(mr, 'Training/glioma/palette.png'),
    encodePngRaw({
      width: 8,
      height: 8,
      bitDepth: 8,
      colorType: 3,
      pixels: new Uint8Array(64).map((_, i) => i % 16),
      palette,
    }),
  );
  put(
    join(mr, 'Training/glioma/broken.png'),
    Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('not really a png')]),
  );
  put(join(mr, 'Training/glioma/notes.txt'), 'scanner notes');
  for (let i = 0; i < 10; i++) await png(join(mr, 'Training/notumor', `n${i}.png`), 3);
  // A query's twin in the index: the Testing copy must win.
  await png(join(mr, 'Testing/glioma/leak.png'));
  copy(join(mr, 'Testing/glioma/leak.png'), join(mr, 'Training/glioma/leak-copy.png'));
  // Same pixels, different bytes (other PNG compression level).
  const px = await png(join(mr, 'Training/notumor/same-a.png'), 1, undefined, 9);
  await png(join(mr, 'Training/notumor/same-b.png'), 1, px, 0);
  // One image in two classes: a label conflict.
  await png(join(mr, 'Training/glioma/both.png'));
  copy(join(mr, 'Training/glioma/both.png'), join(mr, 'Training/notumor/both.png'));
  for (let i = 0; i < 5; i++) await png(join(mr, 'Testing/glioma', `t${i}.png`));
  for (let i = 0; i < 5; i++) await png(join(mr, 'Testing/notumor', `t${i}.png`));
  // A stray hidden copy and other clutter.
  copy(join(mr, 'Testing/glioma/t0.png'), join(mr, 'Testing/glioma/.ipynb_checkpoints/t0-checkpoint.png'));
  put(join(mr, 'Testing/.DS_Store'), 'x');
  put(join(mr, 'README.md'), '# readme');

  const head = join(root, 'head');
  for (let i = 0; i < 11; i++) if (i !== 9) await png(join(head, 'head_ct', `${String(i).padStart(3, '0')}.png`), 3);
  // ids without zero padding, a spaced header, a row without file (9), a file without row (010.png)
  put(
    join(head, 'labels.csv'),
    'id, hemorrhage\n' + Array.from({ length: 10 }, (_, i) => `${i},${i < 5 ? 1 : 0}`).join('\n') + '\n',
  );

  const xr = join(root, 'xr');
  for (let i = 0; i < 6; i++) await png(join(xr, `img${i}.png`));
  put(
    join(xr, 'labels.csv'),
    'file,normal,pneumonia,effusion\nimg0.png,1,0,0\nimg1.png,0,1,0\nimg2.png,0,1,1\nimg3.png,0,0,0\nimg4,1,0,0\nimg5.png,0,0,1\n',
  );
}

function reportRows(out: string): Record<string, string>[] {
  const recs = [...parseCsv(readFileSync(join(out, 'report.csv'), 'utf8'))].map((r) => r.cells);
  const [h, ...rest] = recs;
  return rest.map((cells) => Object.fromEntries(h.map((k, i) => [k, cells[i]])));
}

test('prepare: messy folder + label-CSV sources → manifest, report and splits by the policy', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await buildFixtures(join(dir, 'data'));
    const out = join(dir, 'out');
    const sources = [
      parseSourceSpec(`folder:path=${join(dir, 'data/mr')},dataset=mr,modality=MR,region=brain`),
      parseSourceSpec(
        `csv:path=${join(dir, 'data/head')},images=head_ct,csv=labels.csv,labels=0:normal;1:hemorrhage,dataset=head,modality=CT,region=head`,
      ),
      parseSourceSpec(
        JSON.stringify({
          type: 'csv',
          path: join(dir, 'data/xr'),
          csv: 'labels.csv',
          dataset: 'xr',
          modality: 'XR',
          region: 'chest',
          normal: 'normal',
        }),
      ),
    ];
    const r = await prepareDataset({ sources, out, seed: 3, concurrency: 2 });
    for (const f of ['manifest.csv', 'classes.csv', 'dataset.json', 'report.md', 'report.csv'])
      assert.ok(existsSync(join(out, f)), f);
    const m = await readManifest(out);
    assert.equal(m.size, r.manifest.size);
    for (let i = 0; i < m.size; i++) assert.ok(existsSync(m.resolvePath(i)), m.filepaths[i]);
    assert.equal(m.imagesRoot, join(dir, 'data'), 'the images root: the deepest folder holding every source');
    assert.ok(
      m.filepaths.every((p) => /^(mr|head|xr)\//.test(p)),
      `paths relative to the images root: ${m.filepaths.slice(0, 3).join(', ')}`,
    );
    assert.equal(JSON.parse(readFileSync(join(out, 'dataset.json'), 'utf8')).imagesRoot, join(dir, 'data'));
    const rows = reportRows(out);
    const find = (kind: string, file: string) => rows.filter((x) => x.kind === kind && x.file === file);

    // Decoding: 16-bit and palette PNGs and a JPEG are in; the corrupt file is reported and skipped.
    const paths = new Set(m.filepaths);
    for (const p of ['mr/Training/glioma/sixteen.png', 'mr/Training/glioma/palette.png', 'mr/Training/glioma/rgb.jpg'])
      assert.ok(paths.has(p), p);
    assert.equal(find('corrupt', 'Training/glioma/broken.png').length, 1);
    assert.ok(!paths.has('mr/Training/glioma/broken.png'));
    // Hidden and non-image files are ignored and listed.
    assert.equal(find('ignored-hidden', 'Testing/glioma/.ipynb_checkpoints/').length, 1);
    assert.match(find('ignored-hidden', 'Testing/glioma/.ipynb_checkpoints/')[0].detail, /1 file/);
    assert.equal(find('ignored-hidden', 'Testing/.DS_Store').length, 1);
    assert.equal(find('ignored-non-image', 'Training/glioma/notes.txt').length, 1);
    assert.equal(find('ignored-non-image', 'README.md').length, 1);
    // Duplicates: the test copy wins over its train twin; same pixels with other bytes count too.
    assert.ok(paths.has('mr/Testing/glioma/leak.png'));
    assert.ok(!paths.has('mr/Training/glioma/leak-copy.png'));
    assert.match(
      find('duplicate-dropped', 'Training/glioma/leak-copy.png')[0].detail,
      /identical bytes to mr\/Testing\/glioma\/leak\.png \(kept, in test\)/,
    );
    assert.equal(m.entry(m.filepaths.indexOf('mr/Testing/glioma/leak.png')).split, 'test');
    assert.ok(paths.has('mr/Training/notumor/same-a.png') && !paths.has('mr/Training/notumor/same-b.png'));
    assert.match(find('duplicate-dropped', 'Training/notumor/same-b.png')[0].detail, /identical decoded pixels/);
    // Label conflict: both copies dropped.
    assert.equal(rows.filter((x) => x.kind === 'label-conflict').length, 2);
    assert.ok(!paths.has('mr/Training/glioma/both.png') && !paths.has('mr/Training/notumor/both.png'));
    // Label CSV: spaced header, zero-padded file names, a row without file, a file without row.
    assert.ok(paths.has('head/head_ct/007.png'));
    assert.equal(m.entry(m.filepaths.indexOf('head/head_ct/003.png')).className, 'CT/head/hemorrhage');
    assert.equal(m.entry(m.filepaths.indexOf('head/head_ct/007.png')).className, 'CT/head/normal');
    assert.match(find('missing-file', '9')[0].detail, /labels\.csv row 11: no image file for id 9/);
    assert.equal(find('missing-label', 'head_ct/010.png').length, 1);
    // One-hot CSV: multi-label and unlabeled rows are listed and excluded; ids with or without extension match.
    assert.match(find('multi-label', 'img2.png')[0].detail, /row 4 .*2 labels \(pneumonia, effusion\)/);
    assert.equal(find('unlabeled', 'img3.png').length, 1);
    assert.equal(find('ignored-non-image', 'labels.csv').length, 0, 'the label CSV itself is not clutter');
    assert.ok(paths.has('xr/img4.png') && paths.has('xr/img5.png') && !paths.has('xr/img2.png'));

    // Classes and kinds.
    const kinds = Object.fromEntries(m.classes.map((c) => [c.name, c.kind]));
    assert.deepEqual(kinds, {
      'MR/brain/glioma': 'pathological',
      'MR/brain/notumor': 'anatomical',
      'CT/head/hemorrhage': 'pathological',
      'CT/head/normal': 'anatomical',
      'XR/chest/effusion': 'pathological',
      'XR/chest/normal': 'anatomical',
      'XR/chest/pneumonia': 'pathological',
    });
    // Splits: Testing kept as test; val carved from Training (10 %, per class); the rest 70/10/20.
    const split = (prefix: string) => {
      const c = { train: 0, val: 0, test: 0 };
      for (let i = 0; i < m.size; i++) if (m.filepaths[i].startsWith(prefix)) c[m.entry(i).split]++;
      return c;
    };
    // glioma Training: 20 + rgb + sixteen + palette = 23 kept (broken, leak-copy, both dropped) → 21 / 2 (round(2.3))
    assert.deepEqual(split('mr/Training/glioma/'), { train: 21, val: 2, test: 0 });
    assert.deepEqual(split('mr/Training/notumor/'), { train: 10, val: 1, test: 0 });
    assert.deepEqual(split('mr/Testing/'), { train: 0, val: 0, test: 11 });
    // 5 hemorrhage → 3/1/1, 4 normal → 3/0/1 (largest remainder)
    assert.deepEqual(split('head/'), { train: 6, val: 1, test: 2 });
    assert.ok(
      rows.some(
        (x) =>
          x.kind === 'split-assigned' &&
          x.class === 'MR/brain/glioma' &&
          /train 21 \/ val 2 \/ test 6; split given by the source \(6\); given train, 10 % carved out as val \(23\)/.test(
            x.detail,
          ),
      ),
    );
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(md, /the copy in the query split wins/);
    assert.match(md, /## Label conflicts \(1 group, 2 images dropped\)/);
    assert.match(
      md,
      /kept `mr\/Testing\/glioma\/leak\.png` \(test\); dropped `mr\/Training\/glioma\/leak-copy\.png` \(train\)/,
    );
    assert.equal(r.duplicates.dropped, 2);
    assert.equal(r.duplicates.conflictDropped, 2);
  } finally {
    cleanup();
  }
});

test('prepare: grouped seeded split — same seed gives the same manifest, groups never straddle', async () => {
  const { dir, cleanup } = tempDir();
  try {
    for (let p = 0; p < 12; p++)
      for (let k = 0; k < 1 + (p % 4); k++)
        await png(
          join(
            dir,
            'covid',
            p % 2 ? 'CT_COVID' : 'CT_NonCOVID',
            `2020.03.${String(p).padStart(2, '0')}.2002-p${k + 1}-${k * 7}.png`,
          ),
        );
    const spec = parseSourceSpec(
      `folder:path=${join(dir, 'covid')},dataset=covid,modality=CT,region=chest,group=^(.+?)-p\\d+-`,
    );
    const a = await prepareDataset({ sources: [spec], out: join(dir, 'a'), seed: 5 });
    const b = await prepareDataset({ sources: [spec], out: join(dir, 'b'), seed: 5 });
    const c = await prepareDataset({ sources: [spec], out: join(dir, 'c'), seed: 6 });
    assert.equal(a.manifest.hash, b.manifest.hash);
    assert.equal(
      readFileSync(join(dir, 'a', 'manifest.csv'), 'utf8'),
      readFileSync(join(dir, 'b', 'manifest.csv'), 'utf8'),
    );
    for (const r of [a, c]) {
      const m = r.manifest;
      const groupSplit = new Map<string, string>();
      for (let i = 0; i < m.size; i++) {
        const g = /([^/]+)-p\d+-/.exec(m.filepaths[i])![1];
        const s = m.entry(i).split;
        assert.equal(groupSplit.get(g) ?? s, s, `group ${g} straddles splits`);
        groupSplit.set(g, s);
      }
      assert.ok(m.indicesOf('test').length > 0 && m.indicesOf('train').length > 0);
    }
    assert.notEqual(a.manifest.hash, c.manifest.hash, 'another seed gives another split');
  } finally {
    cleanup();
  }
});

test('prepare: recipe with ${CBIR_DATASETS} via the CLI, then `cbir data stats`', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = join(dir, 'sets');
    for (const cls of ['normal', 'benign', 'malignant'])
      for (let i = 0; i < 6; i++) await png(join(data, 'us', cls, `${cls}-${i}.png`));
    mkdirSync(join(dir, 'recipes'));
    const recipe = join(dir, 'recipes', 'us.json');
    writeFileSync(
      recipe,
      JSON.stringify({
        name: 'us-only',
        seed: 1,
        sources: [{ type: 'folder', path: '${CBIR_DATASETS}/us', dataset: 'us', modality: 'US', region: 'breast' }],
      }),
    );
    assert.equal(loadRecipe(recipe, { CBIR_DATASETS: data }).sources[0].path, join(data, 'us'));
    const env = { ...process.env, CBIR_DATASETS: data };
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin/cbir.js'), ...args], { env, encoding: 'utf8', cwd: dir });
    const out = join(dir, 'out');
    const p = cli('data', 'prepare', '--recipe', recipe, '--out', out, '--quiet');
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /us\s+18\s+18\s+12\s+3\s+3/);
    const meta = JSON.parse(readFileSync(join(out, 'dataset.json'), 'utf8'));
    assert.equal(meta.name, 'us-only');
    assert.equal(meta.images, 18);
    const s = cli('data', 'stats', out, '--json');
    assert.equal(s.status, 0, s.stderr);
    const stats = JSON.parse(s.stdout);
    assert.deepEqual(stats.splits, { name: 'all', train: 12, val: 3, test: 3, total: 18 });
    assert.equal(stats.classes.find((c: { name: string }) => c.name === 'US/breast/normal').kind, 'anatomical');
    const t = cli('data', 'stats', out);
    assert.match(t.stdout, /class imbalance/);
    const bad = cli(
      'data',
      'prepare',
      '--source',
      'folder:path=nowhere,dataset=x,modality=US,region=breast',
      '--out',
      join(dir, 'o2'),
    );
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--source: x: source folder not found: .*nowhere/);
  } finally {
    cleanup();
  }
});

test('prepare: duplicates across sources follow the same policy; split folders without test are ignored', async () => {
  const { dir, cleanup } = tempDir();
  try {
    for (let i = 0; i < 10; i++) await png(join(dir, 'a', 'normal', `a${i}.png`));
    await png(join(dir, 'b', 'train', 'normal', 'b0.png'));
    await png(join(dir, 'b', 'train', 'normal', 'b1.png'));
    copy(join(dir, 'a', 'normal', 'a3.png'), join(dir, 'b', 'test', 'normal', 'twin.png'));
    copy(join(dir, 'a', 'normal', 'a4.png'), join(dir, 'b', 'train', 'tumour', 'other-class.png'));
    for (let i = 0; i < 10; i++) await png(join(dir, 'c', 'Train', 'normal', `c${i}.png`));
    const src = (name: string) =>
      parseSourceSpec(`folder:path=${join(dir, name)},dataset=${name},modality=XR,region=chest`);
    const out = join(dir, 'out');
    await prepareDataset({ sources: [src('a'), src('b'), src('c')], out });
    const m = await readManifest(out);
    const paths = new Set(m.filepaths);
    assert.ok(
      paths.has('b/test/normal/twin.png') && !paths.has('a/normal/a3.png'),
      'the test copy of another source wins',
    );
    assert.ok(
      !paths.has('a/normal/a4.png') && !paths.has('b/train/tumour/other-class.png'),
      'a cross-source label conflict drops both',
    );
    const rows = reportRows(out);
    assert.match(
      rows.find((x) => x.kind === 'duplicate-dropped' && x.file === 'normal/a3.png')!.detail,
      /identical bytes to b\/test\/normal\/twin\.png \(kept, in test\)/,
    );
    assert.equal(rows.filter((x) => x.kind === 'label-conflict').length, 2);
    const c = { train: 0, val: 0, test: 0 };
    for (let i = 0; i < m.size; i++) if (m.filepaths[i].startsWith('c/')) c[m.entry(i).split]++;
    assert.deepEqual(c, { train: 7, val: 1, test: 2 }, 'Train/ alone is not a split: 70/10/20 assigned');
  } finally {
    cleanup();
  }
});

test('prepare: a 0/1 label column without a labels map is an error naming the CSV and row', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await png(join(dir, 'h', '000.png'));
    put(join(dir, 'h', 'labels.csv'), 'id, hemorrhage\n0,1\n');
    const spec = parseSourceSpec(`csv:path=${join(dir, 'h')},csv=labels.csv,dataset=h,modality=CT,region=head`);
    await assert.rejects(prepareDataset({ sources: [spec], out: join(dir, 'o') }), (e: unknown) => {
      assert.ok(e instanceof CbirError);
      assert.match(
        e.message,
        /labels\.csv:2: label column "hemorrhage" holds 0\/1 values but the source has no labels map/,
      );
      assert.match(e.message, /labels=0:normal;1:hemorrhage/);
      return true;
    });
  } finally {
    cleanup();
  }
});
