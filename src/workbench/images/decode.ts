import sharp from 'sharp';
import { CbirError, errorCode, errorMessage } from '../errors.js';

sharp.cache(false);
sharp.concurrency(1);

/**
 * The one internal image form of the workbench: 8-bit, row-major, interleaved RGB
 * (channels = 3) of width × height pixels. Whatever comes in (grayscale, RGB, RGBA,
 * palette, 16-bit, PNG/JPEG/…), `decodeImage` returns this, so every later step
 * (preprocessing for a model, descriptors, grids) sees one form.
 */
export interface RgbImage {
  width: number;
  height: number;
  channels: 3;
  data: Uint8Array;
  /** True when the source had one channel or all channels were equal (grayscale content). */
  grayscale: boolean;
}

export interface DecodeOptions {
  /**
   * How 16-bit images become 8-bit: 'minmax' stretches the image's own min..max range to 0..255
   * (right for medical 16-bit PNGs that use 10–12 bits), 'scale' divides by 257 (full 16-bit range).
   */
  sixteenBit?: 'minmax' | 'scale';
}

/**
 * Decode an image file (or bytes) to the internal RGB form. Alpha is dropped (the colour under
 * a transparent pixel is kept), as PIL's `convert("RGB")` does, which is what the study models'
 * reference processors see; palette images are expanded, 16-bit is reduced to 8-bit as
 * `options.sixteenBit` says. Throws a CbirError naming the file when the file is
 * missing, empty or not a decodable image.
 */
export async function decodeImage(
  input: string | Uint8Array,
  options: DecodeOptions = {},
  label = typeof input === 'string' ? input : '<buffer>',
): Promise<RgbImage> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(input as string | Buffer, { failOn: 'error' }).metadata();
  } catch (e) {
    throw decodeError(e, label);
  }
  const is16 = meta.depth === 'ushort' || meta.depth === 'short';
  try {
    if (is16) return await decode16(input, meta, options.sixteenBit ?? 'minmax', label);
    const { data, info } = await sharp(input as string | Buffer, { failOn: 'error' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const rgb = toRgb(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      info.width,
      info.height,
      info.channels,
    );
    return rgb;
  } catch (e) {
    if (e instanceof CbirError) throw e;
    throw decodeError(e, label);
  }
}

async function decode16(
  input: string | Uint8Array,
  meta: sharp.Metadata,
  mode: 'minmax' | 'scale',
  label: string,
): Promise<RgbImage> {
  const gray = (meta.channels ?? 1) <= 2;
  const { data, info } = await sharp(input as string | Buffer, { failOn: 'error' })
    .toColourspace(gray ? 'grey16' : 'rgb16')
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  const src = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  const { width, height, channels } = info;
  const hasAlpha = meta.hasAlpha === true;
  const colour = hasAlpha ? channels - 1 : channels;
  let lo = 0;
  let hi = 65535;
  if (mode === 'minmax') {
    lo = 65535;
    hi = 0;
    for (let p = 0; p < width * height; p++) {
      for (let c = 0; c < colour; c++) {
        const v = src[p * channels + c];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (hi <= lo) hi = lo + 1;
  }
  const scale = 255 / (hi - lo);
  const out = new Uint8Array(width * height * colour);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < colour; c++) {
      const v = (src[p * channels + c] - lo) * scale;
      out[p * colour + c] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
  }
  if (width * height === 0) throw new CbirError('image has no pixels', { file: label });
  return toRgb(out, width, height, colour);
}

/** Expand 1- or 3-channel 8-bit pixels to RGB and detect grayscale content. */
export function toRgb(src: Uint8Array, width: number, height: number, channels: number): RgbImage {
  const n = width * height;
  if (channels === 3) {
    let gray = true;
    for (let p = 0; p < n && gray; p++) {
      const r = src[3 * p];
      if (src[3 * p + 1] !== r || src[3 * p + 2] !== r) gray = false;
    }
    return { width, height, channels: 3, data: src, grayscale: gray };
  }
  if (channels === 1 || channels === 2) {
    const out = new Uint8Array(n * 3);
    for (let p = 0; p < n; p++) {
      const v = src[p * channels];
      out[3 * p] = v;
      out[3 * p + 1] = v;
      out[3 * p + 2] = v;
    }
    return { width, height, channels: 3, data: out, grayscale: true };
  }
  throw new CbirError(`unsupported channel count ${channels}`);
}

/** Grayscale plane (ITU-R BT.601 luma) of an RGB image, as Uint8Array of width × height. */
export function toGray(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let p = 0; p < n; p++) {
    out[p] = img.grayscale ? d[3 * p] : Math.round(0.299 * d[3 * p] + 0.587 * d[3 * p + 1] + 0.114 * d[3 * p + 2]);
  }
  return out;
}

/** Encode the internal form as PNG (grayscale PNG when the content is grayscale). */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  if (img.grayscale) {
    const g = toGray(img);
    return sharp(Buffer.from(g.buffer, g.byteOffset, g.byteLength), {
      raw: { width: img.width, height: img.height, channels: 1 },
    })
      .png()
      .toBuffer();
  }
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: img.width, height: img.height, channels: 3 },
  })
    .png()
    .toBuffer();
}

function decodeError(e: unknown, label: string): CbirError {
  const code = errorCode(e);
  if (code === 'ENOENT' || /Input file is missing/.test(errorMessage(e))) {
    return new CbirError('image file not found', {
      file: label,
      hint: 'check the path in the manifest and the images root',
      code: 'image/not-found',
      cause: e,
    });
  }
  const msg = errorMessage(e);
  return new CbirError(`cannot decode image (${msg.split('\n')[0]})`, {
    file: label,
    hint: 'the file is corrupt, truncated or not an image; remove it or replace it with a valid copy',
    code: 'image/corrupt',
    cause: e,
  });
}
