import { readFile } from 'node:fs/promises';
import * as dicomParserNs from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { CbirError, errorMessage, errorCode } from '../errors.js';
import { toRgb, type RgbImage } from './decode.js';

// dicom-parser is a UMD bundle: under Node ESM its API is on the default export.
const dicomParser = ((dicomParserNs as unknown as { default?: typeof dicomParserNs }).default ??
  dicomParserNs) as typeof dicomParserNs;

/** A VOI window: centre and width in modality units (e.g. Hounsfield units for CT). */
export interface DicomWindow {
  center: number;
  width: number;
}

/** What decodeDicom reports about the file besides the pixels. */
export interface DicomMeta {
  patientId?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
  modality?: string;
  photometric?: string;
  /** The window actually applied to reach 8 bits (absent for colour images). */
  window?: DicomWindow;
  /** Number of frames when the file holds more than one (only the first is decoded). */
  frames?: number;
  /** Anything the reader did that the caller may want to know (multi-frame, ignored tags). */
  note?: string;
}

/** The uncompressed transfer syntaxes this reader handles (deflate is undone by dicom-parser). */
const NATIVE_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
};

const KNOWN_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian (retired)',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1 (Process 14, selection value 1)',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.4.92': 'JPEG 2000 Part 2 Multi-component Lossless',
  '1.2.840.10008.1.2.4.93': 'JPEG 2000 Part 2 Multi-component',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 RPCL Lossless',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.100': 'MPEG2',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264',
  '1.2.840.10008.1.2.4.110': 'JPEG XL Lossless',
};

const CONVERT_HINT =
  'convert the file to uncompressed Explicit VR Little Endian first, e.g. `gdcmconv --raw in.dcm out.dcm` (GDCM) ' +
  'or `dcmdjpeg in.dcm out.dcm` / `dcmdrle in.dcm out.dcm` (DCMTK), then point the manifest at the converted file';

/**
 * Decode the first frame of an uncompressed DICOM Part-10 file (or its bytes) to the internal RGB
 * form, with identifying tags in `meta`.
 *
 * Grayscale: stored values are masked to BitsStored (sign-extended when PixelRepresentation = 1),
 * mapped to modality values v = stored × RescaleSlope + RescaleIntercept, then to 8 bits with the
 * DICOM VOI window (PS3.3 C.11.2.1.2; LINEAR unless VOILUTFunction says LINEAR_EXACT or SIGMOID).
 * The window is `opts.window` if given, else the first WindowCenter/WindowWidth value from the
 * tags, else the min..max of the modality values (PixelPaddingValue excluded) — except that plain
 * unsigned 8-bit data without rescale or window tags is passed through unchanged (window 128/256).
 * MONOCHROME1 is inverted so that higher values are brighter. RGB (PlanarConfiguration 0 or 1) is
 * passed through. Multi-frame files give their first frame with `meta.frames` and `meta.note`.
 *
 * Throws a CbirError naming the file for: a missing file, a file that is not DICOM Part 10, a
 * truncated file, missing PixelData, compressed transfer syntaxes (JPEG, JPEG-LS, JPEG 2000, RLE,
 * with the syntax named and how to convert), and unsupported pixel layouts.
 */
export async function decodeDicom(
  input: string | Uint8Array,
  opts: { window?: { center: number; width: number } } = {},
): Promise<{ image: RgbImage; meta: DicomMeta }> {
  const file = typeof input === 'string' ? input : '<buffer>';
  const fail: DicomFail = (msg, hint, code, cause) => new CbirError(msg, { file, hint, code, cause });
  if (opts.window) checkWindowOption(opts.window, fail);
  const bytes = await readDicomBytes(input, fail);
  checkPart10(bytes, fail);
  const ds = parseDataSet(bytes, fail);
  const ts = checkTransferSyntax(ds, fail);
  const meta = readMeta(ds);
  const notes: string[] = [];
  const pixelEl = pixelDataElement(ds, ts, fail);
  const px = readPixelFormat(ds, meta, notes, fail);
  const raw = readFirstFrame(ds, pixelEl, px, fail);
  let image: RgbImage;
  if (!px.isMono) {
    meta.window = undefined;
    image = colourImage(ds, raw, px);
  } else {
    const lut = modalityLut(ds, px);
    const { window, fn } = opts.window
      ? { window: { center: opts.window.center, width: opts.window.width }, fn: 'LINEAR' }
      : chooseWindow(ds, raw, px, lut, notes);
    meta.window = window;
    image = windowedGray(raw, px, lut, window, fn);
  }
  if (notes.length) meta.note = notes.join('; ');
  for (const k of Object.keys(meta) as (keyof DicomMeta)[]) if (meta[k] === undefined) delete meta[k];
  return { image, meta };
}

/** Builds the CbirError of a DICOM problem, naming the file. */
type DicomFail = (msg: string, hint: string, code: string, cause?: unknown) => CbirError;

/** The pixel layout of the image, from the image pixel module tags. */
interface PixelFormat {
  rows: number;
  cols: number;
  spp: number;
  photometric: string;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  signed: boolean;
  isMono: boolean;
  /** Samples in one frame (rows × cols × spp). */
  samples: number;
  /** Right shift and mask that take a stored sample to its BitsStored value. */
  shift: number;
  mask: number;
}

/** Stored value → modality value mapping (PixelRepresentation, RescaleSlope/Intercept). */
interface ModalityLut {
  slope: number;
  intercept: number;
  /** Number of distinct masked stored values (2^BitsStored). */
  full: number;
  /** Masked stored value → signed stored value. */
  storedValue: (i: number) => number;
  /** Masked stored value → modality value. */
  modality: (i: number) => number;
}

/** Reject a caller-given window that is not finite or narrower than 1. */
function checkWindowOption(w: DicomWindow, fail: DicomFail): void {
  const { center, width } = w;
  if (!Number.isFinite(center) || !Number.isFinite(width) || width < 1) {
    throw fail(
      `invalid window centre ${center} / width ${width}`,
      'give a finite centre and a width ≥ 1 (e.g. 40/400 for CT soft tissue)',
      'dicom/bad-window',
    );
  }
}

/** The file's bytes (read from disk when given a path). */
async function readDicomBytes(input: string | Uint8Array, fail: DicomFail): Promise<Uint8Array> {
  if (typeof input !== 'string') return input;
  try {
    return await readFile(input);
  } catch (e) {
    if (errorCode(e) === 'ENOENT')
      throw fail('DICOM file not found', 'check the path in the manifest and the images root', 'dicom/not-found', e);
    throw fail(
      `cannot read DICOM file (${errorMessage(e)})`,
      'check that the path is a readable file',
      'dicom/read',
      e,
    );
  }
}

/** Require the Part-10 preamble: "DICM" at byte 128. */
function checkPart10(bytes: Uint8Array, fail: DicomFail): void {
  if (bytes.length < 132 || bytes[128] !== 0x44 || bytes[129] !== 0x49 || bytes[130] !== 0x43 || bytes[131] !== 0x4d) {
    throw fail(
      bytes.length < 132
        ? `not a DICOM Part-10 file (only ${bytes.length} bytes)`
        : 'not a DICOM Part-10 file (no "DICM" at byte 128)',
      'the file is truncated or not DICOM; files without the Part-10 header can be rewritten with `dcmconv in out` (DCMTK) or `gdcmconv in out`',
      'dicom/not-dicom',
    );
  }
}

/** Parse the data set with dicom-parser. */
function parseDataSet(bytes: Uint8Array, fail: DicomFail): DataSet {
  // dicom-parser's deflate path needs a Buffer; this is a view, not a copy.
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return dicomParser.parseDicom(buf);
  } catch (e) {
    const inner = (e as { exception?: unknown })?.exception ?? e;
    const msg = inner instanceof Error ? inner.message : String(inner);
    throw fail(
      `cannot parse DICOM (${msg.replace(/^dicomParser[.:]\s*/, '')})`,
      'the file is truncated or corrupt; export or download it again',
      'dicom/corrupt',
      e,
    );
  }
}

/** The transfer syntax UID; only the uncompressed little-endian ones pass. */
function checkTransferSyntax(ds: DataSet, fail: DicomFail): string {
  const ts = (ds.string('x00020010') ?? '').replace(/\0/g, '').trim();
  if (!(ts in NATIVE_SYNTAXES)) {
    const what = KNOWN_SYNTAXES[ts] ?? 'an unsupported (compressed) transfer syntax';
    throw fail(
      `pixel data uses transfer syntax ${ts || '(none)'} — ${what}; only uncompressed little-endian DICOM is supported`,
      CONVERT_HINT,
      'dicom/compressed',
    );
  }
  return ts;
}

/** The identifying tags reported in `meta`. */
function readMeta(ds: DataSet): DicomMeta {
  return {
    patientId: str(ds, 'x00100020'),
    studyInstanceUid: str(ds, 'x0020000d'),
    seriesInstanceUid: str(ds, 'x0020000e'),
    sopInstanceUid: str(ds, 'x00080018'),
    modality: str(ds, 'x00080060'),
    photometric: str(ds, 'x00280004'),
  };
}

/** The native (not encapsulated) PixelData element. */
function pixelDataElement(ds: DataSet, ts: string, fail: DicomFail): DataSet['elements'][string] {
  const pixelEl = ds.elements.x7fe00010;
  if (!pixelEl) {
    const other = ds.elements.x7fe00008
      ? ' (it has Float Pixel Data, which is not supported)'
      : ds.elements.x7fe00009
        ? ' (it has Double Float Pixel Data, which is not supported)'
        : '';
    throw fail(
      `no PixelData (7FE0,0010) element${other}`,
      'the file holds no image (e.g. a structured report or presentation state); remove it from the manifest',
      'dicom/no-pixels',
    );
  }
  if (pixelEl.encapsulatedPixelData || pixelEl.hadUndefinedLength) {
    throw fail(
      `pixel data is encapsulated (compressed) although the transfer syntax is ${ts}`,
      CONVERT_HINT,
      'dicom/compressed',
    );
  }
  return pixelEl;
}

/** Read and check the pixel layout tags; notes multi-frame files in `meta` and `notes`. */
function readPixelFormat(ds: DataSet, meta: DicomMeta, notes: string[], fail: DicomFail): PixelFormat {
  const rows = ds.uint16('x00280010') ?? 0;
  const cols = ds.uint16('x00280011') ?? 0;
  if (!rows || !cols)
    throw fail(
      `missing or zero Rows/Columns (${rows}×${cols})`,
      'the file is corrupt or not an image; remove it from the manifest',
      'dicom/bad-header',
    );
  const spp = ds.uint16('x00280002') ?? 1;
  const photometric = (meta.photometric ?? (spp === 3 ? 'RGB' : 'MONOCHROME2')).toUpperCase();
  const bitsAllocated = ds.uint16('x00280100') ?? 0;
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw fail(
      `BitsAllocated ${bitsAllocated} is not supported (only 8 and 16)`,
      'convert the image to 8- or 16-bit, e.g. with `dcmconv` or `gdcmconv`, or remove it from the manifest',
      'dicom/unsupported',
    );
  }
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  const highBit = ds.uint16('x00280102') ?? bitsStored - 1;
  if (bitsStored < 1 || bitsStored > bitsAllocated || highBit >= bitsAllocated || highBit + 1 < bitsStored) {
    throw fail(
      `inconsistent BitsStored ${bitsStored} / HighBit ${highBit} / BitsAllocated ${bitsAllocated}`,
      'the header is corrupt; export the image again',
      'dicom/bad-header',
    );
  }
  const signed = (ds.uint16('x00280103') ?? 0) === 1;
  const frames = Math.max(1, ds.intString('x00280008') ?? 1);
  if (frames > 1) {
    meta.frames = frames;
    notes.push(`multi-frame: decoded frame 1 of ${frames}`);
  }
  const isMono = photometric === 'MONOCHROME1' || photometric === 'MONOCHROME2';
  if (!(isMono && spp === 1) && !(photometric === 'RGB' && spp === 3)) {
    throw fail(
      `photometric interpretation ${photometric} with ${spp} sample(s) per pixel is not supported (only MONOCHROME1, MONOCHROME2 and RGB)`,
      'convert the image to RGB or grayscale first, e.g. `gdcmconv --raw --photometric-interpretation RGB in.dcm out.dcm` (GDCM)',
      'dicom/unsupported',
    );
  }
  const shift = highBit + 1 - bitsStored;
  const mask = bitsStored >= 32 ? 0xffffffff : (1 << bitsStored) - 1;
  const samples = rows * cols * spp;
  return { rows, cols, spp, photometric, bitsAllocated, bitsStored, highBit, signed, isMono, samples, shift, mask };
}

/** The stored samples of the first frame (a view when aligned, else a copy). */
function readFirstFrame(
  ds: DataSet,
  pixelEl: DataSet['elements'][string],
  px: PixelFormat,
  fail: DicomFail,
): Uint8Array | Uint16Array {
  const { rows, cols, spp, bitsAllocated, samples } = px;
  const bytesPer = bitsAllocated / 8;
  const frameBytes = samples * bytesPer;
  const available = Math.min(pixelEl.length, ds.byteArray.length - pixelEl.dataOffset);
  if (available < frameBytes) {
    throw fail(
      `PixelData holds ${available} bytes, one ${rows}×${cols}×${spp} frame of ${bitsAllocated}-bit samples needs ${frameBytes}`,
      'the file is truncated or its header is wrong; export or download it again',
      'dicom/truncated',
    );
  }
  const abs = ds.byteArray.byteOffset + pixelEl.dataOffset;
  if (bitsAllocated === 8) return new Uint8Array(ds.byteArray.buffer, abs, samples);
  if (abs % 2 === 0) return new Uint16Array(ds.byteArray.buffer, abs, samples);
  const copy = new Uint8Array(frameBytes);
  copy.set(ds.byteArray.subarray(pixelEl.dataOffset, pixelEl.dataOffset + frameBytes));
  return new Uint16Array(copy.buffer);
}

/** RGB samples (PlanarConfiguration 0 or 1) scaled from BitsStored to 8 bits. */
function colourImage(ds: DataSet, raw: Uint8Array | Uint16Array, px: PixelFormat): RgbImage {
  const { rows, cols, bitsStored, shift, mask } = px;
  const planar = (ds.uint16('x00280006') ?? 0) === 1;
  const n = rows * cols;
  const out = new Uint8Array(n * 3);
  const scale = 255 / mask;
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      const v = (raw[planar ? c * n + p : 3 * p + c] >> shift) & mask;
      out[3 * p + c] = bitsStored === 8 ? v : Math.round(v * scale);
    }
  }
  return toRgb(out, cols, rows, 3);
}

/** The modality LUT: sign extension of the stored value, then RescaleSlope × v + RescaleIntercept. */
function modalityLut(ds: DataSet, px: PixelFormat): ModalityLut {
  const { signed, bitsStored, mask } = px;
  const slope = num(ds, 'x00281053') ?? 1;
  const intercept = num(ds, 'x00281052') ?? 0;
  const half = 1 << (bitsStored - 1);
  const full = mask + 1;
  const storedValue = (i: number) => (signed && i >= half ? i - full : i);
  const modality = (i: number) => storedValue(i) * slope + intercept;
  return { slope, intercept, full, storedValue, modality };
}

/**
 * The VOI window and function from the tags (first WindowCenter/WindowWidth value), else the
 * identity for plain 8-bit data, else the min..max of the modality values.
 */
function chooseWindow(
  ds: DataSet,
  raw: Uint8Array | Uint16Array,
  px: PixelFormat,
  lut: ModalityLut,
  notes: string[],
): { window: DicomWindow; fn: string } {
  let window: DicomWindow | undefined;
  let fn = 'LINEAR';
  const c = num(ds, 'x00281050');
  const w = num(ds, 'x00281051');
  if (c !== undefined && w !== undefined) {
    fn = (str(ds, 'x00281056') ?? 'LINEAR').toUpperCase();
    if (fn !== 'LINEAR' && fn !== 'LINEAR_EXACT' && fn !== 'SIGMOID') {
      notes.push(`VOILUTFunction ${fn} not supported, LINEAR used`);
      fn = 'LINEAR';
    }
    if (w >= 1 || (fn !== 'LINEAR' && w > 0)) window = { center: c, width: w };
    else notes.push(`window width ${w} in the tags is invalid, min..max used`);
  }
  const { bitsAllocated, bitsStored, signed } = px;
  if (!window && bitsAllocated === 8 && bitsStored === 8 && !signed && lut.slope === 1 && lut.intercept === 0) {
    window = { center: 128, width: 256 }; // identity for plain 8-bit data
  }
  if (!window) window = minMaxWindow(ds, raw, px, lut);
  return { window, fn };
}

/** The linear window spanning the modality values of the frame, PixelPaddingValue excluded. */
function minMaxWindow(ds: DataSet, raw: Uint8Array | Uint16Array, px: PixelFormat, lut: ModalityLut): DicomWindow {
  const { signed, samples, shift, mask } = px;
  const { storedValue, slope, intercept } = lut;
  // min..max of the modality values, skipping the padding value outside the scanned area
  const padRaw = ds.elements.x00280120 ? ds.uint16('x00280120') : undefined;
  const pad = padRaw === undefined ? undefined : signed ? storedValue(padRaw & mask) : padRaw & mask;
  let lo = Infinity;
  let hi = -Infinity;
  for (let p = 0; p < samples; p++) {
    const s = storedValue((raw[p] >> shift) & mask);
    if (s === pad) continue;
    if (s < lo) lo = s;
    if (s > hi) hi = s;
  }
  if (lo === Infinity) {
    lo = 0;
    hi = 0;
  }
  let mlo = lo * slope + intercept;
  let mhi = hi * slope + intercept;
  if (mlo > mhi) [mlo, mhi] = [mhi, mlo];
  // the linear window that maps mlo to 0 and mhi to 255
  return { center: (mlo + mhi) / 2 + 0.5, width: Math.max(1, mhi - mlo + 1) };
}

/** Grayscale to 8 bits through a LUT over every stored value (modality LUT, VOI window, MONOCHROME1 inverted). */
function windowedGray(
  raw: Uint8Array | Uint16Array,
  px: PixelFormat,
  lut: ModalityLut,
  window: DicomWindow,
  fn: string,
): RgbImage {
  const { rows, cols, shift, mask } = px;
  const invert = px.photometric === 'MONOCHROME1';
  const table = new Uint8Array(lut.full);
  for (let i = 0; i < lut.full; i++) {
    const y = Math.round(voi(lut.modality(i), window.center, window.width, fn));
    table[i] = invert ? 255 - y : y;
  }
  const n = rows * cols;
  const gray = new Uint8Array(n);
  for (let p = 0; p < n; p++) gray[p] = table[(raw[p] >> shift) & mask];
  return toRgb(gray, cols, rows, 1);
}

/**
 * DICOM VOI window to 0..255 (PS3.3 C.11.2.1.2).
 * LINEAR: y = ((x − (c − 0.5)) / (w − 1) + 0.5) · 255, clamped below c − 0.5 − (w − 1)/2 and above c − 0.5 + (w − 1)/2.
 * LINEAR_EXACT: y = ((x − c) / w + 0.5) · 255, clamped outside c ± w/2. SIGMOID: y = 255 / (1 + exp(−4 (x − c) / w)).
 */
function voi(x: number, c: number, w: number, fn: string): number {
  if (fn === 'SIGMOID') return 255 / (1 + Math.exp((-4 * (x - c)) / w));
  if (fn === 'LINEAR_EXACT') {
    if (x <= c - w / 2) return 0;
    if (x > c + w / 2) return 255;
    return ((x - c) / w + 0.5) * 255;
  }
  if (x <= c - 0.5 - (w - 1) / 2) return 0;
  if (x > c - 0.5 + (w - 1) / 2) return 255;
  return ((x - (c - 0.5)) / (w - 1) + 0.5) * 255;
}

function str(ds: DataSet, tag: string): string | undefined {
  const s = ds.string(tag);
  if (s === undefined) return undefined;
  const t = s.replace(/\0/g, '').trim();
  return t === '' ? undefined : t;
}

/** First value of a DS (decimal string) element, undefined when absent or not a number. */
function num(ds: DataSet, tag: string): number | undefined {
  const s = str(ds, tag);
  if (s === undefined) return undefined;
  const v = Number(s.split('\\')[0].trim());
  return Number.isFinite(v) ? v : undefined;
}
