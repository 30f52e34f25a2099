/**
 * Near-duplicates by content: a 16×16 grayscale thumbnail per image, and every pair of images
 * whose thumbnails differ by a mean absolute difference (MAD) below a threshold, found without
 * comparing all pairs.
 *
 * The thumbnail: BT.601 luma (0.299 R + 0.587 G + 0.114 B, or the gray value itself), averaged
 * over exact areas (each of the 16 × 16 cells covers W/16 × H/16 source pixels, fractional
 * pixels weighted by the part they cover), rounded to 8 bits. The measure between two images:
 * MAD = (1/256) Σ |a_p − b_p| in gray levels (0…255); "MAD < 2/255" reads MAD < 2 gray levels.
 */
import type { RgbImage } from '../images/decode.js';

/** Thumbnail side and its number of pixels. */
export const THUMB_SIDE = 16;
export const THUMB_PIXELS = THUMB_SIDE * THUMB_SIDE;

/**
 * Default thresholds, in gray levels of 255. Below NEAR_DUPLICATE_MAD two images are the same
 * picture (re-encoded, re-saved, slightly re-scaled) and are treated as duplicates; below
 * SIMILAR_MAD (but not near-identical) they are similar but distinct pictures, such as adjacent
 * slices of one scan, and a pair across splits is reported as a possible patient leak.
 */
export const NEAR_DUPLICATE_MAD = 2;
export const SIMILAR_MAD = 6;

/**
 * How the source pixels of one axis (n of them) spread over the S cells: in units of 1/S pixel,
 * pixel x spans [S·x, S·x + S) and cell c spans [c·n, c·n + n), so every overlap is an integer.
 * Pixel x adds weight `w[k]` to cell `cell[k]` for k in [start[x], start[x + 1]).
 */
function axisWeights(n: number, S: number): { start: Int32Array; cell: Int32Array; w: Int32Array } {
  const start = new Int32Array(n + 1);
  const cell: number[] = [];
  const w: number[] = [];
  for (let x = 0; x < n; x++) {
    start[x] = cell.length;
    for (let c = Math.floor((S * x) / n); c < S && c * n < S * x + S; c++) {
      const o = Math.min(S * x + S, (c + 1) * n) - Math.max(S * x, c * n);
      if (o > 0) {
        cell.push(c);
        w.push(o);
      }
    }
  }
  start[n] = cell.length;
  return { start, cell: Int32Array.from(cell), w: Int32Array.from(w) };
}

/** The 16×16 area-averaged grayscale thumbnail of an image (256 bytes, row-major; values rounded half up). */
export function thumbnail16(img: RgbImage): Uint8Array {
  const { width: W, height: H, data } = img;
  const S = THUMB_SIDE;
  const cols = axisWeights(W, S);
  const rows = axisWeights(H, S);
  const acc = new Float64Array(S * S);
  const row = new Float64Array(S);
  for (let y = 0; y < H; y++) {
    row.fill(0);
    const base = y * W * 3;
    for (let x = 0; x < W; x++) {
      const p = base + 3 * x;
      const g = img.grayscale ? data[p] : 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2];
      for (let k = cols.start[x]; k < cols.start[x + 1]; k++) row[cols.cell[k]] += cols.w[k] * g;
    }
    for (let k = rows.start[y]; k < rows.start[y + 1]; k++) {
      const o = rows.cell[k] * S;
      const wy = rows.w[k];
      for (let c = 0; c < S; c++) acc[o + c] += wy * row[c];
    }
  }
  const out = new Uint8Array(S * S);
  const norm = 1 / (W * H);
  for (let i = 0; i < S * S; i++) {
    const v = Math.round(acc[i] * norm);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

/** Sum of |a − b| over the 256 pixels of thumbnails i and j (MAD × 256); stops once it reaches `limit`. */
export function thumbL1(thumbs: Uint8Array, i: number, j: number, limit = Infinity): number {
  let s = 0;
  const a = i * THUMB_PIXELS;
  const b = j * THUMB_PIXELS;
  for (let p = 0; p < THUMB_PIXELS; p += 16) {
    for (let q = p; q < p + 16; q++) {
      const d = thumbs[a + q] - thumbs[b + q];
      s += d < 0 ? -d : d;
    }
    if (s >= limit) return s;
  }
  return s;
}

/** L1 distance of the 2×2-pixel sums of images i and j (a lower bound of their thumbnail L1); stops at `limit`. */
function l1Bound64(c: Uint16Array, i: number, j: number, limit: number): number {
  let s = 0;
  const a = i * 64;
  const b = j * 64;
  for (let p = 0; p < 64; p += 16) {
    for (let q = p; q < p + 16; q++) {
      const d = c[a + q] - c[b + q];
      s += d < 0 ? -d : d;
    }
    if (s >= limit) return s;
  }
  return s;
}

/** Pairs of images with their thumbnail distance, in typed arrays (a < b). */
export interface NearPairs {
  a: Int32Array;
  b: Int32Array;
  /** Σ|a − b| over the 256 thumbnail pixels: MAD = l1 / 256 gray levels. */
  l1: Int32Array;
  count: number;
  /** Pairs looked at (same or neighbouring cells, |Δtotal| < T): the work the grid left. */
  candidates: number;
  /** Pairs whose thumbnails were compared pixel by pixel, after every bound. */
  compared: number;
}

/** A growable pair list. */
class PairList {
  a = new Int32Array(1024);
  b = new Int32Array(1024);
  l1 = new Int32Array(1024);
  count = 0;
  push(i: number, j: number, d: number): void {
    if (this.count === this.a.length) {
      const grow = (x: Int32Array) => {
        const y = new Int32Array(x.length * 2);
        y.set(x);
        return y;
      };
      this.a = grow(this.a);
      this.b = grow(this.b);
      this.l1 = grow(this.l1);
    }
    this.a[this.count] = i;
    this.b[this.count] = j;
    this.l1[this.count++] = d;
  }
}

/** Per image: total and the sums of its 2×2 quadrants and 4×4 blocks (lower bounds of the L1 distance). */
function blockSums(thumbs: Uint8Array, n: number): { total: Int32Array; quad: Int32Array; block: Int32Array } {
  const total = new Int32Array(n);
  const quad = new Int32Array(n * 4);
  const block = new Int32Array(n * 16);
  for (let i = 0; i < n; i++) {
    const o = i * THUMB_PIXELS;
    for (let y = 0; y < THUMB_SIDE; y++)
      for (let x = 0; x < THUMB_SIDE; x++) {
        const v = thumbs[o + y * THUMB_SIDE + x];
        block[i * 16 + (y >> 2) * 4 + (x >> 2)] += v;
        quad[i * 4 + (y >> 3) * 2 + (x >> 3)] += v;
        total[i] += v;
      }
  }
  return { total, quad, block };
}

/** The images in grid order (cell, then total), with their bounds laid out in that order. */
interface Grid {
  /** Image id at each position. */
  order: Int32Array;
  total: Int32Array;
  quad: Int32Array;
  block: Int32Array;
  /** Per image id: its 64 sums of 2×2 pixels (the last bound before the pixels). */
  cell64: Uint16Array;
  /** Cell key → [start, end) positions. */
  cells: Map<number, [number, number]>;
  /** Cells per quadrant axis. */
  M: number;
}

function buildGrid(thumbs: Uint8Array, n: number, width: number): Grid {
  const sums = blockSums(thumbs, n);
  const M = Math.floor((64 * 255) / width) + 1; // at most 256
  const key = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (let d = 0; d < 4; d++) k = k * M + Math.floor(sums.quad[i * 4 + d] / width);
    key[i] = k;
  }
  const order = new Int32Array(n).map((_, i) => i);
  order.sort((x, y) => key[x] - key[y] || sums.total[x] - sums.total[y] || x - y);
  const total = new Int32Array(n);
  const quad = new Int32Array(n * 4);
  const block = new Int32Array(n * 16);
  const cells = new Map<number, [number, number]>();
  for (let p = 0; p < n; p++) {
    const i = order[p];
    total[p] = sums.total[i];
    quad.set(sums.quad.subarray(i * 4, i * 4 + 4), p * 4);
    block.set(sums.block.subarray(i * 16, i * 16 + 16), p * 16);
    const c = cells.get(key[i]);
    if (c) c[1] = p + 1;
    else cells.set(key[i], [p, p + 1]);
  }
  const cell64 = new Uint16Array(n * 64);
  for (let i = 0; i < n; i++) {
    const o = i * THUMB_PIXELS;
    for (let y = 0; y < THUMB_SIDE; y++)
      for (let x = 0; x < THUMB_SIDE; x++) cell64[i * 64 + (y >> 1) * 8 + (x >> 1)] += thumbs[o + y * THUMB_SIDE + x];
  }
  return { order, total, quad, block, cells, M, cell64 };
}

/**
 * Every pair (i, j) of the n thumbnails with MAD < `maxMad` gray levels, exactly (no pair is
 * missed), without comparing all pairs. For any region R of the thumbnail,
 * Σ_R|a − b| ≥ |Σ_R a − Σ_R b|, so the L1 distance is at least the L1 distance of the quadrant
 * sums, of the 4×4 block sums and of the totals. Images are put in a grid over their four
 * quadrant sums with cells at least as wide as the threshold T = 256·maxMad, so a pair below T
 * lies in the same or adjacent cells (3⁴ neighbours); within two cells, images are sorted by
 * their total and only those with |Δtotal| < T are paired; each pair then passes the quadrant
 * block and 2×2-pixel bounds before its 256 pixels are compared (stopping at T).
 * `keep(i, j)` (optional) skips pairs before their pixels are compared (e.g. pairs within one
 * split). Each pair found is passed to `onPair(i, j, l1)` (i < j), so a caller that needs only
 * counts holds no pair list.
 */
export function forEachNearPair(
  thumbs: Uint8Array,
  n: number,
  maxMad: number,
  onPair: (i: number, j: number, l1: number) => void,
  keep?: (i: number, j: number) => boolean,
): { candidates: number; compared: number } {
  const T = maxMad * THUMB_PIXELS;
  const stats = { compared: 0, candidates: 0 };
  if (!(T > 0) || n < 2) return stats;
  const g = buildGrid(thumbs, n, Math.max(T, 64));
  const { M } = g;
  const offsets = neighbourOffsets();
  for (const [k, range] of g.cells) {
    const c = [Math.floor(k / (M * M * M)), Math.floor(k / (M * M)) % M, Math.floor(k / M) % M, k % M];
    for (const off of offsets) {
      if (off.some((o, d) => c[d] + o < 0 || c[d] + o >= M)) continue;
      const other = g.cells.get(((c[0] + off[0]) * M + c[1] + off[1]) * M * M + (c[2] + off[2]) * M + c[3] + off[3]);
      if (other)
        joinCells(
          g,
          thumbs,
          T,
          range,
          other,
          off.every((o) => o === 0),
          onPair,
          stats,
          keep,
        );
    }
  }
  return stats;
}

/** Every pair below `maxMad` (see `forEachNearPair`), collected in typed arrays. */
export function findNearPairs(
  thumbs: Uint8Array,
  n: number,
  maxMad: number,
  keep?: (i: number, j: number) => boolean,
): NearPairs {
  const pairs = new PairList();
  const stats = forEachNearPair(thumbs, n, maxMad, (i, j, l1) => pairs.push(i, j, l1), keep);
  const m = pairs.count;
  return { a: pairs.a.subarray(0, m), b: pairs.b.subarray(0, m), l1: pairs.l1.subarray(0, m), count: m, ...stats };
}

/** The offsets of the cells to pair a cell with: itself and half of its 80 neighbours (each cell pair once). */
function neighbourOffsets(): number[][] {
  const out: number[][] = [];
  for (let a = -1; a <= 1; a++)
    for (let b = -1; b <= 1; b++)
      for (let c = -1; c <= 1; c++)
        for (let d = -1; d <= 1; d++) {
          const o = [a, b, c, d];
          const first = o.find((x) => x !== 0);
          if (first === undefined || first > 0) out.push(o);
        }
  return out;
}

/**
 * Pair the images of two cells (position ranges, each sorted by total) whose totals differ by
 * less than T and whose quadrant and block sums are within T; `same` pairs a cell with itself
 * (each pair once). Pairs below T are pushed to `pairs`.
 */
function joinCells(
  g: Grid,
  thumbs: Uint8Array,
  T: number,
  [s, e]: [number, number],
  [s2, e2]: [number, number],
  same: boolean,
  onPair: (i: number, j: number, l1: number) => void,
  stats: { compared: number; candidates: number },
  keep?: (i: number, j: number) => boolean,
): void {
  const { total, quad, block, order } = g;
  let lo = s2;
  for (let p = s; p < e; p++) {
    const t = total[p];
    while (lo < e2 && total[lo] <= t - T) lo++;
    const p4 = p * 4;
    const p16 = p * 16;
    for (let q = same ? Math.max(lo, p + 1) : lo; q < e2; q++) {
      if (total[q] >= t + T) break;
      stats.candidates++;
      const q4 = q * 4;
      let lb = Math.abs(quad[p4] - quad[q4]) + Math.abs(quad[p4 + 1] - quad[q4 + 1]);
      lb += Math.abs(quad[p4 + 2] - quad[q4 + 2]) + Math.abs(quad[p4 + 3] - quad[q4 + 3]);
      if (lb >= T) continue;
      const q16 = q * 16;
      lb = 0;
      for (let d = 0; d < 16; d++) lb += Math.abs(block[p16 + d] - block[q16 + d]);
      if (lb >= T) continue;
      const i = order[p];
      const j = order[q];
      if (keep && !keep(i, j)) continue;
      if (l1Bound64(g.cell64, i, j, T) >= T) continue;
      stats.compared++;
      const l1 = thumbL1(thumbs, i, j, T);
      if (l1 < T) onPair(Math.min(i, j), Math.max(i, j), l1);
    }
  }
}
