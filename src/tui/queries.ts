/**
 * The query browser's data: for one model of a report, each test query's top neighbours as
 * manifest rows, with cosine similarities when the report's work folder still holds the cached
 * k-NN table (else from `<model>/knn.csv`, which has no similarities).
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CbirError } from '../workbench/errors.js';
import { readManifest, type Manifest } from '../workbench/data/manifest.js';
import { readMeta } from '../workbench/embeddings/store.js';
import { readKnnTable, type KnnTable } from '../workbench/knn/table.js';
import { readCsvRecords } from '../workbench/util/csv.js';
import type { ReportData } from './report.js';

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
 * The report's manifest: `override`, or the folder named in summary.md. `warning` is set when
 * the manifest's hash differs from the one the report was made with.
 */
export async function openReportManifest(
  r: ReportData,
  override?: string,
): Promise<{ manifest: Manifest; warning: string | null }> {
  const dir = override ?? r.datasetDir;
  if (!dir) {
    throw new CbirError('the report does not say which dataset it was made on (no "Dataset:" line)', {
      file: join(r.dir, 'summary.md'),
      hint: 'pass the manifest folder: `cbir tui --report <dir> --data <manifest dir>`',
      code: 'tui/no-dataset',
    });
  }
  if (!existsSync(dir)) {
    throw new CbirError("the report's dataset folder is gone", {
      file: dir,
      hint: `named in ${join(r.dir, 'summary.md')}; pass the manifest folder with \`cbir tui --report ${r.dir} --data <manifest dir>\``,
      code: 'tui/no-dataset',
    });
  }
  const manifest = await readManifest(dir);
  const warning =
    r.manifestHash && !manifest.hash.startsWith(r.manifestHash)
      ? `manifest ${dir} changed since the report was made (hash ${manifest.hash.slice(0, 12)}, report ${r.manifestHash})`
      : null;
  return { manifest, warning };
}

/** First data row of a knn.csv (query path and its neighbour paths), or null. */
async function firstKnnCsvRow(file: string): Promise<string[] | null> {
  for await (const rec of readCsvRecords(file)) if (rec.line > 1) return rec.cells;
  return null;
}

/**
 * The cached test k-NN table of `model` in the report's work folder whose embeddings and
 * manifest match, and whose first row agrees with knn.csv; null when there is none.
 */
async function findCachedTable(
  r: ReportData,
  m: Manifest,
  model: string,
  workDir: string,
): Promise<{ dir: string; table: KnnTable } | null> {
  const storeDir = join(workDir, 'embeddings', model);
  const knnDir = join(workDir, 'knn');
  if (!existsSync(join(storeDir, 'meta.json')) || !existsSync(knnDir)) return null;
  let contentHash: string;
  try {
    contentHash = (await readMeta(storeDir)).contentHash;
  } catch {
    return null;
  }
  const csvFirst = existsSync(join(r.dir, model, 'knn.csv'))
    ? await firstKnnCsvRow(join(r.dir, model, 'knn.csv'))
    : null;
  for (const d of readdirSync(knnDir)
    .filter((n) => n.startsWith('knn-test-'))
    .sort()) {
    const dir = join(knnDir, d);
    let meta: { embeddingsHash?: string; manifestHash?: string; queryRows?: number[] };
    try {
      meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8'));
    } catch {
      continue;
    }
    if (meta.embeddingsHash !== contentHash || meta.manifestHash !== m.hash) continue;
    if (csvFirst && meta.queryRows && m.filepaths[meta.queryRows[0]] !== csvFirst[0]) continue;
    let table: KnnTable;
    try {
      table = await readKnnTable(dir);
    } catch {
      continue;
    }
    const agree =
      !csvFirst ||
      csvFirst
        .slice(1)
        .every((p, j) => j >= table.k || (p === '' ? table.ids[j] < 0 : m.filepaths[table.ids[j]] === p));
    if (agree) return { dir, table };
  }
  return null;
}

/**
 * Load the neighbours of `model`'s test queries: the cached k-NN table (with similarities) when
 * the work folder (`workDir`, default `<report>/work`) has it, else `<report>/<model>/knn.csv`.
 * Keeps the first `keep` neighbours per query.
 */
export async function loadQuerySet(
  r: ReportData,
  m: Manifest,
  model: string,
  opts: { workDir?: string; keep?: number } = {},
): Promise<QuerySet> {
  const keep = opts.keep ?? DEFAULT_KEEP;
  const cached = await findCachedTable(r, m, model, opts.workDir ?? join(r.dir, 'work'));
  if (cached) {
    const t = cached.table;
    const k = Math.min(keep, t.k);
    const nq = t.queryRows.length;
    const ids = new Int32Array(nq * k),
      sims = new Float32Array(nq * k);
    for (let q = 0; q < nq; q++) {
      ids.set(t.ids.subarray(q * t.k, q * t.k + k), q * k);
      sims.set(t.sims.subarray(q * t.k, q * t.k + k), q * k);
    }
    return { model, k, queryRows: t.queryRows, ids, sims, source: cached.dir };
  }
  const file = join(r.dir, model, 'knn.csv');
  if (!existsSync(file)) {
    throw new CbirError(`no neighbours for ${model}: knn.csv is missing`, {
      file,
      hint: 'run `cbir report` again for this model (it resumes from its work folder)',
      code: 'tui/no-knn',
    });
  }
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
