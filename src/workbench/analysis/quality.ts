/**
 * How good a 2-D map is: KL(P‖Q) with the exact normalisation Z, trustworthiness
 * (scikit-learn's definition) and k-NN recall of the map against the input space. For checks
 * and benchmarks on up to a few ten thousand points (the distance scans are O(n²)).
 */
import { CbirError } from '../errors.js';
import { denseAffinities, exactKnn, sparseAffinities, type SparseP } from './affinities.js';
import { checkMatrix } from './validate.js';

/**
 * Joint input affinities P of t-SNE for the rows of x: `exact: false` (default) the sparse
 * k = ⌊3·perplexity + 1⌋ nearest-neighbour P of the Barnes–Hut method, `exact: true` the
 * all-pairs P of the exact method (O(n²) memory). Returned as CSR either way.
 */
export function jointProbabilities(
  x: Float32Array,
  n: number,
  d: number,
  perplexity = 30,
  opts: { exact?: boolean } = {},
): SparseP {
  checkMatrix(x, n, d, undefined, 'affinities input');
  if (!(perplexity > 0) || perplexity >= n)
    throw new CbirError(`perplexity ${perplexity} must be > 0 and below n = ${n}`, {
      hint: 'use a smaller perplexity',
      code: 'tsne/bad-parameter',
    });
  if (!opts.exact)
    return sparseAffinities(exactKnn(x, n, d, Math.min(n - 1, Math.floor(3 * perplexity + 1))), n, perplexity);
  return denseToCsr(denseAffinities(x, n, d, perplexity), n);
}

/** The non-zero entries of a dense n × n matrix as CSR. */
export function denseToCsr(P: Float64Array, n: number): SparseP {
  let nnz = 0;
  for (let q = 0; q < n * n; q++) if (P[q] !== 0) nnz++;
  const rowPtr = new Int32Array(n + 1),
    cols = new Int32Array(nnz),
    vals = new Float64Array(nnz);
  let e = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = P[i * n + j];
      if (v !== 0) {
        cols[e] = j;
        vals[e++] = v;
      }
    }
    rowPtr[i + 1] = e;
  }
  return { n, rowPtr, cols, vals };
}

/**
 * KL(P‖Q) = Σ_ij p_ij log(p_ij / q_ij), q_ij = w_ij / Z, w_ij = 1 / (1 + |y_i − y_j|²),
 * Z = Σ_{i≠j} w_ij computed exactly (O(n²)); sums over the stored (non-zero) p_ij.
 */
export function klDivergence(P: SparseP, embedding: Float32Array): number {
  const n = P.n;
  checkMatrix(embedding, n, 2, undefined, 'embedding');
  const y = Float64Array.from(embedding);
  let Z = 0;
  for (let i = 0; i < n; i++) {
    const a = y[2 * i],
      b = y[2 * i + 1];
    let z = 0;
    for (let j = i + 1; j < n; j++) {
      const dx = a - y[2 * j],
        dy = b - y[2 * j + 1];
      z += 1 / (1 + dx * dx + dy * dy);
    }
    Z += 2 * z;
  }
  const logZ = Math.log(Z);
  let kl = 0;
  for (let i = 0; i < n; i++) {
    for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) {
      const p = P.vals[e];
      if (p <= 0) continue;
      const j = P.cols[e];
      const dx = y[2 * i] - y[2 * j],
        dy = y[2 * i + 1] - y[2 * j + 1];
      // log q = −log(1 + d²) − log Z
      kl += p * (Math.log(p) + Math.log1p(dx * dx + dy * dy) + logZ);
    }
  }
  return kl;
}

/**
 * Trustworthiness of the map (scikit-learn's sklearn.manifold.trustworthiness):
 * T(k) = 1 − 2 / (n k (2n − 3k − 1)) · Σ_i Σ_{j ∈ U_i(k)} (r(i, j) − k), where U_i(k) are the
 * k nearest map neighbours of i and r(i, j) is j's 1-based rank among i's input neighbours.
 */
export function trustworthiness(x: Float32Array, n: number, d: number, embedding: Float32Array, k = 10): number {
  checkMatrix(x, n, d, undefined, 'trustworthiness input');
  checkMatrix(embedding, n, 2, undefined, 'embedding');
  if (!Number.isInteger(k) || k < 1 || k >= n / 2)
    throw new CbirError(`trustworthiness: k = ${k} must be an integer in [1, n/2) (n = ${n})`, {
      hint: 'use a smaller k',
      code: 'tsne/bad-parameter',
    });
  const mapNb = exactKnn(embedding, n, 2, k);
  const row = new Float64Array(n);
  let t = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) {
        const v = x[i * d + c] - x[j * d + c];
        s += v * v;
      }
      row[j] = s;
    }
    for (let a = 0; a < k; a++) {
      const j = mapNb.indices[i * k + a];
      const dj = row[j];
      // rank = 1 + number of other points strictly closer (ties: lower index first)
      let rank = 1;
      for (let l = 0; l < n; l++) if (l !== i && l !== j && (row[l] < dj || (row[l] === dj && l < j))) rank++;
      if (rank > k) t += rank - k;
    }
  }
  return 1 - t * (2 / (n * k * (2 * n - 3 * k - 1)));
}

/** Mean over points of |kNN_input(i) ∩ kNN_map(i)| / k (exact neighbours, squared Euclidean). */
export function knnRecall(x: Float32Array, n: number, d: number, embedding: Float32Array, k = 10): number {
  checkMatrix(x, n, d, undefined, 'kNN-recall input');
  checkMatrix(embedding, n, 2, undefined, 'embedding');
  if (!Number.isInteger(k) || k < 1 || k > n - 1)
    throw new CbirError(`knnRecall: k = ${k} must be an integer in [1, n − 1]`, {
      hint: 'use a smaller k',
      code: 'tsne/bad-parameter',
    });
  const a = exactKnn(x, n, d, k),
    b = exactKnn(embedding, n, 2, k);
  const mark = new Int32Array(n).fill(-1);
  let hits = 0;
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) mark[a.indices[i * k + t]] = i;
    for (let t = 0; t < k; t++) if (mark[b.indices[i * k + t]] === i) hits++;
  }
  return hits / (n * k);
}
