/**
 * Reading a k-NN table from the study's own `knn.csv` (header `query,1,2,…,k`; one row per test
 * or val query with its k nearest index images' paths, best first), so that the study's
 * neighbour lists are scored without searching again. The file is streamed (the study's is
 * about 171,753 test rows × 100 paths); memory is the Int32 table, queries × k.
 *
 * The index is the manifest's train split (the study's FAISS index). Similarities are not in the
 * file: `sims` holds NaN, which no retrieval metric reads.
 */
import { CbirError } from '../errors.js';
import { SPLITS, SPLIT_CODE, type Manifest, type Split } from '../data/manifest.js';
import { readCsvRecords } from '../util/csv.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import type { KnnTable } from './table.js';

export interface StudyKnnCsvOptions {
  /** The query split to keep (default 'test': the study scores test rows only). */
  split?: Split;
  onProgress?: ProgressListener;
}

function fail(message: string, file: string, line: number | undefined, hint: string): never {
  throw new CbirError(message, { file, row: line, hint, code: 'knn/bad-study-csv' });
}

function parseHeader(cells: string[], file: string): number {
  const k = cells.length - 1;
  if (cells[0] !== 'query' || k < 1 || cells.slice(1).some((c, i) => c !== String(i + 1))) {
    fail(
      `the header is "${cells.slice(0, 4).join(',')}…", not the study's "query,1,2,…,k"`,
      file,
      1,
      "pass the study's knn.csv (an experiment folder's knn.csv), or a file written by radcbir's knn.csv export",
    );
  }
  return k;
}

/** The neighbour lists of one query split, filled while the file streams. */
class SplitRows {
  readonly wanted: Int32Array;
  readonly slot: Int32Array;
  readonly seen: Uint8Array;
  ids = new Int32Array(0);
  found = 0;

  constructor(
    readonly split: Split,
    m: Manifest,
  ) {
    this.wanted = m.indicesOf(split);
    this.slot = new Int32Array(m.size).fill(-1);
    this.wanted.forEach((r, q) => (this.slot[r] = q));
    this.seen = new Uint8Array(this.wanted.length);
  }
}

/**
 * The study's knn.csv → KnnTables over the manifest's rows, in one pass: one per split asked
 * (index = train). A split of `optional` with no row in the file gives null; a split with some
 * but not all of its rows is refused, naming the first row missing.
 */
export async function readStudyKnnCsvSplits(
  file: string,
  m: Manifest,
  splits: readonly Split[],
  opts: { optional?: readonly Split[]; onProgress?: ProgressListener } = {},
): Promise<(KnnTable | null)[]> {
  const rowOf = new Map<string, number>();
  m.filepaths.forEach((p, i) => rowOf.set(p, i));
  const indexRows = m.indicesOf('train');
  const isIndex = new Uint8Array(m.size);
  indexRows.forEach((r) => (isIndex[r] = 1));
  const parts = splits.map((s) => new SplitRows(s, m));
  const bySplit = new Map<number, SplitRows>(parts.map((p) => [SPLIT_CODE[p.split], p]));
  let k = 0;
  const total = parts.reduce((a, p) => a + p.wanted.length, 0);
  const tracker = new ProgressTracker('knn.csv rows', total, opts.onProgress, 'queries');
  for await (const { cells, line } of readCsvRecords(file)) {
    if (line === 1) {
      k = parseHeader(cells, file);
      for (const p of parts) p.ids = new Int32Array(p.wanted.length * k).fill(-1);
      continue;
    }
    const r = queryRow(cells, line, file, rowOf, k);
    const part = bySplit.get(m.split[r]);
    if (!part) continue;
    const q = part.slot[r];
    if (part.seen[q]) fail(`query "${cells[0]}" appears twice`, file, line, 'keep one row per query');
    part.seen[q] = 1;
    part.found++;
    readNeighbours(cells, line, file, { m, rowOf, isIndex, k }, part.ids, q);
    tracker.add(1);
  }
  tracker.finish();
  if (k === 0) fail('the file is empty', file, undefined, "pass the study's knn.csv");
  return parts.map((p) =>
    p.found === 0 && opts.optional?.includes(p.split) ? null : tableOf(p, k, indexRows, m, file),
  );
}

/** The study's knn.csv → a KnnTable over the manifest's rows (queries of `split`, index = train). */
export async function readStudyKnnCsv(file: string, m: Manifest, opts: StudyKnnCsvOptions = {}): Promise<KnnTable> {
  const [table] = await readStudyKnnCsvSplits(file, m, [opts.split ?? 'test'], { onProgress: opts.onProgress });
  return table!;
}

/** The table of one split, after checking every one of its rows was in the file. */
function tableOf(p: SplitRows, k: number, indexRows: Int32Array, m: Manifest, file: string): KnnTable {
  const missing = p.wanted.length - p.found;
  if (missing > 0) {
    const first = p.wanted[p.seen.indexOf(0)];
    fail(
      `${missing} of the manifest's ${p.wanted.length} ${p.split} rows have no row in the file (first: "${m.filepaths[first]}")`,
      file,
      undefined,
      'use the manifest the knn.csv was computed for, or drop those rows from it',
    );
  }
  return {
    k,
    queryRows: p.wanted,
    indexRows,
    ids: p.ids,
    sims: new Float32Array(p.ids.length).fill(NaN),
    meta: {
      format: 'radcbir-knn',
      version: 1,
      key: '',
      embeddingsHash: '',
      manifestHash: m.hash,
      split: p.split,
      indexSplit: 'train',
      requestedK: k,
      k,
      dim: 0,
      queries: p.wanted.length,
      indexSize: indexRows.length,
      index: { kind: 'study-knn-csv', file },
      buildSeconds: 0,
      searchSeconds: 0,
      createdAt: new Date().toISOString(),
    },
  };
}

/** The manifest row of a data row's query (the row must have k + 1 cells and name a manifest image). */
function queryRow(cells: string[], line: number, file: string, rowOf: Map<string, number>, k: number): number {
  if (cells.length !== k + 1)
    fail(`${cells.length} cells, the header has ${k + 1}`, file, line, 'repair or re-export the file');
  const r = rowOf.get(cells[0]);
  if (r === undefined) {
    fail(
      `query "${cells[0]}" is not in the manifest`,
      file,
      line,
      'score the knn.csv with the manifest it was computed on',
    );
  }
  return r;
}

/** Row q of `ids` from the row's neighbour cells; each must be an index (train) row of the manifest. */
function readNeighbours(
  cells: string[],
  line: number,
  file: string,
  c: { m: Manifest; rowOf: Map<string, number>; isIndex: Uint8Array; k: number },
  ids: Int32Array,
  q: number,
): void {
  for (let j = 1; j <= c.k; j++) {
    const p = cells[j];
    if (p === '') continue; // fewer than k neighbours
    const r = c.rowOf.get(p);
    if (r === undefined || !c.isIndex[r]) {
      fail(
        `neighbour ${j} "${p}" is ${r === undefined ? 'not in the manifest' : `a ${SPLITS[c.m.split[r]]} row, not an index (train) row`}`,
        file,
        line,
        'score the knn.csv with the manifest (splits) it was computed on',
      );
    }
    ids[q * c.k + j - 1] = r;
  }
}
