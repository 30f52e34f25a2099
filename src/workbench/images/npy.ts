import { CbirError } from '../errors.js';
import { toRgb, type RgbImage } from './decode.js';

/**
 * One array from a `.npy` file. `dtype` is the numpy type code without its byte-order mark
 * ('u1', 'i1', 'u2', 'i2', 'u4', 'i4', 'f4', 'f8', 'i8', 'b1'); `data` is always in native
 * byte order, C (row-major) order, `shape` as numpy reports it (`[]` for a scalar).
 * 'b1' (bool) arrives as a Uint8Array of 0/1, 'i8' as a BigInt64Array.
 */
export interface NpyArray {
  dtype: string;
  shape: number[];
  data:
    | Uint8Array
    | Int8Array
    | Uint16Array
    | Int16Array
    | Uint32Array
    | Int32Array
    | Float32Array
    | Float64Array
    | BigInt64Array;
}

type TypedCtor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Uint16ArrayConstructor
  | Int16ArrayConstructor
  | Uint32ArrayConstructor
  | Int32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor;

const DTYPES: Record<string, { size: number; ctor: TypedCtor }> = {
  u1: { size: 1, ctor: Uint8Array },
  b1: { size: 1, ctor: Uint8Array },
  i1: { size: 1, ctor: Int8Array },
  u2: { size: 2, ctor: Uint16Array },
  i2: { size: 2, ctor: Int16Array },
  u4: { size: 4, ctor: Uint32Array },
  i4: { size: 4, ctor: Int32Array },
  f4: { size: 4, ctor: Float32Array },
  f8: { size: 8, ctor: Float64Array },
  i8: { size: 8, ctor: BigInt64Array },
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const NATIVE_LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Parse a `.npy` file held in memory (format versions 1.0, 2.0 and 3.0). The result's `data` is a
 * view on `bytes` when the data is in native byte order and suitably aligned, otherwise a copy
 * (big-endian '>' data is converted to native order in the copy; `bytes` is never modified).
 * `name` labels errors (e.g. the file, or 'file.npz:train_images'). Throws a CbirError for a bad
 * magic, an unsupported dtype, Fortran order or a file shorter than its header says.
 */
export function parseNpy(bytes: Uint8Array, name = '<buffer>'): NpyArray {
  return parseNpyInto(bytes, name, false);
}

/** Builds the CbirError of a malformed .npy (its default hint says to re-create the file). */
type NpyFail = (msg: string, hint?: string) => CbirError;

/** The parsed preamble of a .npy file: where the data starts and the header dictionary text. */
interface NpyPreamble {
  dataStart: number;
  header: string;
}

/** The dtype and shape a .npy header declares, with the byte order resolved. */
interface NpyLayout {
  code: string;
  dt: { size: number; ctor: TypedCtor };
  bigEndian: boolean;
  shape: number[];
}

/**
 * Internal form of parseNpy. With `owned` the caller hands over `bytes` (nobody else sees it),
 * so big-endian data may be swapped in place instead of copied.
 * @internal
 */
export function parseNpyInto(bytes: Uint8Array, name: string, owned: boolean): NpyArray {
  const bad: NpyFail = (msg, hint = 'the file is not a valid .npy array; re-create it with numpy.save / numpy.savez') =>
    new CbirError(msg, { file: name, hint, code: 'npy/invalid' });
  const { dataStart, header } = readNpyPreamble(bytes, bad);
  const layout = parseNpyHeader(header, bad);
  return { dtype: layout.code, shape: layout.shape, data: npyData(bytes, dataStart, layout, owned, bad) };
}

/** Check the magic and format version and decode the header dictionary text. */
function readNpyPreamble(bytes: Uint8Array, bad: NpyFail): NpyPreamble {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    throw bad('not a .npy array (missing \\x93NUMPY magic)');
  const major = bytes[6];
  const minor = bytes[7];
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = bytes[8] | (bytes[9] << 8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad('truncated .npy header');
    headerLen = (bytes[8] | (bytes[9] << 8) | (bytes[10] << 16)) + bytes[11] * 0x1000000;
    headerStart = 12;
  } else {
    throw bad(
      `unsupported .npy format version ${major}.${minor}`,
      'save the array with numpy ≥ 1.9 defaults (format 1.0–3.0)',
    );
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length)
    throw bad(
      `truncated .npy header (needs ${dataStart} bytes, file has ${bytes.length})`,
      'the file is truncated; download or export it again',
    );
  const header =
    major === 3
      ? new TextDecoder('utf-8').decode(bytes.subarray(headerStart, dataStart))
      : latin1(bytes.subarray(headerStart, dataStart));
  return { dataStart, header };
}

/** Read descr, fortran_order and shape from the header dictionary and resolve the dtype. */
function parseNpyHeader(header: string, bad: NpyFail): NpyLayout {
  const descrM = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(header);
  if (!descrM) {
    if (/['"]descr['"]\s*:\s*\[/.test(header))
      throw bad('structured (record) dtype is not supported', 'store each field as its own plain array');
    throw bad(`.npy header has no dtype ('descr'): ${header.trim()}`);
  }
  const descr = descrM[2];
  const fortranM = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  if (!fortranM) throw bad(`.npy header has no 'fortran_order': ${header.trim()}`);
  if (fortranM[1] === 'True') {
    throw bad(
      'array is stored in Fortran (column-major) order, which is not supported',
      'save it in C order, e.g. numpy.save(path, numpy.ascontiguousarray(a))',
    );
  }
  const shape = parseNpyShape(header, bad);
  return { ...resolveDtype(descr, bad), shape };
}

/** The `shape` tuple of the header dictionary. */
function parseNpyShape(header: string, bad: NpyFail): number[] {
  const shapeM = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!shapeM) throw bad(`.npy header has no 'shape': ${header.trim()}`);
  const shape: number[] = [];
  for (const part of shapeM[1].split(',')) {
    const t = part.trim().replace(/L$/, '');
    if (t === '') continue;
    if (!/^\d+$/.test(t)) throw bad(`bad dimension '${t}' in .npy shape (${shapeM[1]})`);
    shape.push(Number(t));
  }
  return shape;
}

/** The dtype code (byte-order mark stripped), its typed-array constructor and whether the data is big-endian. */
function resolveDtype(descr: string, bad: NpyFail): Omit<NpyLayout, 'shape'> {
  const order = descr[0];
  const code = order === '<' || order === '>' || order === '|' || order === '=' ? descr.slice(1) : descr;
  const dt = DTYPES[code];
  if (!dt) {
    throw bad(
      `unsupported dtype '${descr}'`,
      "convert the array to one of uint8, int8, uint16, int16, uint32, int32, int64, float32, float64 or bool before saving (e.g. a.astype('float32'))",
    );
  }
  const bigEndian = dt.size > 1 && (order === '>' || (order === '=' && !NATIVE_LITTLE));
  return { code, dt, bigEndian };
}

/** The array data: a view on `bytes` when native-order and aligned, else a (byte-swapped) copy. */
function npyData(
  bytes: Uint8Array,
  dataStart: number,
  layout: NpyLayout,
  owned: boolean,
  bad: NpyFail,
): NpyArray['data'] {
  const { code, dt, bigEndian, shape } = layout;
  let count = 1;
  for (const d of shape) count *= d;
  const nbytes = count * dt.size;
  if (!Number.isSafeInteger(nbytes)) throw bad(`shape (${shape.join(', ')}) is too large`);
  if (dataStart + nbytes > bytes.length) {
    throw bad(
      `truncated .npy data: shape (${shape.join(', ')}) of ${code} needs ${nbytes} bytes, only ${bytes.length - dataStart} present`,
      'the file is truncated; download or export it again',
    );
  }

  const swap = bigEndian === NATIVE_LITTLE && dt.size > 1;
  const absOffset = bytes.byteOffset + dataStart;
  if (!swap && absOffset % dt.size === 0) return new dt.ctor(bytes.buffer as ArrayBuffer, absOffset, count);
  let raw: Uint8Array;
  if (owned && absOffset % dt.size === 0) {
    raw = bytes.subarray(dataStart, dataStart + nbytes);
  } else {
    raw = new Uint8Array(nbytes);
    raw.set(bytes.subarray(dataStart, dataStart + nbytes));
  }
  if (swap) swapBytes(raw, dt.size);
  return new dt.ctor(raw.buffer as ArrayBuffer, raw.byteOffset, count);
}

/** Reverse the byte order of every `size`-byte element of `buf`, in place. */
function swapBytes(buf: Uint8Array, size: number): void {
  for (let i = 0; i + size <= buf.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = buf[a];
      buf[a] = buf[b];
      buf[b] = t;
    }
  }
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/**
 * Image `index` of an image stack — a uint8 array of shape (n, H, W), (n, H, W, 1) or (n, H, W, 3)
 * as MedMNIST stores them — in the internal RGB form. The pixels are copied, so the result does
 * not share memory with the stack. `label` (e.g. 'file.npz:test_images') names the array in errors.
 */
export function npyImage(arr: NpyArray, index: number, label = 'array'): RgbImage {
  const s = arr.shape;
  const channels = s.length === 3 ? 1 : s.length === 4 ? s[3] : 0;
  if (arr.dtype !== 'u1' || !(arr.data instanceof Uint8Array) || (channels !== 1 && channels !== 3)) {
    throw new CbirError(
      `array of dtype ${arr.dtype} and shape (${s.join(', ')}) is not a uint8 image stack (n, H, W) or (n, H, W, 3)`,
      {
        file: label,
        hint: 'use the *_images array of the .npz (not *_labels), stored as uint8',
        code: 'npy/not-images',
      },
    );
  }
  const n = s[0];
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new CbirError(`image index ${index} is out of range (the stack holds ${n} images)`, {
      file: label,
      row: Number.isInteger(index) && index >= 0 ? index + 1 : undefined,
      hint: `use an index from 0 to ${n - 1}`,
      code: 'npy/index',
    });
  }
  const h = s[1];
  const w = s[2];
  const size = h * w * channels;
  const src = arr.data.subarray(index * size, (index + 1) * size);
  return channels === 3 ? toRgb(src.slice(), w, h, 3) : toRgb(src, w, h, 1);
}
