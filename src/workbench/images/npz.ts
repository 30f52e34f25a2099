import { open, type FileHandle } from 'node:fs/promises';
import * as zlib from 'node:zlib';
import { inflateSync } from 'fflate';
import { CbirError, errorMessage, errorCode } from '../errors.js';
import { parseNpyInto, type NpyArray } from './npy.js';

export type { NpyArray } from './npy.js';
export { parseNpy, npyImage } from './npy.js';

export interface ReadNpzOptions {
  /** Read only these members (names without `.npy`); a missing one is a CbirError listing what the file holds. */
  keys?: string[];
}

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

/**
 * Read a numpy `.npz` archive (as written by numpy.savez / savez_compressed, e.g. MedMNIST) into
 * a record of arrays keyed by member name without the `.npy` suffix. Members may be stored or
 * deflated (inflated with fflate); zip64 archives are supported. The file is read member by
 * member through a file handle (never whole into memory); each member is decompressed once into
 * a buffer of its exact size and the array is a view on it. CRC-32 is checked. Throws a CbirError
 * naming the file and the member for a missing file, a file that is not a zip, a truncated or
 * corrupt member, an encrypted member or an unsupported array.
 */
export async function readNpz(file: string, opts: ReadNpzOptions = {}): Promise<Record<string, NpyArray>> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    const code = errorCode(e);
    if (code === 'ENOENT')
      throw new CbirError('.npz file not found', {
        file,
        hint: 'check the path (and CBIR_DATASETS)',
        code: 'npz/not-found',
        cause: e,
      });
    throw new CbirError(`cannot open .npz file (${errorMessage(e)})`, {
      file,
      hint: 'check that the path is a readable file',
      code: 'npz/open',
      cause: e,
    });
  }
  try {
    const entries = await readCentralDirectory(fh, file);
    const npy = new Map<string, ZipEntry>();
    for (const e of entries) if (e.name.endsWith('.npy')) npy.set(e.name.slice(0, -4), e);
    let keys = [...npy.keys()];
    if (opts.keys) {
      const missing = opts.keys.filter((k) => !npy.has(k));
      if (missing.length) {
        throw new CbirError(
          `array${missing.length > 1 ? 's' : ''} ${missing.map((k) => `'${k}'`).join(', ')} not in the .npz (it holds: ${keys.join(', ') || 'no arrays'})`,
          {
            file,
            hint: 'use one of the arrays the file holds, or re-export the file with the missing array',
            code: 'npz/missing-member',
          },
        );
      }
      keys = opts.keys;
    }
    const out: Record<string, NpyArray> = {};
    for (const key of keys) {
      const entry = npy.get(key)!;
      const bytes = await readMember(fh, entry, file);
      out[key] = parseNpyInto(bytes, `${file}:${key}`, true);
    }
    return out;
  } finally {
    await fh.close();
  }
}

function notZip(file: string, why: string): CbirError {
  return new CbirError(`not a valid .npz (zip) file: ${why}`, {
    file,
    hint: 'the file is truncated or not an .npz; download it again or re-create it with numpy.savez',
    code: 'npz/not-zip',
  });
}

async function readAt(fh: FileHandle, position: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
  const buf = into ?? new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const chunk = Math.min(length - done, 1 << 30);
    const { bytesRead } = await fh.read(buf, done, chunk, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

async function readCentralDirectory(fh: FileHandle, file: string): Promise<ZipEntry[]> {
  const size = (await fh.stat()).size;
  if (size < 22) throw notZip(file, `only ${size} bytes`);
  const tailLen = Math.min(size, 22 + 0xffff + 20);
  const tailStart = size - tailLen;
  const tail = await readAt(fh, tailStart, tailLen);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let e = tail.length - 22;
  while (e >= 0 && tv.getUint32(e, true) !== SIG_EOCD) e--;
  if (e < 0) throw notZip(file, 'no end-of-central-directory record');
  let count = tv.getUint16(e + 10, true);
  let cdSize = tv.getUint32(e + 12, true);
  let cdOffset = tv.getUint32(e + 16, true);
  if (e >= 20 && tv.getUint32(e - 20, true) === SIG_EOCD64_LOCATOR) {
    const z64Offset = Number(tv.getBigUint64(e - 20 + 8, true));
    const rec = await readAt(fh, z64Offset, 56);
    const rv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
    if (rec.length < 56 || rv.getUint32(0, true) !== SIG_EOCD64)
      throw notZip(file, 'bad zip64 end-of-central-directory record');
    count = Number(rv.getBigUint64(32, true));
    cdSize = Number(rv.getBigUint64(40, true));
    cdOffset = Number(rv.getBigUint64(48, true));
  } else if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
    throw notZip(file, 'zip64 markers without a zip64 end-of-central-directory locator');
  }
  if (cdOffset + cdSize > size)
    throw notZip(
      file,
      `central directory (${cdSize} bytes at ${cdOffset}) lies beyond the end of the file (${size} bytes)`,
    );
  const cd = await readAt(fh, cdOffset, cdSize);
  const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries: ZipEntry[] = [];
  let p = 0;
  const dec = new TextDecoder('utf-8');
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== SIG_CENTRAL)
      throw notZip(file, `central directory entry ${i + 1} of ${count} is damaged`);
    const flags = cv.getUint16(p + 8, true);
    const method = cv.getUint16(p + 10, true);
    const crc = cv.getUint32(p + 16, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let usize = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let localOffset = cv.getUint32(p + 42, true);
    const nameBytes = cd.subarray(p + 46, p + 46 + nameLen);
    const name = flags & 0x800 ? dec.decode(nameBytes) : String.fromCharCode(...nameBytes);
    if (usize === U32_MAX || compressedSize === U32_MAX || localOffset === U32_MAX) {
      // zip64 extended information extra field (id 0x0001): the 64-bit values, in this order, of those set to 0xffffffff
      let x = p + 46 + nameLen;
      const xEnd = x + extraLen;
      let found = false;
      while (x + 4 <= xEnd) {
        const id = cv.getUint16(x, true);
        const len = cv.getUint16(x + 2, true);
        if (id === 0x0001) {
          let q = x + 4;
          const next = () => {
            const v = Number(cv.getBigUint64(q, true));
            q += 8;
            return v;
          };
          if (usize === U32_MAX) usize = next();
          if (compressedSize === U32_MAX) compressedSize = next();
          if (localOffset === U32_MAX) localOffset = next();
          found = true;
          break;
        }
        x += 4 + len;
      }
      if (!found) throw notZip(file, `member '${name}' has zip64 size markers but no zip64 extra field`);
    }
    entries.push({ name, method, flags, crc, compressedSize, size: usize, localOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

async function readMember(fh: FileHandle, e: ZipEntry, file: string): Promise<Uint8Array> {
  const member = e.name.replace(/\.npy$/, '');
  const fail = (
    msg: string,
    hint = 'the .npz is truncated or corrupt; download it again or re-create it with numpy.savez',
  ) => new CbirError(`array '${member}': ${msg}`, { file, hint, code: 'npz/corrupt-member' });
  if (e.flags & 1)
    throw fail('member is encrypted', 'decrypt the archive first (numpy never writes encrypted .npz files)');
  if (e.method !== 0 && e.method !== 8) {
    throw fail(
      `unsupported zip compression method ${e.method}`,
      'only stored and deflated members are supported; re-save with numpy.savez or numpy.savez_compressed',
    );
  }
  const lh = await readAt(fh, e.localOffset, 30);
  const lv = new DataView(lh.buffer, lh.byteOffset, lh.byteLength);
  if (lh.length < 30 || lv.getUint32(0, true) !== SIG_LOCAL)
    throw fail('local file header not found where the central directory says');
  const dataStart = e.localOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
  let bytes: Uint8Array;
  if (e.method === 0) {
    if (e.compressedSize !== e.size)
      throw fail(`stored member has compressed size ${e.compressedSize} ≠ size ${e.size}`);
    bytes = await readAt(fh, dataStart, e.size);
    if (bytes.length < e.size) throw fail(`truncated: ${bytes.length} of ${e.size} bytes present`);
  } else {
    const packed = await readAt(fh, dataStart, e.compressedSize);
    if (packed.length < e.compressedSize)
      throw fail(`truncated: ${packed.length} of ${e.compressedSize} compressed bytes present`);
    try {
      bytes = inflateSync(packed, { out: new Uint8Array(e.size) });
    } catch (err) {
      throw new CbirError(`array '${member}': cannot inflate (${errorMessage(err)})`, {
        file,
        hint: 'the .npz is truncated or corrupt; download it again or re-create it with numpy.savez_compressed',
        code: 'npz/corrupt-member',
        cause: err,
      });
    }
    if (bytes.length !== e.size) throw fail(`inflated to ${bytes.length} bytes, expected ${e.size}`);
  }
  if (crc32(bytes) !== e.crc) throw fail('CRC-32 mismatch (the data is corrupt)');
  return bytes;
}

let CRC_TABLE: Uint32Array | undefined;

/** CRC-32 (zip polynomial): node:zlib's native one where present (Node ≥ 20.15), else a table-driven one. */
function crc32(buf: Uint8Array): number {
  const native = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
  if (typeof native === 'function') return native(buf) >>> 0;
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  const t = CRC_TABLE;
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = t[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
