/**
 * The stored vectors of a saved index's rows, for re-ranking after a search (query expansion,
 * k-reciprocal neighbourhoods, database-side augmentation). An exact index holds its vectors and
 * gives them itself; an HNSW index does not expose them, so they are read from the embedding
 * store it was built from (checked by content hash). Imported FAISS HNSW indexes have neither.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CbirError } from '../errors.js';
import { openEmbeddings, type EmbeddingStore } from '../embeddings/index.js';
import { ExactIndex } from './exact.js';
import type { SavedIndex } from './saved.js';

/** Reads the vectors of index positions (row-major, positions.length × dim). */
export type RowVectors = (positions: Int32Array) => Promise<Float32Array>;

/** The source store of an HNSW index, or a CbirError saying why there is none. */
async function sourceStore(saved: SavedIndex): Promise<EmbeddingStore> {
  const s = saved.info.source;
  const refuse = (why: string) =>
    new CbirError(`this HNSW index cannot give its vectors for re-ranking: ${why}`, {
      file: saved.dir ?? undefined,
      hint: 're-rank with an exact index, or keep the embedding store the index was built from where it was',
      code: 'search/no-vectors',
    });
  if (s.kind !== 'embeddings') throw refuse('it was imported from FAISS, without an embedding store');
  const dirs = [saved.dir ? resolve(saved.dir, s.dir) : null, s.absoluteDir].filter((d): d is string => !!d);
  const dir = dirs.find((d) => existsSync(d));
  if (!dir) throw refuse(`its embedding store ${s.absoluteDir} is not found`);
  const store = await openEmbeddings(dir);
  if (store.meta.contentHash !== s.contentHash)
    throw refuse(`the embedding store ${dir} changed since the index was built`);
  return store;
}

/** The row reader of a saved index (exact: from the index; HNSW: from its embedding store). */
export async function indexRowVectors(saved: SavedIndex): Promise<RowVectors> {
  const index = saved.index;
  if (index instanceof ExactIndex) return (positions) => index.vectorsOf(positions);
  const store = await sourceStore(saved);
  const byId = new Map<string, number>();
  store.ids.forEach((id, i) => byId.set(id, i));
  const storeRow = Int32Array.from(saved.rows.paths, (p) => byId.get(p) ?? -1);
  const dim = store.dim;
  return async (positions) => {
    const wanted = new Map<number, number[]>();
    positions.forEach((p, t) => {
      const r = storeRow[p];
      if (r < 0)
        throw new CbirError(`index row ${p} ("${saved.rows.paths[p]}") is not in the embedding store`, {
          file: store.dir,
          hint: 'the store and the index do not belong together; build the index again',
          code: 'search/no-vectors',
        });
      if (!wanted.has(r)) wanted.set(r, []);
      wanted.get(r)!.push(t);
    });
    const out = new Float32Array(positions.length * dim);
    for await (const { start, data } of store.rows()) {
      const end = start + data.length / dim;
      for (const [r, ts] of wanted)
        if (r >= start && r < end)
          for (const t of ts) out.set(data.subarray((r - start) * dim, (r - start + 1) * dim), t * dim);
    }
    return out;
  };
}
