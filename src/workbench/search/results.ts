/**
 * The inputs and outputs of an image search: query files (folders walked recursively), the
 * study's `results.csv` plus a long form, and the data of a Fig. 3 style query grid.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { CbirError, errorMessage } from '../errors.js';
import { Manifest, type ClassInfo } from '../data/manifest.js';
import { CsvWriter } from '../util/csv.js';
import { rename, rm, mkdir } from 'node:fs/promises';
import type { IndexSearcher, QueryFile, SearchResponse } from './query.js';

const IMAGE_EXTENSIONS = /\.(png|jpe?g|tiff?|webp|dcm|dicom)$/i;

async function hasDicomMarker(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(132);
    const { bytesRead } = await fh.read(b, 0, 132, 0);
    return bytesRead === 132 && b.toString('latin1', 128, 132) === 'DICM';
  } finally {
    await fh.close();
  }
}

/** Image files under `dir`, recursively, sorted; hidden files and folders are skipped. */
async function walk(dir: string, shown: string, out: QueryFile[]): Promise<void> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const file = join(dir, e.name);
    const path = join(shown, e.name);
    if (e.isDirectory()) await walk(file, path, out);
    else if (e.isFile()) {
      const ext = extname(e.name);
      const isImage =
        IMAGE_EXTENSIONS.test(e.name) || ((ext === '' || /^\.\d+$/.test(ext)) && (await hasDicomMarker(file)));
      if (isImage) out.push({ path, file, explicit: false });
    }
  }
}

/**
 * The query files of image, DICOM and folder arguments: a file is taken as is, a folder is
 * searched recursively for PNG/JPEG/TIFF/WebP/DICOM files (DICOM also without an extension).
 */
export async function collectQueryFiles(args: readonly string[]): Promise<QueryFile[]> {
  if (args.length === 0)
    throw new CbirError('no query images given', {
      hint: 'give one or more images, DICOM files or folders',
      code: 'search/no-queries',
    });
  const out: QueryFile[] = [];
  for (const a of args) {
    const st = await stat(a).catch(() => null);
    if (!st)
      throw new CbirError('query image or folder not found', {
        file: a,
        hint: 'check the path',
        code: 'search/not-found',
      });
    if (st.isDirectory()) {
      const before = out.length;
      await walk(resolve(a), a, out);
      if (out.length === before)
        throw new CbirError('no images in this folder (PNG, JPEG, TIFF, WebP or DICOM, searched recursively)', {
          file: a,
          hint: 'give a folder that holds images',
          code: 'search/no-images',
        });
    } else out.push({ path: a, file: resolve(a), explicit: true });
  }
  return out;
}

/** Where the long form of a results CSV goes: `<name>_long.csv` next to it. */
export function longCsvPath(file: string): string {
  const ext = extname(file) || '.csv';
  return join(dirname(file), `${basename(file, extname(file))}_long${ext}`);
}

async function writeCsv(file: string, rows: AsyncIterable<unknown[]> | Iterable<unknown[]>): Promise<void> {
  await mkdir(dirname(resolve(file)), { recursive: true });
  const tmp = join(dirname(resolve(file)), `.${basename(file)}.${process.pid}.tmp`);
  const w = new CsvWriter(tmp);
  try {
    for await (const r of rows) await w.write(r as (string | number)[]);
    await w.close();
    await rename(tmp, file);
  } catch (e) {
    await w.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw new CbirError(`cannot write the results (${errorMessage(e)})`, {
      file,
      hint: 'check that the folder is writable',
      code: 'search/write',
    });
  }
}

/**
 * Write a search's results: `file` in the study's results.csv layout (`query_path,similar_1,…,
 * similar_k`, the paths of the neighbours best first) and `<name>_long.csv` with one line per
 * (query, rank): `query_path,rank,path,similarity,class,dataset,modality`. Queries that failed
 * are left out of both. Returns the two paths.
 */
export async function writeSearchCsv(response: SearchResponse, file: string): Promise<{ wide: string; long: string }> {
  const k = response.k;
  const ok = response.queries.filter((q) => !q.error);
  const header = ['query_path', ...Array.from({ length: k }, (_, j) => `similar_${j + 1}`)];
  await writeCsv(file, [
    header,
    ...ok.map((q) => [q.query, ...Array.from({ length: k }, (_, j) => q.results[j]?.path ?? '')]),
  ]);
  const long = longCsvPath(file);
  function* lines(): Generator<unknown[]> {
    yield ['query_path', 'rank', 'path', 'similarity', 'class', 'dataset', 'modality'];
    for (const q of ok)
      for (const h of q.results) yield [q.query, h.rank, h.path, h.similarity, h.class, h.dataset, h.modality];
  }
  await writeCsv(long, lines());
  return { wide: file, long };
}

/** The data of a query grid: a manifest of the shown images and one row per query. */
export interface SearchGridData {
  manifest: Manifest;
  queries: { query: number; neighbours: Int32Array; sims: Float32Array; unlabelled: boolean }[];
}

/**
 * The input of a Fig. 3 style grid for a search (figures.renderQueryGrid(manifest, queries)):
 * a small manifest whose rows are the queries and the shown neighbours (absolute files), and per
 * query its neighbours' rows and similarities (the first `maxQueries` queries that have results).
 * A query of unknown class is `unlabelled`.
 */
export function searchGridData(
  response: SearchResponse,
  searcher: IndexSearcher,
  matches = 6,
  maxQueries = 50,
): SearchGridData {
  const files: string[] = [];
  const classNames: string[] = [];
  const add = (file: string, cls: string) => {
    files.push(file);
    classNames.push(cls || 'unknown class');
    return files.length - 1;
  };
  const queries: SearchGridData['queries'] = [];
  const shown = response.queries.filter((q) => !q.error).slice(0, maxQueries);
  if (shown.length === 0)
    throw new CbirError('no query has results to draw', {
      hint: 'search with readable images',
      code: 'search/no-grid',
    });
  for (const q of shown) {
    const query = add(q.file ?? resolve(q.query), q.class ?? '');
    const hits = q.results.slice(0, matches);
    const neighbours = Int32Array.from(hits, (h) => add(searcher.rowFile(h.row) ?? h.path, h.class));
    queries.push({ query, neighbours, sims: Float32Array.from(hits, (h) => h.similarity), unlabelled: !q.class });
  }
  const names = [...new Set(classNames)];
  const classes: ClassInfo[] = names.map((name) => ({
    name,
    modality: '',
    region: '',
    label: name,
    kind: 'pathological',
  }));
  const code = new Map(names.map((n, i) => [n, i]));
  const n = files.length;
  const zeros16 = () => new Uint16Array(n);
  const manifest = new Manifest(
    resolve('.'),
    '/',
    files,
    [''],
    zeros16(),
    new Uint8Array(n),
    [''],
    zeros16(),
    [''],
    zeros16(),
    classes,
    Uint16Array.from(classNames, (c) => code.get(c)!),
    'search-grid',
  );
  return { manifest, queries };
}
