import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { readNpz, parseNpy, npyImage, type NpyArray } from '../../src/workbench/images/npz.js';
import { CbirError } from '../../src/workbench/errors.js';
import { writeNpz, npyBytes, zipBytes, type NpyDtypeCode } from '../helpers/npz.js';
import { tempDir, realData, DATASETS_DIR } from '../helpers/datasets.js';
import { rejectsCbir } from '../helpers/assert.js';

const CASES: { dtype: NpyDtypeCode; values: number[]; ctor: Function }[] = [
  { dtype: 'u1', values: [0, 1, 127, 128, 255, 7], ctor: Uint8Array },
  { dtype: 'i1', values: [-128, -1, 0, 1, 127, 5], ctor: Int8Array },
  { dtype: 'b1', values: [0, 1, 1, 0, 0, 1], ctor: Uint8Array },
  { dtype: 'u2', values: [0, 1, 256, 4095, 65535, 300], ctor: Uint16Array },
  { dtype: 'i2', values: [-32768, -1024, -1, 0, 40, 32767], ctor: Int16Array },
  { dtype: 'u4', values: [0, 1, 65536, 2 ** 31, 2 ** 32 - 1, 9], ctor: Uint32Array },
  { dtype: 'i4', values: [-(2 ** 31), -70000, -1, 0, 70000, 2 ** 31 - 1], ctor: Int32Array },
  { dtype: 'f4', values: [0, -1.5, 0.1, 3.4e38, -1e-30, 42], ctor: Float32Array },
  { dtype: 'f8', values: [0, -1.5, 0.1, 1e300, -1e-300, Math.PI], ctor: Float64Array },
  { dtype: 'i8', values: [0, -1, 2 ** 40, -(2 ** 50), 7, 123456789012], ctor: BigInt64Array },
];

function expected(dtype: NpyDtypeCode, values: number[]): unknown[] {
  if (dtype === 'i8') return values.map((v) => BigInt(v));
  if (dtype === 'f4') return values.map((v) => Math.fround(v));
  return values;
}

function assertArray(a: NpyArray, dtype: NpyDtypeCode, shape: number[], values: number[], ctor: Function) {
  assert.equal(a.dtype, dtype);
  assert.deepEqual(a.shape, shape);
  assert.ok(a.data instanceof ctor, `${dtype} data is a ${a.data.constructor.name}, expected ${ctor.name}`);
  assert.deepEqual([...a.data], expected(dtype, values));
}

test('every dtype round-trips through parseNpy, little and big endian, in formats 1.0, 2.0 and 3.0', () => {
  for (const { dtype, values, ctor } of CASES) {
    for (const bigEndian of [false, true]) {
      for (const version of [1, 2, 3] as const) {
        const bytes = npyBytes(
          { dtype, shape: [2, 3], data: dtype === 'i8' ? BigInt64Array.from(values.map(BigInt)) : values },
          { bigEndian, version },
        );
        const before = bytes.slice();
        const a = parseNpy(bytes, `t.npy`);
        assertArray(a, dtype, [2, 3], values, ctor);
        assert.deepEqual(bytes, before, 'parseNpy must not modify its input');
      }
    }
  }
});

test('parseNpy: little-endian aligned data is a view on the input, unaligned data is copied correctly', () => {
  const bytes = npyBytes({ dtype: 'f4', shape: [4], data: [1, 2, 3, 4] });
  const a = parseNpy(bytes);
  assert.equal(a.data.buffer, bytes.buffer);
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  const b = parseNpy(shifted.subarray(1));
  assert.deepEqual([...b.data], [1, 2, 3, 4]);
});

test('parseNpy: scalar and 1-D shapes', () => {
  assert.deepEqual(parseNpy(npyBytes({ dtype: 'f8', shape: [], data: [2.5] })).shape, []);
  const v = parseNpy(npyBytes({ dtype: 'i2', shape: [3], data: [1, -2, 3] }));
  assert.deepEqual(v.shape, [3]);
  assert.deepEqual([...v.data], [1, -2, 3]);
});

test('parseNpy: Fortran order, unsupported dtypes, bad magic and truncation are CbirErrors naming the array', () => {
  const fortran = npyBytes({ dtype: 'u1', shape: [2, 2], data: [1, 2, 3, 4] }, { fortranOrder: true });
  assert.throws(
    () => parseNpy(fortran, 'x.npz:imgs'),
    (e: unknown) =>
      e instanceof CbirError &&
      /Fortran/.test(e.message) &&
      /x\.npz:imgs/.test(e.message) &&
      /ascontiguousarray/.test(e.message),
  );
  const complex = npyBytes({ dtype: 'f8', shape: [1], data: [0] }, { descr: '<c8' });
  assert.throws(
    () => parseNpy(complex, 'c.npy'),
    (e: unknown) => e instanceof CbirError && /unsupported dtype '<c8'/.test(e.message) && /c\.npy/.test(e.message),
  );
  const uint64 = npyBytes({ dtype: 'i8', shape: [1], data: [0] }, { descr: '<u8' });
  assert.throws(() => parseNpy(uint64, 'u.npy'), /unsupported dtype '<u8'/);
  const sHeader = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n";
  const structured = Uint8Array.from([
    0x93,
    0x4e,
    0x55,
    0x4d,
    0x50,
    0x59,
    1,
    0,
    sHeader.length,
    0,
    ...Buffer.from(sHeader, 'latin1'),
    0,
    0,
    0,
    0,
  ]);
  assert.throws(() => parseNpy(structured, 's.npy'), /structured/);
  assert.throws(
    () => parseNpy(new Uint8Array(64), 'z.npy'),
    (e: unknown) => e instanceof CbirError && /magic/.test(e.message) && /z\.npy/.test(e.message),
  );
  const full = npyBytes({ dtype: 'u2', shape: [10, 10], data: new Array(100).fill(1) });
  assert.throws(
    () => parseNpy(full.subarray(0, full.length - 5), 't.npy'),
    (e: unknown) => e instanceof CbirError && /truncated/.test(e.message) && /needs 200 bytes/.test(e.message),
  );
});

test('readNpz: stored and deflated archives give the same arrays; deflated is smaller for redundant data', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const n = 50;
    const images = new Uint8Array(n * 8 * 8).map((_, i) => (i * 7) % 13);
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 3);
    const arrays = {
      train_images: { dtype: 'u1' as const, shape: [n, 8, 8], data: images },
      train_labels: { dtype: 'u1' as const, shape: [n, 1], data: labels },
      hu: { dtype: 'i2' as const, shape: [2, 2], data: [-1024, 0, 40, 3071] },
      emb: { dtype: 'f4' as const, shape: [1, 3], data: [0.25, -0.5, 1e-3] },
      big: { dtype: 'u2' as const, shape: [3], data: [0, 1000, 65535] },
      ids: { dtype: 'i8' as const, shape: [2], data: BigInt64Array.from([-5n, 1n << 40n]) },
    };
    const stored = join(dir, 'stored.npz');
    const deflated = join(dir, 'deflated.npz');
    writeNpz(stored, arrays);
    writeNpz(deflated, arrays, { compress: true });
    assert.ok(readFileSync(deflated).length < readFileSync(stored).length / 2);
    for (const f of [stored, deflated]) {
      const r = await readNpz(f);
      assert.deepEqual(Object.keys(r).sort(), ['big', 'emb', 'hu', 'ids', 'train_images', 'train_labels']);
      assert.deepEqual(r.train_images.shape, [n, 8, 8]);
      assert.deepEqual(r.train_images.data, images);
      assert.deepEqual([...r.train_labels.data], [...labels]);
      assert.deepEqual([...r.hu.data], [-1024, 0, 40, 3071]);
      assert.ok(r.hu.data instanceof Int16Array);
      assert.deepEqual([...r.emb.data], [0.25, -0.5, Math.fround(1e-3)]);
      assert.deepEqual([...r.big.data], [0, 1000, 65535]);
      assert.deepEqual([...r.ids.data], [-5n, 1n << 40n]);
      // no extra copy: the array is a view on a buffer holding exactly the decompressed member (header + data)
      const d = r.train_images.data;
      assert.equal(d.byteOffset % 64, 0);
      assert.ok(d.byteOffset > 0 && d.byteOffset <= 128, `data starts after the .npy header, got ${d.byteOffset}`);
      assert.equal(d.buffer.byteLength, d.byteOffset + n * 64);
    }
  } finally {
    cleanup();
  }
});

test('readNpz: big-endian members and format 2.0 headers inside an archive', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, 'be.npz');
    writeFileSync(
      f,
      zipBytes(
        {
          'a.npy': npyBytes({ dtype: 'f8', shape: [3], data: [1.5, -2, 1e-9] }, { bigEndian: true }),
          'b.npy': npyBytes({ dtype: 'i4', shape: [2], data: [-7, 123456] }, { bigEndian: true, version: 2 }),
        },
        { compress: true },
      ),
    );
    const r = await readNpz(f);
    assert.deepEqual([...r.a.data], [1.5, -2, 1e-9]);
    assert.deepEqual([...r.b.data], [-7, 123456]);
  } finally {
    cleanup();
  }
});

test('readNpz: zip64 archives (zip64 extra fields, end-of-central-directory record and locator)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    for (const compress of [false, true]) {
      const f = join(dir, `z64-${compress}.npz`);
      writeNpz(
        f,
        {
          x: { dtype: 'u2', shape: [2, 2], data: [1, 2, 3, 4] },
          y: { dtype: 'u1', shape: [3], data: [9, 8, 7] },
        },
        { zip64: true, compress },
      );
      const r = await readNpz(f);
      assert.deepEqual([...r.x.data], [1, 2, 3, 4]);
      assert.deepEqual([...r.y.data], [9, 8, 7]);
    }
  } finally {
    cleanup();
  }
});

test('readNpz: keys option reads only those members; a missing member is a CbirError listing what exists', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, 'm.npz');
    writeNpz(f, {
      train_images: { dtype: 'u1', shape: [1, 2, 2], data: [1, 2, 3, 4] },
      train_labels: { dtype: 'u1', shape: [1, 1], data: [0] },
    });
    const only = await readNpz(f, { keys: ['train_labels'] });
    assert.deepEqual(Object.keys(only), ['train_labels']);
    await rejectsCbir(
      readNpz(f, { keys: ['test_images'] }),
      /'test_images' not in the \.npz \(it holds: train_images, train_labels\)/,
      'npz/missing-member',
    );
    await rejectsCbir(readNpz(f, { keys: ['test_images'] }), /m\.npz/);
  } finally {
    cleanup();
  }
});

test('readNpz: missing file, non-zip, truncated and corrupt archives are CbirErrors naming the file (and array)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await rejectsCbir(readNpz(join(dir, 'nope.npz')), /nope\.npz: \.npz file not found/, 'npz/not-found');
    const junk = join(dir, 'junk.npz');
    writeFileSync(junk, 'this is not a zip file at all, just some text that is long enough');
    await rejectsCbir(readNpz(junk), /junk\.npz: not a valid \.npz/, 'npz/not-zip');

    const data = Uint8Array.from({ length: 4096 }, (_, i) => (i * 31) % 251);
    const good = join(dir, 'good.npz');
    writeNpz(good, { imgs: { dtype: 'u1', shape: [4096], data } }, { compress: true });
    const bytes = readFileSync(good);
    const truncated = join(dir, 'truncated.npz');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await rejectsCbir(readNpz(truncated), /truncated\.npz: not a valid \.npz/, 'npz/not-zip');

    // a flipped byte inside the deflated data: inflate fails or the CRC does not match
    const bad = Buffer.from(bytes);
    bad[60] ^= 0xff;
    const corrupt = join(dir, 'corrupt.npz');
    writeFileSync(corrupt, bad);
    await rejectsCbir(readNpz(corrupt), /corrupt\.npz: array 'imgs'/, 'npz/corrupt-member');

    // a flipped byte in stored data is caught by the CRC-32
    const storedFile = join(dir, 'stored.npz');
    writeNpz(storedFile, { imgs: { dtype: 'u1', shape: [4096], data } });
    const s = Buffer.from(readFileSync(storedFile));
    s[30 + 'imgs.npy'.length + 64 + 100] ^= 0x01;
    writeFileSync(storedFile, s);
    await rejectsCbir(readNpz(storedFile), /array 'imgs': CRC-32 mismatch/, 'npz/corrupt-member');

    // a Fortran-order member names the archive and the member
    const fortran = join(dir, 'fortran.npz');
    writeFileSync(
      fortran,
      zipBytes({ 'imgs.npy': npyBytes({ dtype: 'u1', shape: [2, 2], data: [1, 2, 3, 4] }, { fortranOrder: true }) }),
    );
    await rejectsCbir(readNpz(fortran), /fortran\.npz:imgs: .*Fortran/);
  } finally {
    cleanup();
  }
});

test('npyImage: grayscale (n,H,W) and colour (n,H,W,3) stacks to RgbImage; bad arrays and indices are CbirErrors', () => {
  const gray = parseNpy(npyBytes({ dtype: 'u1', shape: [2, 2, 3], data: [1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60] }));
  const im = npyImage(gray, 1);
  assert.equal(im.width, 3);
  assert.equal(im.height, 2);
  assert.equal(im.grayscale, true);
  assert.deepEqual([...im.data], [10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40, 50, 50, 50, 60, 60, 60]);

  const rgbValues = [255, 0, 0, 0, 255, 0, /* image 1 */ 1, 2, 3, 4, 5, 6];
  const rgb = parseNpy(npyBytes({ dtype: 'u1', shape: [2, 1, 2, 3], data: rgbValues }));
  const c = npyImage(rgb, 0);
  assert.equal(c.grayscale, false);
  assert.deepEqual([...c.data], [255, 0, 0, 0, 255, 0]);
  c.data[0] = 7;
  assert.equal(rgb.data[0], 255, 'the image must not share memory with the stack');

  assert.throws(
    () => npyImage(gray, 2, 'p.npz:test_images'),
    (e: unknown) => e instanceof CbirError && /out of range/.test(e.message) && /p\.npz:test_images/.test(e.message),
  );
  const labels = parseNpy(npyBytes({ dtype: 'u1', shape: [2, 1], data: [0, 1] }));
  assert.throws(() => npyImage(labels, 0, 'p.npz:test_labels'), /not a uint8 image stack/);
  const f = parseNpy(npyBytes({ dtype: 'f4', shape: [1, 2, 2], data: [0, 0, 0, 0] }));
  assert.throws(() => npyImage(f, 0), /dtype f4/);
});

test(
  'real data: PneumoniaMNIST has 2428/270/468 uint8 28×28 images with matching labels',
  { skip: realData('xr-chest-pneumoniamnist') },
  async () => {
    const file = join(DATASETS_DIR, 'xr-chest-pneumoniamnist', 'pneumoniamnist.npz');
    const r = await readNpz(file);
    const sizes = { train: 2428, val: 270, test: 468 };
    for (const [split, n] of Object.entries(sizes)) {
      assert.equal(r[`${split}_images`].dtype, 'u1');
      assert.deepEqual(r[`${split}_images`].shape, [n, 28, 28]);
      assert.deepEqual(r[`${split}_labels`].shape, [n, 1]);
      const labels = r[`${split}_labels`].data;
      assert.ok(
        labels.every((v) => v === 0 || v === 1),
        'PneumoniaMNIST labels are 0 (normal) or 1 (pneumonia)',
      );
    }
    const im = npyImage(r.test_images, 467, `${file}:test_images`);
    assert.equal(im.width, 28);
    assert.equal(im.grayscale, true);
    assert.ok(im.data.some((v) => v > 0));
  },
);
