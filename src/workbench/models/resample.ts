/**
 * Image resampling that reproduces Pillow's `Image.resize` (Pillow 9–11, libImaging/Resample.c)
 * for 8-bit images: separable convolution, horizontal pass first into an 8-bit intermediate,
 * then vertical, with the filter support widened by the downscale factor (antialiasing),
 * 22-bit fixed-point coefficients and round-half-up. The study's reference preprocessing (Hugging
 * Face image processors, torchvision and open_clip transforms on PIL images) all resize with
 * Pillow, so this is what the embeddings are reproduced with. Pure functions, no module state:
 * safe in worker threads.
 */

export type ResampleFilter = 'nearest' | 'bilinear' | 'bicubic' | 'lanczos';

interface Filter {
  support: number;
  fn: (x: number) => number;
}

// Pillow's filters (Resample.c).
const BICUBIC_A = -0.5;
const FILTERS: Record<Exclude<ResampleFilter, 'nearest'>, Filter> = {
  bilinear: {
    support: 1,
    fn: (x) => {
      x = Math.abs(x);
      return x < 1 ? 1 - x : 0;
    },
  },
  bicubic: {
    support: 2,
    fn: (x) => {
      x = Math.abs(x);
      if (x < 1) return ((BICUBIC_A + 2) * x - (BICUBIC_A + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * BICUBIC_A;
      return 0;
    },
  },
  lanczos: { support: 3, fn: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

function sinc(x: number): number {
  if (x === 0) return 1;
  x *= Math.PI;
  return Math.sin(x) / x;
}

const PRECISION_BITS = 32 - 8 - 2;

interface Coeffs {
  ksize: number;
  bounds: Int32Array;
  kk: Int32Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis. */
function precompute(inSize: number, outSize: number, filter: Filter): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(1, scale);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const v = filter.fn((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      // (int)(v * (1 << PRECISION_BITS) + (v < 0 ? -0.5 : 0.5)): C casts truncate toward zero.
      kk[xx * ksize + x] = Math.trunc(v * (1 << PRECISION_BITS) + (v < 0 ? -0.5 : 0.5));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(v: number): number {
  const x = v >> PRECISION_BITS;
  return x < 0 ? 0 : x > 255 ? 255 : x;
}

/**
 * Resize interleaved 8-bit pixels (`channels` per pixel) from inW×inH to outW×outH as
 * Pillow's `Image.resize(size, filter)` does. Returns a new buffer.
 */
export function resizePil(
  src: Uint8Array,
  inW: number,
  inH: number,
  channels: number,
  outW: number,
  outH: number,
  filter: ResampleFilter,
): Uint8Array {
  if (src.length !== inW * inH * channels)
    throw new Error(`resizePil: buffer holds ${src.length} bytes, expected ${inW}×${inH}×${channels}`);
  if (outW < 1 || outH < 1 || !Number.isInteger(outW) || !Number.isInteger(outH))
    throw new Error(`resizePil: invalid output size ${outW}×${outH}`);
  if (filter === 'nearest') return resizeNearest(src, inW, inH, channels, outW, outH);
  if (outW === inW && outH === inH) return src.slice();
  const f = FILTERS[filter];
  const C = channels;
  const needH = outW !== inW;
  const needV = outH !== inH;
  const vert = precompute(inH, outH, f);
  let cur = src;
  if (needH) {
    const horiz = precompute(inW, outW, f);
    // Only the source rows the vertical pass reads.
    const yFirst = vert.bounds[0];
    const yLast = vert.bounds[outH * 2 - 2] + vert.bounds[outH * 2 - 1];
    const rows = needV ? yLast - yFirst : inH;
    const y0 = needV ? yFirst : 0;
    if (needV) for (let i = 0; i < outH; i++) vert.bounds[i * 2] -= yFirst;
    const tmp = new Uint8Array(outW * rows * C);
    const { ksize, bounds, kk } = horiz;
    const half = 1 << (PRECISION_BITS - 1);
    for (let y = 0; y < rows; y++) {
      const rowIn = (y + y0) * inW * C;
      const rowOut = y * outW * C;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2];
        const xmax = bounds[xx * 2 + 1];
        const k = xx * ksize;
        for (let c = 0; c < C; c++) {
          let ss = half;
          for (let x = 0; x < xmax; x++) ss += src[rowIn + (x + xmin) * C + c] * kk[k + x];
          tmp[rowOut + xx * C + c] = clip8(ss);
        }
      }
    }
    cur = tmp;
  }
  if (!needV) return cur === src ? src.slice() : cur;
  const out = new Uint8Array(outW * outH * C);
  const { ksize, bounds, kk } = vert;
  const half = 1 << (PRECISION_BITS - 1);
  const rowLen = outW * C;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2];
    const ymax = bounds[yy * 2 + 1];
    const k = yy * ksize;
    for (let i = 0; i < rowLen; i++) {
      let ss = half;
      for (let y = 0; y < ymax; y++) ss += cur[(y + ymin) * rowLen + i] * kk[k + y];
      out[yy * rowLen + i] = clip8(ss);
    }
  }
  return out;
}

/**
 * Pillow NEAREST (ImagingScaleAffine): source index trunc(x0 + (x + 0.5) · in/out), with the
 * position accumulated step by step as Pillow does, so ties land on the same pixel.
 */
function resizeNearest(src: Uint8Array, inW: number, inH: number, C: number, outW: number, outH: number): Uint8Array {
  const out = new Uint8Array(outW * outH * C);
  const ax = inW / outW;
  const ay = inH / outH;
  const xin = new Int32Array(outW);
  let xo = ax * 0.5;
  for (let x = 0; x < outW; x++) {
    xin[x] = Math.min(inW - 1, Math.trunc(xo));
    xo += ax;
  }
  let yo = ay * 0.5;
  for (let y = 0; y < outH; y++) {
    const yi = Math.min(inH - 1, Math.trunc(yo));
    yo += ay;
    for (let x = 0; x < outW; x++) {
      const o = (y * outW + x) * C;
      const i = (yi * inW + xin[x]) * C;
      for (let c = 0; c < C; c++) out[o + c] = src[i + c];
    }
  }
  return out;
}
