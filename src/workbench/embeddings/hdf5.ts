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
  const rowOf = new Map<string, number>();
  manifest.filepaths.forEach((p, i) => rowOf.set(p, i));
  // which dataset each store row goes to
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
        hint: 'use paths relative to the images root without "." or ".." parts (rebuild the manifest with `cbir data prepare`)',
        code: 'h5/bad-name',
      });
    }
  });
  if (unknown.length > 0) {
    throw new CbirError(
      `${unknown.length} ids of the store are not in the manifest (e.g. "${unknown.slice(0, 3).join('", "')}")`,
      {
        file: join(store.dir, 'ids.txt'),
        hint: 'pass the manifest the store was embedded from (--data)',
        code: 'h5/unknown-ids',
      },
    );
  }
  for (const ds of manifest.datasets) {
    if (ds === '' || ds.includes('/') || ds.startsWith('.')) {
      throw new CbirError(`dataset name "${ds}" cannot be a file name`, {
        file: join(manifest.dir, 'manifest.csv'),
        hint: 'dataset names must be plain names (no "/" and not starting with ".")',
        code: 'h5/bad-dataset-name',
      });
    }
  }
  await mkdir(opts.out, { recursive: true });
  const used = new Set<number>(dsOfRow);
  const files = new Map<number, { file: H5File; tmp: string; final: string; groups: Set<string>; count: number }>();
  const tracker = new ProgressTracker('export-h5', store.count, opts.onProgress, 'vectors');
  try {
    for (const d of [...used].sort((a, b) => a - b)) {
      const final = join(opts.out, `${manifest.datasets[d]}.h5`);
      const tmp = join(opts.out, `.${manifest.datasets[d]}.h5.${process.pid}.tmp`);
      const file = new lib.File(tmp, 'w');
      file.create_attribute('radcbir_model', store.meta.modelId);
      file.create_attribute('radcbir_fingerprint', store.meta.fingerprint);
      file.create_attribute('radcbir_manifest_hash', store.meta.manifestHash);
      files.set(d, { file, tmp, final, groups: new Set(['']), count: 0 });
    }
    const dim = store.dim;
    for await (const { start, data } of store.rows(4096)) {
      const n = data.length / dim;
      for (let k = 0; k < n; k++) {
        const r = start + k;
        const id = store.ids[r];
        const f = files.get(dsOfRow[r])!;
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
        const made = f.file.create_dataset({
          name: id,
          data: data.subarray(k * dim, (k + 1) * dim),
          shape: [dim],
          dtype: '<f',
        });
        if (!made) {
          throw new CbirError(`HDF5 could not create dataset "${id}"`, {
            file: f.final,
            hint: 'a group and an image share this name, or the path is invalid for HDF5',
            code: 'h5/write',
          });
        }
        f.count++;
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
  const files: { path: string; file: H5File; name: string }[] = [];
  try {
    for (const p of paths)
      files.push({ path: p, file: new lib.File(p, 'r'), name: basename(p).replace(/\.(h5|hdf5)$/i, '') });
    const byName = new Map(files.map((f) => [f.name, f]));
    // 1. locate every manifest path (its dataset's file first, then the others)
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
    // 2. datasets in the files that the manifest does not list
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
    const found = manifest.size - missing;
    if (found === 0) {
      throw new CbirError(
        `none of the ${manifest.size} manifest paths is in the HDF5 files (e.g. "${manifest.filepaths[0]}")`,
        {
          file: paths[0],
          hint: `the files hold ${extra} other datasets (e.g. "${extraExamples.slice(0, 3).join('", "')}"); check that the manifest's filepaths are the paths the embeddings were made with`,
          code: 'h5/no-match',
        },
      );
    }
    if (missing > 0 && !opts.allowMissing) {
      throw new CbirError(
        `${missing} of ${manifest.size} manifest paths are not in the HDF5 files, e.g.:\n    ${missingExamples.join('\n    ')}`,
        {
          file: typeof opts.from === 'string' ? opts.from : paths[0],
          hint: 'embed the missing images with `cbir embed`, fix the manifest paths, or pass --allow-missing to import the found rows only',
          code: 'h5/missing',
        },
      );
    }
    // 3. read the vectors in manifest order
    let dim = 0;
    let writer: StoreWriter | null = null;
    const ids: string[] = [];
    let renormalized = 0;
    const tracker = new ProgressTracker('import-h5', found, opts.onProgress, 'vectors');
    const block: Float32Array[] = [];
    const flush = async () => {
      if (block.length === 0) return;
      const buf = new Float32Array(block.length * dim);
      block.forEach((v, k) => buf.set(v, k * dim));
      block.length = 0;
      await writer!.append(buf);
    };
    try {
      for (let i = 0; i < manifest.size; i++) {
        if (where[i] < 0) continue;
        const f = files[where[i]];
        const fp = manifest.filepaths[i];
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
        let s = 0;
        for (let k = 0; k < dim; k++) {
          if (!Number.isFinite(v[k]))
            throw new CbirError(`dataset "${fp}" holds NaN or Inf`, {
              file: f.path,
              hint: 're-embed this image (`cbir embed`) or remove it from the manifest',
              code: 'h5/non-finite',
            });
          s += v[k] * v[k];
        }
        let row = v;
        if (Math.abs(Math.sqrt(s) - 1) > 1e-4 && s > 0) {
          row = new Float32Array(dim);
          const inv = 1 / Math.sqrt(s);
          for (let k = 0; k < dim; k++) row[k] = v[k] * inv;
          renormalized++;
        }
        block.push(row);
        ids.push(fp);
        if (block.length >= 4096) await flush();
        tracker.add(1);
      }
      await flush();
      tracker.finish();
      let modelId = opts.modelId;
      if (!modelId) {
        try {
          const a = files[0].file.get_attribute('radcbir_model', true);
          if (typeof a === 'string' && a) modelId = a;
        } catch {
          // no attribute: the study's own files
        }
      }
      modelId ??= basename(dirname(resolve(paths[0])));
      const fileHashes: string[] = [];
      for (const p of paths) fileHashes.push(`${basename(p)}:${await sha256File(p)}`);
      const meta = await writer!.finish(ids, {
        modelId,
        fingerprint: 'h5:' + sha256(fileHashes.join('\n')),
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
      writer = null;
      return { meta, files: paths, found, missing, missingExamples, extra, extraExamples, renormalized };
    } finally {
      if (writer) await writer.abort();
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
