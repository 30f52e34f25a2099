/**
 * The default linear probe: multinomial logistic regression on standardised embeddings, its L2
 * penalty chosen on the validation split, solved with L-BFGS (the linear-probe protocol of
 * CLIP-style evaluations, well posed on small data where the study's AdamW probe collapses).
 *
 * The fit is scikit-learn 1.2.1's LogisticRegression(multi_class='multinomial', solver='lbfgs',
 * penalty='l2', fit_intercept=True): it minimises
 *   f(W, b) = Σ_i −log softmax(W x_i + b)[y_i] + ½ (1/C) ‖W‖²   (the intercept is not penalised)
 * from W = 0, b = 0, and stops as sklearn does (max |∇f| ≤ tol, or a relative decrease of f below
 * scipy's ftol, or max_iter iterations); it agrees with sklearn to 1e-4 on the fixtures in
 * test/metrics/fixtures/logreg.json. Multiplying f by C gives the equivalent C·Σ loss + ½‖W‖².
 */
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { type AbsentClasses, type ClassificationSummary, classificationSummary } from './classification.js';
import { checkCodes, checkLength, checkPositiveInt, metricsError, type Codes } from './check.js';
import { lbfgs, type LbfgsOptions, type LbfgsStatus } from './lbfgs.js';
import { LOGISTIC_PROBE } from '../study.js';
import {
  argmaxRow,
  checkProbeSplit,
  distinctArgmax,
  linearLogits,
  rowCount,
  softmaxInPlace,
  type Features,
  type ProbeSplit,
} from './probeData.js';

export { distinctArgmax, type Features } from './probeData.js';

/** Per-dimension mean and scale of the train split (StandardScaler: population std, 1 where it is 0). */
export interface Standardizer {
  mean: Float64Array;
  scale: Float64Array;
}

/** mean_d = Σ_i x_id / N; scale_d = sqrt(Σ_i (x_id − mean_d)² / N), or 1 when that is 0 (sklearn's StandardScaler). */
export function fitStandardizer(x: Features, dim: number): Standardizer {
  const N = x.length / dim;
  const mean = new Float64Array(dim),
    sq = new Float64Array(dim);
  for (let i = 0; i < N; i++) for (let d = 0; d < dim; d++) mean[d] += x[i * dim + d];
  for (let d = 0; d < dim; d++) mean[d] /= N;
  for (let i = 0; i < N; i++)
    for (let d = 0; d < dim; d++) {
      const v = x[i * dim + d] - mean[d];
      sq[d] += v * v;
    }
  const scale = new Float64Array(dim);
  for (let d = 0; d < dim; d++) {
    const s = Math.sqrt(sq[d] / N);
    scale[d] = s > 0 ? s : 1;
  }
  return { mean, scale };
}

/** (x − mean) / scale, row by row, as float32. */
export function standardize(x: Features, dim: number, s: Standardizer): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += dim)
    for (let d = 0; d < dim; d++) out[i + d] = (x[i + d] - s.mean[d]) / s.scale[d];
  return out;
}

export interface LogisticFitOptions {
  /** Inverse L2 strength (sklearn's C); default 1. */
  C?: number;
  /** sklearn's tol (L-BFGS gtol); default 1e-4. */
  tol?: number;
  /** sklearn's max_iter; default 1000. */
  maxIter?: number;
  /** scipy's relative-decrease test (sklearn cannot change it); default 1e7 · machine epsilon, 0 = off. */
  ftol?: number;
  /**
   * 'sum' (default): minimise Σ loss + ‖W‖²/2C, as scikit-learn 1.2 does, so tol bounds the gradient
   * of the summed loss; 'mean': minimise the same divided by N, as scikit-learn ≥ 1.4 does, so tol
   * bounds the gradient of the mean loss (the same optimum, a stopping rule that does not tighten
   * with the number of rows).
   */
  scale?: 'sum' | 'mean';
  /** Called after each L-BFGS iteration. */
  onIteration?: LbfgsOptions['onIteration'];
  /** Starting parameters (warm start): C×D weights then C biases; default zeros. */
  init?: Float64Array;
}

/** A fitted multinomial logistic regression: z = W x + b. */
export interface LogisticFit {
  dim: number;
  nClasses: number;
  C: number;
  /** C×D row-major. */
  weight: Float64Array;
  bias: Float64Array;
  /** The objective at the solution (Σ loss + ‖W‖²/2C). */
  loss: number;
  gradMax: number;
  iterations: number;
  status: LbfgsStatus;
  converged: boolean;
}

/** gW[c, :] += g_c · x_row and gB[c] += g_c for every class (4 classes per pass over the row). */
function addOuter(gW: Float64Array, gB: Float64Array, g: Float64Array, x: Features, xo: number, D: number, C: number) {
  let c = 0;
  for (; c + 3 < C; c += 4) {
    const g0 = g[c],
      g1 = g[c + 1],
      g2 = g[c + 2],
      g3 = g[c + 3];
    gB[c] += g0;
    gB[c + 1] += g1;
    gB[c + 2] += g2;
    gB[c + 3] += g3;
    const w0 = c * D,
      w1 = w0 + D,
      w2 = w1 + D,
      w3 = w2 + D;
    for (let d = 0; d < D; d++) {
      const v = x[xo + d];
      gW[w0 + d] += g0 * v;
      gW[w1 + d] += g1 * v;
      gW[w2 + d] += g2 * v;
      gW[w3 + d] += g3 * v;
    }
  }
  for (; c < C; c++) {
    const gc = g[c],
      w0 = c * D;
    gB[c] += gc;
    for (let d = 0; d < D; d++) gW[w0 + d] += gc * x[xo + d];
  }
}

/**
 * f(θ) = Σ_i (logsumexp(z_i) − z_i[y_i]) + ‖W‖² / (2C) and its gradient
 * ∂f/∂W_c = Σ_i (p_ic − [y_i = c]) x_i + W_c / C, ∂f/∂b_c = Σ_i (p_ic − [y_i = c]); θ = (W, b).
 */
function objective(x: Features, labels: Codes, D: number, C: number, invC: number, factor: number) {
  const N = labels.length;
  const z = new Float64Array(C);
  return (theta: Float64Array, grad: Float64Array): number => {
    const W = theta.subarray(0, C * D),
      b = theta.subarray(C * D);
    grad.fill(0);
    const gW = grad.subarray(0, C * D),
      gB = grad.subarray(C * D);
    let loss = 0;
    for (let i = 0; i < N; i++) {
      const xo = i * D,
        y = labels[i];
      linearLogits(x, xo, W, b, D, C, z);
      const zy = z[y];
      loss += softmaxInPlace(z, C) - zy;
      z[y] -= 1;
      addOuter(gW, gB, z, x, xo, D, C);
    }
    let w2 = 0;
    for (let j = 0; j < W.length; j++) {
      w2 += W[j] * W[j];
      gW[j] += W[j] * invC;
    }
    if (factor !== 1) for (let j = 0; j < grad.length; j++) grad[j] *= factor;
    return (loss + 0.5 * invC * w2) * factor;
  };
}

/**
 * Fit sklearn's multinomial LogisticRegression (lbfgs, L2, intercept) to row-major features and
 * class codes 0..nClasses−1. Deterministic; no randomness anywhere.
 */
export function fitLogisticRegression(
  x: Features,
  labels: Codes,
  dim: number,
  nClasses: number,
  options: LogisticFitOptions = {},
): LogisticFit {
  const { C = 1, tol = LOGISTIC_PROBE.tol, maxIter = LOGISTIC_PROBE.maxIter } = options;
  checkPositiveInt('dim', dim);
  checkPositiveInt('nClasses', nClasses);
  checkPositiveInt('number of rows', labels.length);
  checkLength('features', x, labels.length * dim, `${labels.length} rows × ${dim} dims`);
  checkCodes('labels', labels, nClasses);
  if (!(C > 0) || !Number.isFinite(C)) {
    metricsError(`C = ${C} is not a positive number`, 'metrics/bad-argument', 'the inverse L2 strength C must be > 0');
  }
  const n = nClasses * dim + nClasses;
  const x0 = new Float64Array(n);
  if (options.init) {
    checkLength('init', options.init, n, `${nClasses} × ${dim} weights then ${nClasses} biases`);
    x0.set(options.init);
  }
  const factor = options.scale === 'mean' ? 1 / labels.length : 1;
  const r = lbfgs(objective(x, labels, dim, nClasses, 1 / C, factor), x0, {
    gtol: tol,
    maxIter,
    ftol: options.ftol,
    onIteration: options.onIteration,
  });
  return {
    dim,
    nClasses,
    C,
    weight: r.x.slice(0, nClasses * dim),
    bias: r.x.slice(nClasses * dim),
    loss: r.f,
    gradMax: r.gradMax,
    iterations: r.iterations,
    status: r.status,
    converged: r.converged,
  };
}

/** Softmax probabilities of every row, row-major Float64Array(N×C) (sklearn's predict_proba). */
export function logisticProbabilities(fit: Pick<LogisticFit, 'dim' | 'nClasses' | 'weight' | 'bias'>, x: Features) {
  const { dim: D, nClasses: C } = fit;
  const N = rowCount(x, D, 'features');
  const out = new Float64Array(N * C);
  const z = new Float64Array(C);
  for (let i = 0; i < N; i++) {
    linearLogits(x, i * D, fit.weight, fit.bias, D, C, z);
    softmaxInPlace(z, C);
    out.set(z, i * C);
  }
  return out;
}

export interface LogisticProbeOptions {
  /** The grid of C tried on the validation split; default 0.001 … 100 (×10). */
  cs?: readonly number[];
  /** sklearn's tol; default 1e-4. */
  tol?: number;
  /** sklearn's max_iter per fit; default 1000. */
  maxIter?: number;
  /** Objective scale, see LogisticFitOptions; default 'mean'. */
  scale?: 'sum' | 'mean';
  /** Standardise with the train split's mean and std (default true). */
  standardize?: boolean;
  /** Start each C of the grid (ascending) from the previous solution; default true (same optimum, fewer iterations). */
  warmStart?: boolean;
  absentClasses?: AbsentClasses;
  progress?: ProgressListener;
  /** File the embeddings came from, named in errors. */
  source?: string;
}

/** One C of the grid, scored on the validation split. */
export interface LogisticGridPoint {
  C: number;
  valAccuracy: number;
  /** Mean cross-entropy on the validation split. */
  valLoss: number;
  iterations: number;
  status: LbfgsStatus;
}

export interface LogisticProbeResult {
  /** Test metrics of the fit with the chosen C (scores = softmax probabilities). */
  metrics: ClassificationSummary;
  /**
   * The chosen C: best validation accuracy among the fits that converged (among all when none
   * did), ties → lower validation loss, then smaller C.
   */
  C: number;
  grid: LogisticGridPoint[];
  /** L-BFGS iterations, stop reason and cap of the chosen fit. */
  iterations: number;
  status: LbfgsStatus;
  converged: boolean;
  maxIter: number;
  bestValAccuracy: number;
  /** Mean cross-entropy of the chosen fit on the train split (no penalty). */
  chosenTrainLoss: number;
  /** How many distinct classes the chosen fit predicts on the test split. */
  testPredictedClasses: number;
  /** The chosen fit on standardised features: C×D and C, float32. */
  weight: Float32Array;
  bias: Float32Array;
  /** The train split's standardisation (identity when standardize is false). */
  mean: Float32Array;
  scale: Float32Array;
}

/** Accuracy and mean cross-entropy of a fit on a split. */
function scoreSplit(fit: LogisticFit, x: Features, labels: Codes): { accuracy: number; loss: number } {
  const p = logisticProbabilities(fit, x);
  const C = fit.nClasses;
  let hit = 0,
    loss = 0;
  for (let i = 0; i < labels.length; i++) {
    if (argmaxRow(p, i * C, C) === labels[i]) hit++;
    loss -= Math.log(Math.max(p[i * C + labels[i]], 1e-300));
  }
  return { accuracy: hit / labels.length, loss: loss / labels.length };
}

function checkGrid(cs: readonly number[], source?: string): number[] {
  if (cs.length === 0 || cs.some((c) => !(c > 0) || !Number.isFinite(c))) {
    metricsError(
      `the C grid [${cs.join(', ')}] must hold positive numbers`,
      'metrics/bad-argument',
      'give one or more inverse L2 strengths C > 0',
      source,
    );
  }
  return [...cs].sort((a, b) => a - b);
}

/**
 * Standardise (train statistics), fit one model per C on train (ascending C, each started from the
 * previous solution unless warmStart is false), pick C on val accuracy among the converged fits, score the
 * chosen fit on test. The test split is used for nothing but the final scores; val is not trained on.
 */
export function logisticProbe(
  train: ProbeSplit,
  val: ProbeSplit,
  test: ProbeSplit,
  dim: number,
  nClasses: number,
  options: LogisticProbeOptions = {},
): LogisticProbeResult {
  const {
    tol = LOGISTIC_PROBE.tol,
    maxIter = LOGISTIC_PROBE.maxIter,
    scale = LOGISTIC_PROBE.scale,
    absentClasses = 'skip',
    source,
  } = options;
  checkPositiveInt('dim', dim, source);
  checkPositiveInt('nClasses', nClasses, source);
  checkProbeSplit('train', train, dim, nClasses, source);
  checkProbeSplit('validation', val, dim, nClasses, source);
  checkProbeSplit('test', test, dim, nClasses, source);
  const cs = checkGrid(options.cs ?? LOGISTIC_PROBE.cs, source);
  const std: Standardizer =
    options.standardize === false
      ? { mean: new Float64Array(dim), scale: new Float64Array(dim).fill(1) }
      : fitStandardizer(train.x, dim);
  const [xTrain, xVal, xTest] = [train.x, val.x, test.x].map((x) => standardize(x, dim, std));
  const tracker = new ProgressTracker('linear probe', cs.length, options.progress, 'fits');
  const grid: LogisticGridPoint[] = [];
  let best: { fit: LogisticFit; acc: number; loss: number } | null = null;
  let prev: LogisticFit | null = null;
  for (const C of cs) {
    const init = options.warmStart === false || !prev ? undefined : concat(prev.weight, prev.bias);
    const fit = fitLogisticRegression(xTrain, train.labels, dim, nClasses, { C, tol, maxIter, init, scale });
    const s = scoreSplit(fit, xVal, val.labels);
    grid.push({ C, valAccuracy: s.accuracy, valLoss: s.loss, iterations: fit.iterations, status: fit.status });
    // a fit stopped at its cap is not a solution of its C: it is chosen only when no fit converged
    const better =
      !best ||
      (fit.converged && !best.fit.converged) ||
      (fit.converged === best.fit.converged &&
        (s.accuracy > best.acc || (s.accuracy === best.acc && s.loss < best.loss)));
    if (better) best = { fit, acc: s.accuracy, loss: s.loss };
    prev = fit;
    tracker.add(1);
  }
  tracker.finish();
  const fit = best!.fit;
  const probs = logisticProbabilities(fit, xTest);
  const metrics = classificationSummary(probs, test.labels, nClasses, { absentClasses });
  return {
    metrics,
    C: fit.C,
    grid,
    iterations: fit.iterations,
    status: fit.status,
    converged: fit.converged,
    maxIter,
    bestValAccuracy: best!.acc,
    chosenTrainLoss: scoreSplit(fit, xTrain, train.labels).loss,
    testPredictedClasses: distinctArgmax(probs, nClasses),
    weight: Float32Array.from(fit.weight),
    bias: Float32Array.from(fit.bias),
    mean: Float32Array.from(std.mean),
    scale: Float32Array.from(std.scale),
  };
}

function concat(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
