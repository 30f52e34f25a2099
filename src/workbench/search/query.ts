/**
 * Search a saved index with images: each query is decoded (PNG, JPEG, 16-bit, DICOM), embedded
 * with the index's own model and preprocessing, L2-normalised as the embedding pipeline does,
 * and searched; filters apply before top-k and `excludeSelf` drops the query's own image.
 *
 *   const s = await IndexSearcher.open('runs/index');               // index + its model, checked
 *   const r = await s.searchFiles(['knee.png', 'scans/'], { k: 10 }); // the `cbir search --json` object
 *   const one = await s.searchBytes(uploadBytes, { k: 10 });         // the same, for an HTTP body
 *
 * The model check: the index records the model id, the extractor fingerprint (card + weights)
 * and the card hash; a searcher whose extractor differs in any of them is refused, naming both.
 *
 * Self-exclusion: a result is the query itself when its file is the query's file, or when its
 * file has the query's bytes (same size, same sha256).
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CbirError, errorMessage } from '../errors.js';
import { readManifest, type Manifest } from '../data/manifest.js';
import { decodeImage, type RgbImage } from '../images/decode.js';
import { decodeDicom } from '../images/dicom.js';
import { l2NormalizeRows, firstNonFiniteRow } from '../embeddings/index.js';
import { loadExtractor } from '../models/registry.js';
import type { Extractor } from '../models/types.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { filterMask, filterText, type SearchFilter } from './filter.js';
import type { LoadOptions } from './index.js';
import { SearchJournal } from './journal.js';
import { modelIdentity, openSavedIndex, rowFile, type SavedIndex, type SavedIndexInfo } from './saved.js';
import type { RowLabels } from './rows.js';

/** One neighbour of a query. */
export interface SearchHit {
  rank: number;
  /** The image path as the index records it (relative to the images root, as in the manifest). */
  path: string;
  /** Cosine similarity (inner product of unit vectors). */
  similarity: number;
  class: string;
  dataset: string;
  modality: string;
  region: string;
  split: string;
  /** Position in the index (rows.csv line − 2). */
  row: number;
}

/** The result of one query. */
export interface QueryResult {
  /** The query as given (a path, or the name of uploaded bytes). */
  query: string;
  /** The query's absolute file (absent for uploaded bytes). */
  file?: string;
  results: SearchHit[];
  /** The query's class, where it is known (its image is in the index's manifest). */
  class?: string;
  /** Why this query has no results (an unreadable image found in a folder). */
  error?: string;
  /** With a re-ranker: the plain search's hits, before re-ranking (`results` are re-ranked). */
  plain?: SearchHit[];
}

/** What an index is, in a search response. */
export interface IndexSummary {
  dir: string | null;
  format: SavedIndexInfo['format'];
  version: number;
  kind: SavedIndexInfo['kind'];
  size: number;
  dim: number;
  split: string | null;
  source: 'embeddings' | 'faiss';
  created: string;
}

/** The answer of a search: the `cbir search --json` object and the web API's body. */
export interface SearchResponse {
  index: IndexSummary;
  model: string;
  k: number;
  filter: SearchFilter;
  excludeSelf: boolean;
  queries: QueryResult[];
}

/** Options of one search. */
export interface QueryOptions {
  /** Neighbours per query (default 10). */
  k?: number;
  filter?: SearchFilter;
  /** Drop results that are the query's own image (same file, or same bytes). */
  excludeSelf?: boolean;
}

/** Options of a search over files and folders. */
export interface FileSearchOptions extends QueryOptions {
  /** A partial results file: finished queries are recorded there, and a rerun skips them. */
  journal?: string;
  /** Images embedded and searched together (default 16). */
  batchSize?: number;
  onProgress?: ProgressListener;
  /** Re-rank each batch's hits (search/rerank.ts); its `key` names its settings in the journal. */
  rerank?: SearchReranker;
}

/** Re-ranks the hits of a batch of unit query vectors (nq × dim), best first, as `searchVectors` gives them. */
export interface SearchReranker {
  key: string;
  apply(
    vectors: Float32Array,
    hits: SearchHit[][],
    selfKeys: (SelfKey | null)[],
    opts: QueryOptions,
  ): Promise<SearchHit[][]>;
}

/** A query image file: the path as given, its absolute file, and whether it was named (not found in a folder). */
export interface QueryFile {
  path: string;
  file: string;
  explicit: boolean;
}

/** What identifies a query's own image (for `excludeSelf`). */
export interface SelfKey {
  file?: string;
  size: number;
  hash: string;
}

/** True when the bytes are a DICOM Part 10 file (preamble, then "DICM"). */
export function isDicomBytes(b: Uint8Array): boolean {
  return b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
}

/** Decode a query image: DICOM by its "DICM" marker, anything else with the image decoder. */
export async function decodeQueryImage(bytes: Uint8Array, label: string, file?: string): Promise<RgbImage> {
  if (isDicomBytes(bytes)) return (await decodeDicom(file ?? bytes)).image;
  return decodeImage(bytes, {}, label);
}

/** Refuse an extractor that is not the index's model, naming both. */
export function checkQueryModel(info: SavedIndexInfo, extractor: Extractor): void {
  const m = info.model;
  const refuse = (what: string) =>
    new CbirError(`the index was made with ${what}`, {
      hint: 'queries must be embedded exactly as the index was: use the model (and weights) the index was built with, or build the index again with this model',
      code: 'search/model-mismatch',
    });
  if (extractor.id !== m.id) throw refuse(`model "${m.id}", but the queries would be embedded with "${extractor.id}"`);
  if (extractor.dim !== info.dim)
    throw refuse(`${info.dim}-dimensional vectors, but model "${extractor.id}" gives ${extractor.dim}`);
  const now = modelIdentity(extractor.id, extractor.fingerprint, extractor.dim);
  if (m.cardHash && now.cardHash && m.cardHash !== now.cardHash)
    throw refuse(
      `model "${m.id}" with card hash ${m.cardHash.slice(0, 12)}…, but its card now hashes to ${now.cardHash.slice(0, 12)}… (preprocessing, pooling or output changed)`,
    );
  if (m.fingerprint && m.fingerprint !== extractor.fingerprint)
    throw refuse(
      `model "${m.id}" with fingerprint ${m.fingerprint.slice(0, 12)}…, but the loaded model has fingerprint ${extractor.fingerprint.slice(0, 12)}… (other weights or preprocessing)`,
    );
}

/** A saved index with its model, ready to answer image queries. */
export class IndexSearcher {
  private labelsByFile: Map<string, RowLabels> | null = null;
  private fileInfo = new Map<number, { size: number; hash?: string }>();
  private masks = new Map<string, ReturnType<typeof filterMask>>();

  constructor(
    readonly saved: SavedIndex,
    readonly extractor: Extractor,
  ) {
    checkQueryModel(saved.info, extractor);
  }

  /** Open a saved index folder and load its model (or check the given extractor against it). */
  static async open(
    dir: string,
    opts: LoadOptions & { extractor?: Extractor; executionProvider?: 'cpu' | 'cuda' } = {},
  ): Promise<IndexSearcher> {
    const saved = await openSavedIndex(dir, opts);
    try {
      const extractor =
        opts.extractor ??
        (await loadExtractor(saved.info.model.id, { executionProvider: opts.executionProvider, batchSize: 16 }));
      try {
        return new IndexSearcher(saved, extractor);
      } catch (e) {
        if (!opts.extractor) await extractor.close();
        throw e;
      }
    } catch (e) {
      await saved.index.close();
      throw e;
    }
  }

  /** The absolute image file of index row p (null when the images root is unknown). */
  rowFile(p: number): string | null {
    return rowFile(this.saved, p);
  }

  /** The summary of the index that responses carry. */
  summary(): IndexSummary {
    const i = this.saved.info;
    return {
      dir: this.saved.dir,
      format: i.format,
      version: i.version,
      kind: i.kind,
      size: i.size,
      dim: i.dim,
      split: i.manifest?.split ?? null,
      source: i.source.kind,
      created: i.created,
    };
  }

  /** Embed decoded images as the index's vectors were: the model, then L2 normalisation. */
  async embed(images: RgbImage[], labels: readonly string[] = []): Promise<Float32Array> {
    const dim = this.extractor.dim;
    const rows = (await this.extractor.embed(images)).slice();
    if (rows.length !== images.length * dim)
      throw new CbirError(`model ${this.extractor.id} returned ${rows.length} values for ${images.length} images`, {
        hint: "the model card's dimension does not match the model's output; fix the card",
        code: 'search/bad-embedding',
      });
    const bad = firstNonFiniteRow(rows, dim);
    if (bad >= 0)
      throw new CbirError(`the embedding of this image contains NaN or Inf (model ${this.extractor.id})`, {
        file: labels[bad],
        hint: 'check the image (blank, corrupt or extreme values?)',
        code: 'search/non-finite',
      });
    l2NormalizeRows(rows, dim);
    return rows;
  }

  private mask(filter: SearchFilter): ReturnType<typeof filterMask> {
    const key = filterText(filter);
    if (!this.masks.has(key)) {
      if (this.masks.size >= 16) this.masks.clear(); // bounded: one byte per index row each
      this.masks.set(key, filterMask(this.saved.rows, filter));
    }
    return this.masks.get(key)!;
  }

  /** Whether index row p is the query's own image (same file, or same size and sha256). */
  private async isSelf(p: number, key: SelfKey): Promise<boolean> {
    const f = this.rowFile(p);
    if (!f) return false;
    if (key.file && f === key.file) return true;
    let fi = this.fileInfo.get(p);
    if (!fi) {
      const st = await stat(f).catch(() => null);
      if (this.fileInfo.size > 100_000) this.fileInfo.clear(); // bounded cache
      fi = { size: st?.isFile() ? st.size : -1 };
      this.fileInfo.set(p, fi);
    }
    if (fi.size !== key.size) return false;
    fi.hash ??= createHash('sha256')
      .update(await readFile(f))
      .digest('hex');
    return fi.hash === key.hash;
  }

  /** The hits of index row positions `ids` (best first) that pass the mask and are not the query. */
  private async accept(
    ids: Int32Array,
    sims: Float32Array,
    k: number,
    mask: Uint8Array | null,
    self: SelfKey | null,
  ): Promise<SearchHit[]> {
    const out: SearchHit[] = [];
    for (let j = 0; j < ids.length && out.length < k; j++) {
      const p = ids[j];
      if (p < 0 || (mask && !mask[p])) continue;
      if (self && (await this.isSelf(p, self))) continue;
      const l = this.saved.rows.labels(p);
      out.push({ rank: out.length + 1, path: this.saved.rows.paths[p], similarity: sims[j], ...l, row: p });
    }
    return out;
  }

  /**
   * Top-k hits of unit query vectors (nq × dim). Filters and self-exclusion apply before top-k:
   * a query with fewer than k accepted hits is searched again with 4× more neighbours, until k
   * pass or every index row has been seen.
   */
  async searchVectors(vectors: Float32Array, opts: QueryOptions = {}, selfKeys: (SelfKey | null)[] = []) {
    const k = opts.k ?? 10;
    if (!Number.isInteger(k) || k < 1)
      throw new CbirError(`k must be a positive integer, got ${k}`, {
        hint: 'ask for at least one neighbour, e.g. 10',
        code: 'search/bad-k',
      });
    const dim = this.saved.info.dim;
    const nq = vectors.length / dim;
    const size = this.saved.index.size;
    const m = this.mask(opts.filter ?? {});
    const want = k + (opts.excludeSelf ? 1 : 0);
    let kq = Math.min(size, m ? Math.ceil((want * size) / Math.max(1, m.kept)) + 8 : want);
    const out: SearchHit[][] = new Array(nq);
    let pending = Array.from({ length: nq }, (_, q) => q);
    while (pending.length > 0) {
      const sub = new Float32Array(pending.length * dim);
      pending.forEach((q, i) => sub.set(vectors.subarray(q * dim, (q + 1) * dim), i * dim));
      const res = await this.saved.index.search(sub, kq);
      const again: number[] = [];
      for (let i = 0; i < pending.length; i++) {
        const q = pending[i];
        const row = [i * res.k, (i + 1) * res.k] as const;
        const self = opts.excludeSelf ? (selfKeys[q] ?? null) : null;
        out[q] = await this.accept(res.ids.subarray(...row), res.sims.subarray(...row), k, m?.mask ?? null, self);
        if (out[q].length < k && kq < size) again.push(q);
      }
      pending = again;
      kq = Math.min(size, kq * 4);
    }
    return out;
  }

  /** Search with one image given as bytes (an upload): the response holds one query. */
  async searchBytes(bytes: Uint8Array, opts: QueryOptions & { name?: string } = {}): Promise<SearchResponse> {
    const name = opts.name ?? '<upload>';
    const image = await decodeQueryImage(bytes, name);
    const v = await this.embed([image], [name]);
    const self: SelfKey | null = opts.excludeSelf
      ? { size: bytes.byteLength, hash: createHash('sha256').update(bytes).digest('hex') }
      : null;
    const [results] = await this.searchVectors(v, opts, [self]);
    return this.response(opts, [{ query: name, results }]);
  }

  /** The response object of a search. */
  response(opts: QueryOptions, queries: QueryResult[]): SearchResponse {
    return {
      index: this.summary(),
      model: this.saved.info.model.id,
      k: opts.k ?? 10,
      filter: opts.filter ?? {},
      excludeSelf: !!opts.excludeSelf,
      queries,
    };
  }

  /** The labels of a query file when its image is an index row or a row of the index's manifest. */
  async queryLabels(file: string): Promise<RowLabels | undefined> {
    if (!this.labelsByFile) {
      const map = new Map<string, RowLabels>();
      const mi = this.saved.info.manifest;
      let manifest: Manifest | null = null;
      if (mi && this.saved.dir)
        manifest = await readManifest(resolve(this.saved.dir, mi.dir)).catch(() =>
          readManifest(mi.absoluteDir).catch(() => null),
        );
      if (manifest)
        for (let i = 0; i < manifest.size; i++) {
          const e = manifest.entry(i);
          map.set(manifest.resolvePath(i), {
            class: e.className,
            dataset: e.dataset,
            modality: e.modality,
            region: e.anatomicRegion,
            split: e.split,
          });
        }
      for (let p = 0; p < this.saved.rows.size; p++) {
        const f = this.rowFile(p);
        const l = this.saved.rows.labels(p);
        if (f && l.class && !map.has(f)) map.set(f, l);
      }
      this.labelsByFile = map;
    }
    return this.labelsByFile.get(file);
  }

  /** Search one batch of query files; unreadable files found in folders become results with an error. */
  private async searchBatch(batch: readonly QueryFile[], opts: FileSearchOptions): Promise<QueryResult[]> {
    const images: RgbImage[] = [];
    const keys: (SelfKey | null)[] = [];
    const ok: number[] = [];
    const out: QueryResult[] = batch.map((f) => ({ query: f.path, file: f.file, results: [] }));
    for (let i = 0; i < batch.length; i++) {
      const f = batch[i];
      try {
        const bytes = await readFile(f.file).catch((e) => {
          throw new CbirError(`cannot read the query image (${errorMessage(e)})`, {
            file: f.path,
            hint: 'check the path',
            code: 'search/not-found',
          });
        });
        images.push(await decodeQueryImage(bytes, f.path, f.file));
        keys.push(
          opts.excludeSelf
            ? { file: f.file, size: bytes.byteLength, hash: createHash('sha256').update(bytes).digest('hex') }
            : null,
        );
        ok.push(i);
      } catch (e) {
        if (f.explicit) throw e;
        out[i].error = errorMessage(e).split('\n')[0];
      }
    }
    if (ok.length > 0) {
      const v = await this.embed(
        images,
        ok.map((i) => batch[i].path),
      );
      const hits = await this.searchVectors(v, opts, keys);
      const ranked = opts.rerank ? await opts.rerank.apply(v, hits, keys, opts) : hits;
      ok.forEach((i, j) => {
        out[i].results = ranked[j];
        if (opts.rerank) out[i].plain = hits[j];
      });
    }
    for (let i = 0; i < batch.length; i++) {
      const cls = (await this.queryLabels(batch[i].file))?.class;
      if (cls) out[i].class = cls;
    }
    return out;
  }

  /**
   * Search with image files (see `collectQueryFiles` for folders), in order, with progress. With
   * `journal`, finished queries are appended to that file as they complete, and a rerun with the
   * same index and options skips them (the journal of other settings is started again).
   */
  async searchFiles(files: readonly QueryFile[], opts: FileSearchOptions = {}): Promise<SearchResponse> {
    const key = JSON.stringify({
      index: this.saved.info.created,
      size: this.saved.info.size,
      model: this.saved.info.model,
      k: opts.k ?? 10,
      filter: filterText(opts.filter ?? {}),
      excludeSelf: !!opts.excludeSelf,
      ...(opts.rerank ? { rerank: opts.rerank.key } : {}),
    });
    const journal = opts.journal ? await SearchJournal.open(opts.journal, key) : null;
    try {
      const done = journal?.done ?? new Map<string, QueryResult>();
      const todo = files.filter((f) => !done.has(f.file));
      const tracker = new ProgressTracker(
        'search',
        files.length,
        opts.onProgress,
        'images',
        files.length - todo.length,
      );
      const bs = Math.max(1, opts.batchSize ?? 16);
      for (let s = 0; s < todo.length; s += bs) {
        const batch = todo.slice(s, s + bs);
        const results = await this.searchBatch(batch, opts);
        batch.forEach((f, i) => done.set(f.file, results[i]));
        await journal?.append(batch.map((f, i) => [f.file, results[i]] as const));
        tracker.add(batch.length);
      }
      tracker.finish();
      return this.response(
        opts,
        files.map((f) => ({ ...done.get(f.file)!, query: f.path, file: f.file })),
      );
    } finally {
      await journal?.close();
    }
  }

  /** Release the index and the model. */
  async close(): Promise<void> {
    await this.saved.index.close();
    await this.extractor.close();
  }
}
