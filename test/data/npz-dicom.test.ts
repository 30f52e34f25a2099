import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { prepareDataset } from '../../src/workbench/data/prepare.js';
import { parseSourceSpec } from '../../src/workbench/data/sources.js';
import { readManifest } from '../../src/workbench/data/manifest.js';
import { decodeImage } from '../../src/workbench/images/decode.js';
import { parseCsv } from '../../src/workbench/util/csv.js';
import { CbirError } from '../../src/workbench/errors.js';
import { tempDir } from '../helpers/datasets.js';
import { writeNpz } from '../helpers/npz.js';
import { writeDicom } from '../helpers/dicom.js';

function reportRows(out: string): Record<string, string>[] {
  const [h, ...rest] = [...parseCsv(readFileSync(join(out, 'report.csv'), 'utf8'))].map((r) => r.cells);
  return rest.map((cells) => Object.fromEntries(h.map((k, i) => [k, cells[i]])));
}

/** n distinct 8×8 uint8 images; image k is filled with value base+k plus a gradient. */
function stack(n: number, base: number): Uint8Array {
  const a = new Uint8Array(n * 64);
  for (let k = 0; k < n; k++) for (let p = 0; p < 64; p++) a[k * 64 + p] = (base + k * 3 + p) % 256;
  return a;
}

test('npz source: keeps its split, writes PNGs, dedupes across splits (test copy wins)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const train = stack(6, 0);
    const test_ = stack(3, 100);
    test_.set(train.subarray(64, 128), 0); // test[0] is train[1]
    const file = join(dir, 'mnist.npz');
    writeNpz(
      file,
      {
        train_images: { dtype: 'u1', shape: [6, 8, 8], data: train },
        train_labels: { dtype: 'u1', shape: [6, 1], data: [0, 1, 0, 1, 0, 1] },
        val_images: { dtype: 'u1', shape: [2, 8, 8], data: stack(2, 50) },
        val_labels: { dtype: 'u1', shape: [2, 1], data: [0, 1] },
        test_images: { dtype: 'u1', shape: [3, 8, 8], data: test_ },
        test_labels: { dtype: 'u1', shape: [3, 1], data: [1, 0, 1] },
      },
      { compress: true },
    );
    const out = join(dir, 'out');
    const spec = parseSourceSpec(`npz:path=${file},labels=0:normal;1:pneumonia,dataset=xr,modality=XR,region=chest`);
    const r = await prepareDataset({ sources: [spec], out });
    const m = await readManifest(out);
    assert.equal(m.size, 10);
    const counts = (s: 'train' | 'val' | 'test') => m.indicesOf(s).length;
    assert.deepEqual([counts('train'), counts('val'), counts('test')], [5, 2, 3]);
    assert.ok(m.filepaths.includes('images/xr/test/00000.png'));
    assert.ok(!m.filepaths.includes('images/xr/train/00001.png'));
    assert.ok(!existsSync(join(out, 'images/xr/train/00001.png')), 'the dropped copy is not left on disk');
    const rows = reportRows(out);
    assert.match(
      rows.find((x) => x.kind === 'duplicate-dropped')!.detail,
      /xr\/test\/00000\.png \(kept, in test\); this copy was in train/,
    );
    assert.equal(r.duplicates.dropped, 1);
    // The written PNG holds the array's pixels.
    const img = await decodeImage(join(out, 'images/xr/val/00001.png'));
    assert.equal(img.width, 8);
    assert.ok(img.grayscale);
    assert.equal(img.data[3 * 5], (50 + 3 + 5) % 256);
    assert.equal(m.entry(m.filepaths.indexOf('images/xr/train/00000.png')).className, 'XR/chest/normal');
    assert.equal(m.classes.find((c) => c.label === 'normal')!.kind, 'anatomical');

    // Without a labels map the label codes cannot be named.
    const bare = parseSourceSpec(`npz:path=${file},dataset=xr,modality=XR,region=chest`);
    await assert.rejects(prepareDataset({ sources: [bare], out: join(dir, 'o2') }), (e: unknown) => {
      assert.ok(e instanceof CbirError);
      assert.match(e.message, /mnist\.npz:1: label code 0 of mnist\.npz:train_labels\[0\] has no name/);
      return true;
    });
  } finally {
    cleanup();
  }
});

test('dicom source: class folders, window, PatientID groups never straddle, corrupt and non-DICOM files reported', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const root = join(dir, 'ct');
    const write = (rel: string, patient: string, k: number) => {
      const file = join(root, rel);
      mkdirSync(dirname(file), { recursive: true });
      // distinct patterns per image (a shifted copy of one pattern would be a near-duplicate); image 0 is -100 + (7p mod 300)
      const px = new Int16Array(16 * 16).map((_, p) => -100 + ((p * (7 + 2 * k) + k * 13) % 300));
      writeDicom(file, {
        rows: 16,
        cols: 16,
        pixels: px,
        bitsAllocated: 16,
        pixelRepresentation: 1,
        patientId: patient,
        sopInstanceUid: `1.2.3.${k}`,
        modality: 'CT',
      });
    };
    let k = 0;
    for (let p = 0; p < 10; p++)
      for (let j = 0; j < 3; j++) write(`${p % 2 ? 'bleed' : 'normal'}/P${p}-${j}.dcm`, `P${p}`, k++);
    write('bleed/P0-extra', 'P0', k++); // no extension, still DICOM; patient P0 also has images in normal/
    writeFileSync(join(root, 'normal/broken.dcm'), 'not dicom at all');
    writeFileSync(join(root, 'normal/notes'), 'plain text without extension');
    const out = join(dir, 'out');
    const spec = parseSourceSpec(`dicom:path=${root},window=50:100,dataset=ct,modality=CT,region=head`);
    await prepareDataset({ sources: [spec], out, seed: 2 });
    const m = await readManifest(out);
    assert.equal(m.size, 31);
    assert.ok(m.filepaths.includes('images/ct/bleed/P0-extra.png'));
    const patientSplit = new Map<string, string>();
    for (let i = 0; i < m.size; i++) {
      const pid = /P(\d+)-/.exec(m.filepaths[i])![1];
      const s = m.entry(i).split;
      assert.equal(patientSplit.get(pid) ?? s, s, `patient P${pid} straddles splits`);
      patientSplit.set(pid, s);
    }
    const rows = reportRows(out);
    assert.match(rows.find((x) => x.kind === 'corrupt')!.detail, /not a DICOM Part-10 file/);
    assert.equal(rows.find((x) => x.kind === 'ignored-non-image')!.file, 'normal/notes');
    // Window 50:100 maps ≤ 0 to black and ≥ 100 to white.
    const img = await decodeImage(join(out, 'images/ct/normal/P0-0.png'));
    let checked = 0;
    for (let p = 0; p < 256; p++) {
      const raw = -100 + ((p * 7) % 300);
      if (raw >= 100) {
        assert.equal(img.data[3 * p], 255, `pixel ${p} (${raw})`);
        checked++;
      }
      if (raw <= 0) {
        assert.equal(img.data[3 * p], 0, `pixel ${p} (${raw})`);
        checked++;
      }
    }
    assert.ok(checked > 100);
  } finally {
    cleanup();
  }
});

test('dicom source with a label CSV keyed by SOPInstanceUID', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const root = join(dir, 'mr');
    mkdirSync(join(root, 'files'), { recursive: true });
    for (let k = 0; k < 6; k++) {
      const px = new Uint8Array(8 * 8).map((_, p) => (p * 3 + k * 17) % 256);
      writeDicom(join(root, 'files', `img${k}.dcm`), {
        rows: 8,
        cols: 8,
        pixels: px,
        bitsAllocated: 8,
        patientId: `Q${k}`,
        sopInstanceUid: `9.8.${k}`,
      });
    }
    writeFileSync(
      join(root, 'labels.csv'),
      'sop , finding\n9.8.0,normal\n9.8.1,tumour\n9.8.2,normal|tumour\n9.8.3,\n9.8.4,tumour\n9.9.9,normal\n',
    );
    const out = join(dir, 'out');
    const spec = parseSourceSpec(
      `dicom:path=${root},csv=labels.csv,id=sop,label=finding,key=sop,dataset=mr,modality=MR,region=brain`,
    );
    await prepareDataset({ sources: [spec], out });
    const m = await readManifest(out);
    assert.deepEqual(m.filepaths.slice().sort(), [
      'images/mr/files/img0.png',
      'images/mr/files/img1.png',
      'images/mr/files/img4.png',
    ]);
    const rows = reportRows(out);
    const kinds = (kind: string) =>
      rows
        .filter((x) => x.kind === kind)
        .map((x) => x.file)
        .sort();
    assert.deepEqual(kinds('multi-label'), ['files/img2.dcm']);
    assert.deepEqual(kinds('unlabeled'), ['files/img3.dcm']);
    assert.deepEqual(kinds('missing-label'), ['files/img5.dcm']);
    assert.deepEqual(kinds('missing-file'), ['9.9.9']);
    assert.equal(m.classes.find((c) => c.label === 'normal')!.kind, 'anatomical');
  } finally {
    cleanup();
  }
});
