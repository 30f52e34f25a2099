import { writeFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { crc32 } from './png.js';

/** numpy type codes the fixture writer can produce (byte order is chosen by `npyBytes`' options). */
export type NpyDtypeCode = 'u1' | 'u2' | 'i2' | 'f4' | 'i8' | 'i1' | 'u4' | 'i4' | 'f8' | 'b1';

/** One array to write: C-order values, `shape` as numpy would report it. */
export interface NpyInput {
  dtype: NpyDtypeCode;
  shape: number[];
  data: ArrayLike<number> | BigInt64Array;
}

const SIZES: Record<NpyDtypeCode, number> = { u1: 1, i1: 1, b1: 1, u2: 2, i2: 2, u4: 4, i4: 4, f4: 4, f8: 8, i8: 8 };

/**
 * Bytes of a `.npy` file for `arr` (test fixtures). Defaults: format 1.0, little endian, C order,
 * header padded so the data starts at a multiple of 64 (as numpy does). `bigEndian` writes '>'
 * data, `version` 2 or 3 the longer header forms, `fortranOrder` only flips the header flag
 * (to test that readers refuse it), `descr` overrides the dtype string written in the header.
 */
export function npyBytes(
  arr: NpyInput,
  opts: { bigEndian?: boolean; version?: 1 | 2 | 3; fortranOrder?: boolean; descr?: string } = {},
): Uint8Array {
  const { dtype, shape, data } = arr;
  const size = SIZES[dtype];
  if (size === undefined) throw new Error(`npyBytes: unknown dtype ${dtype}`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`npyBytes: ${data.length} values for shape (${shape.join(', ')})`);
  const order = size === 1 ? '|' : opts.bigEndian ? '>' : '<';
  const descr = opts.descr ?? `${order}${dtype}`;
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const version = opts.version ?? 1;
  const prefix = version === 1 ? 10 : 12;
  let header = `{'descr': '${descr}', 'fortran_order': ${opts.fortranOrder ? 'True' : 'False'}, 'shape': ${shapeStr}, }`;
  const total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  header = header.padEnd(total - prefix - 1, ' ') + '\n';
  const headerBytes = new TextEncoder().encode(header);
  const out = new Uint8Array(prefix + headerBytes.length + count * size);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, headerBytes.length, true);
  else dv.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, prefix);
  const le = !opts.bigEndian;
  let p = prefix + headerBytes.length;
  for (let i = 0; i < count; i++, p += size) {
    const v = data[i];
    switch (dtype) {
      case 'u1':
        dv.setUint8(p, Number(v));
        break;
      case 'b1':
        dv.setUint8(p, Number(v) ? 1 : 0);
        break;
      case 'i1':
        dv.setInt8(p, Number(v));
        break;
      case 'u2':
        dv.setUint16(p, Number(v), le);
        break;
      case 'i2':
        dv.setInt16(p, Number(v), le);
        break;
      case 'u4':
        dv.setUint32(p, Number(v), le);
        break;
      case 'i4':
        dv.setInt32(p, Number(v), le);
        break;
      case 'f4':
        dv.setFloat32(p, Number(v), le);
        break;
      case 'f8':
        dv.setFloat64(p, Number(v), le);
        break;
      case 'i8':
        dv.setBigInt64(p, typeof v === 'bigint' ? v : BigInt(v), le);
        break;
    }
  }
  return out;
}

/**
 * A zip archive of `members` (name → bytes), stored or deflated. `zip64` writes zip64 extra fields
 * in the local and central headers plus the zip64 end-of-central-directory record and locator
 * (with 0xffffffff markers in the 32-bit fields), as large numpy archives have.
 */
export function zipBytes(
  members: Record<string, Uint8Array>,
  opts: { compress?: boolean; zip64?: boolean } = {},
): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const enc = new TextEncoder();
  const z64 = opts.zip64 === true;
  for (const [name, raw] of Object.entries(members)) {
    const nameBytes = enc.encode(name);
    const data = opts.compress ? new Uint8Array(deflateRawSync(raw)) : raw;
    const method = opts.compress ? 8 : 0;
    const crc = crc32(raw);
    const version = z64 ? 45 : 20;
    const localExtra = z64 ? 20 : 0;
    const lh = new Uint8Array(30 + nameBytes.length + localExtra);
    const lv = new DataView(lh.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, version, true);
    lv.setUint16(6, 0, true);
    lv.setUint16(8, method, true);
    lv.setUint16(10, 0, true);
    lv.setUint16(12, 0x21, true); // 1980-01-01
    lv.setUint32(14, crc, true);
    lv.setUint32(18, z64 ? 0xffffffff : data.length, true);
    lv.setUint32(22, z64 ? 0xffffffff : raw.length, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, localExtra, true);
    lh.set(nameBytes, 30);
    if (z64) {
      const x = 30 + nameBytes.length;
      lv.setUint16(x, 0x0001, true);
      lv.setUint16(x + 2, 16, true);
      lv.setBigUint64(x + 4, BigInt(raw.length), true);
      lv.setBigUint64(x + 12, BigInt(data.length), true);
    }
    const centralExtra = z64 ? 28 : 0;
    const ch = new Uint8Array(46 + nameBytes.length + centralExtra);
    const cv = new DataView(ch.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, version, true);
    cv.setUint16(6, version, true);
    cv.setUint16(8, 0, true);
    cv.setUint16(10, method, true);
    cv.setUint16(12, 0, true);
    cv.setUint16(14, 0x21, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, z64 ? 0xffffffff : data.length, true);
    cv.setUint32(24, z64 ? 0xffffffff : raw.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint16(30, centralExtra, true);
    cv.setUint32(42, z64 ? 0xffffffff : offset, true);
    ch.set(nameBytes, 46);
    if (z64) {
      const x = 46 + nameBytes.length;
      cv.setUint16(x, 0x0001, true);
      cv.setUint16(x + 2, 24, true);
      cv.setBigUint64(x + 4, BigInt(raw.length), true);
      cv.setBigUint64(x + 12, BigInt(data.length), true);
      cv.setBigUint64(x + 20, BigInt(offset), true);
    }
    parts.push(lh, data);
    central.push(ch);
    offset += lh.length + data.length;
  }
  const cdOffset = offset;
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const count = central.length;
  const tail: Uint8Array[] = [];
  if (z64) {
    const rec = new Uint8Array(56);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, 0x06064b50, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(count), true);
    rv.setBigUint64(32, BigInt(count), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(cdOffset), true);
    const loc = new Uint8Array(20);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, 0x07064b50, true);
    lv.setBigUint64(8, BigInt(cdOffset + cdSize), true);
    lv.setUint32(16, 1, true);
    tail.push(rec, loc);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, z64 ? 0xffff : count, true);
  ev.setUint16(10, z64 ? 0xffff : count, true);
  ev.setUint32(12, z64 ? 0xffffffff : cdSize, true);
  ev.setUint32(16, z64 ? 0xffffffff : cdOffset, true);
  tail.push(eocd);
  const all = [...parts, ...central, ...tail];
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
  let p = 0;
  for (const a of all) {
    out.set(a, p);
    p += a.length;
  }
  return out;
}

/**
 * Write a numpy `.npz` fixture: one little-endian C-order `<key>.npy` member per array, stored
 * (default) or deflated (`compress`, like numpy.savez_compressed); `zip64` as in `zipBytes`.
 */
export function writeNpz(
  file: string,
  arrays: Record<
    string,
    {
      dtype: 'u1' | 'u2' | 'i2' | 'f4' | 'i8' | 'i1' | 'u4' | 'i4' | 'f8' | 'b1';
      shape: number[];
      data: ArrayLike<number> | BigInt64Array;
    }
  >,
  opts: { compress?: boolean; zip64?: boolean } = {},
): void {
  const members: Record<string, Uint8Array> = {};
  for (const [key, arr] of Object.entries(arrays)) members[`${key}.npy`] = npyBytes(arr);
  writeFileSync(file, zipBytes(members, opts));
}
