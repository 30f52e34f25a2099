/**
 * t-SNE for the study's embedding-space maps (Fig. 4), following scikit-learn's TSNE
 * (1.2, method 'barnes_hut' or 'exact') step for step:
 *
 *  1. PCA to `pcaDims` (50) when the input is wider;
 *  2. input affinities: exact k = min(n − 1, ⌊3·perplexity + 1⌋) nearest neighbours, binary
 *     search of each point's Gaussian for the perplexity, P = (P_cond + P_condᵀ) / Σ (sparse);
 *     the exact method uses all pairs (dense P);
 *  3. initialisation 'pca' (default, as scikit-learn ≥ 1.2: the first two principal components
 *     scaled so that column 0 has standard deviation 1e-4) or 'random' (normal, sd 1e-4);
 *  4. gradient descent with gains (+0.2 / ×0.8, min 0.01), momentum 0.5 for the first
 *     `exaggerationIters` iterations with P × `earlyExaggeration`, then momentum 0.8 (update and
 *     gains restart with the phase, as in scikit-learn); learning rate 'auto' =
 *     max(n / earlyExaggeration / 4, 50); every 50 iterations it stops when the gradient norm is
 *     below 1e-7 or the error has not improved for 300 iterations;
 *  5. gradient 4·(Σ_j p_ij w_ij (y_i − y_j) − Σ_j w_ij² (y_i − y_j) / Z), the repulsive part
 *     by Barnes–Hut (θ = 0.5) or exactly.
 *
 * Everything runs sequentially in a fixed order on typed arrays, so a seed fixes the result.
 */
import { CbirError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { denseAffinities, exactKnn, sparseAffinities, type SparseP } from './affinities.js';
import { BarnesHut } from './barnesHut.js';
import { pca } from './pca.js';
import { checkMatrix } from './validate.js';

/** Options of `tsne` (defaults as scikit-learn's TSNE). */
export interface TsneOptions {
  /** Effective number of neighbours (default 30); must be below n. */
  perplexity?: number;
  /** Total gradient-descent iterations, exaggeration phase included (default 1000). */
  iterations?: number;
  /** Factor on P during the first phase (default 12). */
  earlyExaggeration?: number;
  /** Length of the exaggerated first phase (default 250). */
  exaggerationIters?: number;
  /** Step size; 'auto' (default) = max(n / earlyExaggeration / 4, 50). */
  learningRate?: 'auto' | number;
  /** Barnes–Hut opening angle (default 0.5); 0 is exact but slow. */
  theta?: number;
  /** Reduce wider inputs to this many principal components first (default 50; 0 = never). */
  pcaDims?: number;
  /** Seed of PCA and of a random initialisation (default 0). */
  seed?: number;
  /** 'barnes-hut' (default, O(n log n) per iteration) or 'exact' (dense P, O(n²); n ≤ 5000). */
  method?: 'barnes-hut' | 'exact';
  /** 'pca' (default), 'random', or a start embedding (n × 2). */
  init?: 'pca' | 'random' | Float32Array;
  /** Progress of the PCA, neighbour and optimisation steps. */
  onProgress?: ProgressListener;
  /** Named in error messages (e.g. the embedding store the rows came from). */
  source?: string;
}

/** The map and how well it fits. */
export interface TsneResult {
  /** n × 2, row-major. */
  embedding: Float32Array;
  /** KL(P‖Q) at the last iteration (Barnes–Hut: over the sparse P, with the approximated Z). */
  kl: number;
  /** Iterations run (fewer than asked when the convergence checks stopped it). */
  iterations: number;
  /** Wall seconds of each step. */
  seconds: { pca: number; affinities: number; optimise: number };
}

const EXACT_MAX_N = 5000;
const FLOAT32_TINY = 1.1754943508222875e-38;

/** The options of `tsne` with their defaults, checked. */
interface TsneParams {
  perplexity: number;
  iterations: number;
  exaggeration: number;
  exaggerationIters: number;
  theta: number;
  pcaDims: number;
  seed: number;
  method: 'barnes-hut' | 'exact';
  learningRate: number;
}

/** Fill in the defaults of `opts` and check every parameter against n (CbirError 'tsne/bad-parameter'). */
function tsneParams(n: number, opts: TsneOptions): TsneParams {
  const perplexity = opts.perplexity ?? 30;
  const iterations = opts.iterations ?? 1000;
  const exaggeration = opts.earlyExaggeration ?? 12;
  const exaggerationIters = opts.exaggerationIters ?? 250;
  const theta = opts.theta ?? 0.5;
  const pcaDims = opts.pcaDims ?? 50;
  const seed = opts.seed ?? 0;
  const method = opts.method ?? 'barnes-hut';
  const bad = (what: string, hint: string) =>
    new CbirError(`t-SNE: ${what}`, { file: opts.source, hint, code: 'tsne/bad-parameter' });
  if (n < 2) throw bad(`${n} point(s); a map needs at least 2`, 'pass more rows');
  if (!(perplexity > 0) || perplexity >= n)
    throw bad(
      `perplexity ${perplexity} must be > 0 and below the number of points (${n})`,
      `use a smaller perplexity, e.g. ${Math.max(1, Math.min(30, Math.floor((n - 1) / 3)))}`,
    );
  if (!Number.isInteger(iterations) || iterations < 1)
    throw bad(`iterations = ${iterations}`, 'use a positive integer, e.g. 1000');
  if (!Number.isInteger(exaggerationIters) || exaggerationIters < 0)
    throw bad(`exaggerationIters = ${exaggerationIters}`, 'use a non-negative integer, e.g. 250');
  if (!(exaggeration > 0)) throw bad(`earlyExaggeration = ${exaggeration}`, 'use a positive factor, e.g. 12');
  if (!(theta >= 0)) throw bad(`theta = ${theta}`, 'use an angle ≥ 0, e.g. 0.5');
  if (!Number.isInteger(pcaDims) || pcaDims < 0)
    throw bad(`pcaDims = ${pcaDims}`, 'use a non-negative integer (0 = no PCA), e.g. 50');
  if (method !== 'barnes-hut' && method !== 'exact')
    throw bad(`unknown method "${method as string}"`, "use 'barnes-hut' or 'exact' (or tsneReference for tsne-js)");
  if (method === 'exact' && n > EXACT_MAX_N)
    throw bad(`method 'exact' needs n² memory; n = ${n} > ${EXACT_MAX_N}`, "use method 'barnes-hut'");
  const lr = opts.learningRate ?? 'auto';
  const learningRate = lr === 'auto' ? Math.max(n / exaggeration / 4, 50) : lr;
  if (!(learningRate > 0)) throw bad(`learningRate = ${String(lr)}`, "use 'auto' or a positive number");
  return { perplexity, iterations, exaggeration, exaggerationIters, theta, pcaDims, seed, method, learningRate };
}

/** Embed the rows of x (n × d) in 2-D with t-SNE; see the module comment for the steps. */
export function tsne(x: Float32Array, n: number, d: number, opts: TsneOptions = {}): TsneResult {
  checkMatrix(x, n, d, opts.source, 't-SNE input');
  const p = tsneParams(n, opts);
  if (opts.init instanceof Float32Array) checkMatrix(opts.init, n, 2, opts.source, 't-SNE init');

  // 1. PCA
  let t0 = performance.now();
  let data = x,
    dim = d;
  if (p.pcaDims > 0 && d > p.pcaDims && n > p.pcaDims) {
    data = pca(x, n, d, p.pcaDims, { seed: p.seed, source: opts.source });
    dim = p.pcaDims;
  }
  const y = initialEmbedding(opts.init ?? 'pca', data !== x, data, n, dim, p.seed, opts.source);
  const tPca = (performance.now() - t0) / 1000;

  // 2. affinities
  t0 = performance.now();
  let sparse: SparseP | undefined;
  let dense: Float64Array | undefined;
  if (p.method === 'barnes-hut') {
    const k = Math.min(n - 1, Math.floor(3 * p.perplexity + 1));
    const nb = exactKnn(data, n, dim, k, opts.onProgress);
    sparse = sparseAffinities(nb, n, p.perplexity);
  } else {
    dense = denseAffinities(data, n, dim, p.perplexity);
  }
  const tAff = (performance.now() - t0) / 1000;

  // 3. optimisation
  t0 = performance.now();
  const objective = sparse ? bhObjective(sparse, n, p.theta) : exactObjective(dense!, n);
  const res = optimise(y, objective, p, opts.onProgress);
  const tOpt = (performance.now() - t0) / 1000;
  return {
    embedding: Float32Array.from(y),
    kl: res.error,
    iterations: res.it + 1,
    seconds: { pca: tPca, affinities: tAff, optimise: tOpt },
  };
}

/**
 * The start embedding (n × 2, interleaved): a given one, 'random' (normal, sd 1e-4), or 'pca':
 * the first two principal components of `data` (n × dim; when `reduced`, data already holds
 * the principal components, so its first two columns are used), scaled so that column 0 has
 * standard deviation 1e-4.
 */
function initialEmbedding(
  init: 'pca' | 'random' | Float32Array,
  reduced: boolean,
  data: Float32Array,
  n: number,
  dim: number,
  seed: number,
  source: string | undefined,
): Float64Array {
  const y = new Float64Array(2 * n);
  if (init instanceof Float32Array) {
    y.set(init);
  } else if (init === 'random') {
    const rng = new Rng(seed);
    for (let i = 0; i < 2 * n; i++) y[i] = 1e-4 * rng.normal();
  } else {
    // first two principal components (of the reduced data: the same axes), sd of column 0 → 1e-4
    const pc = reduced ? null : pca(data, n, dim, Math.min(2, dim), { seed, source });
    const cols = pc ? Math.min(2, dim) : dim;
    const src = pc ?? data;
    for (let i = 0; i < n; i++) {
      y[2 * i] = src[i * cols];
      y[2 * i + 1] = cols > 1 ? src[i * cols + 1] : 0;
    }
    let mean = 0,
      sq = 0;
    for (let i = 0; i < n; i++) mean += y[2 * i];
    mean /= n;
    for (let i = 0; i < n; i++) sq += (y[2 * i] - mean) ** 2;
    const sd = Math.sqrt(sq / n);
    const s = sd > 0 ? 1e-4 / sd : 1;
    for (let i = 0; i < 2 * n; i++) y[i] *= s;
  }
  return y;
}

/** Both phases of gradient descent on y (exaggerated, then plain); returns the last error and iteration. */
function optimise(
  y: Float64Array,
  objective: Objective,
  p: TsneParams,
  onProgress: ProgressListener | undefined,
): { error: number; it: number } {
  const grad = new Float64Array(y.length);
  const progress = new ProgressTracker('t-SNE', p.iterations, onProgress, 'iterations');
  const phase1 = Math.min(p.exaggerationIters, p.iterations);
  let res = { error: NaN, it: -1 };
  if (phase1 > 0)
    res = descend(y, grad, objective, 0, phase1, 0.5, p.learningRate, p.exaggeration, p.exaggerationIters, progress);
  if (p.iterations > phase1)
    res = descend(y, grad, objective, res.it + 1, p.iterations, 0.8, p.learningRate, 1, 300, progress);
  progress.finish();
  return res;
}

/** grad ← ∂KL/∂y at y with P scaled by `exaggeration`; returns KL when `withError`, else NaN. */
type Objective = (y: Float64Array, grad: Float64Array, exaggeration: number, withError: boolean) => number;

/** scikit-learn's _gradient_descent (fresh update and gains per phase); returns the last error and iteration. */
function descend(
  y: Float64Array,
  grad: Float64Array,
  objective: Objective,
  it0: number,
  itEnd: number,
  momentum: number,
  learningRate: number,
  exaggeration: number,
  withoutProgress: number,
  progress: ProgressTracker,
): { error: number; it: number } {
  const len = y.length;
  const update = new Float64Array(len);
  const gains = new Float64Array(len).fill(1);
  let error = Number.MAX_VALUE,
    bestError = Number.MAX_VALUE,
    bestIter = it0;
  let i = it0;
  for (; i < itEnd; i++) {
    const check = (i + 1) % 50 === 0;
    error = objective(y, grad, exaggeration, check || i === itEnd - 1);
    let gn = 0;
    for (let t = 0; t < len; t++) {
      const g = grad[t];
      let gain = gains[t];
      gain = update[t] * g < 0 ? gain + 0.2 : gain * 0.8;
      if (gain < 0.01) gain = 0.01;
      gains[t] = gain;
      const gg = g * gain;
      gn += gg * gg;
      const u = momentum * update[t] - learningRate * gg;
      update[t] = u;
      y[t] += u;
    }
    progress.add(1);
    if (check) {
      if (error < bestError) {
        bestError = error;
        bestIter = i;
      } else if (i - bestIter > withoutProgress) break;
      if (Math.sqrt(gn) <= 1e-7) break;
    }
  }
  return { error, it: Math.min(i, itEnd - 1) };
}

/**
 * Barnes–Hut objective over sparse symmetric P. The attractive forces use each pair once (the
 * upper triangle of P) and apply it to both points.
 */
function bhObjective(P: SparseP, n: number, theta: number): Objective {
  const bh = new BarnesHut(n);
  const rep = new Float64Array(2 * n);
  const attr = new Float64Array(2 * n);
  let un = 0;
  for (let i = 0; i < n; i++) for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) if (P.cols[e] > i) un++;
  const rowPtr = new Int32Array(n + 1),
    cols = new Int32Array(un),
    vals = new Float64Array(un);
  for (let i = 0, q = 0; i < n; i++) {
    for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++)
      if (P.cols[e] > i) {
        cols[q] = P.cols[e];
        vals[q++] = P.vals[e];
      }
    rowPtr[i + 1] = q;
  }
  return (y, grad, exaggeration, withError) => {
    const Z = bh.repulsion(y, theta, rep);
    const invZ = 1 / Z;
    attr.fill(0);
    let kl = 0;
    for (let i = 0; i < n; i++) {
      const yi0 = y[2 * i],
        yi1 = y[2 * i + 1];
      let ax = 0,
        ay = 0;
      for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
        const j = cols[e];
        const dx = yi0 - y[2 * j],
          dy = yi1 - y[2 * j + 1];
        const w = 1 / (1 + dx * dx + dy * dy);
        const p = vals[e] * exaggeration;
        const fx = p * w * dx,
          fy = p * w * dy;
        ax += fx;
        ay += fy;
        attr[2 * j] -= fx;
        attr[2 * j + 1] -= fy;
        // KL(P‖Q) = Σ p log(p / q), q = w / Z (float32-tiny floors as scikit-learn); each pair twice
        if (withError) kl += 2 * p * Math.log(Math.max(p, FLOAT32_TINY) / Math.max(w * invZ, FLOAT32_TINY));
      }
      attr[2 * i] += ax;
      attr[2 * i + 1] += ay;
    }
    for (let t = 0; t < 2 * n; t++) grad[t] = 4 * (attr[t] - rep[t] * invZ);
    return withError ? kl : NaN;
  };
}

/** Exact objective over dense P (two O(n²) passes: Z, then forces). */
function exactObjective(P: Float64Array, n: number): Objective {
  return (y, grad, exaggeration, withError) => {
    let Z = 0;
    for (let i = 0; i < n; i++) {
      const yi0 = y[2 * i],
        yi1 = y[2 * i + 1];
      for (let j = i + 1; j < n; j++) {
        const dx = yi0 - y[2 * j],
          dy = yi1 - y[2 * j + 1];
        Z += 2 / (1 + dx * dx + dy * dy);
      }
    }
    const invZ = 1 / Z;
    let kl = 0;
    for (let i = 0; i < n; i++) {
      const yi0 = y[2 * i],
        yi1 = y[2 * i + 1];
      let gx = 0,
        gy = 0;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const dx = yi0 - y[2 * j],
          dy = yi1 - y[2 * j + 1];
        const w = 1 / (1 + dx * dx + dy * dy);
        const p = P[i * n + j] * exaggeration;
        const m = (p - w * invZ) * w;
        gx += m * dx;
        gy += m * dy;
        if (withError && p > 0) kl += p * Math.log(p / Math.max(w * invZ, Number.EPSILON));
      }
      grad[2 * i] = 4 * gx;
      grad[2 * i + 1] = 4 * gy;
    }
    return withError ? kl : NaN;
  };
}
