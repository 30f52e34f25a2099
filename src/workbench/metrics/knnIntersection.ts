/**
 * Agreement of an approximate k-NN table with the exact one: the k-NN intersection measure of
 * FAISS's contrib (`faiss.contrib.evaluation.knn_intersection_measure`), i.e. recall@k of the
 * approximate search against exact search, with float near-ties between equal-similarity
 * neighbours counted as hits instead of misses.
 */
import { checkLength, checkPositiveInt, metricsError, rowsOf } from './check.js';

/** The exact (reference) top-k table: ids and their similarities, queries × k, row-major, best first; id −1 = none. */
export interface ExactKnnTable {
  ids: Int32Array;
  sims: Float32Array;
  /** Neighbours per query (the row width of ids and sims). */
  k: number;
}

/** The approximate top-k table; its similarities are optional (without them near-ties are not credited). */
export interface ApproxKnnTable {
  ids: Int32Array;
  sims?: Float32Array;
  /** Neighbours per query (the row width of ids and sims). */
  k: number;
}

export interface KnnIntersectionOptions {
  /** How far below the exact k-th similarity an approximate neighbour may be and still tie (default 1e-6). */
  tieTolerance?: number;
  /** File (or run) the tables came from, named in errors. */
  source?: string;
}

/**
 * Mean over queries of |approx top-k ∩ exact top-k| / k (the first k columns of each table;
 * ids −1 ignored, an id repeated in the approximate row counted once). When approx.sims is
 * given, an approximate neighbour outside the exact top-k still counts as a hit when its
 * similarity is ≥ the exact k-th similarity (the smallest exact similarity of the query's
 * top k) − tieTolerance: it is then a neighbour tied with the exact k-th one, not a miss.
 * Without approx.sims this is exactly FAISS's knn_intersection_measure (for tables without −1).
 */
// knnIntersection = (1/Q) Σ_q |{a ∈ A_q : a ∈ E_q or sim(a) ≥ min_{e ∈ E_q} sim(e) − τ}| / k, A_q, E_q = top k of query q
export function knnIntersection(
  exact: ExactKnnTable,
  approx: ApproxKnnTable,
  k: number,
  options: KnnIntersectionOptions = {},
): number {
  const { source } = options;
  const tol = options.tieTolerance ?? 1e-6;
  const Q = checkTables(exact, approx, k, tol, source);
  const ek = exact.k,
    ak = approx.k;
  const { sims } = approx;
  const want = new Set<number>();
  const seen = new Set<number>();
  let hits = 0;
  for (let q = 0; q < Q; q++) {
    want.clear();
    seen.clear();
    let kth = Infinity; // smallest exact similarity of the query's top k (none: no tie credit)
    for (let j = 0; j < k; j++) {
      const id = checkId('exact.ids', exact.ids, q * ek + j, source);
      if (id < 0) continue;
      want.add(id);
      const s = exact.sims[q * ek + j];
      if (s < kth) kth = s;
    }
    const floor = kth - tol;
    for (let j = 0; j < k; j++) {
      const id = checkId('approx.ids', approx.ids, q * ak + j, source);
      if (id < 0 || seen.has(id)) continue;
      seen.add(id);
      if (want.has(id) || (sims !== undefined && sims[q * ak + j] >= floor)) hits++;
    }
  }
  return hits / (Q * k);
}

/** Check widths, lengths, k and the tolerance; returns the number of queries. */
function checkTables(
  exact: ExactKnnTable,
  approx: ApproxKnnTable,
  k: number,
  tol: number,
  source: string | undefined,
): number {
  checkPositiveInt('k', k, source);
  checkPositiveInt('exact.k', exact.k, source);
  checkPositiveInt('approx.k', approx.k, source);
  for (const [name, width] of [
    ['exact', exact.k],
    ['approx', approx.k],
  ] as const) {
    if (k > width) {
      metricsError(
        `k = ${k} but the ${name} table holds only ${width} neighbours per query`,
        'metrics/bad-argument',
        `choose k ≤ ${width}, or search the ${name} table with more neighbours`,
        source,
      );
    }
  }
  const Q = rowsOf('exact.ids', exact.ids, exact.k, source);
  const Qa = rowsOf('approx.ids', approx.ids, approx.k, source);
  checkPositiveInt('number of queries', Q, source);
  if (Qa !== Q) {
    metricsError(
      `the exact table has ${Q} queries but the approximate one has ${Qa}`,
      'metrics/length-mismatch',
      'compare the two searches on the same queries, in the same order (slice the larger table to match)',
      source,
    );
  }
  checkLength('exact.sims', exact.sims, exact.ids.length, 'one similarity per exact neighbour', source);
  if (approx.sims !== undefined)
    checkLength('approx.sims', approx.sims, approx.ids.length, 'one similarity per approximate neighbour', source);
  if (!(tol >= 0) || !Number.isFinite(tol)) {
    metricsError(
      `tieTolerance = ${tol} is not a finite number ≥ 0`,
      'metrics/bad-argument',
      'pass a small non-negative tolerance, e.g. 1e-6 (0 credits exact ties only)',
      source,
    );
  }
  return Q;
}

function checkId(name: string, ids: Int32Array, i: number, source: string | undefined): number {
  const id = ids[i];
  if (id < -1) {
    metricsError(
      `${name}[${i}] = ${id} is neither a row id nor −1 (no neighbour)`,
      'metrics/neighbor-out-of-range',
      'neighbour ids must be ≥ 0, or −1 where a query has fewer neighbours',
      source,
    );
  }
  return id;
}
