import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { csvLine } from '../util/csv.js';
import { writeFileAtomic } from '../util/fsx.js';

/**
 * A result table: named columns of equal length. Kept as plain columns so the core does not
 * need danfo to compute; `toDataFrame` turns one into a danfo DataFrame for notebooks and reports.
 */
export interface Table {
  /** Short title, e.g. 'Table 3: retrieval precision'. */
  title: string;
  columns: string[];
  rows: (string | number | null)[][];
  /** Optional notes printed under the Markdown table. */
  notes?: string[];
}

/** Number formatting used in Markdown: 3 decimals for fractions, integers as is. */
export function formatCell(v: string | number | null | undefined, digits = 3): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'n/a';
    if (Number.isInteger(v)) return String(v);
    return v.toFixed(digits);
  }
  return v;
}

export function tableToCsv(t: Table): string {
  return (
    [
      csvLine(t.columns),
      ...t.rows.map((r) =>
        csvLine(r.map((v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(8)) : v))),
      ),
    ].join('\n') + '\n'
  );
}

export function tableToMarkdown(t: Table, opts: { digits?: number; heading?: boolean } = {}): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines: string[] = [];
  if (opts.heading !== false) lines.push(`### ${t.title}`, '');
  lines.push(`| ${t.columns.map(esc).join(' | ')} |`);
  lines.push(
    `| ${t.columns.map((_, i) => (t.rows.some((r) => typeof r[i] === 'number') ? '---:' : '---')).join(' | ')} |`,
  );
  for (const r of t.rows) lines.push(`| ${r.map((v) => esc(formatCell(v, opts.digits))).join(' | ')} |`);
  if (t.notes?.length) lines.push('', ...t.notes.map((n) => `_${n}_`));
  return lines.join('\n') + '\n';
}

export function tableToJson(t: Table): object[] {
  return t.rows.map((r) => Object.fromEntries(t.columns.map((c, i) => [c, r[i]])));
}

/** Write `<base>.csv`, `<base>.md` and `<base>.json` atomically. */
export async function writeTable(t: Table, base: string): Promise<void> {
  await mkdir(dirname(base), { recursive: true });
  await writeFileAtomic(`${base}.csv`, tableToCsv(t));
  await writeFileAtomic(`${base}.md`, tableToMarkdown(t));
  await writeFileAtomic(
    `${base}.json`,
    JSON.stringify({ title: t.title, notes: t.notes ?? [], rows: tableToJson(t) }, null, 1) + '\n',
  );
}

/** A danfo DataFrame of the table (danfo is loaded lazily: it takes ~2 s to import). */
export async function toDataFrame(t: Table): Promise<import('danfojs-node').DataFrame> {
  const dfd = await import('danfojs-node');
  const data: Record<string, (string | number | null)[]> = {};
  t.columns.forEach((c, i) => {
    data[c] = t.rows.map((r) => r[i]);
  });
  return new dfd.DataFrame(data);
}
