/**
 * The rows of a saved index: for index position p, the image path and its labels from the
 * manifest (class, dataset, modality, anatomic region, split). On disk: `rows.csv`, header
 * `path,class,dataset,modality,anatomic_region,split`, one line per index position in order; a
 * label is empty where it is unknown (an index imported without a manifest). Labels are held as
 * interned codes (one Uint32Array per column), so a 1.3 M-row index costs its paths and 20 MB.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CbirError } from '../errors.js';
import { CsvWriter, readCsvRecords } from '../util/csv.js';

/** The label columns of an index row. */
export const ROW_COLUMNS = ['class', 'dataset', 'modality', 'region', 'split'] as const;
export type RowColumn = (typeof ROW_COLUMNS)[number];

const CSV_HEADER = ['path', 'class', 'dataset', 'modality', 'anatomic_region', 'split'];

/** One label column: distinct values (index 0 is '' = unknown) and a code per row. */
export interface LabelColumn {
  values: string[];
  codes: Uint32Array;
}

/** The labels of one row as plain strings ('' = unknown). */
export type RowLabels = Record<RowColumn, string>;

/** Paths and labels of every index row. */
export class IndexRows {
  private constructor(
    /** Paths as recorded: relative to the images root (the manifest's filepath), or absolute. */
    readonly paths: string[],
    readonly columns: Readonly<Record<RowColumn, LabelColumn>>,
  ) {}

  get size(): number {
    return this.paths.length;
  }

  /** The labels of row p. */
  labels(p: number): RowLabels {
    const c = this.columns;
    return {
      class: c.class.values[c.class.codes[p]],
      dataset: c.dataset.values[c.dataset.codes[p]],
      modality: c.modality.values[c.modality.codes[p]],
      region: c.region.values[c.region.codes[p]],
      split: c.split.values[c.split.codes[p]],
    };
  }

  /** Whether any row has a known value in this column. */
  known(column: RowColumn): boolean {
    return this.columns[column].values.length > 1;
  }

  /** Rows per value of a column (unknown left out). */
  counts(column: RowColumn): Record<string, number> {
    const col = this.columns[column];
    const n = new Array<number>(col.values.length).fill(0);
    for (let i = 0; i < col.codes.length; i++) n[col.codes[i]]++;
    const out: Record<string, number> = {};
    col.values.forEach((v, i) => {
      if (v !== '' && n[i] > 0) out[v] = n[i];
    });
    return out;
  }

  /** Build from plain per-row values (labels may be '' where unknown). */
  static build(size: number, row: (p: number) => { path: string } & Partial<RowLabels>): IndexRows {
    const paths = new Array<string>(size);
    const interners = ROW_COLUMNS.map(() => new Map<string, number>([['', 0]]));
    const codes = ROW_COLUMNS.map(() => new Uint32Array(size));
    for (let p = 0; p < size; p++) {
      const r = row(p);
      paths[p] = r.path;
      ROW_COLUMNS.forEach((c, j) => {
        const v = r[c] ?? '';
        const m = interners[j];
        let code = m.get(v);
        if (code === undefined) m.set(v, (code = m.size));
        codes[j][p] = code;
      });
    }
    const columns = Object.fromEntries(
      ROW_COLUMNS.map((c, j) => [c, { values: [...interners[j].keys()], codes: codes[j] }]),
    ) as Record<RowColumn, LabelColumn>;
    return new IndexRows(paths, columns);
  }

  /** Write rows.csv atomically (temporary name, then rename). */
  async write(file: string): Promise<void> {
    await mkdir(dirname(file), { recursive: true });
    const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
    const w = new CsvWriter(tmp);
    try {
      await w.write(CSV_HEADER);
      for (let p = 0; p < this.size; p++) {
        const l = this.labels(p);
        await w.write([this.paths[p], l.class, l.dataset, l.modality, l.region, l.split]);
      }
      await w.close();
      await rename(tmp, file);
    } catch (e) {
      await w.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /** Read rows.csv (streamed), checking the header and that it holds `expected` rows. */
  static async read(file: string, expected: number): Promise<IndexRows> {
    const records: { path: string; labels: string[] }[] = [];
    let header = true;
    for await (const rec of readCsvRecords(file)) {
      if (header) {
        header = false;
        if (rec.cells.join(',') !== CSV_HEADER.join(','))
          throw new CbirError(`unexpected header "${rec.cells.join(',')}"`, {
            file,
            row: rec.line,
            hint: `the rows file of a saved index starts with ${CSV_HEADER.join(',')}; build the index again`,
            code: 'index/bad-rows',
          });
        continue;
      }
      if (rec.cells.length !== CSV_HEADER.length)
        throw new CbirError(`${rec.cells.length} cells, expected ${CSV_HEADER.length}`, {
          file,
          row: rec.line,
          hint: 'the rows file is damaged; build the index again',
          code: 'index/bad-rows',
        });
      records.push({ path: rec.cells[0], labels: rec.cells.slice(1) });
    }
    if (records.length !== expected)
      throw new CbirError(`${records.length} rows, but the index holds ${expected} vectors`, {
        file,
        hint: 'the rows file and the vectors do not belong together; build the index again',
        code: 'index/bad-rows',
      });
    return IndexRows.build(expected, (p) => {
      const [cls, dataset, modality, region, split] = records[p].labels;
      return { path: records[p].path, class: cls, dataset, modality, region, split };
    });
  }
}
