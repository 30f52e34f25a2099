/**
 * Shared types of the search indices. Vectors are L2-normalised embeddings held row-major in a
 * Float32Array (n × dim), so the inner product is the cosine similarity.
 *
 * Result order (both index kinds): per query, neighbours by similarity descending; equal
 * similarities are broken by the lower id. When k exceeds the index size, k is clamped to the
 * size (the result says which k it holds). HNSW may find fewer than k neighbours for a query;
 * the missing slots at the end hold id -1 and similarity -Infinity.
 */

/** Top-k neighbours of a block of queries: row q holds ids[q*k .. q*k+k). */
export interface SearchResult {
  /** Neighbour ids (the ids given when the index was built), Int32, queries × k. */
  ids: Int32Array;
  /** Inner products (cosine similarities for unit vectors), Float32, queries × k. */
  sims: Float32Array;
  /** Neighbours per query: min(requested k, index size). */
  k: number;
  /** Number of queries. */
  queries: number;
}

/** Per-call search options. */
export interface SearchOptions {
  /** Called after each block of queries with the number of queries done so far. */
  onQueries?: (done: number) => void;
}

/** An index over unit vectors that answers top-k inner-product queries. */
export interface VectorIndex {
  readonly kind: 'exact' | 'hnsw';
  /** Number of indexed vectors. */
  readonly size: number;
  /** Vector dimension. */
  readonly dim: number;
  /** Parameters that determine the results (recorded in k-NN table metadata and cache keys). */
  readonly params: Readonly<Record<string, string | number | boolean>>;
  /** Top-k by inner product for each row of `queries` (row-major, queries × dim). */
  search(queries: Float32Array, k: number, opts?: SearchOptions): Promise<SearchResult>;
  /** Write the index to `path` atomically (HNSW also writes `path.json`). */
  save(path: string): Promise<void>;
  /** Free native resources (ONNX sessions stay shared; usearch memory is released by GC). */
  close(): Promise<void>;
}

/** Options of the exact (flat inner product, FAISS IndexFlatIP equivalent) index. */
export interface ExactParams {
  kind: 'exact';
  /** 'onnx': MatMul+TopK graph in onnxruntime; 'plain': blocked TS loop; 'auto' (default): plain for tiny work, else onnx. */
  backend?: 'auto' | 'onnx' | 'plain';
  /** Intra-op threads of onnxruntime (default: all cores). */
  threads?: number;
  /** Index vectors per block (columns of one pre-transposed block), default 16384. */
  indexBlock?: number;
  /** Queries per matrix product, default 512. */
  queryBlock?: number;
}

/** Options of the HNSW index (usearch). */
export interface HnswParams {
  kind: 'hnsw';
  /** Graph degree M (usearch `connectivity`), default 16. */
  connectivity?: number;
  /** Beam width while adding (efConstruction), default 128. */
  expansionAdd?: number;
  /** Beam width while searching (ef), default 128; usearch uses at least k. */
  expansionSearch?: number;
  /** Storage of the vectors inside the index, default 'f32'. */
  quantization?: 'f32' | 'f16' | 'bf16' | 'i8';
  /** Threads for add and search (default: all cores). */
  threads?: number;
}

export type IndexParams = ExactParams | HnswParams;

/** Which rows of the input become the index, and under which ids. */
export interface BuildOptions {
  /** Index only these rows of `vectors`; their ids are these row numbers (unless `ids` is given). */
  rows?: Int32Array;
  /** Ids of the indexed rows (one per indexed row, distinct, ≥ 0); default: row numbers. */
  ids?: Int32Array;
  /** Progress while building: (rows added, total rows). */
  onRows?: (done: number, total: number) => void;
}
