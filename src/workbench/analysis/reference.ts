/**
 * The small-n reference: the npm package tsne-js (exact O(n²) t-SNE, 1.0.3), wrapped so it takes
 * and returns typed arrays and is seeded. Slow (about 94 s for 1,000 points); for checks only.
 *
 * What tsne-js does differently from scikit-learn (and from `tsne`): its input affinities use
 * exp(−β·|x_i − x_j|) of the plain (not squared) Euclidean distance; early exaggeration
 * (default 4) lasts 100 iterations (momentum 0.5 for 50, then 0.8); gains +0.05 / ×0.95; it
 * stops early when the error changes by less than 1e-6 or has not improved for 30 iterations.
 * Its start is drawn with Math.random; this wrapper replaces it by a seeded normal(0, 1e-4²)
 * start before running, so results repeat.
 */
import { createRequire } from 'node:module';
import { Rng } from '../util/rng.js';
import type { SparseP } from './affinities.js';
import { denseToCsr } from './quality.js';
import { checkMatrix } from './validate.js';
import { CbirError } from '../errors.js';

const require = createRequire(import.meta.url);

interface NdArray {
  data: Float64Array;
  shape: number[];
  stride: number[];
  offset: number;
  get(i: number, j: number): number;
}
interface TsneJsModel {
  outputEmbedding: NdArray;
  P: NdArray;
  init(opts: { data: number[][]; type: 'dense' }): void;
  run(): [number, number];
}
type TsneJsCtor = new (config: {
  dim: number;
  perplexity: number;
  earlyExaggeration: number;
  learningRate: number;
  nIter: number;
  metric: string;
}) => TsneJsModel;

/** Options of `tsneReference` (defaults: tsne-js's README example). */
export interface ReferenceOptions {
  perplexity?: number;
  /** Iteration budget (tsne-js may stop earlier; default 1000). */
  iterations?: number;
  /** Default 4 (tsne-js's default). */
  earlyExaggeration?: number;
  /** Default 100 (tsne-js's README; its built-in default is 1000). */
  learningRate?: number;
  seed?: number;
}

/** Result of the reference run; `P` is tsne-js's own joint P (as CSR) that `kl` refers to. */
export interface ReferenceResult {
  embedding: Float32Array;
  kl: number;
  iterations: number;
  P: SparseP;
}

/** Run tsne-js on the rows of x (n × d) with a seeded start; n ≤ 2000 (it is O(n²) in time and memory). */
export function tsneReference(x: Float32Array, n: number, d: number, opts: ReferenceOptions = {}): ReferenceResult {
  checkMatrix(x, n, d, undefined, 'tsne-js input');
  if (n > 2000)
    throw new CbirError(`tsne-js reference on ${n} points would take many minutes`, {
      hint: 'use at most 2000 points (tsne is the fast path)',
      code: 'tsne/bad-parameter',
    });
  const perplexity = opts.perplexity ?? 30;
  if (!(perplexity > 0) || perplexity >= n)
    throw new CbirError(`perplexity ${perplexity} must be > 0 and below n = ${n}`, {
      hint: 'use a smaller perplexity',
      code: 'tsne/bad-parameter',
    });
  const TSNE = require('tsne-js') as TsneJsCtor;
  const model = new TSNE({
    dim: 2,
    perplexity,
    earlyExaggeration: opts.earlyExaggeration ?? 4,
    learningRate: opts.learningRate ?? 100,
    nIter: opts.iterations ?? 1000,
    metric: 'euclidean',
  });
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push(Array.from(x.subarray(i * d, (i + 1) * d)));
  model.init({ data: rows, type: 'dense' });
  const start = model.outputEmbedding;
  if (start.data.length !== 2 * n || start.stride[0] !== 2 || start.stride[1] !== 1 || start.offset !== 0) {
    throw new Error('tsne-js: unexpected layout of outputEmbedding (package version changed?)');
  }
  const rng = new Rng(opts.seed ?? 0);
  for (let i = 0; i < 2 * n; i++) start.data[i] = 1e-4 * rng.normal();
  const [kl, iter] = model.run();
  const out = model.outputEmbedding;
  const embedding = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    embedding[2 * i] = out.get(i, 0);
    embedding[2 * i + 1] = out.get(i, 1);
  }
  // tsne-js's P (floored at machine epsilon everywhere, diagonal included): keep the off-diagonal part
  const P = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) P[i * n + j] = model.P.get(i, j);
  return { embedding, kl, iterations: iter, P: denseToCsr(P, n) };
}
