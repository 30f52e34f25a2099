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
import { SPLITS, type Manifest, type Split } from '../data/manifest.js';
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

/** The study's knn.csv → a KnnTable over the manifest's rows (queries of `split`, index = train). */
export async function readStudyKnnCsv(file: string, m: Manifest, opts: StudyKnnCsvOptions = {}): Promise<KnnTable> {
  const split = opts.split ?? 'test';
  const rowOf = new Map<string, number>();
  m.filepaths.forEach((p, i) => rowOf.set(p, i));
  const indexRows = m.indicesOf('train');
  const isIndex = new Uint8Array(m.size);
  indexRows.forEach((r) => (isIndex[r] = 1));
  const wanted = m.indicesOf(split);
  const slot = new Int32Array(m.size).fill(-1);
  wanted.forEach((r, q) => (slot[r] = q));
  let k = 0;
  let ids = new Int32Array(0);
  const seen = new Uint8Array(wanted.length);
  const tracker = new ProgressTracker('knn.csv rows', wanted.length, opts.onProgress, 'queries');
  for await (const { cells, line } of readCsvRecords(file)) {
    if (line === 1) {
      k = parseHeader(cells, file);
      ids = new Int32Array(wanted.length * k).fill(-1);
      continue;
    }
    const q = queryOf(cells, line, file, rowOf, slot, seen, k);
    if (q < 0) continue;
    for (let j = 1; j <= k; j++) {
      const p = cells[j];
      if (p === '') continue; // fewer than k neighbours
      const r = rowOf.get(p);
      if (r === undefined || !isIndex[r]) {
        fail(
          `neighbour ${j} "${p}" is ${r === undefined ? 'not in the manifest' : `a ${SPLITS[m.split[r]]} row, not an index (train) row`}`,
          file,
          line,
          'score the knn.csv with the manifest (splits) it was computed on',
        );
      }
      ids[q * k + j - 1] = r;
    }
    tracker.add(1);
  }
  tracker.finish();
  if (k === 0) fail('the file is empty', file, undefined, "pass the study's knn.csv");
  const missing = wanted.length - seen.reduce((a, b) => a + b, 0);
  if (missing > 0) {
    const first = wanted[seen.indexOf(0)];
    fail(
      `${missing} of the manifest's ${wanted.length} ${split} rows have no row in the file (first: "${m.filepaths[first]}")`,
      file,
      undefined,
      'use the manifest the knn.csv was computed for, or drop those rows from it',
    );
  }
  return {
    k,
    queryRows: wanted,
    indexRows,
    ids,
    sims: new Float32Array(ids.length).fill(NaN),
    meta: {
      format: 'radcbir-knn',
      version: 1,
      key: '',
      embeddingsHash: '',
      manifestHash: m.hash,
      split,
      indexSplit: 'train',
      requestedK: k,
      k,
      dim: 0,
      queries: wanted.length,
      indexSize: indexRows.length,
      index: { kind: 'study-knn-csv', file },
      buildSeconds: 0,
      searchSeconds: 0,
      createdAt: new Date().toISOString(),
    },
  };
}

/** Position of the row's query among the wanted queries, or −1 for another split's row. */
function queryOf(
  cells: string[],
  line: number,
  file: string,
  rowOf: Map<string, number>,
  slot: Int32Array,
  seen: Uint8Array,
  k: number,
): number {
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
  const q = slot[r];
  if (q < 0) return -1;
  if (seen[q]) fail(`query "${cells[0]}" appears twice`, file, line, 'keep one row per query');
  seen[q] = 1;
  return q;
}
