/**
 * Baselines that every table is read against: the chance level of P@N (a random ranking of the
 * index) and the majority-class classifier.
 */
import { type AbsentClasses, type ClassificationSummary, classificationSummary } from './classification.js';
import { checkCodes, checkCounts, checkLength, checkPositiveInt, metricsError, type Codes } from './check.js';
import type { PrecisionAtN, PrecisionDefinition } from './precision.js';

export interface ChancePrecisionOptions {
  /** The N values (default 1..10). */
  ns?: ArrayLike<number>;
  /** Default 'study' (as precisionAtN). */
  definition?: PrecisionDefinition;
  /** 1 where the query is itself an index row (it is then not among its own neighbours); default none is. */
  queryInIndex?: Uint8Array;
  source?: string;
}

/** Expected P@N of a random ranking, per query and aggregated as precisionAtN aggregates (without the stds). */
export type ChancePrecision = Omit<PrecisionAtN, 'microStd' | 'macroStd'>;

/**
 * E[P@N] when the neighbours of a query are a uniformly random ordering of the index. For a query
 * of class c with n' = n_c − [q in index] same-class rows among the M' = M − [q in index] it can
 * retrieve, the top m rows hold m·n'/M' same-class rows on average (hypergeometric), so
 *   study:    m = min(N, n_c):  E[P@N] = n'/M'   (0 when n' = 0)
 *   textbook: m = min(N, M'):   E[P@N] = min(N, M') · n' / (M' · N);
 * micro = mean over queries, macro = mean over query classes of the class mean.
 */
export function chancePrecisionAtN(
  queryLabels: Codes,
  indexClassCounts: Int32Array,
  options: ChancePrecisionOptions = {},
): ChancePrecision {
  const { definition = 'study', queryInIndex, source } = options;
  const Q = queryLabels.length;
  checkPositiveInt('number of queries', Q, source);
  checkCounts('indexClassCounts', indexClassCounts, source);
  const C = indexClassCounts.length;
  checkCodes('queryLabels', queryLabels, C, source);
  if (queryInIndex) checkLength('queryInIndex', queryInIndex, Q, 'one 0/1 per query', source);
  if (definition !== 'study' && definition !== 'textbook') {
    metricsError(`unknown precision definition '${definition}'`, 'metrics/bad-argument', "use 'study' or 'textbook'");
  }
  const ns = Int32Array.from(options.ns ?? Array.from({ length: 10 }, (_, i) => i + 1));
  for (const N of ns) checkPositiveInt('N', N, source);
  let M = 0;
  for (const n of indexClassCounts) M += n;
  const W = ns.length;
  const perQuery = new Float32Array(Q * W);
  const micro = new Float64Array(W);
  const classSum = new Float64Array(C * W),
    classN = new Int32Array(C);
  for (let q = 0; q < Q; q++) {
    const c = queryLabels[q];
    const self = queryInIndex?.[q] ? 1 : 0;
    const nSame = indexClassCounts[c] - self,
      nAll = M - self;
    if (nSame < 0) {
      metricsError(
        `query ${q} is marked as an index row of class ${c}, which has no index row`,
        'metrics/bad-argument',
        'mark only queries that are index rows',
        source,
        q,
      );
    }
    classN[c]++;
    for (let t = 0; t < W; t++) {
      const N = ns[t];
      const e = nSame === 0 ? 0 : definition === 'study' ? nSame / nAll : (Math.min(N, nAll) * nSame) / (nAll * N);
      perQuery[q * W + t] = e;
      micro[t] += e;
      classSum[c * W + t] += e;
    }
  }
  const macro = new Float64Array(W);
  let nClasses = 0;
  for (let c = 0; c < C; c++) {
    if (classN[c] === 0) continue;
    nClasses++;
    for (let t = 0; t < W; t++) macro[t] += classSum[c * W + t] / classN[c];
  }
  for (let t = 0; t < W; t++) {
    micro[t] /= Q;
    macro[t] /= nClasses;
  }
  return { ns, definition, nQueries: Q, nClasses, perQuery, micro, macro };
}

export interface MajorityBaseline extends ClassificationSummary {
  /** The most frequent train class (ties → lowest code): every test sample is assigned it. */
  majorityClass: number;
  /** Its share of the train split. */
  trainShare: number;
}

/**
 * The majority-class classifier: every test sample gets the most frequent train class, with the
 * train class shares as its scores (so ROC AUC and average precision are those of a constant
 * prior). accuracy = share of that class in test; macro F1/recall follow from one predicted class.
 */
export function majorityBaseline(
  trainLabels: Codes,
  testLabels: Codes,
  nClasses: number,
  options: { absentClasses?: AbsentClasses } = {},
): MajorityBaseline {
  checkPositiveInt('nClasses', nClasses);
  checkPositiveInt('number of train rows', trainLabels.length);
  checkPositiveInt('number of test rows', testLabels.length);
  checkCodes('train labels', trainLabels, nClasses);
  checkCodes('test labels', testLabels, nClasses);
  const share = new Float64Array(nClasses);
  for (let i = 0; i < trainLabels.length; i++) share[trainLabels[i]]++;
  let best = 0;
  for (let c = 0; c < nClasses; c++) {
    share[c] /= trainLabels.length;
    if (share[c] > share[best]) best = c;
  }
  const scores = new Float64Array(testLabels.length * nClasses);
  for (let i = 0; i < testLabels.length; i++) scores.set(share, i * nClasses);
  const summary = classificationSummary(scores, testLabels, nClasses, {
    absentClasses: options.absentClasses ?? 'skip',
  });
  return { ...summary, majorityClass: best, trainShare: share[best] };
}
