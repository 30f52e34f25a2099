/**
 * Retrieval precision at N from a k-NN table (the study's Tables 2–4, 9, 10 and Figs. 3–5).
 *
 * Inputs are plain arrays: for Q queries the top K neighbour row ids `Int32Array(Q*K)`,
 * row-major, best first (id −1 = no result, counted as a miss), the class code of every query
 * and of every index row, and how many index rows each class has.
 */
import { checkCodes, checkCounts, checkLength, checkPositiveInt, metricsError, rowsOf, type Codes } from './check.js';

/**
 * 'study': n = min(N, index images of the query's class), P = hits in the top n / n — the
 *   study's reference code, so a class with only 3 index images can still reach P@10 = 1.
 * 'textbook': P = hits in the top N / N, always — a class with fewer than N index images
 *   cannot reach 1 and rare classes are penalised.
 * The two agree whenever every class has at least N index images.
 */
export type PrecisionDefinition = 'study' | 'textbook';

export interface PrecisionAtNOptions {
  /** The N values, each in 1..K (default 1..K, K = neighbours per query). */
  ns?: ArrayLike<number>;
  /** Default 'study'. */
  definition?: PrecisionDefinition;
  /**
   * A query whose class has no index image has n = 0 under the study's definition (0/0).
   * 'error' (default) throws; 'zero' scores it 0 for every N.
   */
  absentFromIndex?: 'error' | 'zero';
  /** File the arrays came from, named in errors. */
  source?: string;
}

/** Precision at N, per query and aggregated. Column t of every matrix belongs to ns[t]. */
export interface PrecisionAtN {
  ns: Int32Array;
  definition: PrecisionDefinition;
  nQueries: number;
  /** Classes that have at least one query (the classes averaged by macro). */
  nClasses: number;
  /** Q × |ns|, row-major: perQuery[q * ns.length + t] = P@ns[t] of query q. */
  perQuery: Float32Array;
  /** Mean over queries, per N. */
  micro: Float64Array;
  /** Mean over classes (that have queries) of the per-class mean, per N. */
  macro: Float64Array;
  /** Sample standard deviation over queries (ddof 1, as pandas; NaN for one query). */
  microStd: Float64Array;
  /** Mean over classes of the per-class sample std (classes with one query skipped, as pandas). */
  macroStd: Float64Array;
}

/** Number of rows per class code: counts[c] = #{i : labels[i] = c}. */
export function classCounts(labels: Codes, nClasses: number): Int32Array {
  checkCodes('labels', labels, nClasses);
  const counts = new Int32Array(nClasses);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

/**
 * Precision at N for every query and every N in one pass over the k-NN table (prefix sums of
 * the hit row), then micro (mean over queries) and macro (mean over classes of class means).
 * Study: P@N = hits(top min(N, n_c)) / min(N, n_c); textbook: P@N = hits(top N) / N.
 */
export function precisionAtN(
  neighbors: Int32Array,
  queryLabels: Codes,
  indexLabels: Codes,
  indexClassCounts: Int32Array,
  options: PrecisionAtNOptions = {},
): PrecisionAtN {
  const { definition = 'study', absentFromIndex = 'error', source } = options;
  const Q = queryLabels.length;
  checkPositiveInt('number of queries', Q, source);
  const K = neighbors.length / Q;
  if (!Number.isInteger(K) || K < 1) {
    metricsError(
      `neighbors has ${neighbors.length} ids for ${Q} queries, not a whole number per query`,
      'metrics/length-mismatch',
      'pass the k-NN table as Int32Array(Q*K), row-major, one row per query',
      source,
    );
  }
  const C = indexClassCounts.length;
  checkCounts('indexClassCounts', indexClassCounts, source);
  checkCodes('queryLabels', queryLabels, C, source);
  checkCodes('indexLabels', indexLabels, C, source);
  const ns = resolveNs(options.ns, K, source);
  const W = ns.length;
  const indexSize = indexLabels.length;
  const study = definition === 'study';
  if (definition !== 'study' && definition !== 'textbook') {
    metricsError(
      `unknown precision definition '${definition}'`,
      'metrics/bad-argument',
      "use 'study' or 'textbook'",
      source,
    );
  }

  const perQuery = new Float32Array(Q * W);
  const cum = new Int32Array(K + 1);
  for (let q = 0; q < Q; q++) {
    const c = queryLabels[q];
    const cnt = indexClassCounts[c];
    const base = q * K;
    for (let j = 0; j < K; j++) {
      const id = neighbors[base + j];
      if (id >= indexSize || id < -1) {
        metricsError(
          `neighbor ${j + 1} of query ${q} is row ${id}, but the index has ${indexSize} rows`,
          'metrics/neighbor-out-of-range',
          'the k-NN table and the index labels must come from the same index',
          source,
          q,
        );
      }
      cum[j + 1] = cum[j] + (id >= 0 && indexLabels[id] === c ? 1 : 0);
    }
    const out = q * W;
    if (study && cnt === 0) {
      if (absentFromIndex === 'error') {
        metricsError(
          `query ${q} is of class ${c}, which has no image in the index (P@N = 0/0 by the study's definition)`,
          'metrics/class-absent-from-index',
          "drop queries of classes absent from the index, or pass absentFromIndex: 'zero' or definition: 'textbook'",
          source,
          q,
        );
      }
      continue; // zeros
    }
    for (let t = 0; t < W; t++) {
      const N = ns[t];
      const n = study && cnt < N ? cnt : N;
      perQuery[out + t] = cum[n] / n;
    }
  }
  const all = summarise(perQuery, W, queryLabels, C, null);
  return { ns, definition, nQueries: Q, nClasses: all.nClasses, perQuery, ...all.stats };
}

function resolveNs(ns: ArrayLike<number> | undefined, K: number, source?: string): Int32Array {
  if (ns === undefined) return Int32Array.from({ length: K }, (_, i) => i + 1);
  if (ns.length === 0)
    metricsError('ns is empty', 'metrics/bad-argument', 'give at least one N, e.g. [1, 3, 5, 10]', source);
  const out = new Int32Array(ns.length);
  for (let i = 0; i < ns.length; i++) {
    const N = ns[i];
    if (!Number.isInteger(N) || N < 1 || N > K) {
      metricsError(
        `N = ${N} is outside 1..${K} (the k-NN table holds ${K} neighbours per query)`,
        'metrics/bad-argument',
        `choose N between 1 and ${K}, or rebuild the k-NN table with more neighbours`,
        source,
      );
    }
    out[i] = N;
  }
  return out;
}

interface Stats {
  micro: Float64Array;
  macro: Float64Array;
  microStd: Float64Array;
  macroStd: Float64Array;
}

/**
 * Micro / macro means (and the study's stds) of the rows of a Q×W matrix listed in `rows`
 * (all rows when null). Memory: C×W doubles, reused.
 */
function summarise(
  perQuery: Float32Array,
  W: number,
  labels: Codes,
  C: number,
  rows: Int32Array | null,
  scratch?: { sum: Float64Array; sq: Float64Array; n: Int32Array },
): { nQueries: number; nClasses: number; stats: Stats } {
  const sum = scratch?.sum ?? new Float64Array(C * W);
  const sq = scratch?.sq ?? new Float64Array(C * W);
  const nPer = scratch?.n ?? new Int32Array(C);
  const tot = new Float64Array(W);
  const totSq = new Float64Array(W);
  const count = rows ? rows.length : labels.length;
  const touched: number[] = []; // class codes seen (≤ C, not sized by the data)
  for (let r = 0; r < count; r++) {
    const q = rows ? rows[r] : r;
    const c = labels[q];
    if (nPer[c]++ === 0) touched.push(c);
    const o = q * W;
    const co = c * W;
    for (let t = 0; t < W; t++) {
      const v = perQuery[o + t];
      sum[co + t] += v;
      sq[co + t] += v * v;
      tot[t] += v;
      totSq[t] += v * v;
    }
  }
  const micro = new Float64Array(W),
    macro = new Float64Array(W);
  const microStd = new Float64Array(W),
    macroStd = new Float64Array(W);
  for (let t = 0; t < W; t++) {
    micro[t] = count > 0 ? tot[t] / count : NaN;
    microStd[t] = sampleStd(tot[t], totSq[t], count);
  }
  for (let t = 0; t < W; t++) {
    let m = 0,
      s = 0,
      sN = 0;
    for (const c of touched) {
      const n = nPer[c];
      m += sum[c * W + t] / n;
      if (n > 1) {
        s += sampleStd(sum[c * W + t], sq[c * W + t], n);
        sN++;
      }
    }
    macro[t] = touched.length > 0 ? m / touched.length : NaN;
    macroStd[t] = sN > 0 ? s / sN : NaN;
  }
  // reset the scratch for the next group
  for (const c of touched) {
    nPer[c] = 0;
    sum.fill(0, c * W, (c + 1) * W);
    sq.fill(0, c * W, (c + 1) * W);
  }
  return { nQueries: count, nClasses: touched.length, stats: { micro, macro, microStd, macroStd } };
}

// s = sqrt((Σv² − (Σv)²/n) / (n − 1))
function sampleStd(s: number, s2: number, n: number): number {
  if (n < 2) return NaN;
  const v = (s2 - (s * s) / n) / (n - 1);
  return v > 0 ? Math.sqrt(v) : 0;
}

/** Micro and macro precision of the queries in one group (e.g. one modality or dataset). */
export interface GroupPrecision {
  group: number;
  nQueries: number;
  /** Classes with at least one query in this group (averaged by macro). */
  nClasses: number;
  /** Per column of perQuery (per N); NaN when the group has no query. */
  micro: Float64Array;
  macro: Float64Array;
  microStd: Float64Array;
  macroStd: Float64Array;
}

/**
 * Breakdown of per-query precision by any grouping of the queries (modality, dataset,
 * anatomical vs pathological): micro = mean over the group's queries; macro = mean over the
 * classes present in the group of the class mean over the group's queries. One entry per
 * group code 0..nGroups−1 (nGroups defaults to max code + 1), empty groups included with NaN.
 */
export function groupedPrecision(
  perQuery: Float32Array,
  queryGroups: Codes,
  queryLabels: Codes,
  options: { nGroups?: number; nClasses?: number; source?: string } = {},
): GroupPrecision[] {
  const { source } = options;
  const Q = queryLabels.length;
  checkPositiveInt('number of queries', Q, source);
  const W = perQuery.length / Q;
  if (!Number.isInteger(W) || W < 1) {
    metricsError(
      `perQuery has ${perQuery.length} values for ${Q} queries`,
      'metrics/length-mismatch',
      'pass PrecisionAtN.perQuery with the query labels it was computed for',
      source,
    );
  }
  checkLength('queryGroups', queryGroups, Q, 'one group code per query', source);
  const G = options.nGroups ?? maxCode(queryGroups) + 1;
  const C = options.nClasses ?? maxCode(queryLabels) + 1;
  checkCodes('queryGroups', queryGroups, G, source);
  checkCodes('queryLabels', queryLabels, C, source);
  // counting sort of the queries by group
  const start = new Int32Array(G + 1);
  for (let q = 0; q < Q; q++) start[queryGroups[q] + 1]++;
  for (let g = 0; g < G; g++) start[g + 1] += start[g];
  const order = new Int32Array(Q);
  const fill = start.slice(0, G);
  for (let q = 0; q < Q; q++) order[fill[queryGroups[q]]++] = q;
  const scratch = { sum: new Float64Array(C * W), sq: new Float64Array(C * W), n: new Int32Array(C) };
  const out: GroupPrecision[] = [];
  for (let g = 0; g < G; g++) {
    const rows = order.subarray(start[g], start[g + 1]);
    const s = summarise(perQuery, W, queryLabels, C, rows, scratch);
    out.push({ group: g, nQueries: s.nQueries, nClasses: s.nClasses, ...s.stats });
  }
  return out;
}

function maxCode(codes: Codes): number {
  let m = -1;
  for (let i = 0; i < codes.length; i++) if (codes[i] > m) m = codes[i];
  return m;
}

/** Column t of a row-major Q×W matrix, e.g. P@1 of every query from PrecisionAtN.perQuery. */
export function column(perQuery: Float32Array, width: number, t: number): Float32Array {
  const Q = rowsOf('perQuery', perQuery, width);
  if (!Number.isInteger(t) || t < 0 || t >= width) {
    metricsError(
      `column ${t} is outside 0..${width - 1}`,
      'metrics/bad-argument',
      'pick the column of the N you want (index into ns)',
    );
  }
  const out = new Float32Array(Q);
  for (let q = 0; q < Q; q++) out[q] = perQuery[q * width + t];
  return out;
}

/** One row of the study's Fig. 5: a class, its index size and its mean P@1. */
export interface ClassPrecisionRow {
  classCode: number;
  indexCount: number;
  nQueries: number;
  /** Mean over the class's queries of the given per-query precision. */
  precision: number;
  kind: 'anatomical' | 'pathological';
}

/**
 * Per-class mean precision against the number of index images of the class (Fig. 5):
 * precision_c = mean over queries q of class c of perQueryP1[q]. Classes without queries are
 * left out; rows are in class-code order.
 */
export function perClassPrecision(
  perQueryP1: Float32Array,
  queryLabels: Codes,
  indexClassCounts: Int32Array,
  classKinds: readonly ('anatomical' | 'pathological')[],
): ClassPrecisionRow[] {
  const C = indexClassCounts.length;
  checkLength('perQueryP1', perQueryP1, queryLabels.length, 'one value per query (take a column of perQuery)');
  checkLength('classKinds', classKinds, C, 'one kind per class');
  checkCodes('queryLabels', queryLabels, C);
  const sum = new Float64Array(C);
  const n = new Int32Array(C);
  for (let q = 0; q < queryLabels.length; q++) {
    sum[queryLabels[q]] += perQueryP1[q];
    n[queryLabels[q]]++;
  }
  const rows: ClassPrecisionRow[] = [];
  for (let c = 0; c < C; c++) {
    if (n[c] === 0) continue;
    rows.push({
      classCode: c,
      indexCount: indexClassCounts[c],
      nQueries: n[c],
      precision: sum[c] / n[c],
      kind: classKinds[c],
    });
  }
  return rows;
}
