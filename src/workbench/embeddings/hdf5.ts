import fs, { closeSync, existsSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Dataset as H5Dataset, File as H5File } from 'h5wasm/node';
import { CbirError, errorMessage } from '../errors.js';
import { Manifest, writeManifest, type ManifestEntry } from '../data/manifest.js';
import { sha256, sha256File } from '../util/fsx.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { StoreWriter, openEmbeddings, type EmbeddingStore, type EmbeddingsMeta } from './store.js';
import { RowCheck, degenerateError } from './degenerate.js';
import { withFsErrors } from '../util/fserrors.js';

/**
 * The study's published embedding layout (MIC-DKFZ/foundation-models-for-cbmir,
 * create_embeddings.py): one HDF5 file `<dataset>.h5` per source dataset, holding one 1-D
 * float32 HDF5 dataset per image, named by the image's manifest filepath (so
 * "RadImageNet/CT/abd/x.png" is dataset x.png in group RadImageNet/CT/abd), already
 * L2-normalised. Export writes a store in that layout; import reads it back against a manifest.
 *
 * The dataset names (keys) of a manifest (`h5Keys`): each image's filepath, normalised ("a/./b"
 * → "a/b"), when every path stays inside the images root; otherwise, for every image, its path
 * relative to the deepest folder holding all the manifest's images (so a manifest whose paths
 * climb out with ".." still exports, with keys that start at the images' common folder, like
 * the study's "<dataset folder>/<class>/<file>").
 *
 * Files are checked before h5wasm opens them (a regular file, the HDF5 signature at offset 0,
 * 512, 1024, …, not shorter than its superblock says), and h5wasm's own diagnostics
 * (HDF5-DIAG on stderr) are silenced: a bad file gives one CbirError naming it.
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

/**
 * Run a synchronous h5wasm call with its console output dropped: the HDF5 library prints its
 * error stack (HDF5-DIAG) straight to file descriptors 1 and 2 through fs.writeSync. Other
 * writes (the HDF5 file itself) pass through.
 */
export function quietH5<T>(fn: () => T): T {
  const write = fs.writeSync;
  const dropped = (fd: number, data: unknown, ...rest: unknown[]): number => {
    if (typeof data === 'string') return Buffer.byteLength(data);
    const view = data as ArrayBufferView;
    const offset = typeof rest[0] === 'number' ? rest[0] : 0;
    return typeof rest[1] === 'number' ? rest[1] : view.byteLength - offset;
  };
  fs.writeSync = ((fd: number, ...args: unknown[]) =>
    fd === 1 || fd === 2
      ? dropped(fd, args[0], ...args.slice(1))
      : (write as (...a: unknown[]) => number).call(fs, fd, ...args)) as typeof fs.writeSync;
  try {
    return fn();
  } finally {
    fs.writeSync = write;
  }
}

/** A quiet h5wasm call on `file`; a failure becomes a CbirError naming the file. */
function h5<T>(file: string, what: string, fn: () => T): T {
  try {
    return quietH5(fn);
  } catch (e) {
    if (e instanceof CbirError) throw e;
    // h5wasm's own words ("error - name not defined!", an HDF5-DIAG stack) do not help a reader
    const first = errorMessage(e)
      .split('\n')[0]
      .replace(/^Error: /, '');
    const detail = /name not defined|HDF5-DIAG/.test(first) || first === '' ? "the file's structure is damaged" : first;
    throw new CbirError(`HDF5 could not ${what} (${detail})`, {
      file,
      hint: 'the file is damaged or was written incompletely; copy or export it again',
      code: 'h5/read',
      cause: e,
    });
  }
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Little-endian unsigned integer of `size` bytes (offsets/lengths of 2, 4 or 8 bytes) at `at`. */
function readUint(b: Buffer, at: number, size: number): number {
  let v = 0;
  for (let k = size - 1; k >= 0; k--) v = v * 256 + b[at + k];
  return v;
}

/**
 * Refuse, before h5wasm sees it, a path that is not a regular file, a file without the HDF5
 * signature (at offset 0, 512, 1024, 2048, …) and a file shorter than its superblock's end-of-file
 * address (truncated, e.g. by an interrupted copy).
 */
export function checkHdf5File(file: string): void {
  const st = statSync(file);
  if (!st.isFile())
    throw new CbirError('not a regular file', {
      file,
      hint: 'pass `<dataset>.h5` files, or the folder holding them',
      code: 'h5/not-a-file',
    });
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(64);
    for (let at = 0; at + 8 <= st.size; at = at === 0 ? 512 : at * 2) {
      const n = readSync(fd, head, 0, head.length, at);
      if (n < 8 || !head.subarray(0, 8).equals(HDF5_SIGNATURE)) continue;
      const eof = superblockEnd(head, n, at);
      if (eof !== null && st.size < eof) {
        throw new CbirError(`the HDF5 file is truncated: ${st.size} bytes, its header says ${eof}`, {
          file,
          hint: 'the copy or download was interrupted; copy or export the file again',
          code: 'h5/truncated',
        });
      }
      return;
    }
  } finally {
    closeSync(fd);
  }
  throw new CbirError(`not an HDF5 file (no HDF5 signature; ${st.size} bytes)`, {
    file,
    hint: "pass the study's `<dataset>.h5` files (or files written by the HDF5 export)",
    code: 'h5/not-hdf5',
  });
}

/** The file size the superblock at `at` implies (base address + end-of-file address), or null when unknown. */
function superblockEnd(b: Buffer, n: number, at: number): number | null {
  const version = b[8];
  let o: number;
  let pos: number;
  if (version === 0 || version === 1) {
    o = b[13];
    pos = version === 0 ? 24 : 28; // base address, then free-space, end-of-file, driver addresses
  } else if (version === 2 || version === 3) {
    o = b[9];
    pos = 12; // base address, then extension, end-of-file, root addresses
  } else return null;
  if (![2, 4, 8].includes(o) || pos + 3 * o > n) return null;
  const base = readUint(b, pos, o);
  const eof = readUint(b, pos + 2 * o, o);
  const undef = 2 ** (8 * o) - 1;
  if (eof >= undef || base >= undef) return null;
  return Math.max(base, at) + eof;
}

/** Open an HDF5 file for reading after `checkHdf5File`; one CbirError naming it when HDF5 cannot. */
function openH5(lib: H5Lib, file: string): H5File {
  checkHdf5File(file);
  const f = h5(file, 'open this file', () => new lib.File(file, 'r'));
  if (Number(f.file_id) < 0) {
    throw new CbirError('HDF5 could not open this file (its structure is damaged)', {
      file,
      hint: 'copy or export the file again',
      code: 'h5/read',
    });
  }
  return f;
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

/** The deepest folder holding all `paths` (absolute). */
function commonFolder(paths: readonly string[]): string {
  let parts = dirname(paths[0]).split(sep);
  for (const p of paths) {
    const q = dirname(p).split(sep);
    let k = 0;
    while (k < parts.length && k < q.length && parts[k] === q[k]) k++;
    parts = parts.slice(0, k);
  }
  return parts.join(sep) || sep;
}

/**
 * The HDF5 dataset name of every manifest row (see the top of this file): the normalised
 * filepaths when all stay inside the images root, else each image's path relative to the
 * deepest folder holding all of them. `base` says which.
 */
export function h5Keys(m: Manifest): { keys: string[]; base: 'filepath' | 'common-folder' } {
  const norm = m.filepaths.map((p) => posix.normalize(p));
  if (norm.every((p) => !isAbsolute(p) && p !== '..' && !p.startsWith('../') && h5NameProblem(p) === null))
    return { keys: norm, base: 'filepath' };
  const abs = m.filepaths.map((_, i) => resolve(m.resolvePath(i)));
  const root = commonFolder(abs);
  return { keys: abs.map((a) => relative(root, a).split(sep).join('/')), base: 'common-folder' };
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
  const { dsOfRow, keyOfRow } = datasetOfRows(store, manifest);
  checkDatasetNames(manifest);
  await withFsErrors(opts.out, 'creating the HDF5 output folder', () => mkdir(opts.out, { recursive: true }));
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
        writeVector(files.get(dsOfRow[r])!, keyOfRow[r], data.subarray(k * dim, (k + 1) * dim), dim);
        tracker.add(1);
      }
    }
    tracker.finish();
    const out: ExportH5Result['files'] = [];
    for (const [d, f] of files) {
      h5(f.final, 'finish writing this file', () => f.file.close());
      await withFsErrors(f.final, 'writing the HDF5 file', () => rename(f.tmp, f.final));
      out.push({ dataset: manifest.datasets[d], file: f.final, count: f.count });
    }
    files.clear();
    return { files: out };
  } finally {
    for (const f of files.values()) {
      try {
        quietH5(() => f.file.close());
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

/**
 * Which manifest dataset each store row goes to, and its HDF5 dataset name (`h5Keys`); every id
 * must be in the manifest, and the names valid and distinct.
 */
function datasetOfRows(store: EmbeddingStore, manifest: Manifest): { dsOfRow: Uint16Array; keyOfRow: string[] } {
  const rowOf = new Map<string, number>();
  manifest.filepaths.forEach((p, i) => rowOf.set(p, i));
  const { keys } = h5Keys(manifest);
  const dsOfRow = new Uint16Array(store.count);
  const keyOfRow: string[] = new Array(store.count);
  const unknown: string[] = [];
  const seen = new Map<string, number>();
  store.ids.forEach((id, r) => {
    const i = rowOf.get(id);
    if (i === undefined) {
      unknown.push(id);
      return;
    }
    dsOfRow[r] = manifest.datasetIndex[i];
    keyOfRow[r] = keys[i];
    const problem = h5NameProblem(keys[i]);
    if (problem) {
      throw new CbirError(`image path "${id}" cannot be an HDF5 dataset name ("${keys[i]}": ${problem})`, {
        file: join(store.dir, 'ids.txt'),
        row: r + 1,
        hint: 'use image paths without empty parts ("//"); prepare the manifest again',
        code: 'h5/bad-name',
      });
    }
    const twin = seen.get(keys[i]);
    if (twin !== undefined) {
      throw new CbirError(`rows ${twin + 1} and ${r + 1} are the same image ("${keys[i]}")`, {
        file: join(store.dir, 'ids.txt'),
        row: r + 1,
        hint: 'each image may be listed once; remove the duplicate row from the manifest and embed again',
        code: 'h5/duplicate-key',
      });
    }
    seen.set(keys[i], r);
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
  return { dsOfRow, keyOfRow };
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
  const file = h5(final, 'create this file', () => {
    const f = new lib.File(tmp, 'w');
    f.create_attribute('radcbir_model', store.meta.modelId);
    f.create_attribute('radcbir_fingerprint', store.meta.fingerprint);
    f.create_attribute('radcbir_manifest_hash', store.meta.manifestHash);
    return f;
  });
  return { file, tmp, final, groups: new Set(['']), count: 0 };
}

/** Write one vector as dataset `id`, creating its parent groups first. */
function writeVector(f: H5Output, id: string, vector: Float32Array, dim: number): void {
  h5(f.final, `write dataset "${id}"`, () => writeVectorLoud(f, id, vector, dim));
}

function writeVectorLoud(f: H5Output, id: string, vector: Float32Array, dim: number): void {
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
  /**
   * When some manifest paths are missing from the files (default: refuse), import the found rows
   * and write their manifest beside the store (`<out>/manifest/`, with `<out>/missing.txt`
   * listing the others): the store lines up with that manifest, which is the one to evaluate it with.
   */
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
  /** With missing rows: the manifest of the imported rows (`<out>/manifest`) and the list of the missing paths. */
  subset?: { manifestDir: string; missingList: string };
}

/** Subfolder of an import store holding the manifest of its rows when some were missing. */
export const SUBSET_MANIFEST_DIR = 'manifest';
export const MISSING_LIST = 'missing.txt';

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
 * Read published embeddings (`<dataset>.h5` files, one dataset per image, named by `h5Keys`)
 * into a store whose rows follow the manifest. Missing manifest paths are refused (with
 * examples) unless `allowMissing`; datasets not in the manifest are counted and ignored.
 * Degenerate vectors (NaN/Inf, zero norm, one vector for every image) are refused, naming them.
 */
export async function importH5(opts: ImportH5Options): Promise<ImportH5Report> {
  const lib = await loadH5wasm();
  const { manifest } = opts;
  const paths = listH5(opts.from);
  const files: H5Input[] = [];
  try {
    for (const p of paths)
      files.push({ path: p, file: openH5(lib, p), name: basename(p).replace(/\.(h5|hdf5)$/i, '') });
    const { keys } = h5Keys(manifest);
    const { where, missing, missingExamples } = locateRows(lib, manifest, keys, files);
    const { extra, extraExamples } = extraDatasets(lib, keys, files);
    const found = manifest.size - missing;
    checkCoverage(opts, paths, { found, missing, missingExamples, extra, extraExamples });
    const { writer, ids, renormalized } = await readRows(manifest, keys, files, where, found, opts);
    try {
      const subset = missing > 0 ? await writeSubset(opts, where, missing) : undefined;
      const meta = await writer.finish(ids, {
        modelId: importedModelId(opts.modelId, files[0], paths[0]),
        fingerprint: await sourceFingerprint(paths),
        manifestHash: subset ? subset.manifest.hash : manifest.hash,
        source: {
          kind: 'hdf5',
          files: paths.map((p) => basename(p)),
          missing,
          extra,
          renormalized,
          ...(subset ? { subset: true, manifest: SUBSET_MANIFEST_DIR, missingList: MISSING_LIST } : {}),
        },
      });
      const report = { meta, files: paths, found, missing, missingExamples, extra, extraExamples, renormalized };
      return subset ? { ...report, subset: { manifestDir: subset.dir, missingList: subset.list } } : report;
    } catch (e) {
      await writer.abort();
      throw e;
    }
  } finally {
    for (const f of files) {
      try {
        quietH5(() => f.file.close());
      } catch {
        // ignore
      }
    }
  }
}

/**
 * The manifest of the found rows, written to `<out>/manifest` (images root and classes of the
 * full manifest; dataset.json records what it is a subset of), and `<out>/missing.txt`.
 */
async function writeSubset(
  opts: ImportH5Options,
  where: Int32Array,
  missing: number,
): Promise<{ manifest: Manifest; dir: string; list: string }> {
  const m = opts.manifest;
  const entries: ManifestEntry[] = [];
  const lost: string[] = [];
  for (let i = 0; i < m.size; i++) where[i] >= 0 ? entries.push(m.entry(i)) : lost.push(m.filepaths[i]);
  const used = new Set(entries.map((e) => e.className));
  const dir = join(opts.out, SUBSET_MANIFEST_DIR);
  const meta = {
    ...m.meta,
    subsetOf: { manifest: m.dir, manifestHash: m.hash, images: m.size },
    missing: { count: missing, list: `../${MISSING_LIST}`, reason: 'not in the HDF5 files' },
  };
  const subset = Manifest.fromEntries(
    entries,
    m.classes.filter((c) => used.has(c.name)),
    { dir, imagesRoot: m.imagesRoot, meta },
  );
  const list = join(opts.out, MISSING_LIST);
  await withFsErrors(opts.out, 'writing the manifest of the imported rows', async () => {
    await writeManifest(dir, subset, meta);
    await writeFile(list, lost.map((p) => (/[\r\n]/.test(p) ? JSON.stringify(p) : p)).join('\n') + '\n');
  });
  return { manifest: subset, dir, list };
}

/** One opened input file; `name` is its file name without .h5 (the study's dataset name). */
interface H5Input {
  path: string;
  file: H5File;
  name: string;
}

/** Which file holds each manifest row's key (its dataset's file first, then the others); -1 when none. */
function locateRows(
  lib: H5Lib,
  manifest: Manifest,
  keys: string[],
  files: H5Input[],
): { where: Int32Array; missing: number; missingExamples: string[] } {
  const byName = new Map(files.map((f) => [f.name, f]));
  const where = new Int32Array(manifest.size).fill(-1);
  const missingExamples: string[] = [];
  let missing = 0;
  for (let i = 0; i < manifest.size; i++) {
    const key = keys[i];
    const own = byName.get(manifest.datasets[manifest.datasetIndex[i]]);
    const order = own ? [own, ...files.filter((f) => f !== own)] : files;
    if (h5NameProblem(key) === null) {
      for (const f of order) {
        if (h5(f.path, `look up "${key}"`, () => f.file.get(key)) instanceof lib.Dataset) {
          where[i] = files.indexOf(f);
          break;
        }
      }
    }
    if (where[i] < 0) {
      missing++;
      if (missingExamples.length < 10) missingExamples.push(manifest.filepaths[i]);
    }
  }
  return { where, missing, missingExamples };
}

/** Datasets in the files that the manifest does not name. */
function extraDatasets(lib: H5Lib, keys: string[], files: H5Input[]): { extra: number; extraExamples: string[] } {
  const inManifest = new Set(keys);
  let extra = 0;
  const extraExamples: string[] = [];
  for (const f of files) {
    for (const p of h5(f.path, 'list its datasets', () => f.file.paths())) {
      const name = p.replace(/^\//, '');
      if (inManifest.has(name) || !(h5(f.path, `look up "${name}"`, () => f.file.get(name)) instanceof lib.Dataset))
        continue;
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
        hint: 'embed the missing images, fix the manifest paths, or allow missing images to import the found rows only (their manifest is written beside the store, to evaluate it with)',
        code: 'h5/missing',
      },
    );
  }
}

/**
 * Read the found vectors in manifest order into a new store (dim from the first vector),
 * normalising those whose norm is not 1; degenerate vectors are refused once all are read. The
 * writer is returned unfinished; on error it is aborted.
 */
async function readRows(
  manifest: Manifest,
  keys: string[],
  files: H5Input[],
  where: Int32Array,
  found: number,
  opts: ImportH5Options,
): Promise<{ writer: StoreWriter; ids: string[]; renormalized: number }> {
  let writer: StoreWriter | null = null;
  let check: RowCheck | null = null;
  const ids: string[] = [];
  let renormalized = 0;
  const tracker = new ProgressTracker('import-h5', found, opts.onProgress, 'vectors');
  const block: Float32Array[] = [];
  try {
    for (let i = 0; i < manifest.size; i++) {
      if (where[i] < 0) continue;
      const f = files[where[i]];
      const v = readVector(f, keys[i]);
      if (!check) {
        check = new RowCheck(v.length);
        writer = await StoreWriter.create(opts.out, v.length);
      } else if (v.length !== check.dim) {
        throw new CbirError(`dataset "${keys[i]}" has ${v.length} values, the first vector had ${check.dim}`, {
          file: f.path,
          hint: 'all vectors must come from one model',
          code: 'h5/dim',
        });
      }
      check.add(v, i);
      const row = unitRow(v);
      if (row !== v) renormalized++;
      block.push(row);
      ids.push(manifest.filepaths[i]);
      if (block.length >= 4096) await flushBlock(writer!, block, check.dim);
      tracker.add(1);
    }
    const finding = check!.finding(true);
    if (finding) {
      throw degenerateError(finding, {
        source: 'the HDF5 files',
        label: (i) => `"${keys[i]}" (manifest row ${i + 1})`,
        file: (i) => files[where[i]].path,
        codePrefix: 'h5',
        total: `${found} images`,
        note: 'nothing was imported',
      });
    }
    await flushBlock(writer!, block, check!.dim);
    tracker.finish();
    return { writer: writer!, ids, renormalized };
  } catch (e) {
    if (writer) await writer.abort();
    throw e;
  }
}

/** The vector stored as dataset `key` of `f`, as float32; it must be one vector (1-D or 1 × dim). */
function readVector(f: H5Input, key: string): Float32Array {
  const { shape, value } = h5(f.path, `read dataset "${key}"`, () => {
    const ds = f.file.get(key) as H5Dataset;
    return { shape: ds.shape ?? [], value: ds.value };
  });
  const v = toFloat32(value, f.path, key);
  if (shape.filter((s) => s !== 1).length > 1) {
    throw new CbirError(`dataset "${key}" has shape [${shape.join(', ')}], expected one vector`, {
      file: f.path,
      hint: 'each image must be a 1-D vector (or 1 × dim)',
      code: 'h5/shape',
    });
  }
  return v;
}

/** `v` itself when its norm is 1 (± 1e-4), zero or not finite (those are refused by the check), else a normalised copy. */
function unitRow(v: Float32Array): Float32Array {
  const dim = v.length;
  let s = 0;
  for (let k = 0; k < dim; k++) s += v[k] * v[k];
  if (!Number.isFinite(s) || !(Math.abs(Math.sqrt(s) - 1) > 1e-4 && s > 0)) return v;
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
function importedModelId(given: string | undefined, first: H5Input, firstPath: string): string {
  let modelId = given;
  if (!modelId) {
    try {
      const a = quietH5(() => first.file.get_attribute('radcbir_model', true));
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
