/**
 * The table views of the TUI as pure functions of a report: what the screen shows (labels,
 * formatted cells, best-value marks, a detail line per cell) and what an export writes (a Table
 * with the full numbers). No metric is computed here: every number comes from the report
 * (report.json, opened with the core's `openReport`).
 */
import type { Table } from '../workbench/index.js';
import { modelIds, precisionInterval, type ReportData, type ReportTableName } from './report.js';
import { displayPath, plural } from './layout.js';

/** The views, in tab order (key 1…7); `queries` is the query browser (its own component). */
export const VIEWS = [
  { key: 'overall', label: 'Overall', table: 'table3_retrieval' },
  { key: 'modality', label: 'Modality', table: 'table4_modality' },
  { key: 'anatomy', label: 'Anat/Path', table: 'table9_anatomy_pathology' },
  { key: 'dataset', label: 'Dataset', table: 'table10_dataset' },
  { key: 'quality', label: 'kNN/Probe', table: 'table5_embedding_quality' },
  { key: 'paired', label: 'Paired', table: 'comparison' },
  { key: 'queries', label: 'Queries', table: null },
] as const satisfies readonly { key: string; label: string; table: ReportTableName | null }[];
export type ViewKey = (typeof VIEWS)[number]['key'];
export type TableViewKey = Exclude<ViewKey, 'queries'>;
/** Every table the TUI shows: the report's views and the open reports compared. */
export type TableKey = TableViewKey | 'compare';

/**
 * Overall view modes: all P@N values, micro / macro with their 95 % intervals (key i), and beyond
 * the study (key b): the ranking metrics (mAP@10, recall@10, nDCG@10, …) and the re-ranking table.
 */
export const OVERALL_MODES = ['values', 'micro', 'macro', 'ranking', 'rerank'] as const;
export type OverallMode = (typeof OVERALL_MODES)[number];

/** The modes key i cycles (P@N and its intervals), or key b (beyond the study, those the report has, then back). */
export function overallModes(r: ReportData | null, key: 'i' | 'b' = 'i'): OverallMode[] {
  if (key === 'i') return ['values', 'micro', 'macro'];
  const beyond: OverallMode[] = r?.beyond ? (r.beyond.rerank ? ['ranking', 'rerank'] : ['ranking']) : [];
  return [...beyond, 'values'];
}

/** One cell on screen. */
export interface Cell {
  text: string;
  /** Best value of its column (marked `*` and highlighted). */
  best?: boolean;
  /** Shown highlighted for another reason (e.g. a significant paired difference). */
  flag?: boolean;
}

/** One row on screen; `meta` rows (counts) are shown dim and never marked best. */
export interface DisplayRow {
  cells: Cell[];
  meta?: boolean;
}

/** What a table view shows and exports. */
export interface ViewModel {
  key: TableKey;
  title: string;
  /** One line under the title (legend, counts). */
  legend: string;
  /** Column labels on screen (column 0 is the row label, kept in view when scrolling). */
  labels: string[];
  /** Group label per column ('' = none), drawn on a line above the labels. */
  groups: string[];
  rows: DisplayRow[];
  /** What `export` writes (full numbers, the report's column names). */
  table: Table;
  /** Text for the selected cell (value with its interval or count). */
  detail(row: number, col: number): string;
  /** Shown instead of a table when the report has no data for this view. */
  empty?: string;
}

/** A table value on screen: 3 decimals for fractions (`digits`), integers as is, '' for none. */
export function formatValue(v: string | number | null | undefined, digits = 3): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (Number.isNaN(v)) return 'n/a';
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(digits);
}

/** A fraction column: 3 decimals for every number in it, so 1 shows as 1.000 next to 0.875. */
function fractionFormatter(rows: (string | number | null)[][], c: number): (v: string | number | null) => string {
  const fractional = rows.some(
    (r) => typeof r[c] === 'number' && !Number.isInteger(r[c]) && Number.isFinite(r[c] as number),
  );
  return (v) => (fractional && typeof v === 'number' && Number.isFinite(v) ? v.toFixed(3) : formatValue(v));
}

/**
 * Which cells hold the best (largest) value of their column among `rows`, grouped by
 * `groupOf(row)` when given (e.g. k-NN and probe rows are compared separately). Ties are all
 * marked; NaN and non-numbers never are. Returns a set of "row,col" keys.
 */
export function bestCells(
  rows: (string | number | null)[][],
  columns: number[],
  eligible: (r: number) => boolean,
  groupOf: (r: number) => string = () => '',
): Set<string> {
  const out = new Set<string>();
  for (const c of columns) {
    const max = new Map<string, number>();
    rows.forEach((row, r) => {
      const v = row[c];
      if (!eligible(r) || typeof v !== 'number' || !Number.isFinite(v)) return;
      const g = groupOf(r);
      if (!max.has(g) || v > max.get(g)!) max.set(g, v);
    });
    rows.forEach((row, r) => {
      const v = row[c];
      if (eligible(r) && typeof v === 'number' && max.get(groupOf(r)) === v) out.add(`${r},${c}`);
    });
  }
  return out;
}

const META_ROWS = new Set(['queries', 'classes', 'samples']);

function missing(key: TableKey, title: string, why: string): ViewModel {
  return {
    key,
    title,
    legend: '',
    labels: [],
    groups: [],
    rows: [],
    table: { title, columns: [], rows: [] },
    detail: () => '',
    empty: why,
  };
}

function ci(v: { lo: number; hi: number } | null, digits = 3): string {
  return v ? `${v.lo.toFixed(digits)}–${v.hi.toFixed(digits)}` : 'n/a';
}

/** Build one table view of a report. */
export function buildView(r: ReportData, key: TableViewKey, opts: { overallMode?: OverallMode } = {}): ViewModel {
  switch (key) {
    case 'overall':
      return overallView(r, opts.overallMode ?? 'values');
    case 'modality':
      return groupView(r, 'modality', 'table4_modality', 'modality');
    case 'dataset':
      return groupView(r, 'dataset', 'table10_dataset', 'source dataset');
    case 'anatomy':
      return anatomyView(r);
    case 'quality':
      return qualityView(r);
    case 'paired':
      return pairedView(r);
  }
}

const NS = [1, 3, 5, 10];

function overallView(r: ReportData, mode: OverallMode): ViewModel {
  if (mode === 'ranking') return rankingView(r);
  if (mode === 'rerank') return rerankView(r);
  const t = r.tables.table3_retrieval;
  if (!t) return missing('overall', 'Overall retrieval', 'the report has no table3_retrieval table');
  return mode === 'values' ? overallValues(r, t) : overallIntervals(r, t, mode);
}

/** Overall, values mode: micro and macro P@1/3/5/10 from Table 3. */
function overallValues(r: ReportData, t: Table): ViewModel {
  const c = (name: string) => t.columns.indexOf(name);
  const queries = t.rows[0]?.[c('queries')];
  const cols = [...NS.map((n) => `micro_p${n}`), ...NS.map((n) => `macro_p${n}`)].map(c);
  const best = bestCells(t.rows, cols, () => true);
  const fmt = cols.map((ci) => fractionFormatter(t.rows, ci));
  return {
    key: 'overall',
    title: t.title,
    legend: `${plural(queries, 'query', 'queries')} · * best per column · i: 95 % intervals${r.beyond ? ' · b: mAP, nDCG' : ''}`,
    labels: ['model', ...NS.map((n) => `P@${n}`), ...NS.map((n) => `P@${n}`)],
    groups: ['', ...NS.map(() => 'micro'), ...NS.map(() => 'macro')],
    rows: t.rows.map((row, ri) => ({
      cells: [
        { text: String(row[0]) },
        ...cols.map((ci, j) => ({ text: fmt[j](row[ci]), best: best.has(`${ri},${ci}`) })),
      ],
    })),
    table: {
      title: t.title,
      columns: ['model', ...cols.map((i) => t.columns[i])],
      rows: t.rows.map((row) => [row[0], ...cols.map((i) => row[i])]),
    },
    detail: (ri, col) => overallDetail(r, t, ri, col),
  };
}

/** The detail line of a cell of the values mode: the value with its 95 % interval. */
function overallDetail(r: ReportData, t: Table, ri: number, col: number): string {
  const c = (name: string) => t.columns.indexOf(name);
  const row = t.rows[ri];
  if (!row) return '';
  if (col === 0)
    return `${row[0]}: micro P@1 ${formatValue(row[c('micro_p1')])}, macro P@1 ${formatValue(row[c('macro_p1')])} over ${row[c('queries')]} queries`;
  const average = col <= 4 ? 'micro' : 'macro';
  const N = NS[(col - 1) % 4];
  const iv = precisionInterval(r, String(row[0]), average, N);
  const lo = N === 1 ? row[c(`${average}_p1_lo`)] : null;
  const hi = N === 1 ? row[c(`${average}_p1_hi`)] : null;
  const interval = iv ?? (typeof lo === 'number' && typeof hi === 'number' ? { lo, hi } : null);
  return `${row[0]} · ${average} P@${N} = ${formatValue(row[c(`${average}_p${N}`)])} · 95 % CI ${ci(interval)}`;
}

/** Overall, intervals mode: P@N with its bootstrap interval from each model's precision table. */
function overallIntervals(r: ReportData, t: Table, average: 'micro' | 'macro'): ViewModel {
  const c = (name: string) => t.columns.indexOf(name);
  const queries = t.rows[0]?.[c('queries')];
  const columns = ['model'];
  for (const n of NS) columns.push(`${average}_p${n}`, `${average}_p${n}_lo`, `${average}_p${n}_hi`);
  const rows = modelIds(r).map((m) => {
    const row: (string | number | null)[] = [m];
    for (const n of NS) {
      const iv = precisionInterval(r, m, average, n);
      row.push(t.rows.find((x) => x[0] === m)?.[c(`${average}_p${n}`)] ?? null, iv?.lo ?? null, iv?.hi ?? null);
    }
    return row;
  });
  const best = bestCells(
    rows,
    NS.map((_, i) => 1 + i * 3),
    () => true,
  );
  const labels = ['model', ...NS.flatMap((n) => [`P@${n}`, '95 % CI'])];
  const groups = ['', ...NS.flatMap((n) => [`${average} P@${n}`, `${average} P@${n}`])];
  const anyMissing = r.models.some((m) => m.precision.rows.length === 0);
  const range = (lo: unknown, hi: unknown) => (typeof lo === 'number' && typeof hi === 'number' ? { lo, hi } : null);
  return {
    key: 'overall',
    title: `${t.title.split(':')[0]}: ${average} P@N with 95 % intervals`,
    legend: `bootstrap percentile intervals over ${plural(queries, 'query', 'queries')}${anyMissing ? ' (n/a: no precision table)' : ''} · * best · i: next`,
    labels,
    groups,
    rows: rows.map((row, ri) => ({
      cells: [
        { text: String(row[0]) },
        ...NS.flatMap((_, i) => {
          const vc = 1 + i * 3;
          const iv = range(row[vc + 1], row[vc + 2]);
          return [
            { text: formatValue(row[vc]), best: best.has(`${ri},${vc}`) },
            { text: iv ? `${iv.lo.toFixed(2)}–${iv.hi.toFixed(2)}` : 'n/a' },
          ];
        }),
      ],
    })),
    table: { title: `${t.title} (${average}, 95 % intervals)`, columns, rows },
    detail: (ri, col) => {
      const row = rows[ri];
      if (!row) return '';
      const i = Math.max(0, Math.floor((col - 1) / 2));
      const vc = 1 + i * 3;
      return `${row[0]} · ${average} P@${NS[i]} = ${formatValue(row[vc])} · 95 % CI ${ci(range(row[vc + 1], row[vc + 2]))}`;
    },
  };
}

/** Tables 4 and 10: micro_p1_<group>…, micro_p1_avg, macro_p1_<group>…, macro_p1_avg, plus a 'queries' row. */
function groupView(r: ReportData, key: 'modality' | 'dataset', tk: ReportTableName, what: string): ViewModel {
  const t = r.tables[tk];
  if (!t) return missing(key, `P@1 per ${what}`, `the report has no ${tk} table`);
  const cols = t.columns.map((_, i) => i).slice(1);
  const meta = (ri: number) => META_ROWS.has(String(t.rows[ri][0]));
  const best = bestCells(t.rows, cols, (ri) => !meta(ri));
  const fmt = cols.map((ci) =>
    fractionFormatter(
      t.rows.filter((_, ri) => !meta(ri)),
      ci,
    ),
  );
  const countRow = t.rows.find((x) => x[0] === 'queries');
  const label = (name: string) => name.replace(/^(micro|macro)_p1_/, '');
  return {
    key,
    title: t.title,
    legend: `avg: over all queries (micro) or all classes (macro) · * best`,
    labels: t.columns.map((n, i) => (i === 0 ? 'model' : label(n))),
    groups: t.columns.map((n) => (n.startsWith('micro') ? 'micro P@1' : n.startsWith('macro') ? 'macro P@1' : '')),
    rows: t.rows.map((row, ri) => ({
      meta: meta(ri),
      cells: row.map((v, ci) =>
        ci === 0
          ? { text: String(v) }
          : { text: meta(ri) ? formatValue(v) : fmt[ci - 1](v), best: best.has(`${ri},${ci}`) },
      ),
    })),
    table: t,
    detail: (ri, col) => {
      const row = t.rows[ri];
      if (!row || col === 0) return row ? `${row[0]}` : '';
      const name = t.columns[col];
      const g = label(name);
      const n = countRow?.[t.columns.indexOf(`micro_p1_${g}`)];
      return `${row[0]} · ${name.startsWith('micro') ? 'micro' : 'macro'} P@1 ${g === 'avg' ? 'over all' : `on ${g}`} = ${formatValue(row[col])}${typeof n === 'number' ? ` · ${plural(n, 'query', 'queries')}` : ''}`;
    },
  };
}

function anatomyView(r: ReportData): ViewModel {
  const t = r.tables.table9_anatomy_pathology;
  if (!t) return missing('anatomy', 'Anatomical vs pathological', 'the report has no table9_anatomy_pathology table');
  const cols = t.columns.map((_, i) => i).slice(1);
  const meta = (ri: number) => META_ROWS.has(String(t.rows[ri][0]));
  const best = bestCells(t.rows, cols, (ri) => !meta(ri));
  const fmt = cols.map((ci) =>
    fractionFormatter(
      t.rows.filter((_, ri) => !meta(ri)),
      ci,
    ),
  );
  const labelOf = (n: string) => (n === 'AVG' ? 'both' : n.replace(/^.*_(anat|path)$/, '$1'));
  const groupOf = (n: string) => (n.startsWith('AVG') ? 'all' : n === 'model' ? '' : n.replace(/_(anat|path)$/, ''));
  const samples = t.rows.find((x) => x[0] === 'samples');
  const classes = t.rows.find((x) => x[0] === 'classes');
  return {
    key: 'anatomy',
    title: t.title,
    legend: 'micro P@1 · anat = anatomical, path = pathological classes · * best',
    labels: t.columns.map((n, i) => (i === 0 ? 'model' : labelOf(n))),
    groups: t.columns.map(groupOf),
    rows: t.rows.map((row, ri) => ({
      meta: meta(ri),
      cells: row.map((v, ci) =>
        ci === 0
          ? { text: String(v) }
          : { text: meta(ri) ? formatValue(v) : fmt[ci - 1](v), best: best.has(`${ri},${ci}`) },
      ),
    })),
    table: t,
    detail: (ri, col) => {
      const row = t.rows[ri];
      if (!row || col === 0) return row ? String(row[0]) : '';
      const name = t.columns[col];
      return `${row[0]} · ${name} = ${formatValue(row[col])} · ${plural(classes?.[col], 'class', 'classes')}, ${plural(samples?.[col], 'query', 'queries')}`;
    },
  };
}

const QUALITY_LABELS: Record<string, string> = {
  micro_auroc: 'AUROC mi',
  macro_auroc: 'AUROC ma',
  micro_auprc: 'AUPRC mi',
  macro_auprc: 'AUPRC ma',
  micro_f1: 'F1 mi',
  macro_f1: 'F1 ma',
  macro_precision: 'Prec ma',
  macro_recall: 'Rec ma',
  accuracy: 'Acc',
  k_or_epoch: 'k/ep',
  method: 'method',
};

function qualityView(r: ReportData): ViewModel {
  const t = r.tables.table5_embedding_quality;
  if (!t)
    return missing(
      'quality',
      'k-NN classification and linear probing',
      'the report has no table5_embedding_quality table',
    );
  const method = t.columns.indexOf('method');
  const kcol = t.columns.indexOf('k_or_epoch');
  const cols = t.columns.map((_, i) => i).filter((i) => i > 0 && i !== method && i !== kcol);
  const best = bestCells(
    t.rows,
    cols,
    () => true,
    (ri) => String(t.rows[ri][method]),
  );
  const fmt = t.columns.map((_, ci) => fractionFormatter(t.rows, ci));
  return {
    key: 'quality',
    title: t.title,
    legend: 'k/ep: k (chosen on val) or best probe epoch · mi/ma: micro/macro · * best',
    labels: t.columns.map((n, i) => (i === 0 ? 'model' : (QUALITY_LABELS[n] ?? n))),
    groups: t.columns.map(() => ''),
    rows: t.rows.map((row, ri) => ({
      cells: row.map((v, ci) => ({
        text: ci === 0 ? String(v) : ci === method ? String(v).replace('linear_probe', 'probe') : fmt[ci](v),
        best: best.has(`${ri},${ci}`),
      })),
    })),
    table: t,
    detail: (ri, col) => {
      const row = t.rows[ri];
      if (!row) return '';
      const what = row[method] === 'knn' ? `k-NN (k = ${row[kcol]})` : `linear probe (epoch ${row[kcol]})`;
      return col <= 0 || col === method || col === kcol
        ? `${row[0]} · ${what}`
        : `${row[0]} · ${what} · ${t.columns[col]} = ${formatValue(row[col])}`;
    },
  };
}

function pairedView(r: ReportData): ViewModel {
  const t = r.tables.comparison;
  if (!t)
    return missing(
      'paired',
      'Paired comparison',
      r.models.length < 2
        ? 'a paired comparison needs a report with two or more models'
        : 'the report has no comparison table',
    );
  const c = (n: string) => t.columns.indexOf(n);
  const labels = ['model A', 'model B', 'avg', 'N', 'A − B', '95 % CI', 'p', 'p Holm', 'n≠', 'sig'];
  const pText = (p: string | number | null) =>
    typeof p === 'number' ? (p < 0.001 ? '<0.001' : p.toFixed(3)) : formatValue(p);
  const rows: DisplayRow[] = t.rows.map((row) => {
    const sig = row[c('significant')] === 'yes';
    const d = row[c('difference')];
    const lo = row[c('diff_lo')],
      hi = row[c('diff_hi')];
    return {
      cells: [
        { text: String(row[c('model_a')]) },
        { text: String(row[c('model_b')]) },
        { text: String(row[c('average')]) },
        { text: formatValue(row[c('N')]) },
        { text: typeof d === 'number' ? (d >= 0 ? '+' : '') + d.toFixed(3) : formatValue(d), flag: sig },
        { text: typeof lo === 'number' && typeof hi === 'number' ? `[${lo.toFixed(3)}, ${hi.toFixed(3)}]` : 'n/a' },
        { text: pText(row[c('p_value')]) },
        { text: c('p_holm') >= 0 ? pText(row[c('p_holm')]) : 'n/a', flag: sig },
        { text: formatValue(row[c('differing_queries')]) },
        { text: String(row[c('significant')]), flag: sig },
      ],
    };
  });
  return {
    key: 'paired',
    title: t.title,
    legend: 'best model (A, by micro P@1) against each other, same queries · sig: Holm-adjusted p < 0.05',
    labels,
    groups: labels.map(() => ''),
    rows,
    table: t,
    detail: (ri) => {
      const row = t.rows[ri];
      if (!row) return '';
      const holm = c('p_holm') >= 0 ? `, Holm ${formatValue(row[c('p_holm')])}` : '';
      return `${row[c('model_a')]} − ${row[c('model_b')]}, ${row[c('average')]} P@${row[c('N')]}: ${formatValue(row[c('difference')])} [${formatValue(row[c('diff_lo')])}, ${formatValue(row[c('diff_hi')])}], p = ${formatValue(row[c('p_value')])}${holm}: ${row[c('significant')] === 'yes' ? 'significant' : 'not significant'}`;
    },
  };
}

/**
 * The open reports side by side: each report's Table 3 (micro and macro P@1/3/5/10), one row per
 * (report, model), labelled `#<report> <model>`. Best values are marked over all rows when every
 * report has the same dataset (same manifest hash), else within each report (and the legend says so).
 */
export function compareView(reports: ReportData[], current: number): ViewModel {
  const title = 'Open reports compared: P@N (Table 3 of each)';
  const cols = [...NS.map((n) => `micro_p${n}`), ...NS.map((n) => `macro_p${n}`)];
  const rows: (string | number | null)[][] = [];
  const from: number[] = [];
  reports.forEach((r, i) => {
    const t = r.tables.table3_retrieval;
    for (const row of t?.rows ?? []) {
      rows.push([
        r.dir ? displayPath(r.dir) : '',
        String(row[0]),
        ...cols.map((c) => row[t!.columns.indexOf(c)] ?? null),
      ]);
      from.push(i);
    }
  });
  if (rows.length === 0) return missing('compare', title, 'no open report has a table3_retrieval table');
  const sameData = new Set(reports.map((r) => r.dataset.hash)).size === 1;
  const valueCols = cols.map((_, j) => 2 + j);
  const best = bestCells(rows, valueCols, () => true, sameData ? undefined : (ri) => String(from[ri]));
  const fmt = valueCols.map((c) => fractionFormatter(rows, c));
  const cur = reports[current] ? `#${current + 1} is current (r / R switch)` : '';
  return {
    key: 'compare',
    title,
    legend: `${reports.length} open · ${cur} · ${sameData ? 'same dataset · * best per column' : 'different datasets: * best within each report'}`,
    labels: ['report model', ...NS.map((n) => `P@${n}`), ...NS.map((n) => `P@${n}`)],
    groups: ['', ...NS.map(() => 'micro'), ...NS.map(() => 'macro')],
    rows: rows.map((row, ri) => ({
      cells: [
        { text: `#${from[ri] + 1} ${row[1]}` },
        ...valueCols.map((c, j) => ({ text: fmt[j](row[c]), best: best.has(`${ri},${c}`) })),
      ],
    })),
    table: { title, columns: ['report', 'model', ...cols], rows },
    detail: (ri, col) => {
      const row = rows[ri];
      if (!row) return '';
      const r = reports[from[ri]];
      const where = `#${from[ri] + 1} ${row[0]} (${r.createdAt.slice(0, 10)}, dataset ${r.dataset.hash.slice(0, 8)})`;
      if (col <= 0) return `${where} · ${row[1]}`;
      return `${where} · ${row[1]} · ${cols[col - 1].replace('_p', ' P@')} = ${formatValue(row[col + 1])}`;
    },
  };
}

const RANKING_LABELS: [string | RegExp, string][] = [
  [/^mAP@\d+_micro$/, 'mAP mi'],
  [/^mAP@\d+_macro$/, 'mAP ma'],
  [/^recall@\d+$/, 'recall'],
  ['R-precision', 'R-prec'],
  [/^nDCG@\d+_micro$/, 'nDCG mi'],
  [/^nDCG@\d+_macro$/, 'nDCG ma'],
  [/^majority@\d+$/, 'major.'],
  ['top1_grade_MAE', '|Δgrade|'],
  ['top1_within_one_grade', '≤1 grade'],
];

/** Overall, ranking mode: the report's ranking table (report.json `beyond.ranking`), one row per model × relevance. */
function rankingView(r: ReportData): ViewModel {
  const title = 'Ranking metrics beyond P@N';
  const t = r.beyond?.ranking;
  if (!t)
    return missing('overall', title, 'the report has no ranking metrics (written before them): re-run the report');
  const c = (n: string) => t.columns.indexOf(n);
  const graded = t.rows.some((row) => row[1] === 'ordinal');
  const label = (n: string) => RANKING_LABELS.find(([p]) => (typeof p === 'string' ? p === n : p.test(n)))?.[1];
  const cols = t.columns
    .map((_, i) => i)
    .filter((i) => label(t.columns[i]) && (graded || !t.columns[i].startsWith('top1_')));
  // larger is better for all but the grade error; models are compared within one relevance rule
  const best = bestCells(
    t.rows,
    cols.filter((i) => t.columns[i] !== 'top1_grade_MAE'),
    () => true,
    (ri) => String(t.rows[ri][1]),
  );
  const fmt = cols.map((i) => fractionFormatter(t.rows, i));
  return {
    key: 'overall',
    title: t.title,
    legend: `mAP, recall, R-prec, majority: same class · nDCG: the row's gains · * best per relevance · b: next`,
    labels: ['model', 'relevance', ...cols.map((i) => label(t.columns[i])!)],
    groups: ['', '', ...cols.map(() => '')],
    rows: t.rows.map((row, ri) => ({
      cells: [
        { text: String(row[0]) },
        { text: String(row[1]) },
        ...cols.map((i, j) => ({ text: fmt[j](row[i]), best: best.has(`${ri},${i}`) })),
      ],
    })),
    table: t,
    detail: (ri, col) => {
      const row = t.rows[ri];
      if (!row) return '';
      const n = row[c('R-precision_queries')];
      if (col <= 1) return `${row[0]} · ${row[1]} relevance · R-precision over ${plural(n, 'query', 'queries')}`;
      const i = cols[col - 2];
      return `${row[0]} · ${row[1]} · ${t.columns[i]} = ${formatValue(row[i])}`;
    },
  };
}

/** Overall, re-ranking mode: αQE, DBA, k-reciprocal against plain search (report.json `beyond.rerank`). */
function rerankView(r: ReportData): ViewModel {
  const title = 'Re-ranking and query expansion';
  const t = r.beyond?.rerank;
  if (!t) return missing('overall', title, 're-ranking was not run: `cbir report --rerank` adds it');
  const c = (n: string) => t.columns.indexOf(n);
  const map = t.columns.find((n) => /^mAP@\d+$/.test(n)) ?? 'mAP@10';
  const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
  const range = (row: Table['rows'][number], n: string) =>
    Number.isFinite(num(row[c(`${n}_lo`)]))
      ? `${formatValue(row[c(`${n}_lo`)])}–${formatValue(row[c(`${n}_hi`)])}`
      : 'n/a';
  const gain = (row: Table['rows'][number], n: string) => {
    const d = num(row[c(`gain_${n}`)]);
    return Number.isFinite(d) ? `${d >= 0 ? '+' : ''}${d.toFixed(3)}` : '';
  };
  const pOf = (row: Table['rows'][number], n: string) => num(row[c(`p_${n}`)]);
  const sig = (row: Table['rows'][number], n: string) =>
    pOf(row, n) < 0.05 && (num(row[c(`gain_${n}_lo`)]) > 0 || num(row[c(`gain_${n}_hi`)]) < 0);
  const pText = (p: number) => (Number.isFinite(p) ? (p < 0.001 ? '<0.001' : p.toFixed(3)) : '');
  const best = bestCells(
    t.rows,
    [c('P@1'), c(map)],
    () => true,
    (ri) => String(t.rows[ri][0]),
  );
  return {
    key: 'overall',
    title: t.title,
    legend: `against plain search on the same test queries · highlighted: p < 0.05 · * best per model · b: next`,
    labels: ['model', 'method', 'params', 'P@1', '95 % CI', 'mAP', '95 % CI', 'ΔP@1', 'p', 'ΔmAP', 'p'],
    groups: ['', '', '', '', '', '', '', 'vs plain', 'vs plain', 'vs plain', 'vs plain'],
    rows: t.rows.map((row, ri) => ({
      cells: [
        { text: String(row[0]) },
        { text: String(row[1]) },
        { text: String(row[2] ?? '') },
        { text: formatValue(row[c('P@1')]), best: best.has(`${ri},${c('P@1')}`) },
        { text: range(row, 'P@1') },
        { text: formatValue(row[c(map)]), best: best.has(`${ri},${c(map)}`) },
        { text: range(row, map) },
        { text: gain(row, 'P@1'), flag: sig(row, 'P@1') },
        { text: pText(pOf(row, 'P@1')), flag: sig(row, 'P@1') },
        { text: gain(row, map), flag: sig(row, map) },
        { text: pText(pOf(row, map)), flag: sig(row, map) },
      ],
    })),
    table: t,
    detail: (ri) => {
      const row = t.rows[ri];
      if (!row) return '';
      const what = row[1] === 'plain' ? 'plain search' : `${row[1]} (${row[2]}, chosen on val)`;
      const g = (n: string) =>
        row[1] === 'plain'
          ? ''
          : ` · Δ${n} ${gain(row, n)} [${formatValue(row[c(`gain_${n}_lo`)])}, ${formatValue(row[c(`gain_${n}_hi`)])}], p ${pText(pOf(row, n))}`;
      return `${row[0]} · ${what} · P@1 ${formatValue(row[c('P@1')])} (${range(row, 'P@1')}) · ${map} ${formatValue(row[c(map)])}${g('P@1')}${g(map)}`;
    },
  };
}
