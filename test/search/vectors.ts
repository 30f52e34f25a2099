/** Seeded synthetic embeddings for the index and k-NN tests. */
import { Rng } from '../../src/workbench/util/rng.js';

/** L2-normalise each row of a row-major matrix in place. */
export function normalizeRows(x: Float32Array, dim: number): Float32Array {
  for (let o = 0; o < x.length; o += dim) {
    let s = 0;
    for (let c = 0; c < dim; c++) s += x[o + c] * x[o + c];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let c = 0; c < dim; c++) x[o + c] *= inv;
  }
  return x;
}

/** n unit vectors with Gaussian components. */
export function randomUnit(n: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * dim);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return normalizeRows(x, dim);
}

/**
 * n unit vectors around `clusters` random centres (noise `spread` per component relative to a
 * unit centre); `label[i]` is the cluster of row i.
 */
export function clustered(
  n: number,
  dim: number,
  clusters: number,
  spread: number,
  seed: number,
): { x: Float32Array; label: Int32Array; centres: Float32Array } {
  const rng = new Rng(seed);
  const centres = randomUnit(clusters, dim, seed + 1000);
  const x = new Float32Array(n * dim);
  const label = new Int32Array(n);
  const s = spread / Math.sqrt(dim);
  for (let i = 0; i < n; i++) {
    const c = rng.int(clusters);
    label[i] = c;
    for (let j = 0; j < dim; j++) x[i * dim + j] = centres[c * dim + j] + s * rng.normal();
  }
  return { x: normalizeRows(x, dim), label, centres };
}

/** Max |a − b| over two float arrays. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * Two top-k results agree: same k, similarities within `tol`, and every id that differs sits at
 * a near-tie (its similarity within `tol` of the other result's similarity at that rank).
 * Returns the number of differing ids (near-tie swaps).
 */
export function compareTopK(
  a: { ids: Int32Array; sims: Float32Array; k: number },
  b: { ids: Int32Array; sims: Float32Array; k: number },
  tol: number,
): { swaps: number; problems: string[] } {
  const problems: string[] = [];
  let swaps = 0;
  if (a.k !== b.k) problems.push(`k ${a.k} vs ${b.k}`);
  if (a.ids.length !== b.ids.length) problems.push(`length ${a.ids.length} vs ${b.ids.length}`);
  for (let i = 0; i < a.ids.length && problems.length < 5; i++) {
    if (Math.abs(a.sims[i] - b.sims[i]) > tol) problems.push(`slot ${i}: sim ${a.sims[i]} vs ${b.sims[i]}`);
    if (a.ids[i] !== b.ids[i]) {
      swaps++;
      const q = Math.floor(i / a.k);
      // the other id must have (nearly) the same similarity in a: it is a near-tie, not an error
      let found = false;
      for (let j = q * a.k; j < (q + 1) * a.k; j++)
        if (a.ids[j] === b.ids[i] && Math.abs(a.sims[j] - b.sims[i]) <= tol) found = true;
      const atBoundary = Math.abs(a.sims[(q + 1) * a.k - 1] - b.sims[i]) <= tol;
      if (!found && !atBoundary)
        problems.push(`slot ${i}: id ${a.ids[i]} vs ${b.ids[i]} (sims ${a.sims[i]}, ${b.sims[i]}) is not a near-tie`);
    }
  }
  return { swaps, problems };
}

/** Every row is ordered by (similarity desc, id asc); returns the first violation or ''. */
export function orderViolation(r: { ids: Int32Array; sims: Float32Array; k: number; queries: number }): string {
  for (let q = 0; q < r.queries; q++) {
    for (let j = q * r.k + 1; j < (q + 1) * r.k; j++) {
      if (r.ids[j] < 0) continue;
      const ok = r.sims[j - 1] > r.sims[j] || (r.sims[j - 1] === r.sims[j] && r.ids[j - 1] < r.ids[j]);
      if (!ok)
        return `query ${q} rank ${j - q * r.k}: (${r.sims[j - 1]}, ${r.ids[j - 1]}) before (${r.sims[j]}, ${r.ids[j]})`;
    }
  }
  return '';
}
