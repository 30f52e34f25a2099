/**
 * Principal component analysis for t-SNE: centre, find the top-k principal axes by block
 * subspace iteration (randomized start, Rayleigh–Ritz), project. Two ways to apply the
 * covariance C = Xcᵀ·Xc / (n − 1) to a block of vectors:
 *
 *  - 'covariance': form the d×d matrix once (one blocked pass over the rows, n·d²/2
 *    multiply-adds), then iterate on it until the Ritz vectors settle (exact to round-off);
 *  - 'randomized': never form C; each iteration is two passes over the rows, Xcᵀ·(Xc·Q)
 *    (the randomized SVD of Halko et al. with a fixed number of power iterations).
 *
 * 'auto' picks 'covariance' for d ≤ 2048 (C at most 32 MiB) and 'randomized' above.
 * Signs are fixed so that each axis's largest-|value| loading is positive; a seed fixes the
 * start block, so the result is deterministic.
 */
import { CbirError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { gemmNT, orthonormalizeRows, symmetricEigen } from './linalg.js';
import { checkMatrix } from './validate.js';

/** Options of `pca`. */
export interface PcaOptions {
  /** Seed of the random start block (default 0). */
  seed?: number;
  /** How C is applied (default 'auto', see the module comment). */
  solver?: 'auto' | 'covariance' | 'randomized';
  /** Extra columns of the subspace beyond k (default 10). */
  oversample?: number;
  /** Power iterations of the randomized solver (default 7, as scikit-learn's PCA). */
  powerIterations?: number;
  /** Named in error messages (e.g. the embedding store the rows came from). */
  source?: string;
}

/** What `pcaFit` returns: the axes, the variances they explain and the mean. */
export interface PcaModel {
  /** k × d, row t = axis t (unit length). */
  components: Float64Array;
  /** Variance along each axis (eigenvalues of C), descending. */
  explainedVariance: Float64Array;
  /** Total variance (trace of C), for explained-variance ratios. */
  totalVariance: number;
  mean: Float64Array;
  k: number;
  d: number;
  solver: 'covariance' | 'randomized';
}

const ROW_BLOCK = 128;

/**
 * Top-k principal components of the rows of x (n × d, row-major): returns the scores
 * (n × k, centred data projected on the axes).
 */
export function pca(x: Float32Array, n: number, d: number, k = 50, opts: PcaOptions = {}): Float32Array {
  const model = pcaFit(x, n, d, k, opts);
  return pcaTransform(model, x, n);
}

/** Fit the principal axes (see `pca`); `pcaTransform` projects rows on them. */
export function pcaFit(x: Float32Array, n: number, d: number, k = 50, opts: PcaOptions = {}): PcaModel {
  checkMatrix(x, n, d, opts.source, 'pca input');
  if (!Number.isInteger(k) || k < 1 || k > Math.min(n, d)) {
    throw new CbirError(`pca: k = ${k} components asked for, but the data has ${n} rows × ${d} dimensions`, {
      file: opts.source,
      hint: `ask for 1 ≤ k ≤ ${Math.min(n, d)} components`,
      code: 'tsne/bad-parameter',
    });
  }
  const solver =
    opts.solver === undefined || opts.solver === 'auto' ? (d <= 2048 ? 'covariance' : 'randomized') : opts.solver;
  const m = Math.min(d, k + (opts.oversample ?? 10));
  const mean = columnMeans(x, n, d);
  const denom = Math.max(1, n - 1);

  // start block: m × d Gaussian rows, orthonormalised
  const rng = new Rng(opts.seed ?? 0);
  let Q: Float64Array = new Float64Array(m * d);
  for (let i = 0; i < Q.length; i++) Q[i] = rng.normal();
  orthonormalizeRows(Q, m, d);

  let totalVariance = 0;
  let apply: (Qin: Float64Array, out: Float64Array) => void;
  if (solver === 'covariance') {
    const C = covariance(x, n, d, mean);
    for (let c = 0; c < d * d; c++) C[c] /= denom;
    for (let c = 0; c < d; c++) totalVariance += C[c * d + c];
    // (C·Qᵀ)ᵀ = Q·Cᵀ = Q·C (C symmetric): rows of out = C applied to rows of Q
    apply = (Qin, out) => gemmNT(Qin, 0, d, C, 0, d, out, 0, d, m, d, d);
  } else {
    totalVariance = rowsTotalVariance(x, n, d, mean) / denom;
    apply = (Qin, out) => {
      applyImplicit(x, n, d, mean, Qin, m, out);
      for (let i = 0; i < out.length; i++) out[i] /= denom;
    };
  }

  const Y = new Float64Array(m * d);
  const maxIter = solver === 'covariance' ? 150 : (opts.powerIterations ?? 7); // covariance: a multiple of 5
  let values: Float64Array = new Float64Array(m);
  for (let it = 0; it < maxIter; it++) {
    // power step: Q ← orth(C·Q)
    apply(Q, Y);
    Q.set(Y);
    orthonormalizeRows(Q, m, d);
    if (solver === 'covariance' && it % 5 === 4) {
      // Rayleigh–Ritz every 5 steps; stop when the first k Ritz pairs have small residuals
      apply(Q, Y);
      const r = rayleighRitz(Q, Y, m, d, k);
      Q = r.Q;
      values = r.values;
      if (r.residual <= 1e-6 * Math.max(Math.abs(values[0]), 1e-300)) break;
    }
  }
  if (solver === 'randomized') {
    apply(Q, Y);
    const r = rayleighRitz(Q, Y, m, d, k);
    Q = r.Q;
    values = r.values;
  }
  const components = Q.slice(0, k * d);
  fixSigns(components, k, d);
  return { components, explainedVariance: values.slice(0, k), totalVariance, mean, k, d, solver };
}

/** Mean of each column of x (n × d). */
function columnMeans(x: Float32Array, n: number, d: number): Float64Array {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let c = 0; c < d; c++) mean[c] += x[o + c];
  }
  for (let c = 0; c < d; c++) mean[c] /= n;
  return mean;
}

/** Flip each of the k rows of components (k × d) so that its largest-|value| loading (first one on ties) is positive. */
function fixSigns(components: Float64Array, k: number, d: number): void {
  for (let t = 0; t < k; t++) {
    let best = 0,
      bi = 0;
    for (let c = 0; c < d; c++) {
      const a = Math.abs(components[t * d + c]);
      if (a > best) {
        best = a;
        bi = c;
      }
    }
    if (components[t * d + bi] < 0) for (let c = 0; c < d; c++) components[t * d + c] = -components[t * d + c];
  }
}

/** Project the rows of x (n × model.d) on the fitted axes: (x − mean)·componentsᵀ, n × k. */
export function pcaTransform(model: PcaModel, x: Float32Array, n: number): Float32Array {
  const { d, k, components, mean } = model;
  checkMatrix(x, n, d, undefined, 'pca input');
  const out = new Float32Array(n * k);
  const tile = new Float64Array(ROW_BLOCK * d);
  const res = new Float64Array(ROW_BLOCK * k);
  for (let r0 = 0; r0 < n; r0 += ROW_BLOCK) {
    const rows = Math.min(ROW_BLOCK, n - r0);
    centredTile(x, d, mean, r0, rows, tile);
    gemmNT(tile, 0, d, components, 0, d, res, 0, k, rows, k, d);
    for (let i = 0; i < rows * k; i++) out[r0 * k + i] = res[i];
  }
  return out;
}

/** Rows r0..r0+rows of x minus the mean, into tile (rows × d). */
function centredTile(
  x: Float32Array,
  d: number,
  mean: Float64Array,
  r0: number,
  rows: number,
  tile: Float64Array,
): void {
  for (let i = 0; i < rows; i++) {
    const o = (r0 + i) * d,
      t = i * d;
    for (let c = 0; c < d; c++) tile[t + c] = x[o + c] - mean[c];
  }
}

/** Xcᵀ·Xc (d × d, both triangles filled), one pass over blocks of rows. */
function covariance(x: Float32Array, n: number, d: number, mean: Float64Array): Float64Array {
  const C = new Float64Array(d * d);
  const tt = new Float64Array(d * ROW_BLOCK); // transposed centred tile: d × rows
  const B = 64; // column panel of C computed per call
  for (let r0 = 0; r0 < n; r0 += ROW_BLOCK) {
    const rows = Math.min(ROW_BLOCK, n - r0);
    for (let i = 0; i < rows; i++) {
      const o = (r0 + i) * d;
      for (let c = 0; c < d; c++) tt[c * rows + i] = x[o + c] - mean[c];
    }
    // upper block triangle only: panels (a, b) with b ≥ a
    for (let a = 0; a < d; a += B) {
      const ma = Math.min(B, d - a);
      for (let b = a; b < d; b += B) {
        const mb = Math.min(B, d - b);
        gemmNT(tt, a * rows, rows, tt, b * rows, rows, C, a * d + b, d, ma, mb, rows, true);
      }
    }
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) C[a * d + b] = C[b * d + a];
  return C;
}

/** Σ over rows of |x_i − mean|². */
function rowsTotalVariance(x: Float32Array, n: number, d: number, mean: Float64Array): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let c = 0; c < d; c++) {
      const v = x[o + c] - mean[c];
      s += v * v;
    }
  }
  return s;
}

/** out (m × d) = rows of Q mapped by Xcᵀ·Xc, in two blocked passes fused per row block. */
function applyImplicit(
  x: Float32Array,
  n: number,
  d: number,
  mean: Float64Array,
  Q: Float64Array,
  m: number,
  out: Float64Array,
): void {
  out.fill(0);
  const tile = new Float64Array(ROW_BLOCK * d);
  const tt = new Float64Array(d * ROW_BLOCK);
  const z = new Float64Array(m * ROW_BLOCK); // (Xc_block · Qᵀ)ᵀ: m × rows
  for (let r0 = 0; r0 < n; r0 += ROW_BLOCK) {
    const rows = Math.min(ROW_BLOCK, n - r0);
    centredTile(x, d, mean, r0, rows, tile);
    gemmNT(Q, 0, d, tile, 0, d, z, 0, rows, m, rows, d);
    for (let i = 0; i < rows; i++) for (let c = 0; c < d; c++) tt[c * rows + i] = tile[i * d + c];
    gemmNT(z, 0, rows, tt, 0, rows, out, 0, d, m, d, rows, true);
  }
}

/**
 * Given orthonormal rows Q and Y = rows of C·Q: Ritz values (descending), the block rotated onto
 * the Ritz vectors, and the largest residual ‖C·v_t − λ_t·v_t‖ of the first k of them.
 */
function rayleighRitz(
  Q: Float64Array,
  Y: Float64Array,
  m: number,
  d: number,
  k: number,
): { Q: Float64Array; values: Float64Array; residual: number } {
  const S = new Float64Array(m * m);
  gemmNT(Q, 0, d, Y, 0, d, S, 0, m, m, m, d);
  for (let a = 0; a < m; a++)
    for (let b = a + 1; b < m; b++) {
      const v = (S[a * m + b] + S[b * m + a]) / 2;
      S[a * m + b] = v;
      S[b * m + a] = v;
    }
  const { values, vectors } = symmetricEigen(S, m);
  // Ritz vector t = Σ_s vectors[t, s] · Q_s; C applied to it = Σ_s vectors[t, s] · Y_s
  const out = new Float64Array(m * d);
  const cv = new Float64Array(d);
  let residual = 0;
  for (let t = 0; t < m; t++) {
    const o = t * d;
    cv.fill(0);
    for (let s = 0; s < m; s++) {
      const w = vectors[t * m + s];
      if (w === 0) continue;
      const q = s * d;
      for (let c = 0; c < d; c++) {
        out[o + c] += w * Q[q + c];
        cv[c] += w * Y[q + c];
      }
    }
    if (t < k) {
      let r = 0;
      for (let c = 0; c < d; c++) {
        const v = cv[c] - values[t] * out[o + c];
        r += v * v;
      }
      residual = Math.max(residual, Math.sqrt(r));
    }
  }
  orthonormalizeRows(out, m, d);
  return { Q: out, values, residual };
}
