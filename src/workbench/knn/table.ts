/**
 * The k-NN table of one (model, dataset) pair: for each query row (the test split, or val for
 * model selection) the top-k index rows (the train split) by cosine similarity, computed once and
 * kept on disk. Every metric of the study (precision@N, kNN classification, figures) reads it.
 *
 * Ids everywhere are manifest row ids, so labels come straight from the manifest.
 *
 * On disk (one folder per cache key): `ids.i32` (int32, queries × k, -1 = no neighbour),
 * `sims.f32` (float32, same shape), and `meta.json` (written last) with the embeddings' content
 * hash, the manifest hash, k, the index kind and parameters, timing, and the query and index row
 * id lists. The folder is written under a temporary name and renamed, so it is complete or absent.
 */
import { readFile, rename, rm, stat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CbirError, errorCode } from '../errors.js';
import { sha256, writeFileAtomic } from '../util/fsx.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { buildIndex, resolveHnswConfig, type IndexParams, type VectorIndex } from '../search/index.js';
import { openPartialTable, partialDir, type PartialTable } from './partial.js';
import { checkMatrix } from '../search/common.js';
import { STUDY_K } from '../study.js';
import { blockRows } from '../embeddings/store.js';

/** A k-NN table in memory. Row q of `ids`/`sims` belongs to query `queryRows[q]`. */
export interface KnnTable {
  /** Neighbours per query (the requested k, clamped to the index size). */
  k: number;
  /** Manifest row ids of the queries. */
  queryRows: Int32Array;
  /** Manifest row ids of the index. */
  indexRows: Int32Array;
  /** Neighbour manifest row ids, queries × k, best first; -1 where none was found. */
  ids: Int32Array;
  /** Cosine similarities, queries × k; -Infinity where none was found. */
  sims: Float32Array;
  meta: KnnMeta;
}

/** What `meta.json` records (row lists are kept out of this object; see KnnTable). */
export interface KnnMeta {
  format: 'radcbir-knn';
  version: 1;
  /** Cache key (sha256 of the inputs that determine the table). */
  key: string;
  embeddingsHash: string;
  manifestHash: string | null;
  /** Name of the query split (e.g. 'test'), informational. */
  split: string | null;
  /** Name of the index split (e.g. 'train'), informational. */
  indexSplit: string | null;
  requestedK: number;
  k: number;
  dim: number;
  queries: number;
  indexSize: number;
  /** Index kind and the parameters that determine the results. */
  index: Record<string, string | number | boolean>;
  buildSeconds: number;
  searchSeconds: number;
  /** Queries read back from the journal of an interrupted run (absent when none). */
  resumedQueries?: number;
  createdAt: string;
}

/** Inputs of a k-NN table computation. */
export interface KnnInput {
  /** Embeddings, row-major (rows × dim), L2-normalised. */
  embeddings: Float32Array;
  dim: number;
  /** Manifest row ids to index (the train split). */
  indexRows: Int32Array;
  /** Manifest row ids to query (the test or val split). */
  queryRows: Int32Array;
  /** Manifest row id of each embeddings row; default: embeddings row i is manifest row i. */
  rowIds?: Int32Array;
  /** Neighbours per query, default 100 (the study's knn.csv). */
  k?: number;
  /** Index kind and parameters, default exact. */
  index?: IndexParams;
  onProgress?: ProgressListener;
  /** Recorded in meta (and part of the cache key in knnTableCached). */
  embeddingsHash?: string;
  manifestHash?: string;
  split?: string;
  indexSplit?: string;
}

const QUERY_CHUNK = 4096;

/** Map manifest row ids to embeddings rows (via `rowIds`, default identity); throws naming the first id with no embedding. */
export function embeddingRows(rows: Int32Array, n: number, rowIds: Int32Array | undefined, what: string): Int32Array {
  const out = new Int32Array(rows.length);
  let inverse: Int32Array | undefined;
  if (rowIds) {
    if (rowIds.length !== n)
      throw new CbirError(`rowIds has ${rowIds.length} entries for ${n} embeddings`, {
        hint: 'pass one manifest row id per embeddings row',
        code: 'knn/bad-input',
      });
    let max = -1;
    for (let i = 0; i < rowIds.length; i++) if (rowIds[i] > max) max = rowIds[i];
    inverse = new Int32Array(max + 1).fill(-1);
    for (let i = 0; i < rowIds.length; i++) if (rowIds[i] >= 0) inverse[rowIds[i]] = i;
  }
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const e = inverse ? (r >= 0 && r < inverse.length ? inverse[r] : -1) : r >= 0 && r < n ? r : -1;
    if (e < 0)
      throw new CbirError(`${what} row ${r} (manifest.csv line ${r + 2}) has no embedding`, {
        row: r + 2,
        hint: 'embed every image of the split first, or drop that row from the manifest',
        code: 'knn/missing-embedding',
      });
    out[i] = e;
  }
  return out;
}

/** The index parameters that determine the results (defaults resolved; threads and block sizes left out). */
export function resultParams(p: IndexParams = { kind: 'exact' }): Record<string, string | number | boolean> {
  if (p.kind === 'exact') return { kind: 'exact', metric: 'ip' };
  if (p.kind === 'hnsw') {
    const c = resolveHnswConfig(p);
    return {
      kind: 'hnsw',
      metric: 'ip',
      connectivity: c.connectivity,
      expansionAdd: c.expansionAdd,
      expansionSearch: c.expansionSearch,
      quantization: c.quantization,
    };
  }
  throw new CbirError(`unknown index kind "${(p as { kind: string }).kind}"`, {
    hint: "use kind 'exact' or 'hnsw'",
    code: 'knn/bad-parameter',
  });
}

/** An index built over `indexRows`, ready for the query splits of one k-NN computation. */
interface BuiltIndex {
  index: VectorIndex;
  params: IndexParams;
  /** Embeddings rows (n) and the requested k (before clamping to the index size). */
  n: number;
  requestedK: number;
  buildSeconds: number;
}

/** Check k, map the index rows and build the index once (progress as 'knn index'). */
async function buildKnnIndex(input: Omit<KnnInput, 'queryRows'>): Promise<BuiltIndex> {
  const { embeddings, dim } = input;
  const n = checkMatrix('embeddings', embeddings, dim);
  const requestedK = input.k ?? STUDY_K;
  if (!Number.isInteger(requestedK) || requestedK < 1)
    throw new CbirError(`k must be a positive integer, got ${requestedK}`, {
      hint: 'the study uses k = 100',
      code: 'knn/bad-parameter',
    });
  const params = input.index ?? { kind: 'exact' };
  const indexEmb = embeddingRows(input.indexRows, n, input.rowIds, 'index');
  if (indexEmb.length === 0)
    throw new CbirError('the index split is empty', {
      hint: 'check that the manifest has train rows for this dataset',
      code: 'knn/empty',
    });
  const t0 = performance.now();
  const buildTracker = new ProgressTracker(`knn index (${params.kind})`, indexEmb.length, input.onProgress, 'vectors');
  const index = await buildIndex(embeddings, dim, params, {
    rows: indexEmb,
    ids: input.indexRows,
    onRows: (done) => buildTracker.add(done - buildTracker.done),
  });
  buildTracker.finish();
  return { index, params, n, requestedK, buildSeconds: (performance.now() - t0) / 1000 };
}

/** Where a search writes its finished blocks so that it can resume (see partial.ts). */
type OpenJournal = (ids: Int32Array, sims: Float32Array, k: number) => Promise<PartialTable>;

/**
 * Search one query split against a built index, one block of queries at a time. With a journal,
 * the blocks an earlier run finished are read back and skipped, and each new block is appended.
 */
async function searchTable(built: BuiltIndex, input: KnnInput, openJournal?: OpenJournal): Promise<KnnTable> {
  const { embeddings, dim } = input;
  const { index, params } = built;
  const queryEmb = embeddingRows(input.queryRows, built.n, input.rowIds, 'query');
  const nq = queryEmb.length;
  const k = Math.min(built.requestedK, index.size);
  const ids = new Int32Array(nq * k);
  const sims = new Float32Array(nq * k);
  const partial = openJournal ? await openJournal(ids, sims, k) : null;
  const t1 = performance.now();
  // a resumed table counts on from its journal (and its rate from the blocks searched now)
  const tracker = new ProgressTracker(`knn search (${params.kind})`, nq, input.onProgress, 'queries', partial?.resumed);
  const chunk = blockRows(QUERY_CHUNK);
  const buf = new Float32Array(Math.min(chunk, Math.max(1, nq)) * dim);
  try {
    for (let q0 = partial?.done ?? 0; q0 < nq; q0 += chunk) {
      const b = Math.min(chunk, nq - q0);
      const qv = buf.subarray(0, b * dim);
      for (let a = 0; a < b; a++)
        qv.set(embeddings.subarray(queryEmb[q0 + a] * dim, (queryEmb[q0 + a] + 1) * dim), a * dim);
      const r = await index.search(qv, k);
      ids.set(r.ids, q0 * k);
      sims.set(r.sims, q0 * k);
      if (partial) await partial.append(b);
      tracker.add(b);
    }
  } finally {
    await partial?.close();
  }
  tracker.finish();
  const meta: KnnMeta = {
    format: 'radcbir-knn',
    version: 1,
    key: '',
    embeddingsHash: input.embeddingsHash ?? '',
    manifestHash: input.manifestHash ?? null,
    split: input.split ?? null,
    indexSplit: input.indexSplit ?? null,
    requestedK: built.requestedK,
    k,
    dim,
    queries: nq,
    indexSize: index.size,
    index: resultParams(params),
    buildSeconds: built.buildSeconds,
    searchSeconds: (performance.now() - t1) / 1000,
    createdAt: new Date().toISOString(),
  };
  if (partial) meta.resumedQueries = partial.resumed;
  const queryRows = Int32Array.from(input.queryRows);
  return { k, queryRows, indexRows: Int32Array.from(input.indexRows), ids, sims, meta };
}

/** Compute the top-k table: index `indexRows`, query `queryRows` (no caching). */
export async function computeKnnTable(input: KnnInput): Promise<KnnTable> {
  const built = await buildKnnIndex(input);
  try {
    return await searchTable(built, input);
  } finally {
    await built.index.close();
  }
}

/** Cache key of a table: embeddings hash, manifest hash, row lists, k and the result-determining index parameters. */
export function knnCacheKey(
  input: Omit<KnnInput, 'embeddings' | 'dim' | 'onProgress'> & { embeddingsHash: string },
): string {
  const rowsHash = (a: Int32Array) => sha256(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return sha256(
    JSON.stringify({
      v: 1,
      embeddings: input.embeddingsHash,
      manifest: input.manifestHash ?? null,
      k: input.k ?? STUDY_K,
      index: resultParams(input.index),
      queryRows: rowsHash(input.queryRows),
      indexRows: rowsHash(input.indexRows),
      rowIds: input.rowIds ? rowsHash(input.rowIds) : null,
    }),
  );
}

/** Options of `knnTableCached`: the computation's inputs plus where to cache. */
export interface KnnCachedInput extends KnnInput {
  /** Folder holding one sub-folder per cached table. */
  cacheDir: string;
  /** Content hash of the embeddings (from the embedding store); part of the cache key. */
  embeddingsHash: string;
  /** Told when a table resumes from the journal of an interrupted run. */
  log?: (line: string) => void;
}

/** One query split of `knnTablesCached`. */
export interface KnnSplit {
  split: string;
  queryRows: Int32Array;
}

/** A cached table: read (`cached`) or computed now, and its folder. */
export interface CachedKnnTable {
  table: KnnTable;
  cached: boolean;
  dir: string;
}

/** The cache folder and key of one split's table. */
function cacheSlot(input: KnnCachedInput): { key: string; dir: string } {
  const key = knnCacheKey(input);
  const k = input.k ?? STUDY_K;
  const kind = (input.index ?? { kind: 'exact' }).kind;
  const label = (input.split ?? 'queries').replace(/[^A-Za-z0-9_-]/g, '_');
  return { key, dir: join(input.cacheDir, `knn-${label}-k${k}-${kind}-${key.slice(0, 12)}`) };
}

/**
 * The k-NN tables of several query splits against one index (the study's test and val), each
 * read from `cacheDir` when a table with the same key is there. The missing ones are computed
 * against ONE index build, query block by query block, with a journal next to each table
 * (`<table dir>.partial/`): a run that is killed resumes after the last finished block.
 */
export async function knnTablesCached(
  input: Omit<KnnCachedInput, 'queryRows' | 'split'>,
  splits: KnnSplit[],
): Promise<CachedKnnTable[]> {
  if (!input.embeddingsHash)
    throw new CbirError('embeddingsHash is required for caching', {
      hint: "pass the embedding store's content hash",
      code: 'knn/bad-input',
    });
  const slots = splits.map((s) => ({ ...s, ...cacheSlot({ ...input, ...s }) }));
  const found = await Promise.all(slots.map((s) => tryReadTable(s.dir, s.key)));
  const out: (CachedKnnTable | null)[] = found.map((t, i) =>
    t ? { table: t, cached: true, dir: slots[i].dir } : null,
  );
  if (out.every((t) => t)) return out as CachedKnnTable[];
  const built = await buildKnnIndex(input);
  try {
    for (let i = 0; i < slots.length; i++) {
      if (out[i]) continue;
      const { key, dir, ...split } = slots[i];
      const journal: OpenJournal = async (ids, sims, k) => {
        const p = await openPartialTable(dir, { key, queries: split.queryRows.length, k }, ids, sims);
        if (p.resumed > 0)
          input.log?.(
            `k-NN table (${split.split}): resuming after ${p.resumed} of ${split.queryRows.length} queries (${p.dir})`,
          );
        return p;
      };
      const table = await searchTable(built, { ...input, ...split }, journal);
      table.meta.key = key;
      table.meta.embeddingsHash = input.embeddingsHash;
      await writeKnnTable(dir, table);
      await rm(partialDir(dir), { recursive: true, force: true });
      out[i] = { table, cached: false, dir };
    }
  } finally {
    await built.index.close();
  }
  return out as CachedKnnTable[];
}

/**
 * The k-NN table for these inputs: read from `cacheDir` when a table with the same key is there,
 * else computed (resumably) and stored. `cached` says which happened.
 */
export async function knnTableCached(input: KnnCachedInput): Promise<CachedKnnTable> {
  const [t] = await knnTablesCached(input, [{ split: input.split ?? 'queries', queryRows: input.queryRows }]);
  return t;
}

async function tryReadTable(dir: string, key: string): Promise<KnnTable | null> {
  try {
    await stat(join(dir, 'meta.json'));
  } catch {
    return null;
  }
  try {
    const t = await readKnnTable(dir);
    return t.meta.key === key ? t : null;
  } catch {
    return null; // damaged: recompute and replace
  }
}

/** Write a table into `dir` atomically (temporary folder, then rename). Replaces what is there. */
export async function writeKnnTable(dir: string, table: KnnTable): Promise<void> {
  const nq = table.queryRows.length;
  if (table.ids.length !== nq * table.k || table.sims.length !== nq * table.k) {
    throw new CbirError(`table holds ${table.ids.length} ids for ${nq} queries × k=${table.k}`, {
      file: dir,
      hint: 'this is a bug in the caller; ids and sims must be queries × k',
      code: 'knn/bad-table',
    });
  }
  const tmp = `${dir}.${process.pid}.${Date.now()}.tmp`;
  await mkdir(tmp, { recursive: true });
  try {
    await writeFileAtomic(
      join(tmp, 'ids.i32'),
      new Uint8Array(table.ids.buffer, table.ids.byteOffset, table.ids.byteLength),
    );
    await writeFileAtomic(
      join(tmp, 'sims.f32'),
      new Uint8Array(table.sims.buffer, table.sims.byteOffset, table.sims.byteLength),
    );
    const head = JSON.stringify(
      { ...table.meta, files: { ids: 'ids.i32', sims: 'sims.f32', layout: 'row-major queries × k, little-endian' } },
      null,
      2,
    );
    const text = `${head.slice(0, head.lastIndexOf('}')).trimEnd()},\n  "queryRows": [${table.queryRows.join(',')}],\n  "indexRows": [${table.indexRows.join(',')}]\n}\n`;
    await writeFileAtomic(join(tmp, 'meta.json'), text);
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another process finished the same table first: keep theirs when it is whole.
      if (!['ENOTEMPTY', 'EEXIST'].includes(errorCode(e) ?? '') || !(await tryReadTable(dir, table.meta.key))) throw e;
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Read a table folder written by `knnTableCached` / `writeKnnTable`. */
export async function readKnnTable(dir: string): Promise<KnnTable> {
  const metaFile = join(dir, 'meta.json');
  let raw: KnnMeta & { queryRows: number[]; indexRows: number[]; files?: unknown };
  try {
    raw = JSON.parse(await readFile(metaFile, 'utf8'));
  } catch (e) {
    const missing = errorCode(e) === 'ENOENT';
    throw new CbirError(missing ? 'k-NN table not found' : 'meta.json is not valid JSON', {
      file: metaFile,
      hint: missing ? 'compute the table first (knnTableCached)' : 'delete the folder; it will be recomputed',
      code: 'knn/bad-table',
    });
  }
  if (raw.format !== 'radcbir-knn' || raw.version !== 1)
    throw new CbirError(`not a k-NN table (format ${raw.format})`, {
      file: metaFile,
      hint: 'delete the folder; it will be recomputed',
      code: 'knn/bad-table',
    });
  const { queryRows, indexRows, files: _files, ...meta } = raw;
  const nq = queryRows.length;
  const ids = await readTyped(join(dir, 'ids.i32'), nq * meta.k, Int32Array);
  const sims = await readTyped(join(dir, 'sims.f32'), nq * meta.k, Float32Array);
  return { k: meta.k, queryRows: Int32Array.from(queryRows), indexRows: Int32Array.from(indexRows), ids, sims, meta };
}

async function readTyped<T extends Int32Array | Float32Array>(
  file: string,
  count: number,
  Ctor: { new (b: ArrayBuffer): T },
): Promise<T> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    throw new CbirError('k-NN table file missing', {
      file,
      hint: 'delete the table folder; it will be recomputed',
      code: 'knn/bad-table',
    });
  }
  if (buf.byteLength !== count * 4)
    throw new CbirError(`file holds ${buf.byteLength} bytes, expected ${count * 4}`, {
      file,
      hint: 'delete the table folder; it will be recomputed',
      code: 'knn/bad-table',
    });
  const copy = new ArrayBuffer(buf.byteLength);
  new Uint8Array(copy).set(buf);
  return new Ctor(copy);
}
