/**
 * The TUI's view of a report: the typed report of the core (opened with `openReport`), and the
 * few look-ups the screens make in it. Nothing is read back from CSV or Markdown files and
 * nothing is recomputed.
 */
import { type ReportData, type ReportModel, type ReportTableName } from '../workbench/index.js';

export type { ReportData, ReportTableName };

/** Model ids in report order. */
export function modelIds(r: ReportData): string[] {
  return r.models.map((m) => m.modelId);
}

/** One model of the report by id, or undefined. */
export function reportModel(r: ReportData, model: string): ReportModel | undefined {
  return r.models.find((m) => m.modelId === model);
}

/** The 95 % interval of P@N (micro or macro) of one model, from its precision table. */
export function precisionInterval(
  r: ReportData,
  model: string,
  average: 'micro' | 'macro',
  N: number,
): { value: number; lo: number; hi: number } | null {
  const t = reportModel(r, model)?.precision;
  if (!t) return null;
  const c = (name: string) => t.columns.indexOf(name);
  const row = t.rows.find((x) => Number(x[c('N')]) === N);
  if (!row) return null;
  const [v, lo, hi] = [row[c(average)], row[c(`${average}_lo`)], row[c(`${average}_hi`)]];
  if (typeof v !== 'number' || typeof lo !== 'number' || typeof hi !== 'number') return null;
  return { value: v, lo, hi };
}
