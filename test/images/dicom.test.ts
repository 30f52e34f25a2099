import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { decodeDicom } from '../../src/workbench/images/dicom.js';
import { toGray } from '../../src/workbench/images/decode.js';
import { CbirError } from '../../src/workbench/errors.js';
import { writeDicom, dicomBytes, type WriteDicomOptions } from '../helpers/dicom.js';
import { tempDir } from '../helpers/datasets.js';
import { rejectsCbir } from '../helpers/assert.js';

// A CT-like 2×5 image in Hounsfield units, stored unsigned as HU + 1024 (RescaleIntercept −1024).
const HU = [-1000, -160, -159, -100, 0, 40, 100, 239, 240, 1000];
// The soft-tissue window c = 40, w = 400 by PS3.3 C.11.2.1.2.1 (thresholds −160 and 239):
// y = ((x − 39.5) / 399 + 0.5) · 255, e.g. x = 0 → 102.26, x = 40 → 127.82, x = 100 → 166.17, x = −100 → 38.35, x = −159 → 0.64.
const SOFT_TISSUE = [0, 0, 1, 38, 102, 128, 166, 255, 255, 255];
// A given window c = 0, w = 2000 (thresholds −1000 and 999): y = ((x + 0.5) / 1999 + 0.5) · 255,
// e.g. x = −160 → 107.15, x = −100 → 114.81, x = 0 → 127.56, x = 40 → 132.67, x = 100 → 140.32, x = 239 → 158.05.
const WIDE = [0, 107, 107, 115, 128, 133, 140, 158, 158, 255];

function ct(extra: Partial<WriteDicomOptions> = {}): WriteDicomOptions {
  return {
    rows: 2,
    cols: 5,
    bitsAllocated: 16,
    bitsStored: 12,
    pixels: Uint16Array.from(HU, (h) => h + 1024),
    rescaleSlope: 1,
    rescaleIntercept: -1024,
    windowCenter: 40,
    windowWidth: 400,
    modality: 'CT',
    patientId: 'PAT-001',
    sopInstanceUid: '1.2.3.4.5.6',
    ...extra,
  };
}

async function decodeTemp(opts: WriteDicomOptions, decodeOpts?: Parameters<typeof decodeDicom>[1]) {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, 'x.dcm');
    writeDicom(f, opts);
    return await decodeDicom(f, decodeOpts);
  } finally {
    cleanup();
  }
}

test('CT: RescaleIntercept to HU, then the soft-tissue window from the tags gives the hand-computed 8-bit values', async () => {
  for (const transferSyntax of ['explicit-le', 'implicit-le', 'deflated-explicit-le'] as const) {
    const { image, meta } = await decodeTemp(ct({ transferSyntax }));
    assert.equal(image.width, 5);
    assert.equal(image.height, 2);
    assert.equal(image.grayscale, true);
    assert.deepEqual([...toGray(image)], SOFT_TISSUE, transferSyntax);
    assert.deepEqual(meta.window, { center: 40, width: 400 });
    assert.equal(meta.patientId, 'PAT-001');
    assert.equal(meta.sopInstanceUid, '1.2.3.4.5.6');
    assert.equal(meta.modality, 'CT');
    assert.equal(meta.photometric, 'MONOCHROME2');
    assert.equal(meta.studyInstanceUid, '1.2.826.0.1.3680043.10.543.2');
    assert.equal(meta.seriesInstanceUid, '1.2.826.0.1.3680043.10.543.3');
  }
});

test('RescaleSlope is applied: stored 520/500/550 with slope 2, intercept −1000 are HU 40/0/100', async () => {
  const { image } = await decodeTemp({
    rows: 1,
    cols: 3,
    bitsAllocated: 16,
    pixels: Uint16Array.from([520, 500, 550]),
    rescaleSlope: 2,
    rescaleIntercept: -1000,
    windowCenter: 40,
    windowWidth: 400,
  });
  assert.deepEqual([...toGray(image)], [128, 102, 166]);
});

test('a given window overrides the tags; multi-valued window tags use the first value', async () => {
  const given = await decodeTemp(ct(), { window: { center: 0, width: 2000 } });
  assert.deepEqual([...toGray(given.image)], WIDE);
  assert.deepEqual(given.meta.window, { center: 0, width: 2000 });
  const multi = await decodeTemp(ct({ windowCenter: [40, 0], windowWidth: [400, 2000] }));
  assert.deepEqual([...toGray(multi.image)], SOFT_TISSUE);
  await rejectsCbir(decodeTemp(ct(), { window: { center: 40, width: 0 } }), /invalid window/, 'dicom/bad-window');
});

test('without window tags the min..max of the modality values maps to 0..255', async () => {
  const { image, meta } = await decodeTemp(ct({ windowCenter: undefined, windowWidth: undefined }));
  const g = toGray(image);
  assert.equal(g[0], 0);
  assert.equal(g[9], 255);
  // linear in between: HU 0 lies at (0 + 1000) / 2000 of the range
  assert.equal(g[4], Math.round(((0 - -1000) / 2000) * 255));
  assert.deepEqual(meta.window, { center: 0.5, width: 2001 });
  // PixelPaddingValue is left out of the range
  const padded = await decodeTemp(
    ct({
      windowCenter: undefined,
      windowWidth: undefined,
      pixels: Uint16Array.from([0, ...HU.slice(1).map((h) => h + 1024)]),
      pixelPaddingValue: 0,
    }),
  );
  const p = toGray(padded.image);
  assert.equal(p[1], 0, 'the lowest real value (−160 HU) is black');
  assert.equal(p[9], 255);
});

test('VOILUTFunction LINEAR_EXACT and SIGMOID follow PS3.3 C.11.2.1.3', async () => {
  const exact = await decodeTemp(ct({ voiLutFunction: 'LINEAR_EXACT' }));
  // y = ((x − 40) / 400 + 0.5) · 255: HU 0 → 102, 40 → 127.5 → 128, 100 → 165.75 → 166, −159 → 0.6375 → 1
  assert.deepEqual([...toGray(exact.image)].slice(2, 7), [1, 38, 102, 128, 166]);
  const sigmoid = await decodeTemp(ct({ voiLutFunction: 'SIGMOID' }));
  // y = 255 / (1 + exp(−4 (x − 40) / 400)): HU 40 → 127.5 → 128, HU 0 → 255 / (1 + e^0.4) = 102.34 → 102
  const s = toGray(sigmoid.image);
  assert.equal(s[5], 128);
  assert.equal(s[4], 102);
});

test('MONOCHROME1 is inverted; plain 8-bit MONOCHROME2 passes through unchanged', async () => {
  const pixels = Uint8Array.from([0, 64, 128, 255]);
  const m2 = await decodeTemp({ rows: 2, cols: 2, bitsAllocated: 8, pixels, photometric: 'MONOCHROME2' });
  assert.deepEqual([...toGray(m2.image)], [0, 64, 128, 255]);
  const m1 = await decodeTemp({ rows: 2, cols: 2, bitsAllocated: 8, pixels, photometric: 'MONOCHROME1' });
  assert.deepEqual([...toGray(m1.image)], [255, 191, 127, 0]);
  assert.equal(m1.meta.photometric, 'MONOCHROME1');
  // inversion after windowing on 16-bit data too
  const ct1 = await decodeTemp(ct({ photometric: 'MONOCHROME1' }));
  assert.deepEqual(
    [...toGray(ct1.image)],
    SOFT_TISSUE.map((v) => 255 - v),
  );
});

test('signed 16-bit (PixelRepresentation 1) stores HU directly; BitsStored masks garbage in the unused high bits', async () => {
  const signed = await decodeTemp({
    rows: 2,
    cols: 5,
    bitsAllocated: 16,
    pixelRepresentation: 1,
    pixels: Int16Array.from(HU),
    windowCenter: 40,
    windowWidth: 400,
  });
  assert.deepEqual([...toGray(signed.image)], SOFT_TISSUE);
  // 12 bits stored, signed: −100 is 0xF9C in 12 bits; set the 4 unused bits to 0b0101 — they must be ignored
  const raw12 = Uint16Array.from(HU, (h) => (h & 0xfff) | 0x5000);
  const masked = await decodeTemp({
    rows: 2,
    cols: 5,
    bitsAllocated: 16,
    bitsStored: 12,
    pixelRepresentation: 1,
    pixels: raw12,
    windowCenter: 40,
    windowWidth: 400,
  });
  assert.deepEqual([...toGray(masked.image)], SOFT_TISSUE);
  // unsigned 12 bits with garbage high bits
  const uraw = Uint16Array.from(HU, (h) => (h + 1024) | 0xa000);
  const umasked = await decodeTemp(ct({ pixels: uraw }));
  assert.deepEqual([...toGray(umasked.image)], SOFT_TISSUE);
});

test('RGB with PlanarConfiguration 0 and 1 gives the same interleaved pixels', async () => {
  const pixels = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  for (const planarConfiguration of [0, 1] as const) {
    const { image, meta } = await decodeTemp({
      rows: 2,
      cols: 3,
      bitsAllocated: 8,
      pixels,
      photometric: 'RGB',
      samplesPerPixel: 3,
      planarConfiguration,
    });
    assert.equal(image.grayscale, false);
    assert.deepEqual([...image.data], [...pixels], `planar ${planarConfiguration}`);
    assert.equal(meta.photometric, 'RGB');
    assert.equal(meta.window, undefined);
  }
});

test('multi-frame: the first frame is decoded and meta says so', async () => {
  const frame1 = [0, 100, 200, 255];
  const frame2 = [255, 200, 100, 0];
  const { image, meta } = await decodeTemp({
    rows: 2,
    cols: 2,
    bitsAllocated: 8,
    pixels: Uint8Array.from([...frame1, ...frame2]),
    numberOfFrames: 2,
  });
  assert.deepEqual([...toGray(image)], frame1);
  assert.equal(meta.frames, 2);
  assert.match(meta.note ?? '', /frame 1 of 2/);
});

test('bytes in memory decode like the file', async () => {
  const { image } = await decodeDicom(dicomBytes(ct()));
  assert.deepEqual([...toGray(image)], SOFT_TISSUE);
});

test('compressed transfer syntax is a CbirError naming the file, the syntax and how to convert', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, 'jpeg.dcm');
    writeDicom(f, { rows: 2, cols: 2, bitsAllocated: 8, pixels: new Uint8Array(4), transferSyntax: 'jpeg-baseline' });
    await rejectsCbir(
      decodeDicom(f),
      /jpeg\.dcm: .*1\.2\.840\.10008\.1\.2\.4\.50 — JPEG Baseline[\s\S]*gdcmconv --raw/,
      'dicom/compressed',
    );
  } finally {
    cleanup();
  }
});

test('truncated, missing, non-DICOM and pixel-less files are CbirErrors naming the file', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const full = dicomBytes({ rows: 16, cols: 16, bitsAllocated: 16, pixels: new Uint16Array(256) });
    const cut = join(dir, 'cut.dcm');
    writeFileSync(cut, full.subarray(0, full.length - 100));
    await rejectsCbir(decodeDicom(cut), /cut\.dcm: [\s\S]*(truncated|cannot parse)/);
    const headerOnly = join(dir, 'header.dcm');
    writeFileSync(headerOnly, full.subarray(0, 200));
    await rejectsCbir(decodeDicom(headerOnly), /header\.dcm: /);

    await rejectsCbir(decodeDicom(join(dir, 'missing.dcm')), /missing\.dcm: DICOM file not found/, 'dicom/not-found');
    const png = join(dir, 'image.dcm');
    writeFileSync(png, Buffer.alloc(300, 7));
    await rejectsCbir(decodeDicom(png), /image\.dcm: not a DICOM Part-10 file/, 'dicom/not-dicom');

    const noPixels = join(dir, 'sr.dcm');
    writeDicom(noPixels, { rows: 2, cols: 2, bitsAllocated: 8, pixels: new Uint8Array(4), omitPixelData: true });
    await rejectsCbir(decodeDicom(noPixels), /sr\.dcm: no PixelData/, 'dicom/no-pixels');
  } finally {
    cleanup();
  }
});

test('the fixture writer produces a Part-10 header: preamble, DICM, group 0002 with its group length', () => {
  const b = dicomBytes({ rows: 1, cols: 1, bitsAllocated: 8, pixels: new Uint8Array(1) });
  assert.ok(b.subarray(0, 128).every((v) => v === 0));
  assert.equal(Buffer.from(b.subarray(128, 132)).toString('latin1'), 'DICM');
  const dv = new DataView(b.buffer, b.byteOffset);
  assert.equal(dv.getUint16(132, true), 0x0002);
  assert.equal(dv.getUint16(134, true), 0x0000);
  assert.equal(Buffer.from(b.subarray(136, 138)).toString('latin1'), 'UL');
  const groupLength = dv.getUint32(140, true);
  // the element right after the meta group belongs to group 0008
  assert.equal(dv.getUint16(144 + groupLength, true), 0x0008);
});
