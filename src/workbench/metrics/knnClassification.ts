/**
 * k-NN classification from the k-NN table (the study's Tables 5 and 6, k-NN rows): the class
 * scores of a query are the shares of each class among its top neighbours, k is chosen on the
 * validation queries by micro F1 over k = 1..kMax, and the test queries are scored with the
 * classification metrics of classification.ts.
 */
import { type AbsentClasses, type ClassificationSummary, classificationSummary } from './classification.js';
import { checkCodes, checkCounts, checkPositiveInt, metricsError, type Codes } from './check.js';

/**
 * How many neighbours count for class c at a given k:
 * 'perClass' (default): k_c = min(k, n_c) with n_c = index images of class c, and
 *   score_c = (# of class c among the top k_c) / k_c — a class with 3 index images scores 1
 *   when its 3 images are the first 3 neighbours, whatever k.
 * 'queryClass': every class uses n = min(k, n_y), n_y = index images of the query's TRUE class,
 *   score_c = (# of class c among the top n) / n — what the study's published code
 *   (evaluate_knn_classification.py) does; it reads the true label, so it is a label leak,
 *   kept only to reproduce those numbers.
 * 'none': plain k-NN, score_c = (# of class c among the top k) / k.
 */
export type KnnCap = 'perClass' | 'queryClass' | 'none';

/** One set of queries: its rows of the k-NN table (Int32Array(Q*K), best first) and true labels. */
export interface KnnQueries {
  neighbors: Int32Array;
  labels: Codes;
}

export interface KnnClassificationOptions {
  /** Largest k tried on the validation queries (default: K of the table, at most 100). */
  kMax?: number;
  cap?: KnnCap;
  /** Classes without test queries in the macro ROC AUC / AP (default 'skip'; see classification.ts). */
  absentClasses?: AbsentClasses;
  /** File the table came from, named in errors. */
  source?: string;
}

export interface KnnClassificationResult extends ClassificationSummary {
  /** The k chosen on the validation queries (highest micro F1, ties → smallest k). */
  k: number;
  cap: KnnCap;
  /** Validation micro F1 for k = 1..kMax at index k − 1. */
  validationMicroF1: Float64Array;
  nValidation: number;
  nTest: number;
}

interface Prepared {
  Q: number;
  K: number;
  C: number;
}

function prepare(
  set: KnnQueries,
  name: string,
  indexLabels: Codes,
  indexClassCounts: Int32Array,
  source?: string,
): Prepared {
  const Q = set.labels.length;
  checkPositiveInt(`number of ${name} queries`, Q, source);
  const K = set.neighbors.length / Q;
  if (!Number.isInteger(K) || K < 1) {
    metricsError(
      `${name} neighbors has ${set.neighbors.length} ids for ${Q} queries`,
      'metrics/length-mismatch',
      'pass the k-NN table rows of these queries as Int32Array(Q*K), row-major',
      source,
    );
  }
  const C = indexClassCounts.length;
  checkCodes(`${name} labels`, set.labels, C, source);
  const n = indexLabels.length;
  for (let i = 0; i < set.neighbors.length; i++) {
    const id = set.neighbors[i];
    if (id < -1 || id >= n) {
      metricsError(
        `${name} query ${Math.floor(i / K)}: neighbour ${(i % K) + 1} is row ${id}, but the index has ${n} rows`,
        'metrics/neighbor-out-of-range',
        'the k-NN table and the index labels must come from the same index',
        source,
        Math.floor(i / K),
      );
    }
  }
  return { Q, K, C };
}

function checkIndex(indexLabels: Codes, indexClassCounts: Int32Array, source?: string): void {
  checkCounts('indexClassCounts', indexClassCounts, source);
  checkCodes('indexLabels', indexLabels, indexClassCounts.length, source);
}

/** The neighbour cap of the query: per-class counts, the true class's count, or none. */
function queryCap(cap: KnnCap, counts: Int32Array, y: number, q: number, source?: string): number {
  if (cap !== 'queryClass') return 0;
  const n = counts[y];
  if (n === 0) {
    metricsError(
      `query ${q} is of class ${y}, which has no index image (the study's n = min(k, 0) = 0)`,
      'metrics/class-absent-from-index',
      "drop queries of classes absent from the index, or use cap 'perClass'",
      source,
      q,
    );
  }
  return n;
}

/**
 * Validation curve: micro F1 of the argmax prediction for every k = 1..kMax, in one pass per
 * query (counts grow with k; only the classes already seen can win). With sklearn's default
 * label set, micro F1 = accuracy for single-label predictions, which is what is counted.
 * score_c(k) = cnt_c(min(k, cap_c)) / min(k, cap_c); ties → lowest class code.
 */
export function knnMicroF1ByK(
  set: KnnQueries,
  indexLabels: Codes,
  indexClassCounts: Int32Array,
  kMax: number,
  cap: KnnCap = 'perClass',
  source?: string,
): Float64Array {
  checkIndex(indexLabels, indexClassCounts, source);
  const { Q, K, C } = prepare(set, 'validation', indexLabels, indexClassCounts, source);
  checkPositiveInt('kMax', kMax, source);
  if (kMax > K)
    metricsError(
      `kMax = ${kMax} but the k-NN table holds ${K} neighbours per query`,
      'metrics/bad-argument',
      `use kMax ≤ ${K}`,
      source,
    );
  checkCap(cap, source);
  const counts = indexClassCounts;
  const correct = new Float64Array(kMax);
  const cnt = new Int32Array(C);
  const seen = new Int32Array(kMax);
  for (let q = 0; q < Q; q++) {
    const y = set.labels[q];
    const qc = queryCap(cap, counts, y, q, source);
    let nSeen = 0;
    const base = q * K;
    for (let k = 1; k <= kMax; k++) {
      const id = set.neighbors[base + k - 1];
      if (id >= 0) {
        const c = indexLabels[id];
        const capC = cap === 'perClass' ? counts[c] : cap === 'queryClass' ? qc : kMax;
        if (k <= capC) {
          if (cnt[c]++ === 0) seen[nSeen++] = c;
        }
      }
      // argmax over seen classes by exact fraction comparison a/b vs ba/bb
      let best = 0,
        ba = 0,
        bb = 1;
      for (let s = 0; s < nSeen; s++) {
        const c = seen[s];
        const capC = cap === 'perClass' ? counts[c] : cap === 'queryClass' ? qc : k;
        const a = cnt[c],
          b = k < capC ? k : capC;
        const lhs = a * bb,
          rhs = ba * b;
        if (lhs > rhs || (lhs === rhs && c < best)) {
          best = c;
          ba = a;
          bb = b;
        }
      }
      if (best === y) correct[k - 1]++;
    }
    for (let s = 0; s < nSeen; s++) cnt[seen[s]] = 0;
  }
  for (let k = 0; k < kMax; k++) correct[k] /= Q;
  return correct;
}

function checkCap(cap: string, source?: string): void {
  if (cap !== 'perClass' && cap !== 'queryClass' && cap !== 'none') {
    metricsError(`unknown k-NN cap '${cap}'`, 'metrics/bad-argument', "use 'perClass', 'queryClass' or 'none'", source);
  }
}

/**
 * Class scores at a fixed k as a row-major Float32Array(Q×C):
 * score[q, c] = (# of class c among the top k_c neighbours of q) / k_c, k_c per `cap`.
 */
export function knnClassScores(
  set: KnnQueries,
  indexLabels: Codes,
  indexClassCounts: Int32Array,
  k: number,
  cap: KnnCap = 'perClass',
  source?: string,
): Float32Array {
  checkIndex(indexLabels, indexClassCounts, source);
  const { Q, K, C } = prepare(set, 'query', indexLabels, indexClassCounts, source);
  checkPositiveInt('k', k, source);
  if (k > K)
    metricsError(
      `k = ${k} but the k-NN table holds ${K} neighbours per query`,
      'metrics/bad-argument',
      `use k ≤ ${K}`,
      source,
    );
  checkCap(cap, source);
  const counts = indexClassCounts;
  const scores = new Float32Array(Q * C);
  const cnt = new Int32Array(C);
  const seen = new Int32Array(k);
  for (let q = 0; q < Q; q++) {
    const qc = queryCap(cap, counts, set.labels[q], q, source);
    let nSeen = 0;
    const base = q * K;
    for (let j = 0; j < k; j++) {
      const id = set.neighbors[base + j];
      if (id < 0) continue;
      const c = indexLabels[id];
      const capC = cap === 'perClass' ? counts[c] : cap === 'queryClass' ? qc : k;
      if (j < capC && cnt[c]++ === 0) seen[nSeen++] = c;
    }
    const o = q * C;
    for (let s = 0; s < nSeen; s++) {
      const c = seen[s];
      const capC = cap === 'perClass' ? counts[c] : cap === 'queryClass' ? qc : k;
      scores[o + c] = cnt[c] / (k < capC ? k : capC);
      cnt[c] = 0;
    }
  }
  return scores;
}

/**
 * The study's k-NN classification: k = argmax over 1..kMax of the validation micro F1 (ties →
 * smallest k), then the test queries' class scores at that k, scored with micro/macro ROC AUC,
 * micro/macro average precision, micro/macro F1, macro precision/recall and accuracy.
 * (The study's code picks k as the 0-based position of the best validation row, i.e. one less
 * than the best k; this picks the best k itself.)
 */
export function knnClassification(
  validation: KnnQueries,
  test: KnnQueries,
  indexLabels: Codes,
  indexClassCounts: Int32Array,
  options: KnnClassificationOptions = {},
): KnnClassificationResult {
  const { cap = 'perClass', absentClasses = 'skip', source } = options;
  const K = validation.neighbors.length / Math.max(1, validation.labels.length);
  const kMax = options.kMax ?? Math.min(100, Math.floor(K));
  const curve = knnMicroF1ByK(validation, indexLabels, indexClassCounts, kMax, cap, source);
  let k = 1;
  for (let i = 1; i < kMax; i++) if (curve[i] > curve[k - 1]) k = i + 1;
  const scores = knnClassScores(test, indexLabels, indexClassCounts, k, cap, source);
  const summary = classificationSummary(scores, test.labels, indexClassCounts.length, { absentClasses });
  return {
    ...summary,
    k,
    cap,
    validationMicroF1: curve,
    nValidation: validation.labels.length,
    nTest: test.labels.length,
  };
}
