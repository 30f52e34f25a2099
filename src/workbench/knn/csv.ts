/**
 * Export a k-NN table in the study's `knn.csv` layout: header `query,1,2,…,k`, then one row per
 * query: the query's file path followed by its neighbours' file paths, best first (an empty cell
 * where fewer than k neighbours were found). Streamed, and written under a temporary name then
 * renamed, so a crash leaves no half file.
 */
import { rename, rm, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CbirError } from '../errors.js';
import { CsvWriter } from '../util/csv.js';
import type { KnnTable } from './table.js';

/** Write `table` as knn.csv to `file`; `filepaths[i]` is the path of manifest row i. */
export async function writeKnnCsv(
  table: Pick<KnnTable, 'k' | 'queryRows' | 'ids'>,
  filepaths: readonly string[],
  file: string,
): Promise<void> {
  const { k, queryRows, ids } = table;
  const nq = queryRows.length;
  if (ids.length !== nq * k)
    throw new CbirError(`table holds ${ids.length} ids for ${nq} queries × k=${k}`, {
      file,
      hint: 'pass a table from computeKnnTable / readKnnTable',
      code: 'knn/bad-table',
    });
  const check = (r: number, q: number) => {
    if (r >= filepaths.length)
      throw new CbirError(`row id ${r} (query ${q + 1}) is not in the manifest (${filepaths.length} rows)`, {
        file,
        row: q + 2,
        hint: 'the table was computed for another manifest; recompute it',
        code: 'knn/row-mismatch',
      });
  };
  await mkdir(dirname(file) || '.', { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const w = new CsvWriter(tmp);
  let closed = false;
  try {
    const header: (string | number)[] = ['query'];
    for (let j = 1; j <= k; j++) header.push(j);
    await w.write(header);
    const cells: string[] = new Array(k + 1);
    for (let q = 0; q < nq; q++) {
      check(queryRows[q], q);
      cells[0] = filepaths[queryRows[q]];
      for (let j = 0; j < k; j++) {
        const r = ids[q * k + j];
        if (r >= 0) check(r, q);
        cells[j + 1] = r >= 0 ? filepaths[r] : '';
      }
      await w.write(cells);
    }
    closed = true;
    await w.close();
    await rename(tmp, file);
  } catch (e) {
    if (!closed) await w.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}
