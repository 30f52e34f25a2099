/**
 * Helpers for the tslab notebooks in `notebooks/`: one call that runs the study's experiments for
 * the notebook's parameters (built-in or study models by id, or finished embedding stores and the
 * study's HDF5 files without re-embedding), tables as HTML, the study's reported values next to
 * reproduced ones, and inline display through tslab. Loaded by `notebooks/_setup.cjs` together
 * with the public API (`index.ts`) and the figures module.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { CbirError } from './errors.js';
import { readManifest, type Manifest } from './data/manifest.js';
import { ensurePhantom } from './data/phantom.js';
import { openEmbeddings, importH5 } from './embeddings/index.js';
import { listModels } from './models/registry.js';
import { pairedPrecisionTest, type LinearProbeOptions } from './metrics/index.js';
import { evaluateModel, manifestVectors, type ModelEvaluation } from './benchmark/evaluate.js';
import {
  runReport,
  autoIndexSize,
  STUDY_INDEX_SIZE,
  type ReportOptions,
  type ReportResult,
} from './benchmark/report.js';
import { studyTables } from './benchmark/tables.js';
import { formatCell, writeTable, type Table } from './tables/write.js';
import { readReportedTable, REPORTED_TABLES } from './tables/reported.js';
import type { ProgressListener } from './util/progress.js';
import type { PlotlyFigure } from './figures/specs.js';
import { showFigure } from './figures/html.js';
import { writeFigures, type WriteFiguresOptions, type WriteFiguresResult } from './figures/index.js';

const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The embedded default dataset of the notebooks: the synthetic phantom at a small scale. */
export const NOTEBOOK_PHANTOM_SCALE = 0.3;

/**
 * The dataset a notebook parameter names: 'phantom' (the deterministic synthetic phantom at
 * `scale`, generated once into .cache/), or a manifest folder / manifest.csv.
 */
export async function openData(
  data: string | Manifest = 'phantom',
  opts: { scale?: number; onProgress?: ProgressListener } = {},
): Promise<Manifest> {
  if (typeof data !== 'string') return data;
  if (data === 'phantom')
    return ensurePhantom({ scale: opts.scale ?? NOTEBOOK_PHANTOM_SCALE, onProgress: opts.onProgress });
  if (!existsSync(data)) {
    throw new CbirError('dataset not found', {
      file: data,
      hint: "set DATA to 'phantom' or to a manifest folder made by `cbir data prepare` (holding manifest.csv)",
      code: 'notebook/no-data',
    });
  }
  return readManifest(data);
}

export interface NotebookReportOptions {
  /** 'phantom' (default), a manifest folder or manifest.csv, or a Manifest. */
  data?: string | Manifest;
  /** Phantom scale when data is 'phantom' (default 0.3). */
  scale?: number;
  /** Model ids to embed (cached) and evaluate (`listModels()`). */
  models?: string[];
  /**
   * Finished embeddings evaluated without re-embedding: store folders (`cbir embed`), or the
   * study's HDF5 layout, a folder `<model>/` of `<dataset>.h5` files (imported once into the work folder).
   */
  embeddings?: string[];
  /** Report folder (tables, per-model files). */
  out: string;
  /** Embeddings and k-NN cache, shared between notebooks; default `<out>/work`. */
  work?: string;
  /** Bootstrap replicates of the P@N intervals (default 1000; notebooks use fewer). */
  replicates?: number;
  probe?: LinearProbeOptions | false;
  /** Index-size ablation: 'auto' (default), 'study', false, or explicit options. */
  indexSize?: ReportOptions['indexSize'];
  k?: number;
  /** Figure files into `<out>/figures` as `cbir report` writes them; default false (notebooks draw their figures inline). */
  figures?: WriteFiguresOptions | false;
  workers?: number;
  threads?: number;
  onProgress?: ProgressListener;
  log?: (line: string) => void;
}

/** What a notebook works with after `notebookReport`. */
export interface NotebookReport extends ReportResult {
  manifest: Manifest;
  /** Embedding store folder of each evaluated model id. */
  stores: Record<string, string>;
  work: string;
}

function isStore(dir: string): boolean {
  return existsSync(join(dir, 'meta.json'));
}

function isH5(p: string): boolean {
  if (!existsSync(p)) return false;
  if (statSync(p).isDirectory()) return readdirSync(p).some((f) => /\.(h5|hdf5)$/i.test(f));
  return /\.(h5|hdf5)$/i.test(p);
}

/**
 * Run the study's experiments for a notebook: model ids through `runReport` (the same path as
 * `cbir report`), embedding stores and HDF5 folders through `evaluateModel`; then the study's
 * tables over all of them (written into `out` like a report). Embeddings and k-NN tables are
 * cached in `work`, so rerunning a notebook or running the next one reuses them.
 */
export async function notebookReport(o: NotebookReportOptions): Promise<NotebookReport> {
  const models = o.models ?? [];
  const embeddings = o.embeddings ?? [];
  if (models.length === 0 && embeddings.length === 0) {
    throw new CbirError('no models and no embeddings given', {
      hint: "set MODELS to model ids (e.g. ['hog4x4x9', 'tiny-vit']) or EMBEDDINGS to embedding store / HDF5 folders",
      code: 'notebook/no-models',
    });
  }
  const manifest = await openData(o.data, { scale: o.scale, onProgress: o.onProgress });
  const out = resolve(o.out);
  const work = resolve(o.work ?? join(out, 'work'));
  const log = o.log ?? (() => {});
  const indexSize =
    o.indexSize === undefined || o.indexSize === 'auto'
      ? autoIndexSize(manifest)
      : o.indexSize === 'study'
        ? STUDY_INDEX_SIZE
        : o.indexSize;
  const stores: Record<string, string> = {};
  let base: ReportResult | null = null;
  if (models.length > 0) {
    base = await runReport({
      data: manifest,
      models,
      out,
      workDir: work,
      replicates: o.replicates,
      probe: o.probe,
      indexSize,
      k: o.k,
      workers: o.workers,
      threads: o.threads,
      onProgress: o.onProgress,
      log,
      figures: o.figures ?? false,
    });
    for (const m of models) stores[m] = join(work, 'embeddings', m);
  }
  if (embeddings.length === 0) return { ...base!, manifest, stores, work };

  const evaluations: ModelEvaluation[] = [...(base?.evaluations ?? [])];
  for (const given of embeddings) {
    const p = resolve(given);
    let dir: string;
    if (isStore(p)) dir = p;
    else if (isH5(p)) {
      const modelId = basename(p).replace(/\.(h5|hdf5)$/i, '');
      dir = join(work, 'embeddings-h5', modelId);
      if (!isStore(dir)) {
        const r = await importH5({ manifest, from: p, out: dir, onProgress: o.onProgress });
        log(
          `${r.meta.modelId}: imported ${r.found} vectors from ${r.files.length} HDF5 file(s)${r.renormalized ? ` (${r.renormalized} re-normalised)` : ''}`,
        );
      }
    } else {
      throw new CbirError('not an embedding store (no meta.json) nor HDF5 files', {
        file: p,
        hint: "pass the --out folder of `cbir embed`, or a folder of the study's `<dataset>.h5` files",
        code: 'notebook/bad-embeddings',
      });
    }
    const store = await openEmbeddings(dir);
    const vectors = await manifestVectors(
      store,
      manifest,
      'embed (or import) with this manifest: DATA and EMBEDDINGS must belong together',
    );
    const modelId = store.meta.modelId;
    if (evaluations.some((e) => e.modelId === modelId)) {
      throw new CbirError(`model "${modelId}" is given twice`, {
        file: dir,
        hint: 'each model id may appear once among MODELS and EMBEDDINGS',
        code: 'notebook/duplicate-model',
      });
    }
    evaluations.push(
      await evaluateModel({
        manifest,
        vectors,
        dim: store.dim,
        embeddingsHash: store.meta.contentHash,
        modelId,
        out: join(out, modelId),
        cacheDir: join(work, 'knn'),
        k: o.k,
        replicates: o.replicates,
        probe: o.probe,
        indexSize,
        threads: o.threads,
        onProgress: o.onProgress,
        log,
      }),
    );
    stores[modelId] = dir;
  }
  const tables = studyTables(evaluations, manifest);
  for (const [name, t] of Object.entries(tables)) await writeTable(t, join(out, name));
  const summary = `${evaluations.length} model(s) on ${manifest.dir}; tables in ${out}`;
  let figures: WriteFiguresResult | null = null;
  if (o.figures) {
    // t-SNE maps and grid similarities read <work>/embeddings/<model>: for stores given by path writeFigures notes them as skipped
    figures = await writeFigures(out, manifest, { workDir: work, onProgress: o.onProgress, log, ...o.figures });
  }
  return { out, summary, evaluations, tables, figures, manifest, stores, work };
}

export { studyTables };

// ---- model comparison ----

/** Holm's step-down adjustment: p_(i) ↦ max_{j ≤ i} min(1, (m − j + 1) · p_(j)) over the ascending p-values. */
export function holmAdjust(p: ArrayLike<number>): Float64Array {
  const m = p.length;
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => p[a] - p[b]);
  const out = new Float64Array(m);
  let running = 0;
  order.forEach((i, j) => {
    running = Math.max(running, Math.min(1, (m - j) * p[i]));
    out[i] = running;
  });
  return out;
}

/**
 * Every pair of models compared on the same queries: difference of micro or macro P@N with a
 * paired bootstrap interval, the sign-flip p-value, and the Holm-adjusted p-value over all pairs
 * (so "significant" stays honest when many models are compared).
 */
export function pairwiseComparison(
  evals: readonly ModelEvaluation[],
  opts: {
    average?: 'micro' | 'macro';
    N?: number;
    replicates?: number;
    permutations?: number;
    seed?: number;
    alpha?: number;
  } = {},
): Table {
  if (evals.length < 2)
    throw new CbirError('need at least two models to compare', {
      hint: 'add a model to MODELS',
      code: 'notebook/one-model',
    });
  const average = opts.average ?? 'micro';
  const N = opts.N ?? 1;
  const alpha = opts.alpha ?? 0.05;
  const column = evals[0].precision.ns.indexOf(N);
  if (column < 0)
    throw new CbirError(`N = ${N} is not one of the computed ranks (${Array.from(evals[0].precision.ns).join(', ')})`, {
      hint: 'use N = 1, 3, 5, 10, …',
      code: 'notebook/bad-n',
    });
  const labels = evals[0].queryLabels;
  for (const e of evals) {
    if (e.queryLabels.length !== labels.length || e.queryLabels.some((c, i) => c !== labels[i])) {
      throw new CbirError(`model "${e.modelId}" was scored on other queries than "${evals[0].modelId}"`, {
        hint: 'compare models evaluated on the same manifest',
        code: 'notebook/unpaired',
      });
    }
  }
  const pairs: { a: ModelEvaluation; b: ModelEvaluation }[] = [];
  for (let i = 0; i < evals.length; i++)
    for (let j = i + 1; j < evals.length; j++) {
      const [a, b] =
        evals[i].precision[average][column] >= evals[j].precision[average][column]
          ? [evals[i], evals[j]]
          : [evals[j], evals[i]];
      pairs.push({ a, b });
    }
  const results = pairs.map(({ a, b }) =>
    pairedPrecisionTest(a.precision.perQuery, b.precision.perQuery, labels, {
      column,
      average,
      replicates: opts.replicates,
      permutations: opts.permutations,
      seed: opts.seed ?? 0,
      alpha,
    }),
  );
  const holm = holmAdjust(results.map((r) => r.pValue));
  return {
    title: `All pairs: ${average} P@${N}, A − B on the same ${labels.length} queries`,
    columns: [
      'model_a',
      'model_b',
      'difference',
      'diff_lo',
      'diff_hi',
      'p_value',
      'p_holm',
      'differing_queries',
      'significant',
    ],
    rows: pairs.map(({ a, b }, k) => [
      a.modelId,
      b.modelId,
      results[k].difference,
      results[k].lo,
      results[k].hi,
      results[k].pValue,
      holm[k],
      results[k].nonZero,
      holm[k] < alpha ? 'yes' : 'no',
    ]),
    notes: [
      `interval: paired bootstrap over queries (${Math.round((1 - alpha) * 100)} %); p: two-sided sign-flip permutation test; p_holm: Holm-adjusted over the ${pairs.length} pairs; significant: p_holm < ${alpha}.`,
    ],
  };
}

/** Average ranks (1-based; ties get the mean of their ranks). */
function ranks(x: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a] - x[b]);
  const r = new Float64Array(x.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]] === x[idx[i]]) j++;
    for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's rank correlation: ρ = Pearson correlation of the average ranks of x and y (NaN for fewer than 2 points or a constant input). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length)
    throw new CbirError(`x has ${x.length} values, y ${y.length}`, {
      hint: 'pass paired values',
      code: 'notebook/length-mismatch',
    });
  const n = x.length;
  if (n < 2) return NaN;
  const rx = ranks(x),
    ry = ranks(y);
  const mx = (n + 1) / 2;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (let i = 0; i < n; i++) {
    const a = rx[i] - mx,
      b = ry[i] - mx;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** A dot-and-whisker plot (estimate with interval per row), e.g. P@1 of each model with its 95 % bootstrap interval. */
export function intervalFigure(
  rows: { name: string; value: number; lo: number; hi: number; group?: string }[],
  opts: { title: string; xTitle: string; width?: number; height?: number },
): PlotlyFigure {
  const groups = [...new Set(rows.map((r) => r.group ?? ''))];
  const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];
  const data: PlotlyFigure['data'] = groups.map((g, k) => {
    const rs = rows.filter((r) => (r.group ?? '') === g);
    return {
      type: 'scatter',
      mode: 'markers',
      name: g || 'estimate',
      showlegend: groups.length > 1,
      x: rs.map((r) => r.value),
      y: rs.map((r) => r.name),
      error_x: {
        type: 'data',
        symmetric: false,
        array: rs.map((r) => r.hi - r.value),
        arrayminus: rs.map((r) => r.value - r.lo),
        color: palette[k % palette.length],
        thickness: 1.5,
        width: 5,
      },
      marker: { color: palette[k % palette.length], size: 9 },
      hovertemplate: '%{y}: %{x:.3f}<extra></extra>',
    };
  });
  const layout: PlotlyFigure['layout'] = {
    title: { text: opts.title, x: 0.5, xanchor: 'center' },
    width: opts.width ?? 760,
    height: opts.height ?? Math.max(260, 90 + 34 * new Set(rows.map((r) => r.name)).size),
    font: { family: 'DejaVu Sans, Liberation Sans, Arial, sans-serif', size: 13 },
    paper_bgcolor: '#fff',
    plot_bgcolor: '#fff',
    xaxis: { title: { text: opts.xTitle }, showgrid: true, gridcolor: '#e6e6e6', showline: true, linecolor: '#444' },
    yaxis: { automargin: true, autorange: 'reversed', showline: true, linecolor: '#444' },
    margin: { l: 120, r: 30, t: 60, b: 60 },
  };
  return { data, layout };
}

// ---- HTML tables ----

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

// ---- reported vs reproduced ----

/**
 * Table 5 (one row per model and method) in the study's layout: knn_/lp_ × micro/macro "aurpc"
 * (which the study's code computes as ROC AUC, our `*_auroc`) and F1.
 */
export function table5StudyLayout(t: Table): Table {
  const at = (c: string) => t.columns.indexOf(c);
  const models = [...new Set(t.rows.map((r) => String(r[0])))];
  const columns = [
    'model',
    'knn_micro_aurpc',
    'knn_micro_f1',
    'knn_macro_aurpc',
    'knn_macro_f1',
    'lp_micro_aurpc',
    'lp_micro_f1',
    'lp_macro_aurpc',
    'lp_macro_f1',
  ];
  const rows = models.map((m) => {
    const pick = (method: string) => t.rows.find((r) => r[0] === m && r[at('method')] === method);
    const vals = (r: (string | number | null)[] | undefined) =>
      r ? [r[at('micro_auroc')], r[at('micro_f1')], r[at('macro_auroc')], r[at('macro_f1')]] : [null, null, null, null];
    return [m, ...vals(pick('knn')), ...vals(pick('linear_probe'))];
  });
  return {
    title: `${t.title} (the study's layout)`,
    columns,
    rows,
    notes: ["aurpc = one-vs-rest ROC AUC, as the study's code computes it."],
  };
}

/** Study name (Table 2, e.g. 'ResNet') of each model id that is a study model. */
export async function studyNames(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const m of await listModels()) if (m.studyName) out.set(m.id, m.studyName);
  return out;
}

/**
 * Reproduced values next to the study's reported ones, in long form (model, column, reproduced,
 * reported, difference), for the models whose study name appears in the reported table; null
 * when none does (e.g. built-in models on the phantom).
 */
export function compareReported(reproduced: Table, reported: Table, names: ReadonlyMap<string, string>): Table | null {
  const shared = reproduced.columns.filter((c, i) => i > 0 && reported.columns.includes(c));
  const rows: (string | number | null)[][] = [];
  for (const r of reproduced.rows) {
    const id = String(r[0]);
    const study = names.get(id);
    const rep = study ? reported.rows.find((x) => String(x[0]) === study) : undefined;
    if (!rep) continue;
    for (const c of shared) {
      const a = r[reproduced.columns.indexOf(c)],
        b = rep[reported.columns.indexOf(c)];
      rows.push([id, study!, c, a, b, typeof a === 'number' && typeof b === 'number' ? a - b : null]);
    }
  }
  if (rows.length === 0) return null;
  return {
    title: `${reproduced.title}: reproduced vs reported`,
    columns: ['model', 'study_model', 'column', 'reproduced', 'reported', 'difference'],
    rows,
  };
}

/**
 * HTML for one of the study's tables: the reproduced table, and next to it the study's reported
 * values (`readReportedTable`), or a reproduced-vs-reported comparison when some model is a study
 * model; a note when the reported tables are absent (no ../shared/study).
 */
export async function withReported(
  which: keyof typeof REPORTED_TABLES,
  reproduced: Table,
  opts: TableHtmlOptions = {},
): Promise<string> {
  const models = reproduced.rows.map((r) => String(r[0])).filter((m) => !['queries', 'classes', 'samples'].includes(m));
  const mine = tableHtml(reproduced, { highlight: models, ...opts });
  const reported = await readReportedTable(which);
  if (!reported)
    return (
      mine +
      noteHtml(
        `The study's reported values are not on this machine (${REPORTED_TABLES[which]} in $CBIR_STUDY, default ../shared/study).`,
      )
    );
  const cmp = compareReported(reproduced, reported, await studyNames());
  const reportedModels = reported.rows.map((r) => String(r[0])).filter((m) => !['classes', 'samples'].includes(m));
  const theirs = tableHtml(
    { ...reported, title: `Reported by the study (Denner et al.), ${REPORTED_TABLES[which]}` },
    { highlight: reportedModels, digits: opts.digits },
  );
  if (cmp) return sideBySide(mine, theirs) + tableHtml(cmp, { digits: opts.digits });
  return (
    sideBySide(mine, theirs) +
    noteHtml(
      'None of these models is a study model, so no row is comparable with the reported values: they are shown for orientation (the study: 1.3 M index images, 171,753 queries, 12 foundation models).',
    )
  );
}

// ---- display ----

/** Minimal display surface (tslab's `display`). */
interface Display {
  html(s: string): void;
  markdown(s: string): void;
  png(b: Uint8Array): void;
}

let display: Display | null | undefined;

/** tslab's display when running inside a tslab kernel, else null. */
function tslabDisplay(): Display | null {
  if (display !== undefined) return display;
  try {
    const d = (createRequire(import.meta.url)('tslab') as { display: Display }).display;
    display = d;
  } catch {
    display = null;
  }
  return display;
}

function emit(kind: 'html' | 'markdown', s: string, fallback: string): void {
  const d = tslabDisplay();
  if (d) {
    try {
      d[kind](s);
      return;
    } catch {
      /* not inside a running cell: fall back to text */
    }
  }
  console.log(fallback);
}

/** Show PNG bytes (e.g. a query grid) in the notebook cell; prints a line outside a notebook. */
export function showPng(png: Uint8Array, label = 'image'): void {
  const d = tslabDisplay();
  if (d) {
    try {
      d.png(png);
      return;
    } catch {
      /* not inside a running cell */
    }
  }
  console.log(`[${label}: PNG, ${png.length} bytes]`);
}

/** Show a table (as HTML) or an HTML string in the notebook cell; prints text outside a notebook. Returns nothing, so it is safe as a cell's last expression. */
export function show(x: Table | string, opts: TableHtmlOptions = {}): void {
  if (typeof x === 'string')
    emit(
      'html',
      x,
      x
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim(),
    );
  else
    emit(
      'html',
      tableHtml(x, opts),
      `${x.title}\n${x.columns.join('\t')}\n${x.rows.map((r) => r.map((v) => formatCell(v, opts.digits)).join('\t')).join('\n')}`,
    );
}

/** Show Markdown in the notebook cell. */
export function showMarkdown(md: string): void {
  emit('markdown', md, md);
}

/** Show a plotly figure inline (offline: the plotly bundle is inlined once per kernel). Returns nothing. */
export function plot(fig: PlotlyFigure): void {
  const d = tslabDisplay();
  if (!d) {
    console.log(`[figure] ${JSON.stringify((fig.layout.title as { text?: string } | undefined)?.text ?? '')}`);
    return;
  }
  showFigure(fig, { display: d });
}

/** A line plot (one trace per series) as a plotly figure, e.g. validation F1 over k or training curves. */
export function lineFigure(
  series: { name: string; x: ArrayLike<number>; y: ArrayLike<number>; dash?: string; yaxis?: 'y' | 'y2' }[],
  opts: {
    title: string;
    xTitle: string;
    yTitle: string;
    y2Title?: string;
    width?: number;
    height?: number;
    marker?: { x: number; y: number; text: string }[];
  },
): PlotlyFigure {
  const palette = [
    '#1f77b4',
    '#ff7f0e',
    '#2ca02c',
    '#d62728',
    '#9467bd',
    '#8c564b',
    '#e377c2',
    '#7f7f7f',
    '#bcbd22',
    '#17becf',
  ];
  const data: PlotlyFigure['data'] = series.map((s, i) => ({
    type: 'scatter',
    mode: 'lines',
    name: s.name,
    x: Array.from(s.x),
    y: Array.from(s.y, (v) => (Number.isFinite(v) ? Number(v.toPrecision(6)) : null)),
    line: { color: palette[i % palette.length], dash: s.dash ?? 'solid', width: 2 },
    yaxis: s.yaxis ?? 'y',
  }));
  const layout: PlotlyFigure['layout'] = {
    title: { text: opts.title, x: 0.5, xanchor: 'center' },
    width: opts.width ?? 760,
    height: opts.height ?? 420,
    font: { family: 'DejaVu Sans, Liberation Sans, Arial, sans-serif', size: 13 },
    paper_bgcolor: '#fff',
    plot_bgcolor: '#fff',
    xaxis: { title: { text: opts.xTitle }, showgrid: true, gridcolor: '#e6e6e6', showline: true, linecolor: '#444' },
    yaxis: { title: { text: opts.yTitle }, showgrid: true, gridcolor: '#e6e6e6', showline: true, linecolor: '#444' },
    legend: { bgcolor: 'rgba(255,255,255,0.85)' },
    margin: { l: 70, r: opts.y2Title ? 70 : 30, t: 60, b: 60 },
  };
  if (opts.y2Title) layout.yaxis2 = { title: { text: opts.y2Title }, overlaying: 'y', side: 'right', showgrid: false };
  if (opts.marker?.length) {
    data.push({
      type: 'scatter',
      mode: 'markers+text',
      name: 'chosen',
      x: opts.marker.map((m) => m.x),
      y: opts.marker.map((m) => m.y),
      text: opts.marker.map((m) => m.text),
      textposition: 'top center',
      marker: { size: 10, color: '#000', symbol: 'diamond' },
      showlegend: false,
    });
  }
  return { data, layout };
}
