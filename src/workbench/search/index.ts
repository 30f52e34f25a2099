/**
 * Search indices over L2-normalised embeddings: exact (flat inner product, as the study's FAISS
 * IndexFlatIP) and HNSW (usearch), behind one small interface.
 *
 *   const index = await buildIndex(vectors, dim, { kind: 'exact', threads: 2 }, { rows: trainRows });
 *   const { ids, sims, k } = await index.search(queries, 100);
 *   await index.save('train.index');  const again = await loadIndex('train.index', { view: true });
 */
import { open } from 'node:fs/promises';
import { CbirError, errorMessage } from '../errors.js';
import { ExactIndex, type ExactRuntime } from './exact.js';
import { HnswIndex, isHnswFile } from './hnsw.js';
import type { BuildOptions, IndexParams, VectorIndex } from './types.js';

export type {
  BuildOptions,
  ExactParams,
  HnswParams,
  IndexParams,
  SearchOptions,
  SearchResult,
  VectorIndex,
} from './types.js';
export { ExactIndex, releaseExactSessions, topKGraph, type ExactRuntime } from './exact.js';
export { HnswIndex, HNSW_DEFAULTS, resolveHnswConfig, type HnswConfig } from './hnsw.js';
export { exactSearchPlain, TopKHeap } from './topk.js';

/**
 * Build an index over row-major `vectors` (n × dim, unit length). `opts.rows` picks the rows to
 * index (ids = row numbers unless `opts.ids` names them).
 */
export async function buildIndex(
  vectors: Float32Array,
  dim: number,
  params: IndexParams = { kind: 'exact' },
  opts: BuildOptions = {},
): Promise<VectorIndex> {
  switch (params.kind) {
    case 'exact':
      return ExactIndex.build(vectors, dim, params, opts);
    case 'hnsw':
      return HnswIndex.build(vectors, dim, params, opts);
    default:
      throw new CbirError(`unknown index kind "${(params as { kind: string }).kind}"`, {
        hint: "use kind 'exact' or 'hnsw'",
        code: 'index/bad-parameter',
      });
  }
}

/** Options when opening a saved index. */
export interface LoadOptions extends Partial<ExactRuntime> {
  /** Keep the vectors on disk (exact: read block by block per search; HNSW: memory-map). */
  view?: boolean;
  /** HNSW: search beam width to use instead of the saved one. */
  expansionSearch?: number;
}

/** Open an index written by `save`; the kind is detected from the file. */
export async function loadIndex(file: string, opts: LoadOptions = {}): Promise<VectorIndex> {
  let head = '';
  try {
    const fh = await open(file, 'r');
    try {
      const b = new Uint8Array(8);
      await fh.read(b, 0, 8, 0);
      head = new TextDecoder('latin1').decode(b);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new CbirError(`cannot open index file (${errorMessage(e)})`, {
      file,
      hint: 'check the path; build and save the index first',
      code: 'index/not-found',
    });
  }
  if (head === 'RCBIRFX1') return ExactIndex.load(file, opts);
  if (await isHnswFile(file))
    return HnswIndex.load(file, { view: opts.view, expansionSearch: opts.expansionSearch, threads: opts.threads });
  throw new CbirError('not a radcbir index (no exact-index header and no HNSW <file>.json next to it)', {
    file,
    hint: 'pass a file written by index.save()',
    code: 'index/bad-format',
  });
}
