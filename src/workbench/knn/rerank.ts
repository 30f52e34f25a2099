/**
 * Re-ranking and query expansion on frozen embeddings, after the first search (beyond the study):
 *
 *   αQE  (average query expansion, Radenović et al. 2018): q' = norm(x_q + Σ_{j ≤ n} max(s_j, 0)^α · x_{n_j})
 *   DBA  (database-side augmentation): x_i' = norm(Σ_{j ≤ n} max(s_ij, 0)^α · x_{n_ij}), the index
 *        row's own top n in the index (itself first)
 *   k-reciprocal re-ranking (Zhong et al. 2017) of each query's shortlist:
 *        d*(q, g) = (1 − λ) · d_J(q, g) + λ · d(q, g), d = 2 − 2s, d_J the Jaccard distance of the
 *        k-reciprocal neighbour sets, weighted by exp(−d)
 *
 * Each returns a new k-NN table in the layout of `KnnTable` (manifest row ids). Vectors are held
 * once: αQE keeps only the expanded queries (queries × dim); DBA one augmented copy of the index
 * rows (index × dim), which this option needs.
 */
import { CbirError } from '../errors.js';
import { buildIndex, type IndexParams } from '../search/index.js';
import type { KnnTable } from './table.js';

export interface ExpansionOptions {
  /** Neighbours that expand a vector (αQE / DBA), ≥ 1. */
  n: number;
  /** Weight exponent α ≥ 0 (0 = plain average). */
  alpha: number;
}

function checkExpansion(opts: ExpansionOptions, k: number, what: string): void {
  if (!Number.isInteger(opts.n) || opts.n < 1 || opts.n > k || !(opts.alpha >= 0)) {
    throw new CbirError(`${what}: n = ${opts.n}, α = ${opts.alpha} (the k-NN table holds ${k} neighbours)`, {
      hint: `choose a whole n in 1..${k} and α ≥ 0`,
      code: 'knn/bad-parameter',
    });
  }
}

/** out = norm(self·x_self + Σ_{j<n} max(s_j, 0)^α · x_{ids_j}); a zero sum keeps the vector unchanged. */
function expand(
  embeddings: Float32Array,
  dim: number,
  self: number,
  selfWeight: number,
  ids: Int32Array,
  sims: Float32Array,
  opts: ExpansionOptions,
  out: Float32Array,
): void {
  out.fill(0);
  if (selfWeight > 0) for (let d = 0; d < dim; d++) out[d] = selfWeight * embeddings[self * dim + d];
  for (let j = 0; j < opts.n; j++) {
    const id = ids[j];
    if (id < 0) break;
    const w = Math.max(sims[j], 0) ** opts.alpha;
    const o = id * dim;
    for (let d = 0; d < dim; d++) out[d] += w * embeddings[o + d];
  }
  let ss = 0;
  for (let d = 0; d < dim; d++) ss += out[d] * out[d];
  if (ss === 0) out.set(embeddings.subarray(self * dim, (self + 1) * dim));
  else for (let d = 0, inv = 1 / Math.sqrt(ss); d < dim; d++) out[d] *= inv;
}

/** Top-k of `queries` (queries × dim) against the rows `indexRows` of `vectors` (ids = manifest rows). */
async function searchRows(
  vectors: Float32Array,
  dim: number,
  rows: Int32Array,
  ids: Int32Array,
  queries: Float32Array,
  k: number,
  params: IndexParams,
) {
  const index = await buildIndex(vectors, dim, params, { rows, ids });
  try {
    return await index.search(queries, k);
  } finally {
    await index.close();
  }
}

function withResult(table: KnnTable, ids: Int32Array, sims: Float32Array, k: number, method: string): KnnTable {
  return { ...table, k, ids, sims, meta: { ...table.meta, k, index: { ...table.meta.index, rerank: method } } };
}

/** αQE: expand each query with its top n from `table`, then search the same index again. */
export async function queryExpansion(
  embeddings: Float32Array,
  dim: number,
  table: KnnTable,
  opts: ExpansionOptions,
  params: IndexParams = { kind: 'exact' },
): Promise<KnnTable> {
  const queries = expandQueries(embeddings, dim, table, opts);
  const r = await searchRows(embeddings, dim, table.indexRows, table.indexRows, queries, table.k, params);
  return withResult(table, r.ids, r.sims, r.k, `aqe(n=${opts.n},alpha=${opts.alpha})`);
}

/**
 * DBA: replace every index row by its expansion over its own top n in the index (`indexTable`:
 * the index rows queried against the index, self included), then search the original queries.
 */
export async function databaseAugmentation(
  embeddings: Float32Array,
  dim: number,
  table: KnnTable,
  indexTable: KnnTable,
  opts: ExpansionOptions,
  params: IndexParams = { kind: 'exact' },
): Promise<KnnTable> {
  const nIndex = table.indexRows.length;
  const augmented = augmentDatabase(embeddings, dim, table.indexRows, indexTable, opts);
  const queries = new Float32Array(table.queryRows.length * dim);
  table.queryRows.forEach((r, q) => queries.set(embeddings.subarray(r * dim, (r + 1) * dim), q * dim));
  const local = Int32Array.from({ length: nIndex }, (_, i) => i);
  const r = await searchRows(augmented, dim, local, table.indexRows, queries, table.k, params);
  return withResult(table, r.ids, r.sims, r.k, `dba(n=${opts.n},alpha=${opts.alpha})`);
}

/** Row of `indexTable` for each of `indexRows` (the index-vs-index table must cover every index row). */
function indexPositions(indexTable: KnnTable, indexRows: Int32Array): Int32Array {
  const at = new Map<number, number>();
  indexTable.queryRows.forEach((r, t) => at.set(r, t));
  return Int32Array.from(indexRows, (r) => {
    const t = at.get(r);
    if (t === undefined) {
      throw new CbirError(`index row ${r} has no row in the index-vs-index k-NN table`, {
        hint: 'compute the index-vs-index table with every index row as a query',
        code: 'knn/bad-parameter',
      });
    }
    return t;
  });
}

export interface KReciprocalOptions {
  /** Neighbourhood size k1 (paper: 20). */
  k1: number;
  /** Local query expansion size k2 (paper: 6; 1 = none). */
  k2: number;
  /** Weight λ of the original distance (paper: 0.3). */
  lambda: number;
}

/** A sparse weight vector over index rows: ids ascending, weights exp(−d). */
interface Sparse {
  ids: Int32Array;
  w: Float32Array;
}

/** Jaccard distance 1 − Σ min / Σ max of two sparse vectors. */
function jaccardDistance(a: Sparse, b: Sparse): number {
  let i = 0;
  let j = 0;
  let mn = 0;
  let mx = 0;
  while (i < a.ids.length || j < b.ids.length) {
    if (j >= b.ids.length || (i < a.ids.length && a.ids[i] < b.ids[j])) mx += a.w[i++];
    else if (i >= a.ids.length || b.ids[j] < a.ids[i]) mx += b.w[j++];
    else {
      mn += Math.min(a.w[i], b.w[j]);
      mx += Math.max(a.w[i++], b.w[j++]);
    }
  }
  return mx > 0 ? 1 - mn / mx : 1;
}

function sparse(entries: Map<number, number>): Sparse {
  const ids = Int32Array.from(entries.keys()).sort();
  return { ids, w: Float32Array.from(ids, (id) => entries.get(id)!) };
}

/** Mean of sparse vectors (local query expansion). */
function meanSparse(list: Sparse[]): Sparse {
  const m = new Map<number, number>();
  for (const v of list) v.ids.forEach((id, t) => m.set(id, (m.get(id) ?? 0) + v.w[t] / list.length));
  return sparse(m);
}

/**
 * The k-reciprocal neighbourhoods of the index rows, from the index-vs-index table (self first).
 * h is a k-reciprocal neighbour of g when each is among the other's top k.
 */
class IndexNeighbourhoods {
  private readonly pos = new Map<number, number>();
  private readonly cache = new Map<number, Sparse>();
  constructor(
    readonly t: KnnTable,
    readonly opts: KReciprocalOptions,
  ) {
    t.queryRows.forEach((r, i) => this.pos.set(r, i));
  }
  top(g: number, k: number): Int32Array {
    const i = this.pos.get(g)!;
    return this.t.ids.subarray(i * this.t.k, i * this.t.k + Math.min(k, this.t.k));
  }
  /** s of g's k-th neighbour (self included): the bar a query must clear to be in g's top k. */
  bar(g: number, k: number): number {
    const i = this.pos.get(g)!;
    return this.t.sims[i * this.t.k + Math.min(k, this.t.k) - 1];
  }
  reciprocal(g: number, k: number): number[] {
    return Array.from(this.top(g, k)).filter((h) => h >= 0 && this.top(h, k).includes(g));
  }
  /** V_g: exp(−d) over g's expanded k-reciprocal set. */
  vector(g: number): Sparse {
    let v = this.cache.get(g);
    if (v) return v;
    const i = this.pos.get(g)!;
    const sim = new Map<number, number>();
    for (let j = 0; j < this.t.k; j++) sim.set(this.t.ids[i * this.t.k + j], this.t.sims[i * this.t.k + j]);
    const set = expandSet(this.reciprocal(g, this.opts.k1), (h) => this.reciprocal(h, Math.round(this.opts.k1 / 2)));
    v = sparse(new Map(set.filter((h) => sim.has(h)).map((h) => [h, Math.exp(-(2 - 2 * sim.get(h)!))])));
    this.cache.set(g, v);
    return v;
  }
}

/** R* = R ∪ R(h, k1/2) for every h ∈ R whose half-neighbourhood overlaps R by ≥ 2/3. */
function expandSet(R: number[], half: (h: number) => number[]): number[] {
  const set = new Set(R);
  for (const h of R) {
    const Rh = half(h);
    const overlap = Rh.filter((x) => R.includes(x)).length;
    if (Rh.length > 0 && overlap >= (2 / 3) * Rh.length) for (const x of Rh) set.add(x);
  }
  return [...set];
}

/**
 * k-reciprocal re-ranking of each query's shortlist (its row of `table`). `indexTable` holds the
 * index rows queried against the index (self first), with at least k1 neighbours. The query is
 * taken to be in g's top k when its similarity clears g's k-th neighbour's.
 */
export function kReciprocalRerank(table: KnnTable, indexTable: KnnTable, opts: KReciprocalOptions): KnnTable {
  const { k1, k2, lambda } = opts;
  if (!(k1 >= 1 && k2 >= 1 && k1 <= indexTable.k && k2 <= k1 && lambda >= 0 && lambda <= 1)) {
    throw new CbirError(`k-reciprocal: k1 = ${k1}, k2 = ${k2}, λ = ${lambda}`, {
      hint: `choose 1 ≤ k2 ≤ k1 ≤ ${indexTable.k} (the index table's k) and 0 ≤ λ ≤ 1`,
      code: 'knn/bad-parameter',
    });
  }
  const hoods = new IndexNeighbourhoods(indexTable, opts);
  const K = table.k;
  const ids = new Int32Array(table.ids.length);
  const sims = new Float32Array(table.sims.length);
  for (let q = 0; q < table.queryRows.length; q++) {
    const row = table.ids.subarray(q * K, (q + 1) * K);
    const sim = table.sims.subarray(q * K, (q + 1) * K);
    const order = rerankQuery(row, sim, hoods, opts);
    order.forEach((t, j) => ((ids[q * K + j] = row[t]), (sims[q * K + j] = sim[t])));
  }
  return withResult(table, ids, sims, K, `k-reciprocal(k1=${k1},k2=${k2},lambda=${lambda})`);
}

/** New order (positions into the shortlist) for one query. */
function rerankQuery(
  row: Int32Array,
  sim: Float32Array,
  hoods: IndexNeighbourhoods,
  opts: KReciprocalOptions,
): number[] {
  const valid = Array.from(row.keys()).filter((t) => row[t] >= 0);
  const sOf = new Map(valid.map((t) => [row[t], sim[t]]));
  const inTop = (g: number, k: number) => (sOf.get(g) ?? -Infinity) >= hoods.bar(g, k);
  const topK1 = valid.slice(0, opts.k1).map((t) => row[t]);
  const R = topK1.filter((g) => inTop(g, opts.k1));
  const half = Math.round(opts.k1 / 2);
  const Rstar = expandSet(R, (h) => hoods.reciprocal(h, half));
  let vq = sparse(new Map(Rstar.filter((g) => sOf.has(g)).map((g) => [g, Math.exp(-(2 - 2 * sOf.get(g)!))])));
  if (opts.k2 > 1) vq = meanSparse([vq, ...topK1.slice(0, opts.k2 - 1).map((g) => hoods.vector(g))]);
  const dist = new Float64Array(row.length).fill(Infinity);
  for (const t of valid) {
    const dJ = jaccardDistance(vq, hoods.vector(row[t]));
    dist[t] = (1 - opts.lambda) * dJ + opts.lambda * (2 - 2 * sim[t]);
  }
  return Array.from(row.keys()).sort((a, b) => dist[a] - dist[b] || a - b);
}

/**
 * αQE's expanded queries alone (what `queryExpansion` searches with): row q =
 * norm(x_q + Σ_{j ≤ n} max(s_j, 0)^α · x_{n_j}) over `table`'s row q. For a search that asks an
 * index of its own again (a saved index, with its filters).
 */
export function expandQueries(
  embeddings: Float32Array,
  dim: number,
  table: Pick<KnnTable, 'k' | 'queryRows' | 'ids' | 'sims'>,
  opts: ExpansionOptions,
): Float32Array {
  checkExpansion(opts, table.k, 'query expansion');
  const nq = table.queryRows.length;
  const queries = new Float32Array(nq * dim);
  for (let q = 0; q < nq; q++) {
    const row = table.ids.subarray(q * table.k, (q + 1) * table.k);
    const sim = table.sims.subarray(q * table.k, (q + 1) * table.k);
    expand(embeddings, dim, table.queryRows[q], 1, row, sim, opts, queries.subarray(q * dim, (q + 1) * dim));
  }
  return queries;
}

/**
 * DBA's augmented index vectors alone (what `databaseAugmentation` searches): row i =
 * norm(Σ_{j ≤ n} max(s_ij, 0)^α · x_{n_ij}) over the row of `indexTable` whose query is indexRows[i].
 */
export function augmentDatabase(
  embeddings: Float32Array,
  dim: number,
  indexRows: Int32Array,
  indexTable: KnnTable,
  opts: ExpansionOptions,
): Float32Array {
  checkExpansion(opts, indexTable.k, 'database-side augmentation');
  const position = indexPositions(indexTable, indexRows);
  const augmented = new Float32Array(indexRows.length * dim);
  for (let i = 0; i < indexRows.length; i++) {
    const t = position[i];
    const row = indexTable.ids.subarray(t * indexTable.k, (t + 1) * indexTable.k);
    const sim = indexTable.sims.subarray(t * indexTable.k, (t + 1) * indexTable.k);
    expand(embeddings, dim, indexRows[i], 0, row, sim, opts, augmented.subarray(i * dim, (i + 1) * dim));
  }
  return augmented;
}
