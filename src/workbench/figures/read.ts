/**
 * Readers of a finished report folder (what `cbir report` / `runReport` wrote), so figures can be
 * made from the files alone: `<model>/precision_at_n.csv`, `index_size.csv`, `per_class_p1.csv`,
 * `table3_retrieval.csv`.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CbirError } from '../errors.js';
import { parseCsv } from '../util/csv.js';
import type { ClassKind } from '../data/manifest.js';
import type { IndexSizePoint, PerClassPoint, PrecisionCurve } from './specs.js';

/** A small CSV file read whole: header and rows (with their 1-based line numbers). */
export interface CsvTable {
  file: string;
  header: string[];
  rows: { cells: string[]; line: number }[];
}

/** Read a small CSV file (a report table) whole; a CbirError names the file when it is missing or empty. */
export async function readCsvTable(file: string): Promise<CsvTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new CbirError('file not found', {
        file,
        hint: 'is this a finished report folder? run `cbir report` first',
        code: 'figures/missing-file',
        cause: e,
      });
    throw e;
  }
  const records = [...parseCsv(text, file)];
  if (records.length === 0)
    throw new CbirError('the file is empty (no header)', {
      file,
      row: 1,
      hint: 'rerun `cbir report` to rewrite it',
      code: 'figures/bad-file',
    });
  return { file, header: records[0].cells.map((c) => c.trim()), rows: records.slice(1) };
}

/** Index of a column; a CbirError naming the file and the header line when it is absent. */
export function column(t: CsvTable, name: string): number {
  const i = t.header.indexOf(name);
  if (i < 0)
    throw new CbirError(`column "${name}" is missing (columns: ${t.header.join(', ')})`, {
      file: t.file,
      row: 1,
      hint: 'the file was not written by this version of `cbir report`; rerun it',
      code: 'figures/missing-column',
    });
  return i;
}

/** A numeric cell ('' → NaN); a CbirError naming file and line when it is not a number. */
export function numberCell(t: CsvTable, r: { cells: string[]; line: number }, col: number): number {
  const s = (r.cells[col] ?? '').trim();
  if (s === '' || s.toLowerCase() === 'nan') return NaN;
  const v = Number(s);
  if (!Number.isFinite(v))
    throw new CbirError(`"${s}" in column "${t.header[col]}" is not a number`, {
      file: t.file,
      row: r.line,
      hint: 'fix or rerun `cbir report` to rewrite the file',
      code: 'figures/bad-number',
    });
  return v;
}

/**
 * Models of a report, in the report's order: the `model` column of table3_retrieval.csv, else
 * every sub-folder holding a precision_at_n.csv (sorted).
 */
export async function reportModels(reportDir: string): Promise<string[]> {
  const t3 = join(reportDir, 'table3_retrieval.csv');
  if (existsSync(t3)) {
    const t = await readCsvTable(t3);
    const c = column(t, 'model');
    return t.rows.map((r) => r.cells[c]).filter((m) => m && existsSync(join(reportDir, m, 'precision_at_n.csv')));
  }
  if (!existsSync(reportDir) || !statSync(reportDir).isDirectory())
    throw new CbirError('report folder not found', {
      file: reportDir,
      hint: 'pass the --out folder of `cbir report`',
      code: 'figures/no-report',
    });
  return readdirSync(reportDir)
    .filter((d) => existsSync(join(reportDir, d, 'precision_at_n.csv')))
    .sort();
}

/** The model with the highest micro P@1 (table3_retrieval.csv), or the first model when the table is absent. */
export async function bestModel(reportDir: string, models: readonly string[]): Promise<string> {
  const t3 = join(reportDir, 'table3_retrieval.csv');
  if (!existsSync(t3)) return models[0];
  const t = await readCsvTable(t3);
  const cm = column(t, 'model');
  const cp = column(t, 'micro_p1');
  let best = models[0];
  let bestP = -Infinity;
  for (const r of t.rows) {
    const p = numberCell(t, r, cp);
    if (models.includes(r.cells[cm]) && p > bestP) {
      bestP = p;
      best = r.cells[cm];
    }
  }
  return best;
}

/** `<report>/<model>/precision_at_n.csv` as a curve (N, micro, macro and their interval columns). */
export async function readPrecisionCurve(reportDir: string, model: string): Promise<PrecisionCurve> {
  const file = join(reportDir, model, 'precision_at_n.csv');
  const t = await readCsvTable(file);
  const cols = ['N', 'micro', 'micro_lo', 'micro_hi', 'macro', 'macro_lo', 'macro_hi'].map((c) => column(t, c));
  const out = cols.map(() => new Float64Array(t.rows.length));
  t.rows.forEach((r, i) =>
    cols.forEach((c, k) => {
      out[k][i] = numberCell(t, r, c);
    }),
  );
  for (let i = 0; i < t.rows.length; i++) {
    if (!(out[0][i] >= 1))
      throw new CbirError(`N must be a positive integer, got "${t.rows[i].cells[cols[0]]}"`, {
        file,
        row: t.rows[i].line,
        hint: 'rerun `cbir report` to rewrite the file',
        code: 'figures/bad-number',
      });
  }
  return {
    model,
    n: out[0],
    micro: out[1],
    microLo: out[2],
    microHi: out[3],
    macro: out[4],
    macroLo: out[5],
    macroHi: out[6],
    source: file,
  };
}

/** `<report>/index_size.csv` as points ([] when the ablation was skipped: no file or no rows). */
export async function readIndexSize(reportDir: string): Promise<IndexSizePoint[]> {
  const file = join(reportDir, 'index_size.csv');
  if (!existsSync(file)) return [];
  const t = await readCsvTable(file);
  const [cm, cn, cmean, cstd, cs, cc] = ['model', 'index_per_class', 'p1_mean', 'p1_std', 'seeds', 'classes'].map((c) =>
    column(t, c),
  );
  return t.rows.map((r) => ({
    model: r.cells[cm],
    indexPerClass: numberCell(t, r, cn),
    mean: numberCell(t, r, cmean),
    std: numberCell(t, r, cstd),
    seeds: numberCell(t, r, cs),
    classes: numberCell(t, r, cc),
  }));
}

/** `<report>/per_class_p1.csv`, grouped by model (report order). */
export async function readPerClass(reportDir: string): Promise<Map<string, PerClassPoint[]>> {
  const file = join(reportDir, 'per_class_p1.csv');
  const t = await readCsvTable(file);
  const [cm, cc, ck, ci, cq, cp] = ['model', 'class', 'kind', 'index_images', 'queries', 'p1'].map((c) => column(t, c));
  const out = new Map<string, PerClassPoint[]>();
  for (const r of t.rows) {
    const kind = r.cells[ck] as ClassKind;
    if (kind !== 'anatomical' && kind !== 'pathological')
      throw new CbirError(`kind "${r.cells[ck]}" is neither anatomical nor pathological`, {
        file,
        row: r.line,
        hint: "fix the kind column (classes.csv of the manifest says each class's kind) and rerun `cbir report`",
        code: 'figures/bad-kind',
      });
    let rows = out.get(r.cells[cm]);
    if (!rows) out.set(r.cells[cm], (rows = []));
    rows.push({
      className: r.cells[cc],
      kind,
      indexImages: numberCell(t, r, ci),
      queries: numberCell(t, r, cq),
      p1: numberCell(t, r, cp),
    });
  }
  return out;
}

/** The manifest folder a report was made with, as its summary.md names it ("Dataset: `<dir>`"), or null. */
export async function reportManifestDir(reportDir: string): Promise<string | null> {
  const file = join(reportDir, 'summary.md');
  if (!existsSync(file)) return null;
  const m = /^Dataset: `([^`]+)`/m.exec(await readFile(file, 'utf8'));
  return m ? m[1] : null;
}
