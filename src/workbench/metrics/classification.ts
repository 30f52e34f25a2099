/**
 * Classification metrics that match scikit-learn (checked against sklearn 1.2.1 to 1e-6 by
 * test/metrics/fixtures): roc_auc_score, average_precision_score, precision/recall/f1_score
 * with zero_division=0, accuracy_score. Multiclass scores are a row-major Q×C matrix; one-vs-rest
 * follows sklearn's label_binarize(labels, classes=range(C)) semantics: micro = the raveled
 * indicator matrix scored as one binary problem, macro = unweighted mean of the per-class scores.
 */
import {
  checkBinary,
  checkCodes,
  checkFinite,
  checkLength,
  checkPositiveInt,
  metricsError,
  type Codes,
  type Reals,
} from './check.js';

export type Average = 'micro' | 'macro';

/**
 * What to do with a class that has no positive (or only positives) among the samples:
 * 'sklearn' (default) mirrors scikit-learn — ROC AUC raises ("Only one class present in
 * y_true"), average precision scores the class 0 and keeps it in the macro mean;
 * 'skip' leaves such classes out of the macro mean (the count used is returned by the
 * per-class functions and by classificationSummary).
 */
export type AbsentClasses = 'sklearn' | 'skip';

export interface OvrOptions {
  absentClasses?: AbsentClasses;
}

// ───────────────────────── binary ranking metrics ─────────────────────────

/**
 * ROC AUC and average precision of sorted positive and negative scores (both ascending, zeros
 * left out and counted in posZeros / negZeros, since k-NN shares are mostly 0), by one walk over
 * the distinct thresholds from the top:
 * AUC = Σ_t Δfp_t (tp_{t−1} + tp_t) / 2 / (P·N)  (trapezoids; ties = half a pair, as sklearn)
 * AP  = Σ_t Δtp_t / P · tp_t / (tp_t + fp_t)      (step-wise, not interpolated, as sklearn)
 */
function curveAreas(pos: Reals, neg: Reals, posZeros = 0, negZeros = 0): { auc: number; ap: number } {
  let i = pos.length - 1,
    j = neg.length - 1;
  let zerosLeft = posZeros + negZeros > 0;
  let tp = 0,
    fp = 0,
    auc = 0,
    ap = 0;
  while (i >= 0 || j >= 0 || zerosLeft) {
    let t = -Infinity;
    if (i >= 0) t = pos[i];
    if (j >= 0 && neg[j] > t) t = neg[j];
    let dp = 0,
      dn = 0;
    if (zerosLeft && !(t > 0)) {
      dp = posZeros;
      dn = negZeros;
      zerosLeft = false;
    } // the threshold 0
    else {
      while (i >= 0 && pos[i] === t) {
        dp++;
        i--;
      }
      while (j >= 0 && neg[j] === t) {
        dn++;
        j--;
      }
    }
    const tpPrev = tp;
    tp += dp;
    fp += dn;
    auc += (dn * (tpPrev + tp)) / 2;
    if (dp > 0) ap += dp * (tp / (tp + fp));
  }
  const P = pos.length + posZeros,
    N = neg.length + negZeros;
  return { auc: P > 0 && N > 0 ? auc / P / N : NaN, ap: P > 0 ? ap / P : 0 };
}

/** A new array of n zeros of the same float type as `values`. */
function alike(values: Reals, n: number): Reals {
  return values instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

/** Non-zero scores of the positives and of the negatives, sorted ascending, and the zero counts. */
interface Split {
  pos: Reals;
  neg: Reals;
  posZeros: number;
  negZeros: number;
}

function splitBinary(yTrue: ArrayLike<number>, yScore: Reals): Split {
  let P = 0,
    nzP = 0,
    nzN = 0;
  for (let i = 0; i < yTrue.length; i++) {
    P += yTrue[i];
    if (yScore[i] !== 0) {
      if (yTrue[i] === 1) nzP++;
      else nzN++;
    }
  }
  const pos = alike(yScore, nzP),
    neg = alike(yScore, nzN);
  let a = 0,
    b = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const v = yScore[i];
    if (v === 0) continue;
    if (yTrue[i] === 1) pos[a++] = v;
    else neg[b++] = v;
  }
  pos.sort();
  neg.sort();
  return { pos, neg, posZeros: P - nzP, negZeros: yTrue.length - P - nzN };
}

const areasOf = (s: Split) => curveAreas(s.pos, s.neg, s.posZeros, s.negZeros);

function checkBinaryInputs(yTrue: ArrayLike<number>, yScore: Reals): void {
  checkPositiveInt('number of samples', yTrue.length);
  checkLength('yScore', yScore, yTrue.length, 'one score per sample');
  checkBinary('yTrue', yTrue);
  checkFinite('yScore', yScore);
}

/** Binary ROC AUC (sklearn roc_auc_score): P(score of a positive > score of a negative), ties ½. */
export function rocAuc(yTrue: ArrayLike<number>, yScore: Reals): number {
  checkBinaryInputs(yTrue, yScore);
  const split = splitBinary(yTrue, yScore);
  if (split.pos.length + split.posZeros === 0 || split.neg.length + split.negZeros === 0) {
    metricsError(
      'Only one class present in yTrue; ROC AUC is not defined in that case (as sklearn)',
      'metrics/one-class',
      'score a set that holds both positives and negatives',
    );
  }
  return areasOf(split).auc;
}

/**
 * Binary average precision (sklearn average_precision_score): AP = Σ_n (R_n − R_{n−1}) P_n over
 * the distinct thresholds. With no positive sklearn warns and returns 0; so does this.
 */
export function averagePrecision(yTrue: ArrayLike<number>, yScore: Reals): number {
  checkBinaryInputs(yTrue, yScore);
  return areasOf(splitBinary(yTrue, yScore)).ap;
}

// ───────────────────────── one-vs-rest (multiclass) ─────────────────────────

function checkOvrInputs(scores: Reals, labels: Codes, nClasses: number): number {
  checkPositiveInt('nClasses', nClasses);
  if (nClasses < 2)
    metricsError(
      `one-vs-rest needs at least 2 classes, got ${nClasses}`,
      'metrics/bad-argument',
      'use the binary rocAuc / averagePrecision for one class against the rest',
    );
  const Q = labels.length;
  checkPositiveInt('number of samples', Q);
  checkLength('scores', scores, Q * nClasses, `a row-major matrix of ${Q} samples × ${nClasses} classes`);
  checkCodes('labels', labels, nClasses);
  checkFinite('scores', scores);
  return Q;
}

/** Micro: the raveled indicator matrix as one binary problem (one positive per row). */
function microAreas(scores: Reals, labels: Codes, C: number): { auc: number; ap: number } {
  const Q = labels.length;
  let nzP = 0,
    nzN = 0;
  for (let q = 0; q < Q; q++) {
    const o = q * C,
      y = labels[q];
    for (let c = 0; c < C; c++)
      if (scores[o + c] !== 0) {
        if (c === y) nzP++;
        else nzN++;
      }
  }
  const pos = alike(scores, nzP),
    neg = alike(scores, nzN);
  let a = 0,
    b = 0;
  for (let q = 0; q < Q; q++) {
    const o = q * C,
      y = labels[q];
    for (let c = 0; c < C; c++) {
      const v = scores[o + c];
      if (v === 0) continue;
      if (c === y) pos[a++] = v;
      else neg[b++] = v;
    }
  }
  pos.sort();
  neg.sort();
  return curveAreas(pos, neg, Q - nzP, Q * (C - 1) - nzN);
}

/** Per-class one-vs-rest areas; auc is NaN for a class with no positive or no negative. */
function perClassAreas(
  scores: Reals,
  labels: Codes,
  C: number,
): { auc: Float64Array; ap: Float64Array; nPos: Int32Array } {
  const Q = labels.length;
  const nPos = new Int32Array(C);
  for (let q = 0; q < Q; q++) nPos[labels[q]]++;
  const auc = new Float64Array(C),
    ap = new Float64Array(C);
  const posBuf = alike(scores, Q),
    negBuf = alike(scores, Q);
  for (let c = 0; c < C; c++) {
    let a = 0,
      b = 0;
    for (let q = 0; q < Q; q++) {
      const v = scores[q * C + c];
      if (v === 0) continue;
      if (labels[q] === c) posBuf[a++] = v;
      else negBuf[b++] = v;
    }
    const pos = posBuf.subarray(0, a),
      neg = negBuf.subarray(0, b);
    pos.sort();
    neg.sort();
    const r = curveAreas(pos, neg, nPos[c] - a, Q - nPos[c] - b);
    auc[c] = r.auc;
    ap[c] = r.ap;
  }
  return { auc, ap, nPos };
}

/**
 * One-vs-rest ROC AUC per class (NaN where the class has no positive or no negative sample).
 * AUC_c = ROC AUC of (labels == c) against scores[:, c].
 */
export function rocAucPerClass(scores: Reals, labels: Codes, nClasses: number): Float64Array {
  checkOvrInputs(scores, labels, nClasses);
  return perClassAreas(scores, labels, nClasses).auc;
}

/**
 * One-vs-rest average precision per class (0 where the class has no positive, as sklearn).
 * AP_c = average precision of (labels == c) against scores[:, c].
 */
export function averagePrecisionPerClass(scores: Reals, labels: Codes, nClasses: number): Float64Array {
  checkOvrInputs(scores, labels, nClasses);
  return perClassAreas(scores, labels, nClasses).ap;
}

/** Mean of per-class values, leaving out NaN when skipping, else raising on NaN like sklearn. */
function macroOf(
  values: Float64Array,
  nPos: Int32Array,
  Q: number,
  metric: 'auc' | 'ap',
  absent: AbsentClasses,
): { value: number; n: number } {
  let s = 0,
    n = 0;
  for (let c = 0; c < values.length; c++) {
    const undefinedClass = nPos[c] === 0 || nPos[c] === Q;
    if (undefinedClass) {
      if (absent === 'skip') continue;
      if (metric === 'auc') {
        metricsError(
          `class ${c} has ${nPos[c] === 0 ? 'no sample' : 'every sample'}; one-vs-rest ROC AUC is not defined for it (sklearn raises "Only one class present in y_true")`,
          'metrics/one-class',
          "pass absentClasses: 'skip' to average over the classes that have positives and negatives, or score a set that holds every class",
        );
      }
    }
    s += values[c];
    n++;
  }
  if (n === 0) {
    metricsError(
      'no class has both positive and negative samples',
      'metrics/one-class',
      'score a set with at least two classes',
    );
  }
  return { value: s / n, n };
}

/**
 * Multiclass one-vs-rest ROC AUC (sklearn roc_auc_score on label_binarize(labels)):
 * micro = AUC of the raveled indicator matrix against the raveled scores;
 * macro = mean over classes of AUC_c. A class without positives makes sklearn raise, and so
 * does this unless absentClasses is 'skip' (then the mean runs over the defined classes).
 */
export function rocAucOvr(
  scores: Reals,
  labels: Codes,
  nClasses: number,
  average: Average,
  options: OvrOptions = {},
): number {
  const Q = checkOvrInputs(scores, labels, nClasses);
  if (average === 'micro') return microAreas(scores, labels, nClasses).auc;
  checkAverage(average);
  const r = perClassAreas(scores, labels, nClasses);
  return macroOf(r.auc, r.nPos, Q, 'auc', options.absentClasses ?? 'sklearn').value;
}

/**
 * Multiclass one-vs-rest average precision (sklearn average_precision_score on
 * label_binarize(labels)): micro = AP of the raveled problem; macro = mean over classes of AP_c,
 * where a class without positives scores 0 and counts (sklearn) unless absentClasses is 'skip'.
 */
export function averagePrecisionOvr(
  scores: Reals,
  labels: Codes,
  nClasses: number,
  average: Average,
  options: OvrOptions = {},
): number {
  const Q = checkOvrInputs(scores, labels, nClasses);
  if (average === 'micro') return microAreas(scores, labels, nClasses).ap;
  checkAverage(average);
  const r = perClassAreas(scores, labels, nClasses);
  return macroOf(r.ap, r.nPos, Q, 'ap', options.absentClasses ?? 'sklearn').value;
}

function checkAverage(average: string): void {
  if (average !== 'micro' && average !== 'macro') {
    metricsError(`unknown average '${average}'`, 'metrics/bad-argument', "use 'micro' or 'macro'");
  }
}

// ───────────────────────── label metrics ─────────────────────────

export interface LabelOptions {
  /**
   * Labels to score (sklearn `labels`). Default: the sorted union of the labels in yTrue and
   * yPred — so a class that is neither true nor predicted anywhere does not dilute macro.
   */
  labels?: ArrayLike<number>;
}

interface Confusion {
  tp: Float64Array;
  pred: Float64Array;
  truth: Float64Array;
  labels: Int32Array;
}

function confusion(yTrue: Codes, yPred: Codes, options: LabelOptions): Confusion {
  checkPositiveInt('number of samples', yTrue.length);
  checkLength('yPred', yPred, yTrue.length, 'one prediction per sample');
  let max = -1;
  for (const [name, y] of [
    ['yTrue', yTrue],
    ['yPred', yPred],
  ] as const) {
    for (let i = 0; i < y.length; i++) {
      const v = y[i];
      if (v < 0)
        metricsError(
          `${name}[${i}] = ${v} is not a class code`,
          'metrics/label-out-of-range',
          'class codes are integers ≥ 0',
        );
      if (v > max) max = v;
    }
  }
  const given = options.labels;
  if (given !== undefined) {
    if (given.length === 0)
      metricsError('labels is empty', 'metrics/bad-argument', 'give at least one label or leave labels out');
    for (let i = 0; i < given.length; i++) {
      if (!Number.isInteger(given[i]) || given[i] < 0) {
        metricsError(
          `labels[${i}] = ${given[i]} is not a class code`,
          'metrics/label-out-of-range',
          'class codes are integers ≥ 0',
        );
      }
      if (given[i] > max) max = given[i];
    }
  }
  const size = max + 1;
  const tp = new Float64Array(size),
    pred = new Float64Array(size),
    truth = new Float64Array(size);
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i],
      p = yPred[i];
    truth[t]++;
    pred[p]++;
    if (t === p) tp[t]++;
  }
  let labels: Int32Array;
  if (given !== undefined) labels = Int32Array.from(given);
  else {
    let n = 0;
    for (let c = 0; c < size; c++) if (truth[c] > 0 || pred[c] > 0) n++;
    labels = new Int32Array(n);
    n = 0;
    for (let c = 0; c < size; c++) if (truth[c] > 0 || pred[c] > 0) labels[n++] = c;
  }
  return { tp, pred, truth, labels };
}

const div0 = (a: number, b: number): number => (b === 0 ? 0 : a / b); // zero_division = 0
// F1 = 2PR / (P + R), 0 when P + R = 0
const f1Of = (p: number, r: number): number => (p + r === 0 ? 0 : (2 * p * r) / (p + r));

function labelMetric(
  yTrue: Codes,
  yPred: Codes,
  average: Average,
  options: LabelOptions,
  which: 'p' | 'r' | 'f',
): number {
  checkAverage(average);
  const { tp, pred, truth, labels } = confusion(yTrue, yPred, options);
  if (average === 'micro') {
    let T = 0,
      Pn = 0,
      Tn = 0;
    for (const c of labels) {
      T += tp[c];
      Pn += pred[c];
      Tn += truth[c];
    }
    const p = div0(T, Pn),
      r = div0(T, Tn);
    return which === 'p' ? p : which === 'r' ? r : f1Of(p, r);
  }
  let s = 0;
  for (const c of labels) {
    const p = div0(tp[c], pred[c]),
      r = div0(tp[c], truth[c]);
    s += which === 'p' ? p : which === 'r' ? r : f1Of(p, r);
  }
  return s / labels.length;
}

/** Precision (sklearn precision_score, zero_division=0): micro ΣTP/Σ(TP+FP), macro mean_c TP_c/(TP_c+FP_c). */
export function precision(yTrue: Codes, yPred: Codes, average: Average, options: LabelOptions = {}): number {
  return labelMetric(yTrue, yPred, average, options, 'p');
}

/** Recall (sklearn recall_score, zero_division=0): micro ΣTP/Σ(TP+FN), macro mean_c TP_c/(TP_c+FN_c). */
export function recall(yTrue: Codes, yPred: Codes, average: Average, options: LabelOptions = {}): number {
  return labelMetric(yTrue, yPred, average, options, 'r');
}

/** F1 (sklearn f1_score, zero_division=0): micro 2PR/(P+R) of the pooled counts, macro mean_c of F1_c. */
export function f1(yTrue: Codes, yPred: Codes, average: Average, options: LabelOptions = {}): number {
  return labelMetric(yTrue, yPred, average, options, 'f');
}

/** Accuracy (sklearn accuracy_score): share of samples with yPred = yTrue. */
export function accuracy(yTrue: Codes, yPred: Codes): number {
  checkPositiveInt('number of samples', yTrue.length);
  checkLength('yPred', yPred, yTrue.length, 'one prediction per sample');
  let hit = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hit++;
  return hit / yTrue.length;
}

/** Predicted class per row of a Q×C score matrix: argmax, ties → the lowest class code (as numpy argmax). */
export function argmaxRows(scores: Reals, nClasses: number): Int32Array {
  checkPositiveInt('nClasses', nClasses);
  const Q = scores.length / nClasses;
  if (!Number.isInteger(Q)) {
    metricsError(
      `scores has ${scores.length} values, not a multiple of ${nClasses} classes`,
      'metrics/length-mismatch',
      'pass a row-major Q×C matrix',
    );
  }
  const out = new Int32Array(Q);
  for (let q = 0; q < Q; q++) {
    const o = q * nClasses;
    let best = 0,
      bv = scores[o];
    for (let c = 1; c < nClasses; c++)
      if (scores[o + c] > bv) {
        bv = scores[o + c];
        best = c;
      }
    out[q] = best;
  }
  return out;
}

/**
 * The metrics of the study's k-NN classification and linear probing tables. The study's
 * column "AUPRC" is computed by its code as ROC AUC (roc_auc_score); both are given here,
 * named for what they are: *Auroc = ROC AUC, *AveragePrecision = area under the PR curve
 * (sklearn's step-wise average precision).
 */
export interface ClassificationSummary {
  microAuroc: number;
  macroAuroc: number;
  microAveragePrecision: number;
  macroAveragePrecision: number;
  microF1: number;
  macroF1: number;
  macroPrecision: number;
  macroRecall: number;
  accuracy: number;
  /** Classes averaged by the macro ROC AUC / average precision (see AbsentClasses). */
  macroAurocClasses: number;
  macroAveragePrecisionClasses: number;
}

/**
 * All classification metrics of one score matrix (Q×C, e.g. k-NN class shares or softmax
 * probabilities) against the true labels; predictions are the row argmax (ties → lowest code).
 * F1 / precision / recall use sklearn's default label set (union of true and predicted).
 */
export function classificationSummary(
  scores: Reals,
  labels: Codes,
  nClasses: number,
  options: OvrOptions = {},
): ClassificationSummary {
  const Q = checkOvrInputs(scores, labels, nClasses);
  const absent = options.absentClasses ?? 'sklearn';
  const micro = microAreas(scores, labels, nClasses);
  const per = perClassAreas(scores, labels, nClasses);
  const mAuc = macroOf(per.auc, per.nPos, Q, 'auc', absent);
  const mAp = macroOf(per.ap, per.nPos, Q, 'ap', absent);
  const pred = argmaxRows(scores, nClasses);
  return {
    microAuroc: micro.auc,
    macroAuroc: mAuc.value,
    microAveragePrecision: micro.ap,
    macroAveragePrecision: mAp.value,
    microF1: f1(labels, pred, 'micro'),
    macroF1: f1(labels, pred, 'macro'),
    macroPrecision: precision(labels, pred, 'macro'),
    macroRecall: recall(labels, pred, 'macro'),
    accuracy: accuracy(labels, pred),
    macroAurocClasses: mAuc.n,
    macroAveragePrecisionClasses: mAp.n,
  };
}
