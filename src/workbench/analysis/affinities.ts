/**
 * Input affinities of t-SNE, as scikit-learn computes them: exact k nearest neighbours
 * (squared Euclidean), a per-point binary search for the Gaussian precision β_i that gives
 * the wanted perplexity, then the symmetrised joint P = (P_cond + P_condᵀ) / Σ.
 *
 * The k-NN is brute force in blocked matrix products: |a − b|² = |a|² + |b|² − 2·a·b over
 * tiles of 64 × 256 rows, each pair computed once and offered to both rows. A row keeps the
 * candidates below its threshold in a buffer; a full buffer is cut to the k best (quickselect)
 * and the threshold drops to the k-th distance. The kept neighbours' distances are then
 * recomputed directly in float64 and sorted (ties by lower index).
 */
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { gemmNT } from './linalg.js';

/** Sparse symmetric matrix in compressed rows (CSR); columns ascending within a row. */
export interface SparseP {
  n: number;
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
}

/** k nearest neighbours of each row: indices and squared distances, nearest first (n × k). */
export interface Neighbours {
  k: number;
  indices: Int32Array;
  dist2: Float64Array;
}

const BI = 64,
  BJ = 256;

/** Exact k nearest neighbours (squared Euclidean, self excluded) of the rows of x (n × d). */
export function exactKnn(x: Float32Array, n: number, d: number, k: number, onProgress?: ProgressListener): Neighbours {
  if (!Number.isInteger(k) || k < 1 || k > n - 1)
    throw new RangeError(`exactKnn: k = ${k} but only ${n - 1} other points`);
  const X = Float64Array.from(x);
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) {
      const v = X[i * d + c];
      s += v * v;
    }
    norms[i] = s;
  }
  // per row: a buffer of candidates below the row's threshold; when full, keep the k best
  // (quickselect) and lower the threshold to the k-th distance
  const cap = 2 * k + 16;
  const bd = new Float64Array(n * cap);
  const bi = new Int32Array(n * cap);
  const len = new Int32Array(n);
  const thr = new Float64Array(n).fill(Infinity);
  const G = new Float64Array(BI * BJ);
  const progress = new ProgressTracker('t-SNE neighbours', n, onProgress, 'rows');
  for (let i0 = 0; i0 < n; i0 += BI) {
    const mi = Math.min(BI, n - i0);
    for (let j0 = i0; j0 < n; j0 += BJ) {
      const mj = Math.min(BJ, n - j0);
      gemmNT(X, i0 * d, d, X, j0 * d, d, G, 0, BJ, mi, mj, d);
      selectTile(G, norms, i0, mi, j0, mj, k, cap, bd, bi, len, thr);
    }
    progress.add(mi);
  }
  progress.finish();
  // exact distances of the kept neighbours, sorted nearest first (ties by index)
  const indices = new Int32Array(n * k);
  const dist2 = new Float64Array(n * k);
  const tmpD = new Float64Array(k);
  const tmpI = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const o = i * cap;
    if (len[i] > k) keepBest(bd, bi, o, k, len, i);
    // insertion sort by (exact distance, index)
    for (let t = 0; t < k; t++) {
      const j = bi[o + t];
      let s = 0;
      for (let c = 0; c < d; c++) {
        const v = X[i * d + c] - X[j * d + c];
        s += v * v;
      }
      let u = t;
      while (u > 0 && (tmpD[u - 1] > s || (tmpD[u - 1] === s && tmpI[u - 1] > j))) {
        tmpD[u] = tmpD[u - 1];
        tmpI[u] = tmpI[u - 1];
        u--;
      }
      tmpD[u] = s;
      tmpI[u] = j;
    }
    dist2.set(tmpD, i * k);
    indices.set(tmpI, i * k);
  }
  return { k, indices, dist2 };
}

/** Offer the pairs of one G tile (rows i0.., columns j0..) to both rows' candidate buffers. */
function selectTile(
  G: Float64Array,
  norms: Float64Array,
  i0: number,
  mi: number,
  j0: number,
  mj: number,
  k: number,
  cap: number,
  bd: Float64Array,
  bi: Int32Array,
  len: Int32Array,
  thr: Float64Array,
): void {
  for (let a = 0; a < mi; a++) {
    const i = i0 + a;
    const ni = norms[i];
    const gOff = a * BJ - j0;
    const oI = i * cap;
    let thrI = thr[i],
      lenI = len[i];
    // each pair once: j > i (tiles start at j0 ≥ i0)
    for (let j = j0 === i0 ? i + 1 : j0, je = j0 + mj; j < je; j++) {
      let dd = ni + norms[j] - 2 * G[gOff + j];
      if (dd < 0) dd = 0;
      if (dd < thrI) {
        bd[oI + lenI] = dd;
        bi[oI + lenI] = j;
        if (++lenI === cap) {
          len[i] = lenI;
          thrI = keepBest(bd, bi, oI, k, len, i);
          lenI = k;
        }
      }
      if (dd < thr[j]) {
        const o = j * cap + len[j];
        bd[o] = dd;
        bi[o] = i;
        if (++len[j] === cap) thr[j] = keepBest(bd, bi, j * cap, k, len, j);
      }
    }
    thr[i] = thrI;
    len[i] = lenI;
  }
}

/**
 * Keep the k smallest of the len[row] buffered (distance, index) pairs at [o, o + len) in the
 * first k slots (quickselect; ties by lower index), set len[row] = k, return the k-th distance.
 */
function keepBest(bd: Float64Array, bi: Int32Array, o: number, k: number, len: Int32Array, row: number): number {
  let lo = o,
    hi = o + len[row] - 1;
  const target = o + k - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const pd = bd[mid],
      pi = bi[mid];
    let a = lo,
      b = hi;
    while (a <= b) {
      while (bd[a] < pd || (bd[a] === pd && bi[a] < pi)) a++;
      while (bd[b] > pd || (bd[b] === pd && bi[b] > pi)) b--;
      if (a <= b) {
        const td = bd[a];
        bd[a] = bd[b];
        bd[b] = td;
        const ti = bi[a];
        bi[a] = bi[b];
        bi[b] = ti;
        a++;
        b--;
      }
    }
    if (target <= b) hi = b;
    else if (target >= a) lo = a;
    else break;
  }
  len[row] = k;
  let mx = -Infinity;
  for (let t = o; t < o + k; t++) if (bd[t] > mx) mx = bd[t];
  return mx;
}

/**
 * Binary search of β for one row: p_j = exp(−β·(d2_j − d2_min)) / Σ with entropy log(perplexity)
 * (scikit-learn's _binary_search_perplexity: 100 steps, tolerance 1e-5 nats). Writes p into out.
 */
export function conditionalRow(
  d2: Float64Array,
  off: number,
  len: number,
  perplexity: number,
  out: Float64Array,
  outOff: number,
): number {
  const desired = Math.log(perplexity);
  let dmin = Infinity;
  for (let t = 0; t < len; t++) if (d2[off + t] < dmin) dmin = d2[off + t];
  let beta = 1,
    betaMin = -Infinity,
    betaMax = Infinity;
  for (let step = 0; step < 100; step++) {
    let sum = 0;
    for (let t = 0; t < len; t++) {
      const p = Math.exp(-(d2[off + t] - dmin) * beta);
      out[outOff + t] = p;
      sum += p;
    }
    if (sum === 0) sum = 1e-8;
    let sumDP = 0;
    for (let t = 0; t < len; t++) {
      out[outOff + t] /= sum;
      sumDP += (d2[off + t] - dmin) * out[outOff + t];
    }
    // H = log Σ exp(−β·δ) + β·Σ p·δ with δ = d2 − d2_min (the shift cancels in H)
    const diff = Math.log(sum) + beta * sumDP - desired;
    if (Math.abs(diff) <= 1e-5) break;
    if (diff > 0) {
      betaMin = beta;
      beta = betaMax === Infinity ? beta * 2 : (beta + betaMax) / 2;
    } else {
      betaMax = beta;
      beta = betaMin === -Infinity ? beta / 2 : (beta + betaMin) / 2;
    }
  }
  return beta;
}

/** Joint P from the k-NN: conditional rows, P = (P_cond + P_condᵀ) / ΣP, as CSR. */
export function sparseAffinities(nb: Neighbours, n: number, perplexity: number): SparseP {
  const { k, indices, dist2 } = nb;
  const cond = new Float64Array(n * k);
  for (let i = 0; i < n; i++) conditionalRow(dist2, i * k, k, perplexity, cond, i * k);
  // rows of P_cond + P_condᵀ: row i gets its own k entries and every (j → i) entry
  const count = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    count[i] += k;
    for (let t = 0; t < k; t++) count[indices[i * k + t]]++;
  }
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) start[i + 1] = start[i] + count[i];
  const fill = start.slice(0, n);
  const tc = new Int32Array(start[n]);
  const tv = new Float64Array(start[n]);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const j = indices[i * k + t],
        p = cond[i * k + t];
      tc[fill[i]] = j;
      tv[fill[i]++] = p;
      tc[fill[j]] = i;
      tv[fill[j]++] = p;
    }
  }
  // merge duplicates per row (dense scratch accumulator), columns ascending
  const acc = new Float64Array(n);
  const seen = new Uint8Array(n);
  const rowPtr = new Int32Array(n + 1);
  const cols = new Int32Array(start[n]);
  const vals = new Float64Array(start[n]);
  let nnz = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const s = start[i],
      e = start[i + 1];
    const rowStart = nnz;
    for (let q = s; q < e; q++) {
      const j = tc[q];
      if (!seen[j]) {
        seen[j] = 1;
        cols[nnz++] = j;
      }
      acc[j] += tv[q];
    }
    cols.subarray(rowStart, nnz).sort();
    for (let q = rowStart; q < nnz; q++) {
      const j = cols[q];
      vals[q] = acc[j];
      total += acc[j];
      acc[j] = 0;
      seen[j] = 0;
    }
    rowPtr[i + 1] = nnz;
  }
  const norm = Math.max(total, Number.EPSILON);
  for (let q = 0; q < nnz; q++) vals[q] /= norm;
  return { n, rowPtr, cols: cols.slice(0, nnz), vals: vals.slice(0, nnz) };
}

/**
 * Dense joint P over all pairs (the exact method, scikit-learn's `_joint_probabilities`):
 * conditional rows over all n − 1 other points, symmetrised and normalised; n × n, zero diagonal.
 */
export function denseAffinities(x: Float32Array, n: number, d: number, perplexity: number): Float64Array {
  const D = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) {
        const v = x[i * d + c] - x[j * d + c];
        s += v * v;
      }
      D[i * n + j] = s;
      D[j * n + i] = s;
    }
  }
  const row = new Float64Array(n - 1);
  const prow = new Float64Array(n - 1);
  const P = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0, t = 0; j < n; j++) if (j !== i) row[t++] = D[i * n + j];
    conditionalRow(row, 0, n - 1, perplexity, prow, 0);
    for (let j = 0, t = 0; j < n; j++) if (j !== i) P[i * n + j] = prow[t++];
  }
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = P[i * n + j] + P[j * n + i];
      P[i * n + j] = v;
      P[j * n + i] = v;
      total += 2 * v;
    }
  }
  const norm = Math.max(total, Number.EPSILON);
  for (let q = 0; q < n * n; q++) P[q] /= norm;
  return P;
}
