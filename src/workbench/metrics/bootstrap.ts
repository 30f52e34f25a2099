/**
 * Uncertainty for retrieval precision (beyond the study): bootstrap percentile intervals over
 * queries, and a paired test between two models scored on the same queries.
 *
 * Resampling: micro — ordinary bootstrap, Q queries drawn with replacement from all Q;
 * macro — stratified bootstrap, each class's n_c queries drawn with replacement from that
 * class, so every replicate keeps the same classes and class sizes and the macro mean is
 * always over the same classes (resampling all queries and recomputing class means would
 * drop rare classes from some replicates and mix a change of estimand into the interval).
 * Draws are tallied in Uint32 counts over a compact copy of the needed columns, so a replicate
 * costs Q random draws plus one sequential pass, with no copy of the data.
 */
import { Rng } from '../util/rng.js';
import { checkCodes, checkLength, checkPositiveInt, metricsError, type Codes } from './check.js';
import { STUDY_PERMUTATIONS, STUDY_REPLICATES } from '../study.js';

export interface Interval {
  /** The statistic on the original queries. */
  estimate: number;
  /** Percentile interval [alpha/2, 1 − alpha/2] of the replicates (linear interpolation, as numpy). */
  lo: number;
  hi: number;
  /** Standard deviation of the replicates (bootstrap standard error). */
  se: number;
}

export interface BootstrapOptions {
  /** Replicates B; default 1000. */
  replicates?: number;
  /** Default 0. */
  seed?: number;
  /** 1 − confidence level; default 0.05. */
  alpha?: number;
  /** Columns of perQuery to resample (indices into PrecisionAtN.ns); default all — pick a few, cost is linear. */
  columns?: ArrayLike<number>;
}

export interface PrecisionBootstrap {
  columns: Int32Array;
  /** One interval per column. */
  micro: Interval[];
  macro: Interval[];
  replicates: number;
  alpha: number;
}

/** Queries reordered by class, with the chosen columns as doubles, column-major (W × Q). */
interface Layout {
  Q: number;
  W: number;
  /** vals[t * Q + r]: column t of the r-th query in class order. */
  vals: Float64Array;
  /** start[k]..start[k+1] are the rows of the k-th class that has queries. */
  start: Int32Array;
}

function layout(perQuery: Float32Array | Float64Array, width: number, cols: Int32Array, labels: Codes): Layout {
  const Q = labels.length;
  let maxC = 0;
  for (let q = 0; q < Q; q++) if (labels[q] > maxC) maxC = labels[q];
  checkCodes('queryLabels', labels, maxC + 1);
  const count = new Int32Array(maxC + 2);
  for (let q = 0; q < Q; q++) count[labels[q] + 1]++;
  for (let c = 0; c <= maxC; c++) count[c + 1] += count[c];
  const fill = count.slice(0, maxC + 1);
  const W = cols.length;
  const vals = new Float64Array(Q * W);
  for (let q = 0; q < Q; q++) {
    const r = fill[labels[q]]++;
    for (let t = 0; t < W; t++) vals[t * Q + r] = perQuery[q * width + cols[t]];
  }
  let nC = 0;
  for (let c = 0; c <= maxC; c++) if (count[c + 1] > count[c]) nC++;
  const start = new Int32Array(nC + 1);
  let k = 0;
  for (let c = 0; c <= maxC; c++)
    if (count[c + 1] > count[c]) {
      start[k] = count[c];
      start[++k] = count[c + 1];
    }
  return { Q, W, vals, start };
}

// micro = Σ_q m_q v_q / Q with m_q the multiplicity of query q (1 on the original sample)
function microOf(L: Layout, m: Uint32Array | null, out: Float64Array, o: number): void {
  const { Q, W, vals } = L;
  for (let t = 0; t < W; t++) {
    const base = t * Q;
    let s = 0;
    if (m) for (let r = 0; r < Q; r++) s += m[r] * vals[base + r];
    else for (let r = 0; r < Q; r++) s += vals[base + r];
    out[o + t] = s / Q;
  }
}

// macro = mean over classes k of Σ_{q∈k} m_q v_q / n_k
function macroOf(L: Layout, m: Uint32Array | null, out: Float64Array, o: number): void {
  const { Q, W, vals, start } = L;
  const nC = start.length - 1;
  for (let t = 0; t < W; t++) {
    const base = t * Q;
    let total = 0;
    for (let k = 0; k < nC; k++) {
      const a = start[k],
        b = start[k + 1];
      let s = 0;
      if (m) for (let r = a; r < b; r++) s += m[r] * vals[base + r];
      else for (let r = a; r < b; r++) s += vals[base + r];
      total += s / (b - a);
    }
    out[o + t] = total / nC;
  }
}

const TWO32 = 4294967296;

/** B replicates (B × W) of micro (plain resampling) or macro (stratified by class). */
function replicate(L: Layout, average: 'micro' | 'macro', B: number, rng: Rng): Float64Array {
  const out = new Float64Array(B * L.W);
  const m = new Uint32Array(L.Q);
  const Q = L.Q,
    start = L.start;
  for (let b = 0; b < B; b++) {
    m.fill(0);
    if (average === 'micro') {
      for (let i = 0; i < Q; i++) m[Math.floor((rng.nextUint32() * Q) / TWO32)]++; // uniform in [0, Q)
      microOf(L, m, out, b * L.W);
    } else {
      for (let k = 0; k + 1 < start.length; k++) {
        const s = start[k],
          n = start[k + 1] - s;
        for (let i = 0; i < n; i++) m[s + Math.floor((rng.nextUint32() * n) / TWO32)]++;
      }
      macroOf(L, m, out, b * L.W);
    }
  }
  return out;
}

/** numpy.quantile(sorted, p) with linear interpolation. */
function quantileSorted(a: Float64Array, p: number): number {
  const pos = p * (a.length - 1);
  const lo = Math.floor(pos),
    hi = Math.min(a.length - 1, lo + 1);
  return a[lo] + (pos - lo) * (a[hi] - a[lo]);
}

function intervalOf(reps: Float64Array, W: number, t: number, estimate: number, alpha: number): Interval {
  const B = reps.length / W;
  const v = new Float64Array(B);
  let s = 0,
    s2 = 0;
  for (let b = 0; b < B; b++) {
    v[b] = reps[b * W + t];
    s += v[b];
    s2 += v[b] * v[b];
  }
  v.sort();
  const varr = B > 1 ? (s2 - (s * s) / B) / (B - 1) : NaN;
  return {
    estimate,
    lo: quantileSorted(v, alpha / 2),
    hi: quantileSorted(v, 1 - alpha / 2),
    se: varr > 0 ? Math.sqrt(varr) : 0,
  };
}

function checkOptions(o: { replicates?: number; alpha?: number }): { B: number; alpha: number } {
  const B = o.replicates ?? STUDY_REPLICATES;
  const alpha = o.alpha ?? 0.05;
  checkPositiveInt('replicates', B);
  if (!(alpha > 0 && alpha < 1))
    metricsError(`alpha = ${alpha} is not in (0, 1)`, 'metrics/bad-argument', 'use e.g. 0.05 for 95 % intervals');
  return { B, alpha };
}

function widthOf(perQuery: { length: number }, Q: number): number {
  checkPositiveInt('number of queries', Q);
  const W = perQuery.length / Q;
  if (!Number.isInteger(W) || W < 1) {
    metricsError(
      `perQuery has ${perQuery.length} values for ${Q} queries`,
      'metrics/length-mismatch',
      'pass PrecisionAtN.perQuery with the query labels it was computed for',
    );
  }
  return W;
}

function resolveColumns(columns: ArrayLike<number> | undefined, W: number): Int32Array {
  if (columns === undefined) return Int32Array.from({ length: W }, (_, i) => i);
  if (columns.length === 0) metricsError('columns is empty', 'metrics/bad-argument', 'give at least one column index');
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i];
    if (!Number.isInteger(c) || c < 0 || c >= W) {
      metricsError(
        `column ${c} is outside 0..${W - 1}`,
        'metrics/bad-argument',
        'columns index into PrecisionAtN.ns (0 = the first N)',
      );
    }
  }
  return Int32Array.from(columns);
}

/**
 * Bootstrap percentile intervals of micro and macro precision (see the file comment for the
 * resampling); seeded, so the same inputs and seed give the same intervals.
 */
export function bootstrapPrecision(
  perQuery: Float32Array,
  queryLabels: Codes,
  options: BootstrapOptions = {},
): PrecisionBootstrap {
  const { B, alpha } = checkOptions(options);
  const W0 = widthOf(perQuery, queryLabels.length);
  const cols = resolveColumns(options.columns, W0);
  const L = layout(perQuery, W0, cols, queryLabels);
  const W = cols.length;
  const est = new Float64Array(2 * W);
  microOf(L, null, est, 0);
  macroOf(L, null, est, W);
  const rng = new Rng(options.seed ?? 0);
  const mi = replicate(L, 'micro', B, rng);
  const ma = replicate(L, 'macro', B, rng);
  const micro: Interval[] = [],
    macro: Interval[] = [];
  for (let t = 0; t < W; t++) {
    micro.push(intervalOf(mi, W, t, est[t], alpha));
    macro.push(intervalOf(ma, W, t, est[W + t], alpha));
  }
  return { columns: cols, micro, macro, replicates: B, alpha };
}

export interface PairedTestOptions {
  /** Column of perQuery (index into ns) to compare; default 0. */
  column?: number;
  /** Default 'micro'. */
  average?: 'micro' | 'macro';
  /** Bootstrap replicates for the interval of the difference; default 1000. */
  replicates?: number;
  /** Monte Carlo sign flips when the exact test is too large; default 10000. */
  permutations?: number;
  /** Enumerate all 2^n sign flips when at most this many queries differ; default 20. */
  exactLimit?: number;
  seed?: number;
  alpha?: number;
}

export interface PairedTestResult {
  /** micro or macro precision of A minus that of B. */
  difference: number;
  /** Paired bootstrap percentile interval of the difference (same resampling as bootstrapPrecision). */
  lo: number;
  hi: number;
  se: number;
  /** Two-sided sign-flip permutation p-value for "no difference". */
  pValue: number;
  /** True when all 2^nonZero sign flips were enumerated. */
  exact: boolean;
  /** Queries whose precision differs between the models (only these carry information). */
  nonZero: number;
}

/**
 * Paired comparison of two models on the same queries. T = Σ_q w_q (a_q − b_q) with
 * w_q = 1/Q (micro) or 1/(C·n_c(q)) (macro, C classes with queries); under "no difference"
 * each query's difference is symmetric, so p = share of sign flips s with |Σ w_q s_q d_q| ≥ |T|
 * (exact enumeration for few differing queries, else (1 + hits)/(1 + M) from M random flips).
 * The interval is a paired bootstrap of T (A and B resampled with the same draws).
 */
export function pairedPrecisionTest(
  perQueryA: Float32Array,
  perQueryB: Float32Array,
  queryLabels: Codes,
  options: PairedTestOptions = {},
): PairedTestResult {
  const { B, alpha } = checkOptions(options);
  const average = options.average ?? 'micro';
  if (average !== 'micro' && average !== 'macro')
    metricsError(`unknown average '${average}'`, 'metrics/bad-argument', "use 'micro' or 'macro'");
  const Q = queryLabels.length;
  const W = widthOf(perQueryA, Q);
  checkLength('perQueryB', perQueryB, perQueryA.length, 'the same queries and N values as perQueryA');
  const col = resolveColumns([options.column ?? 0], W)[0];
  const { M, exactLimit } = checkFlipOptions(options);
  const d = new Float64Array(Q);
  for (let q = 0; q < Q; q++) d[q] = perQueryA[q * W + col] - perQueryB[q * W + col];
  const L = layout(d, 1, Int32Array.of(0), queryLabels);
  const est = new Float64Array(1);
  (average === 'micro' ? microOf : macroOf)(L, null, est, 0);
  const rng = new Rng(options.seed ?? 0);
  const reps = replicate(L, average, B, rng);
  const iv = intervalOf(reps, 1, 0, est[0], alpha);
  const { wd, T } = weightedDifferences(L, average);
  // the same rng continues from the bootstrap draws into the Monte Carlo sign flips
  const { pValue, exact } = signFlipPValue(wd, T, exactLimit, M, rng);
  return { difference: est[0], lo: iv.lo, hi: iv.hi, se: iv.se, pValue, exact, nonZero: wd.length };
}

/** The sign-flip options of the paired test: Monte Carlo permutations M and the exact-enumeration limit. */
function checkFlipOptions(options: PairedTestOptions): { M: number; exactLimit: number } {
  const M = options.permutations ?? STUDY_PERMUTATIONS;
  checkPositiveInt('permutations', M);
  const exactLimit = options.exactLimit ?? 20;
  if (!Number.isInteger(exactLimit) || exactLimit < 0 || exactLimit > 30) {
    metricsError(
      `exactLimit = ${exactLimit} is outside 0..30`,
      'metrics/bad-argument',
      'exact enumeration costs 2^n; keep it ≤ 30',
    );
  }
  return { M, exactLimit };
}

/** Weighted non-zero differences w_q·d_q in class order, and their sum T. */
function weightedDifferences(L: Layout, average: 'micro' | 'macro'): { wd: Float64Array; T: number } {
  const Q = L.Q;
  const nC = L.start.length - 1;
  let nz = 0;
  for (let r = 0; r < Q; r++) if (L.vals[r] !== 0) nz++;
  const wd = new Float64Array(nz);
  let j = 0,
    T = 0;
  for (let k = 0; k < nC; k++) {
    const nk = L.start[k + 1] - L.start[k];
    const w = average === 'micro' ? 1 / Q : 1 / (nC * nk);
    for (let r = L.start[k]; r < L.start[k + 1]; r++) {
      if (L.vals[r] !== 0) {
        wd[j++] = w * L.vals[r];
        T += w * L.vals[r];
      }
    }
  }
  return { wd, T };
}

/** Two-sided sign-flip p-value of |T|: exact enumeration up to `exactLimit` terms, else M random flips. */
function signFlipPValue(
  wd: Float64Array,
  T: number,
  exactLimit: number,
  M: number,
  rng: Rng,
): { pValue: number; exact: boolean } {
  const nz = wd.length;
  const absT = Math.abs(T);
  let scale = 0;
  for (let i = 0; i < nz; i++) scale += Math.abs(wd[i]);
  const tol = 1e-12 * scale; // flips that reproduce |T| up to rounding count as "as extreme"
  if (nz === 0) return { pValue: 1, exact: true };
  if (nz <= exactLimit) {
    let hits = 0;
    const total = 2 ** nz;
    for (let s = 0; s < total; s++) {
      let t = 0;
      for (let i = 0; i < nz; i++) t += (s >>> i) & 1 ? -wd[i] : wd[i];
      if (Math.abs(t) >= absT - tol) hits++;
    }
    return { pValue: hits / total, exact: true };
  }
  let hits = 0;
  for (let p = 0; p < M; p++) {
    let t = 0;
    for (let i = 0; i < nz; i += 32) {
      const bits = rng.nextUint32();
      const end = Math.min(nz, i + 32);
      for (let k = i; k < end; k++) t += (bits >>> (k - i)) & 1 ? -wd[k] : wd[k];
    }
    if (Math.abs(t) >= absT - tol) hits++;
  }
  return { pValue: (1 + hits) / (1 + M), exact: false };
}
