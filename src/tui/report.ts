/**
 * Reading a report folder written by `runReport` (`cbir report`, `cbir start`) back into the
 * tables the TUI shows. Values come from the CSV files (the numbers `cbir report` wrote), titles
 * and notes from the JSON files next to them. Nothing is recomputed.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CbirError } from '../workbench/errors.js';
import { parseCsv } from '../workbench/util/csv.js';
import type { Table } from '../workbench/tables/write.js';

/** The report tables the TUI knows, by file base name (as written by runReport). */
export const REPORT_TABLES = [
  'table3_retrieval',
  'table4_modality',
  'table9_anatomy_pathology',
  'table10_dataset',
  'table5_embedding_quality',
  'comparison',
  'per_class_p1',
  'index_size',
] as const;
export type ReportTableKey = (typeof REPORT_TABLES)[number];

/** A report folder read back. */
export interface ReportData {
  /** Absolute report folder. */
  dir: string;
  /** The tables present in the folder (comparison is absent for a single model). */
  tables: Partial<Record<ReportTableKey, Table>>;
  /** Model ids in report order (Table 3's rows). */
  models: string[];
  /** Per-model `precision_at_n` tables (P@N with 95 % intervals for every N), when present. */
  precision: Record<string, Table>;
  /** Manifest folder named in summary.md (`Dataset: \`...\``), or null. */
  datasetDir: string | null;
  /** First 12 hex digits of the manifest hash named in summary.md, or null. */
  manifestHash: string | null;
}

/** One CSV cell as a table value: '' → null, numbers → number, anything else as text. */
export function csvValue(s: string): string | number | null {
  if (s === '') return null;
  if (s === 'NaN') return NaN;
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s) || s === 'Infinity' || s === '-Infinity') return Number(s);
  return s;
}

/**
 * Read `<base>.csv` (values) and `<base>.json` (title, notes) into a Table; null when the CSV
 * is absent. The first column (model or row label) is always kept as text.
 */
export async function readTableFiles(base: string): Promise<Table | null> {
  const csvFile = `${base}.csv`;
  if (!existsSync(csvFile)) return null;
  const recs = [...parseCsv(await readFile(csvFile, 'utf8'), csvFile)];
  if (recs.length === 0)
    throw new CbirError('table file is empty', {
      file: csvFile,
      row: 1,
      hint: 'run `cbir report` again to rewrite the report',
      code: 'tui/bad-table',
    });
  const columns = recs[0].cells;
  const rows = recs.slice(1).map((r) => {
    if (r.cells.length !== columns.length) {
      throw new CbirError(`row has ${r.cells.length} cells, the header ${columns.length}`, {
        file: csvFile,
        row: r.line,
        hint: 'the file was edited or cut short; run `cbir report` again',
        code: 'tui/bad-table',
      });
    }
    return r.cells.map((c, i) => (i === 0 ? c : csvValue(c)));
  });
  let title = base.split(/[\\/]/).pop()!;
  let notes: string[] | undefined;
  try {
    const j = JSON.parse(await readFile(`${base}.json`, 'utf8')) as { title?: string; notes?: string[] };
    if (typeof j.title === 'string') title = j.title;
    if (Array.isArray(j.notes) && j.notes.length) notes = j.notes.map(String);
  } catch {
    // the JSON only adds the title and notes
  }
  return { title, columns, rows, notes };
}

/**
 * Read a report folder. Throws a CbirError naming the folder when it is not a report
 * (no table3_retrieval.csv).
 */
export async function loadReport(dir: string): Promise<ReportData> {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    throw new CbirError('report folder not found', {
      file: dir,
      hint: 'pass a folder written by `cbir report --out <dir>` or `cbir start` (default runs/start)',
      code: 'tui/no-report',
    });
  }
  if (!existsSync(join(abs, 'table3_retrieval.csv'))) {
    throw new CbirError('not a report folder: table3_retrieval.csv is missing', {
      file: dir,
      hint: 'pass a folder written by `cbir report --out <dir>` (or finish that run: it resumes)',
      code: 'tui/no-report',
    });
  }
  const tables: Partial<Record<ReportTableKey, Table>> = {};
  for (const key of REPORT_TABLES) {
    const t = await readTableFiles(join(abs, key));
    if (t) tables[key] = t;
  }
  const models = tables.table3_retrieval!.rows.map((r) => String(r[0]));
  const precision: Record<string, Table> = {};
  for (const m of models) {
    const t = await readTableFiles(join(abs, m, 'precision_at_n'));
    if (t) precision[m] = t;
  }
  let datasetDir: string | null = null;
  let manifestHash: string | null = null;
  try {
    const summary = await readFile(join(abs, 'summary.md'), 'utf8');
    datasetDir = /^Dataset: `([^`]+)`/m.exec(summary)?.[1] ?? null;
    manifestHash = /Manifest hash `([0-9a-f]+)`/.exec(summary)?.[1] ?? null;
  } catch {
    // summary.md only tells where the dataset is (for the query browser)
  }
  return { dir: abs, tables, models, precision, datasetDir, manifestHash };
}

/** The 95 % interval of P@N (micro or macro) of one model, from its precision_at_n table. */
export function precisionInterval(
  r: ReportData,
  model: string,
  average: 'micro' | 'macro',
  N: number,
): { value: number; lo: number; hi: number } | null {
  const t = r.precision[model];
  if (!t) return null;
  const c = (name: string) => t.columns.indexOf(name);
  const row = t.rows.find((x) => Number(x[c('N')]) === N);
  if (!row) return null;
  const [v, lo, hi] = [row[c(average)], row[c(`${average}_lo`)], row[c(`${average}_hi`)]];
  if (typeof v !== 'number' || typeof lo !== 'number' || typeof hi !== 'number') return null;
  return { value: v, lo, hi };
}
