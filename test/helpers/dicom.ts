import { writeFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';

/** Options of `writeDicom`; the fields after `transferSyntax` are extras for edge-case fixtures. */
export interface WriteDicomOptions {
  rows: number;
  cols: number;
  /** Pixel values, row-major; RGB interleaved (R, G, B per pixel) whatever `planarConfiguration`; all frames one after another. */
  pixels: Uint8Array | Uint16Array | Int16Array;
  bitsAllocated: 8 | 16;
  pixelRepresentation?: 0 | 1;
  photometric?: 'MONOCHROME1' | 'MONOCHROME2' | 'RGB';
  samplesPerPixel?: 1 | 3;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  /** Several values write a multi-valued DS (e.g. [40, 400] for two windows). */
  windowCenter?: number | number[];
  windowWidth?: number | number[];
  patientId?: string;
  sopInstanceUid?: string;
  modality?: string;
  /** 'jpeg-baseline' writes the header and a dummy encapsulated fragment, only to test the error. */
  transferSyntax?: 'explicit-le' | 'implicit-le' | 'jpeg-baseline' | 'deflated-explicit-le';
  /** Default: bitsAllocated. */
  bitsStored?: number;
  /** RGB only: 1 writes the colour planes one after another (RRR…GGG…BBB). */
  planarConfiguration?: 0 | 1;
  /** Written as NumberOfFrames when > 1; `pixels` must then hold that many frames. */
  numberOfFrames?: number;
  pixelPaddingValue?: number;
  voiLutFunction?: 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  /** Leave out the PixelData element (to test the error). */
  omitPixelData?: boolean;
}

const TS_UID = {
  'explicit-le': '1.2.840.10008.1.2.1',
  'implicit-le': '1.2.840.10008.1.2',
  'jpeg-baseline': '1.2.840.10008.1.2.4.50',
  'deflated-explicit-le': '1.2.840.10008.1.2.1.99',
} as const;

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'SQ', 'UT', 'UN', 'UC', 'UR', 'SV', 'UV']);

interface El {
  group: number;
  element: number;
  vr: string;
  value: Uint8Array;
  undefinedLength?: boolean;
}

function strEl(group: number, element: number, vr: string, s: string): El {
  const b = new TextEncoder().encode(s);
  const padded = new Uint8Array(b.length + (b.length % 2));
  padded.set(b);
  if (b.length % 2) padded[b.length] = vr === 'UI' ? 0 : 0x20;
  return { group, element, vr, value: padded };
}

function u16El(group: number, element: number, v: number, vr = 'US'): El {
  const value = new Uint8Array(2);
  new DataView(value.buffer).setUint16(0, v & 0xffff, true);
  return { group, element, vr, value };
}

function dsEl(group: number, element: number, v: number | number[]): El {
  const vals = Array.isArray(v) ? v : [v];
  return strEl(group, element, 'DS', vals.map((x) => String(x)).join('\\'));
}

function encode(els: El[], explicit: boolean): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const el of els) {
    const long = LONG_VRS.has(el.vr);
    const head = new Uint8Array(explicit ? (long ? 12 : 8) : 8);
    const hv = new DataView(head.buffer);
    hv.setUint16(0, el.group, true);
    hv.setUint16(2, el.element, true);
    const len = el.undefinedLength ? 0xffffffff : el.value.length;
    if (explicit) {
      head[4] = el.vr.charCodeAt(0);
      head[5] = el.vr.charCodeAt(1);
      if (long) hv.setUint32(8, len, true);
      else hv.setUint16(6, len, true);
    } else {
      hv.setUint32(4, len, true);
    }
    chunks.push(head, el.value);
  }
  return concat(chunks);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

/** Encapsulated pixel data (empty basic offset table, one dummy JPEG fragment, sequence delimiter). */
function encapsulated(): Uint8Array {
  const fragment = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x02, 0xff, 0xd9]);
  const item = (len: number) => {
    const b = new Uint8Array(8);
    const v = new DataView(b.buffer);
    v.setUint16(0, 0xfffe, true);
    v.setUint16(2, 0xe000, true);
    v.setUint32(4, len, true);
    return b;
  };
  const delim = new Uint8Array(8);
  const dv = new DataView(delim.buffer);
  dv.setUint16(0, 0xfffe, true);
  dv.setUint16(2, 0xe0dd, true);
  return concat([item(0), item(fragment.length), fragment, delim]);
}

/**
 * Write a DICOM Part-10 fixture: 128-byte preamble, "DICM", the group 0002 file meta information
 * (explicit VR little endian, with its group length), then the data set in the chosen transfer
 * syntax with the image pixel module, rescale and window tags and PixelData (OB for 8-bit, OW for
 * 16-bit, little endian). 'jpeg-baseline' writes real headers but dummy encapsulated pixel data.
 */
export function writeDicom(file: string, opts: WriteDicomOptions): void {
  writeFileSync(file, dicomBytes(opts));
}

/** The bytes `writeDicom` writes. */
export function dicomBytes(opts: WriteDicomOptions): Uint8Array {
  const spp = opts.samplesPerPixel ?? (opts.photometric === 'RGB' ? 3 : 1);
  const photometric = opts.photometric ?? (spp === 3 ? 'RGB' : 'MONOCHROME2');
  const frames = opts.numberOfFrames ?? 1;
  const bitsStored = opts.bitsStored ?? opts.bitsAllocated;
  const ts = opts.transferSyntax ?? 'explicit-le';
  const tsUid = TS_UID[ts];
  const sopClass = opts.modality === 'CT' ? '1.2.840.10008.5.1.4.1.1.2' : '1.2.840.10008.5.1.4.1.1.7';
  const sop = opts.sopInstanceUid ?? '1.2.826.0.1.3680043.10.543.1.1';
  const n = opts.rows * opts.cols * spp * frames;
  if (opts.pixels.length !== n)
    throw new Error(
      `writeDicom: ${opts.pixels.length} pixel values, ${opts.rows}×${opts.cols}×${spp}×${frames} expected`,
    );

  const metaEls: El[] = [
    { group: 0x0002, element: 0x0001, vr: 'OB', value: new Uint8Array([0, 1]) },
    strEl(0x0002, 0x0002, 'UI', sopClass),
    strEl(0x0002, 0x0003, 'UI', sop),
    strEl(0x0002, 0x0010, 'UI', tsUid),
    strEl(0x0002, 0x0012, 'UI', '1.2.826.0.1.3680043.10.543.0'),
    strEl(0x0002, 0x0013, 'SH', 'RADCBIR_TEST'),
  ];
  const metaBody = encode(metaEls, true);
  const groupLength = new Uint8Array(4);
  new DataView(groupLength.buffer).setUint32(0, metaBody.length, true);
  const meta = concat([encode([{ group: 0x0002, element: 0x0000, vr: 'UL', value: groupLength }], true), metaBody]);

  const els: El[] = [strEl(0x0008, 0x0016, 'UI', sopClass), strEl(0x0008, 0x0018, 'UI', sop)];
  if (opts.modality) els.push(strEl(0x0008, 0x0060, 'CS', opts.modality));
  if (opts.patientId) els.push(strEl(0x0010, 0x0020, 'LO', opts.patientId));
  els.push(strEl(0x0020, 0x000d, 'UI', opts.studyInstanceUid ?? '1.2.826.0.1.3680043.10.543.2'));
  els.push(strEl(0x0020, 0x000e, 'UI', opts.seriesInstanceUid ?? '1.2.826.0.1.3680043.10.543.3'));
  els.push(u16El(0x0028, 0x0002, spp));
  els.push(strEl(0x0028, 0x0004, 'CS', photometric));
  if (spp === 3) els.push(u16El(0x0028, 0x0006, opts.planarConfiguration ?? 0));
  if (frames > 1) els.push(strEl(0x0028, 0x0008, 'IS', String(frames)));
  els.push(u16El(0x0028, 0x0010, opts.rows));
  els.push(u16El(0x0028, 0x0011, opts.cols));
  els.push(u16El(0x0028, 0x0100, opts.bitsAllocated));
  els.push(u16El(0x0028, 0x0101, bitsStored));
  els.push(u16El(0x0028, 0x0102, bitsStored - 1));
  els.push(u16El(0x0028, 0x0103, opts.pixelRepresentation ?? 0));
  if (opts.pixelPaddingValue !== undefined)
    els.push(u16El(0x0028, 0x0120, opts.pixelPaddingValue, opts.pixelRepresentation === 1 ? 'SS' : 'US'));
  if (opts.windowCenter !== undefined) els.push(dsEl(0x0028, 0x1050, opts.windowCenter));
  if (opts.windowWidth !== undefined) els.push(dsEl(0x0028, 0x1051, opts.windowWidth));
  if (opts.rescaleIntercept !== undefined) els.push(dsEl(0x0028, 0x1052, opts.rescaleIntercept));
  if (opts.rescaleSlope !== undefined) els.push(dsEl(0x0028, 0x1053, opts.rescaleSlope));
  if (opts.voiLutFunction) els.push(strEl(0x0028, 0x1056, 'CS', opts.voiLutFunction));

  if (!opts.omitPixelData) {
    if (ts === 'jpeg-baseline') {
      els.push({ group: 0x7fe0, element: 0x0010, vr: 'OB', value: encapsulated(), undefinedLength: true });
    } else {
      const bytesPer = opts.bitsAllocated / 8;
      const px = new Uint8Array(n * bytesPer + ((n * bytesPer) % 2));
      const pv = new DataView(px.buffer);
      const frameSamples = opts.rows * opts.cols * spp;
      const planar = spp === 3 && opts.planarConfiguration === 1;
      for (let i = 0; i < n; i++) {
        let j = i;
        if (planar) {
          // sample i of the output = colour c of pixel p in frame f
          const f = Math.floor(i / frameSamples);
          const k = i % frameSamples;
          const pixelsPerFrame = opts.rows * opts.cols;
          const c = Math.floor(k / pixelsPerFrame);
          const p = k % pixelsPerFrame;
          j = f * frameSamples + 3 * p + c;
        }
        const v = opts.pixels[j];
        if (bytesPer === 1) px[i] = v & 0xff;
        else pv.setUint16(2 * i, v & 0xffff, true);
      }
      els.push({ group: 0x7fe0, element: 0x0010, vr: opts.bitsAllocated === 8 ? 'OB' : 'OW', value: px });
    }
  }
  let dataset = encode(els, ts !== 'implicit-le');
  if (ts === 'deflated-explicit-le') dataset = new Uint8Array(deflateRawSync(dataset));

  const preamble = new Uint8Array(132);
  preamble.set([0x44, 0x49, 0x43, 0x4d], 128);
  return concat([preamble, meta, dataset]);
}
