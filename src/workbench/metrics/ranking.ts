/**
 * Ranking metrics beyond the study's P@N, from a k-NN table (`neighbors`: Int32Array(Q·K),
 * row-major, best first, −1 = no result) and a `Relevance` (relevance.ts). With R = the index
 * rows relevant to query q and rel_j = 1 when the j-th neighbour is relevant:
 *
 *   AP@k       = (1 / min(k, R)) · Σ_{j ≤ k} P@j · rel_j           (mAP@k = its micro/macro mean)
 *   recall@k   = hits in the top k / R
 *   R-precision = P@R                                                (needs R ≤ K; NaN otherwise)
 *   nDCG@k     = DCG@k / IDCG@k, DCG = Σ_{j ≤ k} (2^{g_j} − 1) / log2(j + 1), IDCG from the best
 *                ordering of the index's gains for q
 *   majority-vote accuracy@k = [the most frequent class in the top k is the query's class]
 *
 * Queries with nothing relevant in the index (R = 0, or IDCG = 0) are NaN and left out of the
 * means; `scored` says how many counted. Macro = mean over groups (the query's class) of the
 * group mean.
 */
import { checkCodes, checkPositiveInt, metricsError, type Codes } from './check.js';
import type { Relevance } from './relevance.js';

/** One metric per query and its means. */
export interface RankingScore {
  k: number;
  /** Per query; NaN where the metric is undefined (nothing relevant in the index). */
  perQuery: Float32Array;
  micro: number;
  macro: number;
  /** Queries with a defined value (the ones averaged). */
  scored: number;
}

function neighboursPerQuery(neighbors: Int32Array, nQueries: number, k: number | undefined, source?: string) {
  checkPositiveInt('number of queries', nQueries, source);
  const K = neighbors.length / nQueries;
  if (!Number.isInteger(K) || K < 1) {
    metricsError(
      `neighbors has ${neighbors.length} ids for ${nQueries} queries, not a whole number per query`,
      'metrics/length-mismatch',
      'pass the k-NN table as Int32Array(Q*K), row-major, one row per query',
      source,
    );
  }
  const kk = k ?? K;
  if (!Number.isInteger(kk) || kk < 1 || kk > K) {
    metricsError(
      `k = ${kk} is outside 1..${K} (the k-NN table holds ${K} neighbours per query)`,
      'metrics/bad-argument',
      `choose k between 1 and ${K}, or rebuild the k-NN table with more neighbours`,
      source,
    );
  }
  return { K, k: kk };
}

/** Micro (over queries) and macro (over groups) means of the finite entries of `v`. */
export function rankingMeans(v: Float32Array, rel: Pick<Relevance, 'group' | 'nGroups'>) {
  const sum = new Float64Array(rel.nGroups);
  const n = new Int32Array(rel.nGroups);
  let total = 0;
  let scored = 0;
  for (let q = 0; q < v.length; q++) {
    if (!Number.isFinite(v[q])) continue;
    const g = rel.group(q);
    sum[g] += v[q];
    n[g]++;
    total += v[q];
    scored++;
  }
  let macro = 0;
  let groups = 0;
  for (let g = 0; g < rel.nGroups; g++) if (n[g] > 0) ((macro += sum[g] / n[g]), groups++);
  return { micro: scored ? total / scored : NaN, macro: groups ? macro / groups : NaN, scored };
}

/** Applies `score(q, base)` to every query (base = q·K) and summarises. */
function perQueryScore(
  neighbors: Int32Array,
  rel: Relevance,
  k: number | undefined,
  source: string | undefined,
  score: (q: number, base: number, k: number, K: number) => number,
): RankingScore {
  const dims = neighboursPerQuery(neighbors, rel.nQueries, k, source);
  const perQuery = new Float32Array(rel.nQueries);
  for (let q = 0; q < rel.nQueries; q++) {
    for (let j = 0; j < dims.K; j++) {
      const id = neighbors[q * dims.K + j];
      if (id < -1 || id >= rel.indexSize) {
        metricsError(
          `neighbor ${j + 1} of query ${q} is row ${id}, but the index has ${rel.indexSize} rows`,
          'metrics/neighbor-out-of-range',
          'the k-NN table and the relevance must come from the same index',
          source,
          q,
        );
      }
    }
    perQuery[q] = score(q, q * dims.K, dims.k, dims.K);
  }
  return { k: dims.k, perQuery, ...rankingMeans(perQuery, rel) };
}

/** AP@k = (1 / min(k, R)) · Σ_{j ≤ k} P@j · rel_j. */
export function averagePrecisionAtK(neighbors: Int32Array, rel: Relevance, k?: number, source?: string): RankingScore {
  return perQueryScore(neighbors, rel, k, source, (q, base, kk) => {
    const R = rel.relevantCount(q);
    if (R === 0) return NaN;
    let hits = 0;
    let sum = 0;
    for (let j = 0; j < kk; j++) {
      const id = neighbors[base + j];
      if (id >= 0 && rel.relevant(q, id)) sum += ++hits / (j + 1);
    }
    return sum / Math.min(kk, R);
  });
}

/** recall@k = hits in the top k / R. */
export function recallAtK(neighbors: Int32Array, rel: Relevance, k?: number, source?: string): RankingScore {
  return perQueryScore(neighbors, rel, k, source, (q, base, kk) => {
    const R = rel.relevantCount(q);
    if (R === 0) return NaN;
    return hitsIn(neighbors, rel, q, base, kk) / R;
  });
}

/** R-precision = P@R = hits in the top R / R; NaN when R is 0 or exceeds the table's K. */
export function rPrecision(neighbors: Int32Array, rel: Relevance, source?: string): RankingScore {
  return perQueryScore(neighbors, rel, undefined, source, (q, base, _k, K) => {
    const R = rel.relevantCount(q);
    if (R === 0 || R > K) return NaN;
    return hitsIn(neighbors, rel, q, base, R) / R;
  });
}

function hitsIn(neighbors: Int32Array, rel: Relevance, q: number, base: number, n: number): number {
  let hits = 0;
  for (let j = 0; j < n; j++) {
    const id = neighbors[base + j];
    if (id >= 0 && rel.relevant(q, id)) hits++;
  }
  return hits;
}

/** nDCG@k = DCG@k / IDCG@k with DCG = Σ_{j ≤ k} (2^{g_j} − 1) / log2(j + 1). */
export function ndcgAtK(neighbors: Int32Array, rel: Relevance, k?: number, source?: string): RankingScore {
  let ideal = new Float64Array(0);
  return perQueryScore(neighbors, rel, k, source, (q, base, kk) => {
    if (ideal.length !== kk) ideal = new Float64Array(kk);
    rel.idealGains(q, kk, ideal);
    let idcg = 0;
    for (let j = 0; j < kk; j++) idcg += (2 ** ideal[j] - 1) / Math.log2(j + 2);
    if (idcg === 0) return NaN;
    let dcg = 0;
    for (let j = 0; j < kk; j++) {
      const id = neighbors[base + j];
      if (id >= 0) dcg += (2 ** rel.gain(q, id) - 1) / Math.log2(j + 2);
    }
    return dcg / idcg;
  });
}

/**
 * Majority-vote accuracy@k = [argmax_c #{j ≤ k : class(n_j) = c} = class(q)]; a tie goes to the
 * tied class that reached the tied count first (the nearer majority). Macro groups: query class.
 */
export function majorityVoteAccuracy(
  neighbors: Int32Array,
  queryLabels: Codes,
  indexLabels: Codes,
  nClasses: number,
  k?: number,
  source?: string,
): RankingScore {
  checkCodes('queryLabels', queryLabels, nClasses, source);
  checkCodes('indexLabels', indexLabels, nClasses, source);
  const votes = new Int32Array(nClasses);
  const rel: Relevance = {
    nQueries: queryLabels.length,
    indexSize: indexLabels.length,
    nGroups: nClasses,
    group: (q) => queryLabels[q],
    relevant: () => false,
    gain: () => 0,
    relevantCount: () => 0,
    idealGains: () => undefined,
  };
  return perQueryScore(neighbors, rel, k, source, (q, base, kk) => {
    votes.fill(0);
    let best = -1;
    for (let j = 0; j < kk; j++) {
      const id = neighbors[base + j];
      if (id < 0) continue;
      const c = indexLabels[id];
      votes[c]++;
      if (best < 0 || votes[c] > votes[best]) best = c;
    }
    return best === queryLabels[q] ? 1 : 0;
  });
}

/**
 * Mean absolute grade error of the top-1 neighbour, over queries whose class and whose top-1's
 * class both have a grade on the same scale (grade[c] = −1: ungraded; scale[c] names the scale).
 */
export function topOneGradeError(
  neighbors: Int32Array,
  queryLabels: Codes,
  indexLabels: Codes,
  grade: Int32Array,
  scale: Int32Array,
): { meanAbsError: number; withinOne: number; scored: number } {
  const K = neighbors.length / queryLabels.length;
  let err = 0;
  let within = 0;
  let scored = 0;
  for (let q = 0; q < queryLabels.length; q++) {
    const id = neighbors[q * K];
    if (id < 0) continue;
    const a = queryLabels[q];
    const b = indexLabels[id];
    if (grade[a] < 0 || grade[b] < 0 || scale[a] !== scale[b]) continue;
    const d = Math.abs(grade[a] - grade[b]);
    err += d;
    if (d <= 1) within++;
    scored++;
  }
  return { meanAbsError: scored ? err / scored : NaN, withinOne: scored ? within / scored : NaN, scored };
}
