/**
 * Re-ranking of an image search over a saved index (`cbir search --rerank`), with the functions
 * of knn/rerank.ts (the ones `cbir report --rerank` scores):
 *
 *   qe           αQE: q' = norm(x_q + Σ_{j ≤ n} max(s_j, 0)^α · x_{n_j}) over the query's top n,
 *                then the saved index is searched again with q' (filters and --exclude-self apply)
 *   kreciprocal  k-reciprocal re-ranking (Zhong et al. 2017) of the query's shortlist (its top
 *                `depth`); the neighbourhoods come from searching the index with its own rows'
 *                vectors, for the shortlist's rows and their neighbours two steps out
 *   dba          DBA: every index row replaced by norm(Σ_{j ≤ n} max(s_ij, 0)^α · x_{n_ij}) over
 *                its own top n; an exact index over the augmented rows is built in memory, so
 *                only indexes of up to DBA_MAX_ROWS rows (larger: `cbir report --rerank`)
 *
 * The vectors of index rows come from the index (exact) or its embedding store (HNSW; vectors.ts).
 */
import { CbirError } from '../errors.js';
import { augmentDatabase, expandQueries, kReciprocalRerank, type KReciprocalOptions } from '../knn/rerank.js';
import type { KnnTable } from '../knn/table.js';
import { ExactIndex } from './exact.js';
import { IndexSearcher, type QueryOptions, type SearchHit, type SearchReranker, type SelfKey } from './query.js';
import { indexRowVectors, type RowVectors } from './vectors.js';

export type { SearchReranker } from './query.js';

/** Index rows DBA augments in memory at most (it searches every row against the index). */
export const DBA_MAX_ROWS = 20_000;

export type SearchRerankOptions =
  | { method: 'qe'; n: number; alpha: number }
  | ({ method: 'kreciprocal'; depth?: number } & KReciprocalOptions)
  | { method: 'dba'; n: number; alpha: number };

export const RERANK_METHODS = ['qe', 'kreciprocal', 'dba'] as const;

function bad(message: string, hint: string): CbirError {
  return new CbirError(message, { hint, code: 'search/bad-rerank' });
}

/** Refuse parameters rerank.ts would refuse, naming the CLI's options. */
function checkOptions(o: SearchRerankOptions, size: number, dbaMaxRows: number): void {
  if (o.method === 'qe' || o.method === 'dba') {
    if (!Number.isInteger(o.n) || o.n < 1 || o.n > size)
      throw bad(
        `${o.method}: n = ${o.n} is not a whole number in 1..${size} (the index size)`,
        'n is how many top hits expand a vector: a whole number, e.g. 5',
      );
    if (!(o.alpha >= 0) || !Number.isFinite(o.alpha))
      throw bad(
        `${o.method}: α = ${o.alpha} must be a number ≥ 0`,
        'α weights each hit by similarity^α: e.g. 3 (0 = plain average)',
      );
    if (o.method === 'dba' && size > dbaMaxRows)
      throw new CbirError(
        `DBA re-builds the index in memory from every row's own neighbours; this index has ${size} rows (at most ${dbaMaxRows} here)`,
        {
          hint: "score DBA on a report's k-NN tables instead, or re-rank this search with query expansion or k-reciprocal re-ranking",
          code: 'search/dba-too-large',
        },
      );
    return;
  }
  if (o.method !== 'kreciprocal')
    throw bad(`unknown re-ranking "${(o as { method: string }).method}"`, `use one of ${RERANK_METHODS.join(', ')}`);
  const { k1, k2, lambda } = o;
  if (!(Number.isInteger(k1) && Number.isInteger(k2) && k1 >= 1 && k2 >= 1 && k2 <= k1 && k1 <= size))
    throw bad(
      `kreciprocal: k1 = ${k1}, k2 = ${k2} (index of ${size} rows)`,
      `choose whole numbers 1 ≤ k2 ≤ k1 ≤ ${size}, e.g. k1 = 20, k2 = 6`,
    );
  if (!(lambda >= 0 && lambda <= 1))
    throw bad(
      `kreciprocal: λ = ${lambda} is outside [0, 1]`,
      'λ weighs the original distance against the Jaccard distance: e.g. 0.3',
    );
}

/** A k-NN table in rerank.ts's layout over local row numbers (meta is informational only). */
function localTable(queryRows: Int32Array, k: number, ids: Int32Array, sims: Float32Array, dim: number): KnnTable {
  const meta: KnnTable['meta'] = {
    format: 'radcbir-knn',
    version: 1,
    key: '',
    embeddingsHash: '',
    manifestHash: null,
    split: null,
    indexSplit: null,
    requestedK: k,
    k,
    dim,
    queries: queryRows.length,
    indexSize: 0,
    index: { kind: 'saved-index' },
    buildSeconds: 0,
    searchSeconds: 0,
    createdAt: '',
  };
  return { k, queryRows, indexRows: new Int32Array(0), ids, sims, meta };
}

/** Hit lists as a table (queries × depth; ids = index positions, −1 / −∞ where none). */
function hitTable(hits: readonly SearchHit[][], depth: number, map: (row: number) => number = (r) => r) {
  const ids = new Int32Array(hits.length * depth).fill(-1);
  const sims = new Float32Array(hits.length * depth).fill(-Infinity);
  hits.forEach((h, q) =>
    h.slice(0, depth).forEach((x, j) => ((ids[q * depth + j] = map(x.row)), (sims[q * depth + j] = x.similarity))),
  );
  return { ids, sims };
}

/** The hits of each query at depth ≥ `want`: the given ones, or a deeper search. */
async function deep(
  searcher: IndexSearcher,
  vectors: Float32Array,
  hits: SearchHit[][],
  want: number,
  selfKeys: (SelfKey | null)[],
  opts: QueryOptions,
): Promise<SearchHit[][]> {
  return want <= (opts.k ?? 10) ? hits : searcher.searchVectors(vectors, { ...opts, k: want }, selfKeys);
}

/** αQE: expand each query with its top n hits, search the index again. */
async function queryExpansionHits(
  searcher: IndexSearcher,
  rows: RowVectors,
  o: { n: number; alpha: number },
  vectors: Float32Array,
  hits: SearchHit[][],
  selfKeys: (SelfKey | null)[],
  opts: QueryOptions,
): Promise<SearchHit[][]> {
  const dim = searcher.saved.info.dim;
  const nq = hits.length;
  const first = await deep(searcher, vectors, hits, o.n, selfKeys, opts);
  const used = [...new Set(first.flatMap((h) => h.slice(0, o.n).map((x) => x.row)))];
  const local = new Map(used.map((r, i) => [r, nq + i]));
  const embeddings = new Float32Array((nq + used.length) * dim);
  embeddings.set(vectors.subarray(0, nq * dim));
  embeddings.set(await rows(Int32Array.from(used)), nq * dim);
  const { ids, sims } = hitTable(first, o.n, (r) => local.get(r)!);
  const queryRows = Int32Array.from({ length: nq }, (_, q) => q);
  const expanded = expandQueries(embeddings, dim, { k: o.n, queryRows, ids, sims }, o);
  return searcher.searchVectors(expanded, opts, selfKeys);
}

/** Neighbours of each index row k-reciprocal re-ranking holds (at least k1), as the report's index-vs-index table. */
export const KRECIPROCAL_INDEX_K = 20;

/**
 * The index rows' own top max(k1, 20) (self first), for `start` and every row two k1-neighbourhood
 * steps out: what k-reciprocal re-ranking reads of the shortlist's rows.
 */
async function neighbourhoods(searcher: IndexSearcher, rows: RowVectors, start: number[], k1: number) {
  const dim = searcher.saved.info.dim;
  const k = Math.min(Math.max(k1, KRECIPROCAL_INDEX_K), searcher.saved.index.size);
  const seen = new Set(start);
  const parts: { rows: number[]; ids: Int32Array; sims: Float32Array }[] = [];
  let frontier = start;
  for (let step = 0; step < 3 && frontier.length > 0; step++) {
    const r = await searcher.saved.index.search(await rows(Int32Array.from(frontier)), k);
    parts.push({ rows: frontier, ids: r.ids, sims: r.sims });
    const next: number[] = [];
    for (let t = 0; t < r.ids.length; t++) {
      const id = r.ids[t];
      if (t % k < k1 && id >= 0 && !seen.has(id)) (seen.add(id), next.push(id));
    }
    frontier = next;
  }
  const all = parts.flatMap((p) => p.rows);
  const ids = new Int32Array(all.length * k);
  const sims = new Float32Array(all.length * k);
  let o = 0;
  for (const p of parts) (ids.set(p.ids, o), sims.set(p.sims, o), (o += p.ids.length));
  return localTable(Int32Array.from(all), k, ids, sims, dim);
}

/** k-reciprocal re-ranking of each query's top `depth` hits; returns them in the new order. */
async function kReciprocalHits(
  searcher: IndexSearcher,
  rows: RowVectors,
  o: KReciprocalOptions & { depth?: number },
  vectors: Float32Array,
  hits: SearchHit[][],
  selfKeys: (SelfKey | null)[],
  opts: QueryOptions,
): Promise<SearchHit[][]> {
  const k = opts.k ?? 10;
  const depth = Math.max(k, o.depth ?? k);
  const short = await deep(searcher, vectors, hits, depth, selfKeys, opts);
  const start = [...new Set(short.flatMap((h) => h.map((x) => x.row)))];
  const indexTable = await neighbourhoods(searcher, rows, start, o.k1);
  const { ids, sims } = hitTable(short, depth);
  const size = searcher.saved.index.size;
  const queryRows = Int32Array.from({ length: short.length }, (_, q) => size + q);
  const re = kReciprocalRerank(localTable(queryRows, depth, ids, sims, indexTable.meta.dim), indexTable, o);
  return short.map((h, q) => {
    const byRow = new Map(h.map((x) => [x.row, x]));
    const order = Array.from(re.ids.subarray(q * depth, q * depth + h.length));
    return order.slice(0, k).map((r, j) => ({ ...byRow.get(r)!, rank: j + 1 }));
  });
}

/** DBA: a searcher over the augmented index rows (held in memory). */
async function augmentedSearcher(searcher: IndexSearcher, rows: RowVectors, o: { n: number; alpha: number }) {
  const size = searcher.saved.index.size;
  const dim = searcher.saved.info.dim;
  const all = Int32Array.from({ length: size }, (_, i) => i);
  const x = await rows(all);
  const self = await searcher.saved.index.search(x, o.n);
  const augmented = augmentDatabase(x, dim, all, localTable(all, self.k, self.ids, self.sims, dim), o);
  const index = ExactIndex.build(augmented, dim, {});
  return new IndexSearcher({ ...searcher.saved, index }, searcher.extractor);
}

/** The re-ranker of `options` for a searcher (checked now; DBA augments the index now, up to `dbaMaxRows` rows). */
export async function searchReranker(
  searcher: IndexSearcher,
  options: SearchRerankOptions,
  { dbaMaxRows = DBA_MAX_ROWS }: { dbaMaxRows?: number } = {},
): Promise<SearchReranker & { close(): Promise<void> }> {
  checkOptions(options, searcher.saved.index.size, dbaMaxRows);
  const rows = await indexRowVectors(searcher.saved);
  const o = options;
  const key = JSON.stringify(o);
  if (o.method === 'dba') {
    const aug = await augmentedSearcher(searcher, rows, o);
    return {
      key,
      apply: (vectors, _hits, selfKeys, opts) => aug.searchVectors(vectors, opts, selfKeys),
      close: () => aug.saved.index.close(),
    };
  }
  return {
    key,
    apply: (vectors, hits, selfKeys, opts) =>
      o.method === 'qe'
        ? queryExpansionHits(searcher, rows, o, vectors, hits, selfKeys, opts)
        : kReciprocalHits(searcher, rows, o, vectors, hits, selfKeys, opts),
    close: async () => undefined,
  };
}

/** A short name of the re-ranking and its parameters (as the report's tables write them). */
export function rerankLabel(o: SearchRerankOptions): string {
  if (o.method === 'kreciprocal') return `k-reciprocal(k1=${o.k1},k2=${o.k2},lambda=${o.lambda})`;
  return `${o.method === 'qe' ? 'aqe' : 'dba'}(n=${o.n},alpha=${o.alpha})`;
}
