import { deflateSync } from 'node:zlib';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/workbench/util/rng.js';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (PNG chunks, zip members). */
export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), Buffer.from(data)]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/**
 * Minimal PNG encoder for test fixtures that sharp cannot write directly
 * (16-bit grayscale, palette with an explicit PLTE). colorType: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
 */
export function encodePngRaw(opts: {
  width: number;
  height: number;
  bitDepth: 8 | 16;
  colorType: 0 | 2 | 3 | 4 | 6;
  pixels: Uint8Array | Uint16Array;
  palette?: Uint8Array;
}): Buffer {
  const { width, height, bitDepth, colorType, pixels } = opts;
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType];
  const bpp = channels * (bitDepth / 8);
  const raw = Buffer.alloc((width * bpp + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * bpp + 1);
    raw[row] = 0;
    for (let x = 0; x < width * channels; x++) {
      const v = pixels[y * width * channels + x];
      if (bitDepth === 16) raw.writeUInt16BE(v, row + 1 + 2 * x);
      else raw[row + 1 + x] = v;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  ihdr[10] = 0;
  ihdr[11] = 0;
  ihdr[12] = 0;
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (colorType === 3) parts.push(chunk('PLTE', opts.palette ?? new Uint8Array(768)));
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

/** Write an 8×8 gray PNG (sharp) of pixels drawn from Rng(seed), making its folder: distinct seeds, no accidental duplicates. */
export async function writeRandomPng(file: string, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const px = Buffer.alloc(64);
  for (let i = 0; i < px.length; i++) px[i] = rng.int(256);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    await sharp(px, { raw: { width: 8, height: 8, channels: 1 } })
      .png()
      .toBuffer(),
  );
}
