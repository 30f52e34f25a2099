/**
 * A saved, self-describing index: one folder that a search needs and nothing else.
 *
 *   <dir>/index.json      format "radcbir-index", version 1: kind, size, dim, the model (id, the
 *                         extractor fingerprint, the card hash, the preprocessing), where the
 *                         images are, the manifest and the vectors it was built from
 *   <dir>/vectors.index   the vectors (exact) or the HNSW graph (+ vectors.index.json), as
 *                         `VectorIndex.save` writes them; index ids are row positions 0 … size−1
 *   <dir>/rows.csv        per position: path,class,dataset,modality,anatomic_region,split
 *
 * index.json is written last: a folder is a complete index exactly when index.json exists.
 *
 * Path rule. `rows.csv` holds each image's path as the manifest (and the study's metadata.json)
 * gives it: relative to the images root, or absolute. index.json records the images root twice:
 * relative to the index folder and absolute. Opening tries the relative one first (the index and
 * the data moved together), then the absolute one (only the index folder moved).
 *
 *   buildSavedIndex({ store, manifest })  → SavedIndex (computes; writes nothing)
 *   importFaissIndex({ faiss, metadata, model }) → SavedIndex
 *   saveSavedIndex(saved, dir)            → writes the folder
 *   openSavedIndex(dir)                   → SavedIndex (schema-checked)
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { CbirError, errorMessage } from '../errors.js';
import type { Manifest, Split } from '../data/manifest.js';
import { openEmbeddings, type EmbeddingStore } from '../embeddings/index.js';
import { createDescriptor, isDescriptorId } from '../models/descriptors/index.js';
import { findCard } from '../models/registry.js';
import type { PreprocessSpec } from '../models/types.js';
import { sha256, writeJsonAtomic } from '../util/fsx.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { ExactIndex } from './exact.js';
import { faissRows, readFaissHeader, readFaissMetadata } from './faiss.js';
import { HnswIndex } from './hnsw.js';
import { loadIndex, type LoadOptions } from './index.js';
import { IndexRows, type RowLabels } from './rows.js';
import type { IndexParams, VectorIndex } from './types.js';

export const INDEX_FORMAT = 'radcbir-index';
export const INDEX_VERSION = 1;
export const INDEX_FILE = 'index.json';
const VECTORS_FILE = 'vectors.index';
const ROWS_FILE = 'rows.csv';

/** The model an index was made with: queries must be embedded the same way. */
export interface SavedIndexModel {
  id: string;
  /** Extractor fingerprint (card + weights, or descriptor parameters); null when unknown (imported vectors). */
  fingerprint: string | null;
  /** sha256 of what of the model card determines the embedding (a descriptor: its parameters); null for an unknown model. */
  cardHash: string | null;
  kind: 'onnx' | 'descriptor' | 'unknown';
  /** The card's preprocessing (ONNX models), or null. */
  preprocess: PreprocessSpec | null;
  dim: number;
}

/** Where the vectors came from. */
export type SavedIndexSource =
  | { kind: 'embeddings'; dir: string; absoluteDir: string; contentHash: string; manifestHash: string }
  | {
      kind: 'faiss';
      file: string;
      metadata: string;
      fourcc: string;
      metric: 'ip' | 'l2';
      /** Whether every vector had unit length (|‖x‖ − 1| ≤ 1e-3). */
      unitVectors: boolean;
      /** Paths of the metadata found in the manifest (when one was given). */
      inManifest: number | null;
    };

/** The content of index.json. */
export interface SavedIndexInfo {
  format: typeof INDEX_FORMAT;
  version: typeof INDEX_VERSION;
  kind: 'exact' | 'hnsw';
  size: number;
  dim: number;
  /** Always inner product over L2-normalised vectors (= cosine similarity). */
  metric: 'ip';
  params: Record<string, string | number | boolean>;
  model: SavedIndexModel;
  /** Images root: relative to the index folder, and absolute; null where unknown. */
  images: { root: string | null; absoluteRoot: string | null };
  /** The manifest the labels came from, and which split is indexed. */
  manifest: { dir: string; absoluteDir: string; hash: string; split: Split | 'all' } | null;
  source: SavedIndexSource;
  files: { vectors: string; rows: string };
  created: string;
}

/** An index in memory with everything a search needs. */
export interface SavedIndex {
  info: SavedIndexInfo;
  index: VectorIndex;
  rows: IndexRows;
  /** The folder it was opened from or saved to (null before saving). */
  dir: string | null;
  /** Absolute images root as resolved now (null when unknown or not found). */
  imagesRoot: string | null;
}

/** The absolute file of index row p, or null when the images root is unknown. */
export function rowFile(saved: Pick<SavedIndex, 'rows' | 'imagesRoot'>, p: number): string | null {
  const path = saved.rows.paths[p];
  if (isAbsolute(path)) return path;
  return saved.imagesRoot ? join(saved.imagesRoot, path) : null;
}

/** The model identity recorded in an index: card hash and preprocessing from the model registry. */
export function modelIdentity(id: string, fingerprint: string | null, dim: number): SavedIndexModel {
  if (isDescriptorId(id)) {
    const d = createDescriptor(id);
    return { id, fingerprint, cardHash: d.fingerprint, kind: 'descriptor', preprocess: null, dim: d.dim };
  }
  const card = findCard(id);
  if (!card) return { id, fingerprint, cardHash: null, kind: 'unknown', preprocess: null, dim };
  return { id, fingerprint, cardHash: cardHash(card), kind: 'onnx', preprocess: card.preprocess, dim: card.dim };
}

/** sha256 of the parts of a model card that determine the embedding (graph input/output, preprocessing, pooling, dim). */
export function cardHash(card: NonNullable<ReturnType<typeof findCard>>): string {
  return sha256(
    JSON.stringify({
      id: card.id,
      input: card.onnx.input,
      output: card.onnx.output,
      prefixTokens: card.onnx.prefixTokens ?? null,
      preprocess: card.preprocess,
      pooling: card.pooling,
      dim: card.dim,
    }),
  );
}

/** Options of `buildSavedIndex`. */
export interface BuildSavedIndexOptions {
  /** An embedding store folder (or an opened store). */
  store: string | EmbeddingStore;
  /** The manifest: labels, and which rows to index (default: the train split, the study's index). */
  manifest?: Manifest;
  /** Which manifest rows to index: a split, or 'all'. Without a manifest only 'all'. */
  split?: Split | 'all';
  /** Index kind and parameters (default exact). */
  index?: IndexParams;
  /** Folder the row paths are relative to (default: the manifest's images root). */
  imagesRoot?: string;
  /** Store rows read per block (default 16384). */
  blockRows?: number;
  onProgress?: ProgressListener;
}

/** Store rows to index (ascending) and each one's path and labels. */
function selectRows(
  store: EmbeddingStore,
  manifest: Manifest | undefined,
  split: Split | 'all',
): { storeRows: Int32Array; row: (p: number) => { path: string } & Partial<RowLabels> } {
  if (!manifest) {
    const storeRows = Int32Array.from({ length: store.count }, (_, i) => i);
    return { storeRows, row: (p) => ({ path: store.ids[p] }) };
  }
  const byId = new Map<string, number>();
  store.ids.forEach((id, i) => byId.set(id, i));
  const wanted = split === 'all' ? Int32Array.from({ length: manifest.size }, (_, i) => i) : manifest.indicesOf(split);
  const pairs: [number, number][] = [];
  const missing: string[] = [];
  for (const r of wanted) {
    const s = byId.get(manifest.filepaths[r]);
    if (s === undefined) missing.push(manifest.filepaths[r]);
    else pairs.push([s, r]);
  }
  if (missing.length)
    throw new CbirError(
      `${missing.length} of the ${wanted.length} ${split === 'all' ? '' : `${split} `}images have no embedding in the store (e.g. "${missing[0]}")`,
      {
        file: store.dir,
        hint: 'embed this manifest with the model first (the store must hold every image to index), or pass the manifest the store was made from',
        code: 'index/missing-embedding',
      },
    );
  pairs.sort((a, b) => a[0] - b[0]);
  const storeRows = Int32Array.from(pairs, (x) => x[0]);
  return {
    storeRows,
    row: (p) => {
      const e = manifest.entry(pairs[p][1]);
      return {
        path: e.filepath,
        class: e.className,
        dataset: e.dataset,
        modality: e.modality,
        region: e.anatomicRegion,
        split: e.split,
      };
    },
  };
}

/** The selected store rows, streamed in blocks (each block a fresh array of whole rows). */
async function* pickRows(
  store: EmbeddingStore,
  storeRows: Int32Array,
  blockRows: number,
): AsyncGenerator<Float32Array> {
  const dim = store.dim;
  let k = 0;
  for await (const { start, data } of store.rows(blockRows)) {
    const end = start + data.length / dim;
    let n = 0;
    while (k + n < storeRows.length && storeRows[k + n] < end) n++;
    if (n === 0) continue;
    if (n === data.length / dim) yield data;
    else {
      const out = new Float32Array(n * dim);
      for (let j = 0; j < n; j++) {
        const s = storeRows[k + j] - start;
        out.set(data.subarray(s * dim, (s + 1) * dim), j * dim);
      }
      yield out;
    }
    k += n;
  }
}

/** Build the vector index of `size` rows from streamed row blocks, with progress. */
async function indexFromBlocks(
  dim: number,
  size: number,
  blocks: AsyncIterable<Float32Array>,
  params: IndexParams,
  onProgress?: ProgressListener,
): Promise<VectorIndex> {
  const tracker = new ProgressTracker(`index build (${params.kind})`, size, onProgress, 'vectors');
  let last = 0;
  const onRows = (done: number) => {
    tracker.add(done - last);
    last = done;
  };
  const index =
    params.kind === 'hnsw'
      ? await HnswIndex.fromRowBlocks(dim, size, blocks, params, onRows)
      : params.kind === 'exact'
        ? await ExactIndex.fromRowBlocks(dim, size, blocks, params, onRows)
        : null;
  if (!index)
    throw new CbirError(`unknown index kind "${(params as { kind: string }).kind}"`, {
      hint: "use kind 'exact' or 'hnsw'",
      code: 'index/bad-parameter',
    });
  tracker.finish();
  return index;
}

/** Build a saved index from an embedding store (and a manifest for labels and the split). Writes nothing. */
export async function buildSavedIndex(opts: BuildSavedIndexOptions): Promise<SavedIndex> {
  const store = typeof opts.store === 'string' ? await openEmbeddings(opts.store) : opts.store;
  const manifest = opts.manifest;
  if (!manifest && opts.split && opts.split !== 'all')
    throw new CbirError(`the ${opts.split} split needs the manifest`, {
      file: store.dir,
      hint: 'give the manifest the store was embedded from, or index all rows',
      code: 'index/no-manifest',
    });
  const split = opts.split ?? (manifest ? 'train' : 'all');
  const { storeRows, row } = selectRows(store, manifest, split);
  if (storeRows.length === 0)
    throw new CbirError(`the ${split} split has no images to index`, {
      file: manifest?.dir ?? store.dir,
      hint: 'index another split, or all rows',
      code: 'index/empty',
    });
  const params = opts.index ?? { kind: 'exact' };
  const index = await indexFromBlocks(
    store.dim,
    storeRows.length,
    pickRows(store, storeRows, opts.blockRows ?? 16384),
    params,
    opts.onProgress,
  );
  const m = store.meta;
  const imagesRoot = opts.imagesRoot ? resolve(opts.imagesRoot) : (manifest?.imagesRoot ?? null);
  const info: SavedIndexInfo = {
    format: INDEX_FORMAT,
    version: INDEX_VERSION,
    kind: index.kind,
    size: index.size,
    dim: index.dim,
    metric: 'ip',
    params: { ...index.params },
    // an imported store (HDF5) holds vectors this radcbir did not compute: its fingerprint is not an extractor's
    model: modelIdentity(m.modelId, m.source ? null : m.fingerprint, store.dim),
    images: { root: imagesRoot, absoluteRoot: imagesRoot },
    manifest: manifest ? { dir: manifest.dir, absoluteDir: resolve(manifest.dir), hash: manifest.hash, split } : null,
    source: {
      kind: 'embeddings',
      dir: resolve(store.dir),
      absoluteDir: resolve(store.dir),
      contentHash: m.contentHash,
      manifestHash: m.manifestHash,
    },
    files: { vectors: VECTORS_FILE, rows: ROWS_FILE },
    created: new Date().toISOString(),
  };
  return { info, index, rows: IndexRows.build(storeRows.length, row), dir: null, imagesRoot };
}

/** Options of `importFaissIndex`. */
export interface ImportFaissOptions {
  /** A FAISS IndexFlatIP or IndexFlatL2 file (`faiss.write_index`). */
  faiss: string;
  /** The JSON list of image paths, one per vector, in index order (the study's metadata.json). */
  metadata: string;
  /** The model the vectors were made with (its card is recorded; queries are embedded with it). */
  model: string;
  /** A manifest to label the rows (paths matched against its filepaths). */
  manifest?: Manifest;
  /** Index kind for the imported vectors (default exact, FAISS's own flat search). */
  index?: IndexParams;
  /** Folder the metadata paths are relative to (default: the manifest's images root). */
  imagesRoot?: string;
  onProgress?: ProgressListener;
}

/**
 * The vectors of a flat FAISS file, checked: L2 files must hold unit vectors (for them the L2
 * ranking is the inner-product ranking, ‖q − x‖² = 2 − 2 q·x); `unit` says whether all were.
 */
async function* checkedFaissRows(
  header: Awaited<ReturnType<typeof readFaissHeader>>,
  paths: readonly string[],
  state: { unit: boolean },
): AsyncGenerator<Float32Array> {
  const dim = header.dim;
  for await (const { start, data } of faissRows(header)) {
    for (let o = 0, r = start; o < data.length; o += dim, r++) {
      let s = 0;
      for (let c = 0; c < dim; c++) s += data[o + c] * data[o + c];
      if (Math.abs(Math.sqrt(s) - 1) <= 1e-3) continue;
      state.unit = false;
      if (header.metric === 'l2')
        throw new CbirError(
          `vector ${r} ("${paths[r]}") has length ${Math.sqrt(s).toFixed(4)}, not 1: for an IndexFlatL2 only unit vectors rank as by cosine similarity`,
          {
            file: header.file,
            hint: 'L2-normalise the vectors before adding them to the FAISS index (faiss.normalize_L2), or use an IndexFlatIP',
            code: 'faiss/not-unit',
          },
        );
    }
    yield data;
  }
}

/** Labels of the metadata paths from a manifest: a row function and how many paths it knows. */
function faissRowLabels(
  paths: readonly string[],
  manifest: Manifest | undefined,
): { row: (p: number) => { path: string } & Partial<RowLabels>; found: number | null } {
  if (!manifest) return { row: (p) => ({ path: paths[p] }), found: null };
  const byPath = new Map<string, number>();
  manifest.filepaths.forEach((f, i) => byPath.set(f, i));
  let found = 0;
  const rowOf = Int32Array.from(paths, (p) => {
    const r = byPath.get(p) ?? -1;
    if (r >= 0) found++;
    return r;
  });
  const row = (p: number) => {
    if (rowOf[p] < 0) return { path: paths[p] };
    const e = manifest.entry(rowOf[p]);
    return {
      path: paths[p],
      class: e.className,
      dataset: e.dataset,
      modality: e.modality,
      region: e.anatomicRegion,
      split: e.split,
    };
  };
  return { row, found };
}

/**
 * Import the study's published vector database: a FAISS flat index and its metadata.json.
 * IndexFlatIP keeps its ranking and similarities; an IndexFlatL2 of unit vectors becomes the same
 * inner-product index (its distances d map to similarities 1 − d/2). Writes nothing.
 */
export async function importFaissIndex(opts: ImportFaissOptions): Promise<SavedIndex> {
  const header = await readFaissHeader(opts.faiss);
  const paths = await readFaissMetadata(opts.metadata, header.ntotal);
  if (header.ntotal === 0)
    throw new CbirError('the FAISS index holds no vectors', {
      file: opts.faiss,
      hint: 'add the index vectors before writing it',
      code: 'index/empty',
    });
  const model = modelIdentity(opts.model, null, header.dim);
  if (model.kind !== 'unknown' && model.dim !== header.dim)
    throw new CbirError(`the FAISS vectors have ${header.dim} dimensions, model "${opts.model}" gives ${model.dim}`, {
      file: opts.faiss,
      hint: 'name the model the vectors were made with',
      code: 'faiss/dim-mismatch',
    });
  const state = { unit: true };
  const params = opts.index ?? { kind: 'exact' };
  const index = await indexFromBlocks(
    header.dim,
    header.ntotal,
    checkedFaissRows(header, paths, state),
    params,
    opts.onProgress,
  );
  const { row, found } = faissRowLabels(paths, opts.manifest);
  const imagesRoot = opts.imagesRoot ? resolve(opts.imagesRoot) : (opts.manifest?.imagesRoot ?? null);
  const m = opts.manifest;
  const info: SavedIndexInfo = {
    format: INDEX_FORMAT,
    version: INDEX_VERSION,
    kind: index.kind,
    size: index.size,
    dim: index.dim,
    metric: 'ip',
    params: { ...index.params },
    model,
    images: { root: imagesRoot, absoluteRoot: imagesRoot },
    manifest: m ? { dir: m.dir, absoluteDir: resolve(m.dir), hash: m.hash, split: 'all' } : null,
    source: {
      kind: 'faiss',
      file: resolve(opts.faiss),
      metadata: resolve(opts.metadata),
      fourcc: header.fourcc,
      metric: header.metric,
      unitVectors: state.unit,
      inManifest: found,
    },
    files: { vectors: VECTORS_FILE, rows: ROWS_FILE },
    created: new Date().toISOString(),
  };
  return { info, index, rows: IndexRows.build(header.ntotal, row), dir: null, imagesRoot };
}

/** A path relative to `dir` (POSIX separators), for index.json. */
function rel(dir: string, p: string): string {
  return relative(dir, p).split('\\').join('/') || '.';
}

/**
 * Write a saved index to `dir` (index.json last, so the folder is complete exactly when index.json
 * exists). A folder already holding an index is refused unless `overwrite`. Returns the index as
 * saved (paths in `info` relative to `dir`).
 */
export async function saveSavedIndex(
  saved: SavedIndex,
  dir: string,
  opts: { overwrite?: boolean } = {},
): Promise<SavedIndex> {
  const out = resolve(dir);
  const infoFile = join(out, INDEX_FILE);
  if (existsSync(infoFile) && !opts.overwrite)
    throw new CbirError('this folder already holds a saved index', {
      file: infoFile,
      hint: 'write to a new folder, or replace it (overwrite)',
      code: 'index/exists',
    });
  await mkdir(out, { recursive: true });
  await rm(infoFile, { force: true });
  await rm(join(out, `${VECTORS_FILE}.json`), { force: true }); // a stale HNSW sidecar
  await saved.index.save(join(out, VECTORS_FILE));
  await saved.rows.write(join(out, ROWS_FILE));
  const i = saved.info;
  const abs = saved.imagesRoot ?? i.images.absoluteRoot;
  const info: SavedIndexInfo = {
    ...i,
    images: { root: abs ? rel(out, abs) : null, absoluteRoot: abs },
    manifest: i.manifest ? { ...i.manifest, dir: rel(out, i.manifest.absoluteDir) } : null,
    source: i.source.kind === 'embeddings' ? { ...i.source, dir: rel(out, i.source.absoluteDir) } : i.source,
  };
  await writeJsonAtomic(infoFile, info);
  return { ...saved, info, dir: out, imagesRoot: abs };
}

/** Read and check index.json of a saved index folder. */
export async function readSavedIndexInfo(dir: string): Promise<SavedIndexInfo> {
  const file = join(dir, INDEX_FILE);
  if (!existsSync(dir))
    throw new CbirError('saved index folder not found', {
      file: dir,
      hint: 'give the output folder of an index build or a FAISS import',
      code: 'index/not-found',
    });
  if (!existsSync(file))
    throw new CbirError('not a saved index (no index.json)', {
      file: dir,
      hint: 'give the output folder of an index build or a FAISS import; a folder is a complete index only when index.json exists (build it again if it was interrupted)',
      code: 'index/not-a-saved-index',
    });
  let info: SavedIndexInfo;
  try {
    info = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new CbirError(`index.json is not valid JSON (${errorMessage(e)})`, {
      file,
      hint: 'the index folder is damaged; build it again',
      code: 'index/bad-format',
    });
  }
  checkInfo(info, file);
  return info;
}

function checkInfo(info: SavedIndexInfo, file: string): void {
  if (info?.format !== INDEX_FORMAT)
    throw new CbirError(`index.json has format "${info?.format}", expected "${INDEX_FORMAT}"`, {
      file,
      hint: 'give the output folder of an index build or a FAISS import',
      code: 'index/bad-format',
    });
  if (typeof info.version === 'number' && info.version > INDEX_VERSION)
    throw new CbirError(`index version ${info.version} is newer than this radcbir reads (${INDEX_VERSION})`, {
      file,
      hint: 'update radcbir, or build the index again with this version',
      code: 'index/newer-version',
    });
  const ok =
    info.version === INDEX_VERSION &&
    (info.kind === 'exact' || info.kind === 'hnsw') &&
    Number.isInteger(info.size) &&
    info.size > 0 &&
    Number.isInteger(info.dim) &&
    info.dim > 0 &&
    typeof info.model?.id === 'string' &&
    typeof info.files?.vectors === 'string' &&
    typeof info.files?.rows === 'string' &&
    info.images !== undefined;
  if (!ok)
    throw new CbirError('index.json lacks required fields (version, kind, size, dim, model, files or images)', {
      file,
      hint: 'the index folder is damaged; build it again',
      code: 'index/bad-format',
    });
}

/** The images root of an opened index: the relative root if it exists, else the absolute one. */
function resolveImagesRoot(dir: string, images: SavedIndexInfo['images']): string | null {
  const candidates = [images.root !== null ? resolve(dir, images.root) : null, images.absoluteRoot];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return images.absoluteRoot ?? (images.root !== null ? resolve(dir, images.root) : null);
}

/** Open a saved index folder (schema-checked); `opts` are the vector index's runtime options. */
export async function openSavedIndex(dir: string, opts: LoadOptions = {}): Promise<SavedIndex> {
  const out = resolve(dir);
  const info = await readSavedIndexInfo(out);
  const index = await loadIndex(join(out, info.files.vectors), opts);
  if (index.size !== info.size || index.dim !== info.dim) {
    await index.close();
    throw new CbirError(
      `the vectors file holds ${index.size} × ${index.dim}, index.json says ${info.size} × ${info.dim}`,
      {
        file: join(out, info.files.vectors),
        hint: 'the files of the index folder do not belong together; build it again',
        code: 'index/bad-format',
      },
    );
  }
  try {
    const rows = await IndexRows.read(join(out, info.files.rows), info.size);
    return { info, index, rows, dir: out, imagesRoot: resolveImagesRoot(out, info.images) };
  } catch (e) {
    await index.close();
    throw e;
  }
}

/** What `cbir index info` shows: index.json, where the images resolve, label counts, file sizes. */
export interface SavedIndexSummary {
  dir: string;
  info: SavedIndexInfo;
  /** Images root as resolved now, and whether it exists. */
  imagesRoot: string | null;
  imagesFound: boolean;
  counts: { modality: Record<string, number>; dataset: Record<string, number>; classes: number };
  bytes: number;
}

/** Summarise a saved index without loading its vectors. */
export async function savedIndexSummary(dir: string): Promise<SavedIndexSummary> {
  const out = resolve(dir);
  const info = await readSavedIndexInfo(out);
  const rows = await IndexRows.read(join(out, info.files.rows), info.size);
  let bytes = 0;
  for (const f of [info.files.vectors, `${info.files.vectors}.json`, info.files.rows, INDEX_FILE]) {
    const s = await stat(join(out, f)).catch(() => null);
    bytes += s?.size ?? 0;
  }
  const imagesRoot = resolveImagesRoot(out, info.images);
  return {
    dir: out,
    info,
    imagesRoot,
    imagesFound: imagesRoot !== null && existsSync(imagesRoot),
    counts: {
      modality: rows.counts('modality'),
      dataset: rows.counts('dataset'),
      classes: Object.keys(rows.counts('class')).length,
    },
    bytes,
  };
}

/** Free the native resources of an opened or built index. */
export async function closeSavedIndex(saved: SavedIndex): Promise<void> {
  await saved.index.close();
}
