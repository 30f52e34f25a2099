/**
 * What the two linear probes (linearProbe.ts: the study's AdamW protocol; logisticProbe.ts: L2
 * logistic regression by L-BFGS) share: the split type and its checks, the linear layer's
 * logits, the softmax, the row argmax and the accuracy of a split.
 */
import { checkCodes, checkFinite, checkLength, checkPositiveInt, metricsError, type Codes } from './check.js';

/** Row-major N×D features, float32 (embeddings) or float64. */
export type Features = Float32Array | Float64Array;

/**
 * A split's embeddings and class codes. Without `rows`, x holds the split's N rows (row-major
 * N×D). With `rows`, x is a larger matrix (e.g. the whole store, held once) and split row i is
 * x's row rows[i]; the AdamW probe then gathers only one mini-batch at a time, never the split.
 */
export interface ProbeSplit {
  x: Float32Array;
  labels: Codes;
  /** Rows of x that make up the split (labels[i] is the label of x's row rows[i]). */
  rows?: Int32Array;
}

/** Checks a split's row count, shape, labels and values; returns its number of rows. */
export function checkProbeSplit(name: string, s: ProbeSplit, dim: number, C: number, source?: string): number {
  const N = s.labels.length;
  checkPositiveInt(`number of ${name} rows`, N, source);
  checkCodes(`${name} labels`, s.labels, C, source);
  if (!s.rows) {
    checkLength(`${name} embeddings`, s.x, N * dim, `${N} rows × ${dim} dims`, source);
    checkFinite(`${name} embeddings`, s.x, source);
    return N;
  }
  checkLength(`${name} rows`, s.rows, N, 'one row of the embeddings per label', source);
  const total = rowCount(s.x, dim, `${name} embeddings`);
  for (let i = 0; i < N; i++) {
    const r = s.rows[i];
    if (!(r >= 0 && r < total)) {
      metricsError(
        `${name} rows[${i}] = ${r} is not a row of the ${total}-row embeddings`,
        'metrics/bad-argument',
        'rows must index the embedding matrix passed as x',
        source,
      );
    }
    checkFinite(`${name} embeddings row ${r}`, s.x.subarray(r * dim, r * dim + dim), source);
  }
  return N;
}

/** Copies the embeddings of split rows idx[i] (0-based rows of the split) to out[i×D …]. */
export function gatherRows(s: ProbeSplit, dim: number, idx: Int32Array, out: Float32Array): void {
  const rows = s.rows;
  for (let i = 0; i < idx.length; i++) {
    const r = rows ? rows[idx[i]] : idx[i];
    out.set(s.x.subarray(r * dim, r * dim + dim), i * dim);
  }
}

/** The split as its own N×D matrix (x itself when it has no `rows`; otherwise a copy). */
export function denseSplit(s: ProbeSplit, dim: number): ProbeSplit {
  if (!s.rows) return s;
  const idx = new Int32Array(s.labels.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  const x = new Float32Array(idx.length * dim);
  gatherRows(s, dim, idx, x);
  return { x, labels: s.labels };
}

/** N = x.length / dim, or a metrics/length-mismatch error naming `what` (embeddings, features). */
export function rowCount(x: Features, dim: number, what: string): number {
  const N = x.length / dim;
  if (!Number.isInteger(N)) {
    metricsError(
      `${what} hold ${x.length} values, not a multiple of dim ${dim}`,
      'metrics/length-mismatch',
      `pass row-major N×D ${what}`,
    );
  }
  return N;
}

/** z[zo + c] = b_c + Σ_d W[c, d] x[xo + d] for every class c (4 classes at a time). */
export function linearLogits(
  x: Features,
  xo: number,
  W: Float64Array,
  b: Float64Array,
  D: number,
  C: number,
  z: Float64Array,
  zo = 0,
): void {
  let c = 0;
  for (; c + 3 < C; c += 4) {
    const w0 = c * D,
      w1 = w0 + D,
      w2 = w1 + D,
      w3 = w2 + D;
    let s0 = b[c],
      s1 = b[c + 1],
      s2 = b[c + 2],
      s3 = b[c + 3];
    for (let d = 0; d < D; d++) {
      const v = x[xo + d];
      s0 += v * W[w0 + d];
      s1 += v * W[w1 + d];
      s2 += v * W[w2 + d];
      s3 += v * W[w3 + d];
    }
    z[zo + c] = s0;
    z[zo + c + 1] = s1;
    z[zo + c + 2] = s2;
    z[zo + c + 3] = s3;
  }
  for (; c < C; c++) {
    const w0 = c * D;
    let s = b[c];
    for (let d = 0; d < D; d++) s += x[xo + d] * W[w0 + d];
    z[zo + c] = s;
  }
}

/** In place on z[zo .. zo+C): z ← softmax(z) = exp(z − m) / Σ exp(z − m), m = max z; returns logsumexp(z). */
export function softmaxInPlace(z: Float64Array, C: number, zo = 0): number {
  let m = -Infinity;
  for (let c = 0; c < C; c++) if (z[zo + c] > m) m = z[zo + c];
  let s = 0;
  for (let c = 0; c < C; c++) {
    z[zo + c] = Math.exp(z[zo + c] - m);
    s += z[zo + c];
  }
  for (let c = 0; c < C; c++) z[zo + c] /= s;
  return m + Math.log(s);
}

/** argmax_c z[zo + c] over C classes (ties → lowest class). */
export function argmaxRow(z: Features, zo: number, C: number): number {
  let best = 0;
  for (let c = 1; c < C; c++) if (z[zo + c] > z[zo + best]) best = c;
  return best;
}

/** Number of distinct row argmaxes (ties → lowest class) of a row-major N×C score matrix. */
export function distinctArgmax(scores: Features, nClasses: number): number {
  const seen = new Uint8Array(nClasses);
  let n = 0;
  for (let i = 0; i < scores.length; i += nClasses) {
    const best = argmaxRow(scores, i, nClasses);
    if (!seen[best]) {
      seen[best] = 1;
      n++;
    }
  }
  return n;
}

/** accuracy = |{i : pred_i = y_i}| / N. */
export function splitAccuracy(pred: ArrayLike<number>, labels: Codes): number {
  let hit = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) hit++;
  return hit / pred.length;
}
