/**
 * The figures' data, taken from a report's tables (in memory or loaded with `openReport`):
 * P@N curves, Fig. 2 points, Fig. 5 points and the best model. No file is read here.
 */
import { CbirError } from '../errors.js';
import type { ClassKind } from '../data/manifest.js';
import type { Table } from '../tables/write.js';
import type { ReportData } from '../report/types.js';
import type { IndexSizePoint, PerClassPoint, PrecisionCurve } from './specs.js';

/** Index of a column of a report table; a CbirError naming the table when it is absent. */
export function tableColumn(t: Table, name: string, where: string): number {
  const i = t.columns.indexOf(name);
  if (i < 0) {
    throw new CbirError(`column "${name}" is missing from ${where} (columns: ${t.columns.join(', ')})`, {
      hint: 'the report was not made by this version of radcbir; re-run it',
      code: 'figures/missing-column',
    });
  }
  return i;
}

/** A cell as a number (null and text → NaN). */
const numeric = (v: string | number | null | undefined): number => (typeof v === 'number' ? v : NaN);

/** One model's P@N curve (N, micro, macro and their interval columns) from its precision table. */
export function precisionCurve(r: ReportData, model: string): PrecisionCurve {
  const m = r.models.find((x) => x.modelId === model);
  if (!m) throw unknownModel(r, model);
  const t = m.precision;
  const where = `the precision table of ${model}`;
  const cols = ['N', 'micro', 'micro_lo', 'micro_hi', 'macro', 'macro_lo', 'macro_hi'].map((c) =>
    tableColumn(t, c, where),
  );
  const out = cols.map((c) => Float64Array.from(t.rows, (row) => numeric(row[c])));
  return {
    model,
    n: out[0],
    micro: out[1],
    microLo: out[2],
    microHi: out[3],
    macro: out[4],
    macroLo: out[5],
    macroHi: out[6],
    source: where,
  };
}

/** Fig. 2 points ([] when the ablation was skipped). */
export function indexSizePoints(r: ReportData): IndexSizePoint[] {
  const t = r.tables.index_size;
  if (!t) return [];
  const [cm, cn, cmean, cstd, cs, cc] = ['model', 'index_per_class', 'p1_mean', 'p1_std', 'seeds', 'classes'].map((c) =>
    tableColumn(t, c, 'index_size'),
  );
  return t.rows.map((row) => ({
    model: String(row[cm]),
    indexPerClass: numeric(row[cn]),
    mean: numeric(row[cmean]),
    std: numeric(row[cstd]),
    seeds: numeric(row[cs]),
    classes: numeric(row[cc]),
  }));
}

/** Fig. 5 points, grouped by model (report order). */
export function perClassPoints(r: ReportData): Map<string, PerClassPoint[]> {
  const out = new Map<string, PerClassPoint[]>();
  const t = r.tables.per_class_p1;
  if (!t) return out;
  const [cm, cc, ck, ci, cq, cp] = ['model', 'class', 'kind', 'index_images', 'queries', 'p1'].map((c) =>
    tableColumn(t, c, 'per_class_p1'),
  );
  for (const row of t.rows) {
    const kind = row[ck] as ClassKind;
    let rows = out.get(String(row[cm]));
    if (!rows) out.set(String(row[cm]), (rows = []));
    rows.push({
      className: String(row[cc]),
      kind,
      indexImages: numeric(row[ci]),
      queries: numeric(row[cq]),
      p1: numeric(row[cp]),
    });
  }
  return out;
}

/** The model with the highest micro P@1 among `models` (Table 3), or the first one. */
export function bestModel(r: ReportData, models: readonly string[]): string {
  const t = r.tables.table3_retrieval;
  if (!t) return models[0];
  const cm = tableColumn(t, 'model', 'table3_retrieval');
  const cp = tableColumn(t, 'micro_p1', 'table3_retrieval');
  let best = models[0];
  let bestP = -Infinity;
  for (const row of t.rows) {
    const p = numeric(row[cp]);
    if (models.includes(String(row[cm])) && p > bestP) {
      bestP = p;
      best = String(row[cm]);
    }
  }
  return best;
}

/** The error for a model that is not in the report. */
export function unknownModel(r: ReportData, model: string): CbirError {
  return new CbirError(`model "${model}" is not in the report (models: ${r.models.map((m) => m.modelId).join(', ')})`, {
    file: r.dir ?? undefined,
    hint: 'pick models the report was made with',
    code: 'figures/unknown-model',
  });
}
