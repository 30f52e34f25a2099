/**
 * Model-input preprocessing from a PreprocessSpec: resize (shortest edge, exact, or longest edge
 * then pad), centre crop, rescale, mean/std, RGB or gray, into a CHW float32 tensor. Pure and
 * stateless, so worker threads can run it.
 */
import sharp from 'sharp';
import type { RgbImage } from '../images/decode.js';
import { toGray } from '../images/decode.js';
import type { PreprocessSpec } from './types.js';
import { resizePil } from './resample.js';

/** Number of float32 values one preprocessed image has: C × H × W. */
export function preprocessedLength(spec: PreprocessSpec): number {
  return (spec.channels === 'gray' ? 1 : 3) * spec.size[0] * spec.size[1];
}

/** Size [height, width] the image is resized to before cropping or padding. */
export function resizedSize(width: number, height: number, spec: PreprocessSpec): [number, number] {
  const [H, W] = spec.size;
  switch (spec.resize) {
    case 'exact':
      return [H, W];
    case 'shortest-edge': {
      // HF get_resize_output_image_size / torchvision Resize(int): new_long = int(target · long / short).
      const target = spec.resizeTo ?? Math.min(H, W);
      if (width <= height) return [Math.trunc((target * height) / width), target];
      return [target, Math.trunc((target * width) / height)];
    }
    case 'longest-edge-pad': {
      // SAM ResizeLongestSide / SamImageProcessor: scale = L / max(h, w); int(x · scale + 0.5).
      const target = spec.resizeTo ?? Math.max(H, W);
      const scale = target / Math.max(width, height);
      return [Math.trunc(height * scale + 0.5), Math.trunc(width * scale + 0.5)];
    }
  }
}

/** Python's round() (half to even) for x ≥ 0. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

async function resizeSharp(
  src: Uint8Array,
  w: number,
  h: number,
  C: number,
  ow: number,
  oh: number,
  interpolation: PreprocessSpec['interpolation'],
): Promise<Uint8Array> {
  const kernel = ({ nearest: 'nearest', bilinear: 'linear', bicubic: 'cubic', lanczos: 'lanczos3' } as const)[
    interpolation
  ];
  // libvips keeps 3 bands most reliably; a gray plane goes in as RGB and comes out as band 0.
  let rgb = src;
  if (C === 1) {
    rgb = new Uint8Array(w * h * 3);
    for (let p = 0; p < w * h; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = src[p];
  }
  const data = await sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), {
    raw: { width: w, height: h, channels: 3 },
  })
    .resize(ow, oh, { fit: 'fill', kernel })
    .raw()
    .toBuffer();
  if (C === 3) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(ow * oh);
  for (let p = 0; p < ow * oh; p++) out[p] = data[3 * p];
  return out;
}

/**
 * Preprocess one decoded image as the spec says and return the CHW float32 tensor
 * (length C·H·W, C = 3 for 'rgb', 1 for 'gray'). `out`/`offset` let a caller fill a batch
 * buffer in place; without them a new array is returned.
 */
export async function preprocessImage(
  img: RgbImage,
  spec: PreprocessSpec,
  out?: Float32Array,
  offset = 0,
): Promise<Float32Array> {
  const [H, W] = spec.size;
  const C = spec.channels === 'gray' ? 1 : 3;
  const len = C * H * W;
  const dst = out ?? new Float32Array(len);
  if (dst.length < offset + len)
    throw new Error(`preprocessImage: output buffer too small (${dst.length} < ${offset + len})`);
  if (img.width < 1 || img.height < 1) throw new Error('preprocessImage: image has no pixels');

  // 1. Channels (gray first, as PIL convert('L') would before the resize).
  let px: Uint8Array = C === 1 ? toGray(img) : img.data;
  let w = img.width;
  let h = img.height;

  // 2. Resize.
  const [rh, rw] = resizedSize(w, h, spec);
  if (rh !== h || rw !== w) {
    px =
      spec.resampler === 'sharp'
        ? await resizeSharp(px, w, h, C, rw, rh, spec.interpolation)
        : resizePil(px, w, h, C, rw, rh, spec.interpolation);
    w = rw;
    h = rh;
  }

  // 3. Window of the resized image that lands in the output, and where it lands.
  let srcX = 0,
    srcY = 0,
    dstX = 0,
    dstY = 0,
    cw = Math.min(w, W),
    ch = Math.min(h, H);
  if (spec.resize === 'longest-edge-pad') {
    if (w > W || h > H) throw new Error(`preprocessImage: resized ${w}×${h} does not fit the ${W}×${H} input`);
    if (spec.padAlign === 'center') {
      dstX = Math.floor((W - w) / 2);
      dstY = Math.floor((H - h) / 2);
    }
  } else if (spec.crop === 'center') {
    if (w < W || h < H) throw new Error(`preprocessImage: resized ${w}×${h} is smaller than the ${W}×${H} crop`);
    const r = spec.cropRounding === 'half-even' ? roundHalfEven : Math.floor;
    srcX = r((w - W) / 2);
    srcY = r((h - H) / 2);
  } else if (w !== W || h !== H) {
    throw new Error(
      `preprocessImage: resized ${w}×${h} differs from the ${W}×${H} input and the spec neither crops nor pads`,
    );
  }

  // 4. Rescale + mean/std into CHW, padding where the image does not reach.
  const plane = H * W;
  const padNormalized = spec.padStage === 'normalized';
  const padPixel = spec.padValue ?? 0;
  for (let c = 0; c < C; c++) {
    const a = spec.rescale / spec.std[c];
    const b = -spec.mean[c] / spec.std[c];
    const padOut = padNormalized ? padPixel : padPixel * a + b;
    const base = offset + c * plane;
    if (cw < W || ch < H) dst.fill(padOut, base, base + plane);
    for (let y = 0; y < ch; y++) {
      const rowIn = ((y + srcY) * w + srcX) * C + c;
      const rowOut = base + (y + dstY) * W + dstX;
      for (let x = 0; x < cw; x++) dst[rowOut + x] = (px[rowIn + x * C] * spec.rescale - spec.mean[c]) / spec.std[c];
    }
  }
  return dst;
}
