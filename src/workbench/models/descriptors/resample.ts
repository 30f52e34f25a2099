import type { RgbImage } from '../../images/decode.js';

/**
 * Gray planes for the descriptors: BT.601 luma as float (0..255), resampled with an
 * antialiased triangle (bilinear) filter whose support widens with the scale factor
 * (as PIL's BILINEAR resize does), so a 1024 px CT slice and a 28 px MNIST image both
 * become a clean fixed-size plane. Pure JS arithmetic: the same input gives the same
 * bits on every machine.
 */

/** Luma plane of an image as Float32Array (width × height, values 0..255). */
export function lumaPlane(img: RgbImage): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(n);
  const d = img.data;
  if (img.grayscale) {
    for (let p = 0; p < n; p++) out[p] = d[3 * p];
  } else {
    for (let p = 0; p < n; p++) out[p] = 0.299 * d[3 * p] + 0.587 * d[3 * p + 1] + 0.114 * d[3 * p + 2];
  }
  return out;
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  stride: number;
}

function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // triangle filter: support 1, widened when shrinking
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * stride);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support + 0.5));
    const hi = Math.min(inSize, Math.floor(center + support + 0.5));
    let sum = 0;
    const k0 = i * stride;
    for (let x = lo; x < hi; x++) {
      const t = Math.abs((x - center + 0.5) / filterScale);
      const w = t < 1 ? 1 - t : 0;
      weights[k0 + x - lo] = w;
      sum += w;
    }
    if (sum > 0) for (let x = 0; x < hi - lo; x++) weights[k0 + x] /= sum;
    start[i] = lo;
    count[i] = hi - lo;
  }
  return { start, count, weights, stride };
}

/** Resample a float plane (w × h) to outW × outH with the antialiased triangle filter. */
export function resizePlane(src: Float32Array, w: number, h: number, outW: number, outH: number): Float32Array {
  if (w === outW && h === outH) return src.slice();
  const tx = taps(w, outW);
  const ty = taps(h, outH);
  // horizontal pass: h × outW
  const mid = new Float32Array(h * outW);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < outW; x++) {
      const s = tx.start[x];
      const c = tx.count[x];
      const k0 = x * tx.stride;
      let acc = 0;
      for (let k = 0; k < c; k++) acc += src[row + s + k] * tx.weights[k0 + k];
      mid[y * outW + x] = acc;
    }
  }
  // vertical pass: outH × outW
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const s = ty.start[y];
    const c = ty.count[y];
    const k0 = y * ty.stride;
    for (let x = 0; x < outW; x++) {
      let acc = 0;
      for (let k = 0; k < c; k++) acc += mid[(s + k) * outW + x] * ty.weights[k0 + k];
      out[y * outW + x] = acc;
    }
  }
  return out;
}

/**
 * One image prepared for the descriptors: the luma plane, and square resampled planes cached
 * by size, so a combined descriptor resizes once per size for all its parts.
 */
export class DescriptorInput {
  private luma: Float32Array | null = null;
  private readonly cache = new Map<number, Float32Array>();

  constructor(readonly image: RgbImage) {}

  /** Luma resampled to size × size (aspect ratio not kept), values 0..255. */
  gray(size: number): Float32Array {
    let p = this.cache.get(size);
    if (!p) {
      this.luma ??= lumaPlane(this.image);
      p = resizePlane(this.luma, this.image.width, this.image.height, size, size);
      this.cache.set(size, p);
    }
    return p;
  }
}
