import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Dataset as H5Dataset, File as H5File } from 'h5wasm/node';
import { CbirError } from '../errors.js';
import type { Manifest } from '../data/manifest.js';
import { sha256, sha256File } from '../util/fsx.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { StoreWriter, openEmbeddings, type EmbeddingStore, type EmbeddingsMeta } from './store.js';

/**
 * The study's published embedding layout (MIC-DKFZ/foundation-models-for-cbmir,
 * create_embeddings.py): one HDF5 file `<dataset>.h5` per source dataset, holding one 1-D
 * float32 HDF5 dataset per image, named by the image's manifest filepath (so
 * "RadImageNet/CT/abd/x.png" is dataset x.png in group RadImageNet/CT/abd), already
 * L2-normalised. Export writes a store in that layout; import reads it back against a manifest.
 */

type H5Lib = (typeof import('h5wasm/node'))['default'];
let lib: Promise<H5Lib> | null = null;

/**
 * h5wasm, loaded on first use. Its 4 MB Emscripten glue is loaded with require(esm) (Node ≥
 * 20.19) because tsx's import hook rescans the whole file on every start (≈ 12 s); older Node
 * falls back to a plain import.
 */
export function loadH5wasm(): Promise<H5Lib> {
  lib ??= (async () => {
    let mod: { default: H5Lib };
    try {
      mod = createRequire(import.meta.url)(fileURLToPath(import.meta.resolve('h5wasm/node'))) as { default: H5Lib };
    } catch {
      mod = (await import('h5wasm/node')) as { default: H5Lib };
    }
    await mod.default.ready;
    return mod.default;
  })();
  return lib;
}

/** Why a filepath cannot be an HDF5 dataset name in this layout, or null when it can. */
export function h5NameProblem(path: string): string | null {
  if (path.length === 0) return 'it is empty';
  if (path.startsWith('/')) return 'it starts with "/"';
  const parts = path.split('/');
  if (parts.some((p) => p === '')) return 'it has an empty path component ("//" or a trailing "/")';
  if (parts.some((p) => p === '.' || p === '..')) return 'it has a "." or ".." component';
  return null;
}

export interface ExportH5Options {
  manifest: Manifest;
  /** Store folder (or an opened store). */
  store: string | EmbeddingStore;
  /** Folder for the `<dataset>.h5` files. */
  out: string;
  onProgress?: ProgressListener;
}

export interface ExportH5Result {
  files: { dataset: string; file: string; count: number }[];
}

/**
 * Write a store as one `<dataset>.h5` per source dataset of the manifest (the study's
 * layout). Each file is written to a temporary name and renamed when complete.
 */
export async function exportH5(opts: ExportH5Options): Promise<ExportH5Result> {
  const lib = await loadH5wasm();
  const store = typeof opts.store === 'string' ? await openEmbeddings(opts.store) : opts.store;
  const { manifest } = opts;
  const dsOfRow = datasetOfRows(store, manifest);
  checkDatasetNames(manifest);
  await mkdir(opts.out, { recursive: true });
  const files = new Map<number, H5Output>();
  const tracker = new ProgressTracker('export-h5', store.count, opts.onProgress, 'vectors');
  try {
    for (const d of [...new Set<number>(dsOfRow)].sort((a, b) => a - b))
      files.set(d, createOutput(lib, store, opts.out, manifest.datasets[d]));
    const dim = store.dim;
    for await (const { start, data } of store.rows(4096)) {
      const n = data.length / dim;
      for (let k = 0; k < n; k++) {
        const r = start + k;
        writeVector(files.get(dsOfRow[r])!, store.ids[r], data.subarray(k * dim, (k + 1) * dim), dim);
        tracker.add(1);
      }
    }
    tracker.finish();
    const out: ExportH5Result['files'] = [];
    for (const [d, f] of files) {
      f.file.close();
      await rename(f.tmp, f.final);
      out.push({ dataset: manifest.datasets[d], file: f.final, count: f.count });
    }
    files.clear();
    return { files: out };
  } finally {
    for (const f of files.values()) {
      try {
        f.file.close();
      } catch {
        // already closed
      }
      await rm(f.tmp, { force: true });
    }
  }
}

/** One `<dataset>.h5` being written: the open file, its temporary and final names, the groups made. */
interface H5Output {
  file: H5File;
  tmp: string;
  final: string;
  groups: Set<string>;
  count: number;
}

/** Which manifest dataset each store row goes to; every id must be in the manifest and a valid HDF5 name. */
function datasetOfRows(store: EmbeddingStore, manifest: Manifest): Uint16Array {
  const rowOf = new Map<string, number>();
  manifest.filepaths.forEach((p, i) => rowOf.set(p, i));
  const dsOfRow = new Uint16Array(store.count);
  const unknown: string[] = [];
  store.ids.forEach((id, r) => {
    const i = rowOf.get(id);
    if (i === undefined) unknown.push(id);
    else dsOfRow[r] = manifest.datasetIndex[i];
    const problem = h5NameProblem(id);
    if (problem) {
      throw new CbirError(`image path "${id}" cannot be an HDF5 dataset name: ${problem}`, {
        file: join(store.dir, 'ids.txt'),
        row: r + 1,
        hint: 'use paths relative to the images root without "." or ".." parts (prepare the manifest again)',
        code: 'h5/bad-name',
      });
    }
  });
  if (unknown.length > 0) {
    throw new CbirError(
      `${unknown.length} ids of the store are not in the manifest (e.g. "${unknown.slice(0, 3).join('", "')}")`,
      {
        file: join(store.dir, 'ids.txt'),
        hint: 'use the manifest the store was embedded from',
        code: 'h5/unknown-ids',
      },
    );
  }
  return dsOfRow;
}

/** Every dataset name of the manifest must be usable as a file name. */
function checkDatasetNames(manifest: Manifest): void {
  for (const ds of manifest.datasets) {
    if (ds === '' || ds.includes('/') || ds.startsWith('.')) {
      throw new CbirError(`dataset name "${ds}" cannot be a file name`, {
        file: join(manifest.dir, 'manifest.csv'),
        hint: 'dataset names must be plain names (no "/" and not starting with ".")',
        code: 'h5/bad-dataset-name',
      });
    }
  }
}

/** Create `<dataset>.h5` under a temporary name, with the store's identity as attributes. */
function createOutput(lib: H5Lib, store: EmbeddingStore, outDir: string, dataset: string): H5Output {
  const final = join(outDir, `${dataset}.h5`);
  const tmp = join(outDir, `.${dataset}.h5.${process.pid}.tmp`);
  const file = new lib.File(tmp, 'w');
  file.create_attribute('radcbir_model', store.meta.modelId);
  file.create_attribute('radcbir_fingerprint', store.meta.fingerprint);
  file.create_attribute('radcbir_manifest_hash', store.meta.manifestHash);
  return { file, tmp, final, groups: new Set(['']), count: 0 };
}

/** Write one vector as dataset `id`, creating its parent groups first. */
function writeVector(f: H5Output, id: string, vector: Float32Array, dim: number): void {
  const parent = id.includes('/') ? id.slice(0, id.lastIndexOf('/')) : '';
  if (!f.groups.has(parent)) {
    // create missing intermediate groups (h5wasm does not)
    const parts = parent.split('/');
    for (let p = 1; p <= parts.length; p++) {
      const g = parts.slice(0, p).join('/');
      if (f.groups.has(g)) continue;
      if (f.file.get(g) === null) f.file.create_group(g);
      f.groups.add(g);
    }
  }
  const made = f.file.create_dataset({ name: id, data: vector, shape: [dim], dtype: '<f' });
  if (!made) {
    throw new CbirError(`HDF5 could not create dataset "${id}"`, {
      file: f.final,
      hint: 'a group and an image share this name, or the path is invalid for HDF5',
      code: 'h5/write',
    });
  }
  f.count++;
}

export interface ImportH5Options {
  manifest: Manifest;
  /** A folder of `.h5` files, or the files themselves. */
  from: string | string[];
  /** Store folder to write. */
  out: string;
  /** Model id for the store; default: the files' radcbir_model attribute, else the folder name (the study stores `<model>/<dataset>.h5`). */
  modelId?: string;
  /** Write a store of the found rows only when some manifest paths are missing (default: refuse). */
  allowMissing?: boolean;
  onProgress?: ProgressListener;
}

export interface ImportH5Report {
  meta: EmbeddingsMeta;
  files: string[];
  /** Manifest paths found in the files. */
  found: number;
  missing: number;
  missingExamples: string[];
  /** Datasets in the files that are not in the manifest (ignored). */
  extra: number;
  extraExamples: string[];
  /** Vectors whose norm was not 1 (± 1e-4) and were normalised on import. */
  renormalized: number;
}

function listH5(from: string | string[]): string[] {
  const list = typeof from === 'string' ? [from] : from;
  const files: string[] = [];
  for (const p of list) {
    if (!existsSync(p))
      throw new CbirError('HDF5 file or folder not found', {
        file: p,
        hint: 'pass the folder holding the `<dataset>.h5` files, or the files',
        code: 'h5/not-found',
      });
    if (statSync(p).isDirectory()) {
      const inDir = readdirSync(p)
        .filter((f) => /\.(h5|hdf5)$/i.test(f))
        .sort()
        .map((f) => join(p, f));
      if (inDir.length === 0)
        throw new CbirError('no .h5 files in this folder', {
          file: p,
          hint: "the study's layout is one `<dataset>.h5` per source dataset",
          code: 'h5/none',
        });
      files.push(...inDir);
    } else files.push(p);
  }
  return files;
}

function toFloat32(v: unknown, file: string, path: string): Float32Array {
  if (v instanceof Float32Array) return v;
  if (
    v instanceof Float64Array ||
    v instanceof Int32Array ||
    v instanceof Int16Array ||
    v instanceof Uint8Array ||
    v instanceof Int8Array ||
    v instanceof Uint16Array ||
    v instanceof Uint32Array
  )
    return Float32Array.from(v);
  throw new CbirError(`dataset "${path}" is not a numeric vector h5wasm can read (float16?)`, {
    file,
    hint: 'convert the file to float32 (e.g. with h5py: f[path][...].astype("float32"))',
    code: 'h5/dtype',
  });
}

/**
 * Read published embeddings (`<dataset>.h5` files, one dataset per image path) into a store
 * whose rows follow the manifest. Missing manifest paths are refused (with examples) unless
 * `allowMissing`; datasets not in the manifest are counted and ignored.
 */
export async function importH5(opts: ImportH5Options): Promise<ImportH5Report> {
  const lib = await loadH5wasm();
  const { manifest } = opts;
  const paths = listH5(opts.from);
  const files: H5Input[] = [];
  try {
    for (const p of paths)
      files.push({ path: p, file: new lib.File(p, 'r'), name: basename(p).replace(/\.(h5|hdf5)$/i, '') });
    const { where, missing, missingExamples } = locateRows(lib, manifest, files);
    const { extra, extraExamples } = extraDatasets(lib, manifest, files);
    const found = manifest.size - missing;
    checkCoverage(opts, paths, { found, missing, missingExamples, extra, extraExamples });
    const { writer, ids, renormalized } = await readRows(manifest, files, where, found, opts);
    try {
      const modelId = importedModelId(opts.modelId, files[0].file, paths[0]);
      const meta = await writer.finish(ids, {
        modelId,
        fingerprint: await sourceFingerprint(paths),
        manifestHash: manifest.hash,
        source: {
          kind: 'hdf5',
          files: paths.map((p) => basename(p)),
          missing,
          extra,
          renormalized,
          ...(missing > 0 ? { subset: true } : {}),
        },
      });
      return { meta, files: paths, found, missing, missingExamples, extra, extraExamples, renormalized };
    } catch (e) {
      await writer.abort();
      throw e;
    }
  } finally {
    for (const f of files) {
      try {
        f.file.close();
      } catch {
        // ignore
      }
    }
  }
}

/** One opened input file; `name` is its file name without .h5 (the study's dataset name). */
interface H5Input {
  path: string;
  file: H5File;
  name: string;
}

/** Which file holds each manifest path (its dataset's file first, then the others); -1 when none. */
function locateRows(
  lib: H5Lib,
  manifest: Manifest,
  files: H5Input[],
): { where: Int32Array; missing: number; missingExamples: string[] } {
  const byName = new Map(files.map((f) => [f.name, f]));
  const where = new Int32Array(manifest.size).fill(-1);
  const missingExamples: string[] = [];
  let missing = 0;
  for (let i = 0; i < manifest.size; i++) {
    const fp = manifest.filepaths[i];
    const own = byName.get(manifest.datasets[manifest.datasetIndex[i]]);
    const order = own ? [own, ...files.filter((f) => f !== own)] : files;
    for (const f of order) {
      if (h5NameProblem(fp) === null && f.file.get(fp) instanceof lib.Dataset) {
        where[i] = files.indexOf(f);
        break;
      }
    }
    if (where[i] < 0) {
      missing++;
      if (missingExamples.length < 10) missingExamples.push(fp);
    }
  }
  return { where, missing, missingExamples };
}

/** Datasets in the files that the manifest does not list. */
function extraDatasets(lib: H5Lib, manifest: Manifest, files: H5Input[]): { extra: number; extraExamples: string[] } {
  const inManifest = new Set(manifest.filepaths);
  let extra = 0;
  const extraExamples: string[] = [];
  for (const f of files) {
    for (const p of f.file.paths()) {
      const name = p.replace(/^\//, '');
      if (inManifest.has(name) || !(f.file.get(name) instanceof lib.Dataset)) continue;
      extra++;
      if (extraExamples.length < 10) extraExamples.push(`${basename(f.path)}:${name}`);
    }
  }
  return { extra, extraExamples };
}

/** Refuse an import that matches no manifest path, or misses some without `allowMissing`. */
function checkCoverage(
  opts: ImportH5Options,
  paths: string[],
  c: { found: number; missing: number; missingExamples: string[]; extra: number; extraExamples: string[] },
): void {
  const { manifest } = opts;
  if (c.found === 0) {
    throw new CbirError(
      `none of the ${manifest.size} manifest paths is in the HDF5 files (e.g. "${manifest.filepaths[0]}")`,
      {
        file: paths[0],
        hint: `the files hold ${c.extra} other datasets (e.g. "${c.extraExamples.slice(0, 3).join('", "')}"); check that the manifest's filepaths are the paths the embeddings were made with`,
        code: 'h5/no-match',
      },
    );
  }
  if (c.missing > 0 && !opts.allowMissing) {
    throw new CbirError(
      `${c.missing} of ${manifest.size} manifest paths are not in the HDF5 files, e.g.:\n    ${c.missingExamples.join('\n    ')}`,
      {
        file: typeof opts.from === 'string' ? opts.from : paths[0],
        hint: 'embed the missing images, fix the manifest paths, or allow missing images to import the found rows only',
        code: 'h5/missing',
      },
    );
  }
}

/**
 * Read the found vectors in manifest order into a new store (dim from the first vector),
 * normalising those whose norm is not 1. The writer is returned unfinished; on error it is aborted.
 */
async function readRows(
  manifest: Manifest,
  files: H5Input[],
  where: Int32Array,
  found: number,
  opts: ImportH5Options,
): Promise<{ writer: StoreWriter; ids: string[]; renormalized: number }> {
  let dim = 0;
  let writer: StoreWriter | null = null;
  const ids: string[] = [];
  let renormalized = 0;
  const tracker = new ProgressTracker('import-h5', found, opts.onProgress, 'vectors');
  const block: Float32Array[] = [];
  try {
    for (let i = 0; i < manifest.size; i++) {
      if (where[i] < 0) continue;
      const f = files[where[i]];
      const fp = manifest.filepaths[i];
      const v = readVector(f, fp);
      if (dim === 0) {
        dim = v.length;
        writer = await StoreWriter.create(opts.out, dim);
      } else if (v.length !== dim) {
        throw new CbirError(`dataset "${fp}" has ${v.length} values, the first vector had ${dim}`, {
          file: f.path,
          hint: 'all vectors must come from one model',
          code: 'h5/dim',
        });
      }
      const row = unitRow(v, fp, f.path);
      if (row !== v) renormalized++;
      block.push(row);
      ids.push(fp);
      if (block.length >= 4096) await flushBlock(writer!, block, dim);
      tracker.add(1);
    }
    await flushBlock(writer!, block, dim);
    tracker.finish();
    return { writer: writer!, ids, renormalized };
  } catch (e) {
    if (writer) await writer.abort();
    throw e;
  }
}

/** The vector stored as dataset `fp` of `f`, as float32; it must be one vector (1-D or 1 × dim). */
function readVector(f: H5Input, fp: string): Float32Array {
  const ds = f.file.get(fp) as H5Dataset;
  const shape = ds.shape ?? [];
  const v = toFloat32(ds.value, f.path, fp);
  if (shape.filter((s) => s !== 1).length > 1) {
    throw new CbirError(`dataset "${fp}" has shape [${shape.join(', ')}], expected one vector`, {
      file: f.path,
      hint: 'each image must be a 1-D vector (or 1 × dim)',
      code: 'h5/shape',
    });
  }
  return v;
}

/** `v` itself when its norm is 1 (± 1e-4) or 0, else a normalised copy; NaN or Inf is refused. */
function unitRow(v: Float32Array, fp: string, file: string): Float32Array {
  const dim = v.length;
  let s = 0;
  for (let k = 0; k < dim; k++) {
    if (!Number.isFinite(v[k]))
      throw new CbirError(`dataset "${fp}" holds NaN or Inf`, {
        file,
        hint: 're-embed this image or remove it from the manifest',
        code: 'h5/non-finite',
      });
    s += v[k] * v[k];
  }
  if (!(Math.abs(Math.sqrt(s) - 1) > 1e-4 && s > 0)) return v;
  const row = new Float32Array(dim);
  const inv = 1 / Math.sqrt(s);
  for (let k = 0; k < dim; k++) row[k] = v[k] * inv;
  return row;
}

/** Append the buffered vectors to the store as one block and empty the buffer. */
async function flushBlock(writer: StoreWriter, block: Float32Array[], dim: number): Promise<void> {
  if (block.length === 0) return;
  const buf = new Float32Array(block.length * dim);
  block.forEach((v, k) => buf.set(v, k * dim));
  block.length = 0;
  await writer.append(buf);
}

/** The given model id, else the first file's radcbir_model attribute, else the folder name (the study stores `<model>/<dataset>.h5`). */
function importedModelId(given: string | undefined, first: H5File, firstPath: string): string {
  let modelId = given;
  if (!modelId) {
    try {
      const a = first.get_attribute('radcbir_model', true);
      if (typeof a === 'string' && a) modelId = a;
    } catch {
      // no attribute: the study's own files
    }
  }
  return modelId ?? basename(dirname(resolve(firstPath)));
}

/** Fingerprint of an import: the hash of the files' names and sha256s. */
async function sourceFingerprint(paths: string[]): Promise<string> {
  const fileHashes: string[] = [];
  for (const p of paths) fileHashes.push(`${basename(p)}:${await sha256File(p)}`);
  return 'h5:' + sha256(fileHashes.join('\n'));
}
