/**
 * The query browser's data: for one model of a report, each test query's top neighbours as
 * manifest rows, with cosine similarities from the cached k-NN table the report names
 * (`report.models[i].knn.test`) while its work folder still holds it, else from
 * `<report>/<model>/knn.csv` (no similarities).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import {
  CbirError,
  readCsvRecords,
  readKnnTable,
  isCbirError,
  openReportManifest,
  type KnnTable,
  type Manifest,
  type ReportData,
} from '../workbench/index.js';
import { reportModel } from './report.js';
/** Top neighbours of every test query of one model. Row q of ids/sims belongs to queryRows[q]. */
export interface QuerySet {
  model: string;
  /** Neighbours kept per query. */
  k: number;
  /** Manifest rows of the queries, in knn.csv order. */
  queryRows: Int32Array;
  /** Manifest rows of the neighbours, queries × k, best first; -1 where none. */
  ids: Int32Array;
  /** Cosine similarities, queries × k, or null when read from knn.csv. */
  sims: Float32Array | null;
  /** The file or folder the neighbours were read from. */
  source: string;
}

/** One neighbour of a query, ready to show. */
export interface QueryMatch {
  rank: number;
  row: number;
  path: string;
  className: string;
  sim: number | null;
  correct: boolean;
}

/** Neighbours kept per query by default (the browser shows up to this many). */
export const DEFAULT_KEEP = 20;

/**
 * The report's manifest: `override` (`--data`), or the folder the report names. A changed
 * manifest is not refused: `warning` says so (the browser maps knn.csv by path, and uses the
 * cached table only when its manifest hash matches).
 */
export async function openQueryManifest(
  r: ReportData,
  override?: string,
): Promise<{ manifest: Manifest; warning: string | null }> {
  try {
    return await openReportManifest(r, { override, changed: 'warn' });
  } catch (e) {
    if (!isCbirError(e) || e.code !== 'report/no-dataset') throw e;
    throw new CbirError("the report's dataset folder is gone", {
      file: e.file,
      hint: `pass the manifest folder with \`cbir tui --report ${r.dir ?? '<dir>'} --data <manifest dir>\``,
      code: 'report/no-dataset',
    });
  }
}

/**
 * The folder of `model`'s cached test k-NN table: the one the report names, or, with `workDir`
 * (the report's work folder moved), the same folder under `workDir`.
 */
export function knnTestDir(r: ReportData, model: string, workDir?: string): string | null {
  const dir = reportModel(r, model)?.knn.test;
  if (!dir) return null;
  if (!workDir) return dir;
  const rel = relative(r.work, dir);
  return rel.startsWith('..') || isAbsolute(rel) ? dir : join(workDir, rel);
}

/** The cached test table of `model` when its folder is still there and it was made on manifest `m`. */
async function cachedTable(r: ReportData, m: Manifest, model: string, workDir?: string) {
  const dir = knnTestDir(r, model, workDir);
  if (!dir || !existsSync(join(dir, 'meta.json'))) return null;
  let table: KnnTable;
  try {
    table = await readKnnTable(dir);
  } catch {
    return null;
  }
  if (table.meta.manifestHash !== null && table.meta.manifestHash !== m.hash) return null;
  return { dir, table };
}

/** The first `keep` neighbours per query of a cached table. */
function fromTable(model: string, t: KnnTable, keep: number, source: string): QuerySet {
  const k = Math.min(keep, t.k);
  const nq = t.queryRows.length;
  const ids = new Int32Array(nq * k),
    sims = new Float32Array(nq * k);
  for (let q = 0; q < nq; q++) {
    ids.set(t.ids.subarray(q * t.k, q * t.k + k), q * k);
    sims.set(t.sims.subarray(q * t.k, q * t.k + k), q * k);
  }
  return { model, k, queryRows: t.queryRows, ids, sims, source };
}

/**
 * Load the neighbours of `model`'s test queries: the cached k-NN table the report names (with
 * similarities) while it is there (`workDir`: the report's work folder, when it moved), else
 * `<report>/<model>/knn.csv`. Keeps the first `keep` neighbours per query.
 */
export async function loadQuerySet(
  r: ReportData,
  m: Manifest,
  model: string,
  opts: { workDir?: string; keep?: number } = {},
): Promise<QuerySet> {
  const keep = opts.keep ?? DEFAULT_KEEP;
  const cached = await cachedTable(r, m, model, opts.workDir);
  if (cached) return fromTable(model, cached.table, keep, cached.dir);
  const file = join(r.dir ?? '.', model, 'knn.csv');
  if (!existsSync(file)) {
    throw new CbirError(`no neighbours for ${model}: knn.csv is missing`, {
      file,
      hint: 'run `cbir report` again for this model (it resumes from its work folder)',
      code: 'tui/no-knn',
    });
  }
  return readKnnCsv(file, m, model, keep);
}

/** `<report>/<model>/knn.csv` (query path, then neighbour paths) as a QuerySet without similarities. */
async function readKnnCsv(file: string, m: Manifest, model: string, keep: number): Promise<QuerySet> {
  const rowOf = new Map<string, number>();
  m.filepaths.forEach((p, i) => rowOf.set(p, i));
  let k = 0;
  let queryRows = new Int32Array(1024);
  let ids = new Int32Array(0);
  let nq = 0;
  for await (const rec of readCsvRecords(file)) {
    if (rec.line === 1) {
      if (rec.cells[0] !== 'query')
        throw new CbirError('not a knn.csv (first column is not "query")', {
          file,
          row: 1,
          hint: 'the file should be the one `cbir report` wrote',
          code: 'tui/bad-knn',
        });
      k = Math.min(keep, rec.cells.length - 1);
      ids = new Int32Array(1024 * k);
      continue;
    }
    const row = (p: string, what: string): number => {
      if (p === '') return -1;
      const i = rowOf.get(p);
      if (i === undefined)
        throw new CbirError(`${what} "${p}" is not in the manifest ${m.dir}`, {
          file,
          row: rec.line,
          hint: 'the report was made on another dataset: pass its manifest with --data',
          code: 'tui/knn-mismatch',
        });
      return i;
    };
    if (nq === queryRows.length) {
      const q2 = new Int32Array(nq * 2);
      q2.set(queryRows);
      queryRows = q2;
      const i2 = new Int32Array(nq * 2 * k);
      i2.set(ids);
      ids = i2;
    }
    queryRows[nq] = row(rec.cells[0], 'query');
    for (let j = 0; j < k; j++) ids[nq * k + j] = row(rec.cells[j + 1] ?? '', 'neighbour');
    nq++;
  }
  return { model, k, queryRows: queryRows.slice(0, nq), ids: ids.slice(0, nq * k), sims: null, source: file };
}

/** Query q of a set with its first `n` neighbours: class, similarity and whether the class matches. */
export function queryMatches(
  qs: QuerySet,
  m: Manifest,
  q: number,
  n = qs.k,
): { row: number; path: string; className: string; matches: QueryMatch[]; hits: number } {
  const row = qs.queryRows[q];
  const cls = m.classIndex[row];
  const matches: QueryMatch[] = [];
  let hits = 0;
  for (let j = 0; j < Math.min(n, qs.k); j++) {
    const r = qs.ids[q * qs.k + j];
    if (r < 0) break;
    const correct = m.classIndex[r] === cls;
    if (correct) hits++;
    matches.push({
      rank: j + 1,
      row: r,
      path: m.filepaths[r],
      className: m.classes[m.classIndex[r]].name,
      sim: qs.sims ? qs.sims[q * qs.k + j] : null,
      correct,
    });
  }
  return { row, path: m.filepaths[row], className: m.classes[cls].name, matches, hits };
}

/** Next query after `from` (wrapping) whose top-1 neighbour has another class, or -1. */
export function nextMiss(qs: QuerySet, m: Manifest, from: number, step: 1 | -1 = 1): number {
  const nq = qs.queryRows.length;
  for (let s = 1; s <= nq; s++) {
    const q = (((from + s * step) % nq) + nq) % nq;
    const r = qs.ids[q * qs.k];
    if (r >= 0 && m.classIndex[r] !== m.classIndex[qs.queryRows[q]]) return q;
  }
  return -1;
}

/** Next query after `from` (wrapping) whose path or class contains `text` (case-insensitive), or -1. */
export function findQuery(qs: QuerySet, m: Manifest, from: number, text: string): number {
  const nq = qs.queryRows.length;
  const t = text.trim().toLowerCase();
  if (/^\d+$/.test(t)) {
    const i = Number(t) - 1;
    return i >= 0 && i < nq ? i : -1;
  }
  for (let s = 1; s <= nq; s++) {
    const q = (from + s) % nq;
    const row = qs.queryRows[q];
    if (m.filepaths[row].toLowerCase().includes(t) || m.classes[m.classIndex[row]].name.toLowerCase().includes(t))
      return q;
  }
  return -1;
}
