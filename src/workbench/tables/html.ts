/** Result tables as HTML (notebooks, the web page): numbers right-aligned, best values in bold. */
import { formatCell, type Table } from './write.js';

/** Escape text for HTML. */
export const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface TableHtmlOptions {
  /** Decimals of fractional numbers (default 3). */
  digits?: number;
  /** Bold the largest value of each score column (not all whole numbers, not constant) among the rows whose first cell is listed here (e.g. the model ids). */
  highlight?: readonly string[];
  /** Show the title as caption and the notes under the table (default true). */
  caption?: boolean;
  /** Only these columns (first column always kept). */
  columns?: readonly string[];
}

const TABLE_STYLE = 'border-collapse:collapse;font-family:DejaVu Sans,Arial,sans-serif;font-size:13px;margin:6px 0';
const CELL_STYLE = 'border-bottom:1px solid #ddd;padding:3px 8px';

/** A result table as an HTML `<table>` (class `cbir-table`), numbers right-aligned, optional best values in bold. */
export function tableHtml(t: Table, opts: TableHtmlOptions = {}): string {
  const keep = opts.columns ? t.columns.map((c, i) => i === 0 || opts.columns!.includes(c)) : t.columns.map(() => true);
  const cols = t.columns.map((c, i) => ({ c, i })).filter((x) => keep[x.i]);
  const numeric = cols.map(({ i }) => t.rows.some((r) => typeof r[i] === 'number'));
  const best = new Map<number, number>();
  if (opts.highlight?.length) {
    const rows = t.rows.filter((r) => opts.highlight!.includes(String(r[0])));
    cols.forEach(({ i }, k) => {
      if (!numeric[k] || i === 0) return;
      const vals = rows.map((r) => r[i]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      // scores only: columns of whole numbers (k, epochs, counts) and constant columns are not ranked
      if (vals.length > 1 && vals.some((v) => !Number.isInteger(v)) && Math.max(...vals) > Math.min(...vals))
        best.set(i, Math.max(...vals));
    });
  }
  const lines: string[] = [`<table class="cbir-table" style="${TABLE_STYLE}">`];
  if (opts.caption !== false)
    lines.push(
      `<caption style="caption-side:top;text-align:left;font-weight:bold;padding:4px 0">${escapeHtml(t.title)}</caption>`,
    );
  lines.push(
    '<thead><tr>' +
      cols
        .map(
          ({ c }, k) =>
            `<th style="${CELL_STYLE};border-bottom:2px solid #444;text-align:${numeric[k] ? 'right' : 'left'}">${escapeHtml(c)}</th>`,
        )
        .join('') +
      '</tr></thead><tbody>',
  );
  for (const r of t.rows) {
    const hl = opts.highlight?.includes(String(r[0])) ?? false;
    lines.push(
      '<tr>' +
        cols
          .map(({ i }, k) => {
            const v = r[i];
            const text = escapeHtml(formatCell(v, opts.digits));
            const bold = hl && typeof v === 'number' && best.get(i) === v;
            return `<td style="${CELL_STYLE};text-align:${numeric[k] ? 'right' : 'left'}">${bold ? `<b>${text}</b>` : text}</td>`;
          })
          .join('') +
        '</tr>',
    );
  }
  lines.push('</tbody></table>');
  if (opts.caption !== false && t.notes?.length)
    lines.push(
      ...t.notes.map((n) => `<div style="font-size:12px;color:#555;font-style:italic">${escapeHtml(n)}</div>`),
    );
  return lines.join('\n');
}

/** Several HTML blocks next to each other (wrapping on narrow screens). */
export function sideBySide(...blocks: string[]): string {
  return `<div style="display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start">${blocks.map((b) => `<div>${b}</div>`).join('')}</div>`;
}

/** A short paragraph of HTML-escaped text (for notes under tables and figures). */
export function noteHtml(text: string): string {
  return `<p style="font-family:DejaVu Sans,Arial,sans-serif;font-size:13px;color:#333;max-width:60em">${escapeHtml(text)}</p>`;
}
