/**
 * Helpers for the tslab notebooks in `notebooks/`: one call that runs the study's experiments for
 * the notebook's parameters (`runReport`, the same entry point as `cbir report`: built-in or study
 * models by id, or finished embedding stores and the study's HDF5 files), and inline display
 * through tslab. Reached as `notebook` from the public API (`index.ts`), which
 * `notebooks/_setup.cjs` loads.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { join, resolve } from 'node:path';
import { CbirError } from './errors.js';
import { readManifest, type Manifest } from './data/manifest.js';
import { ensurePhantom } from './data/phantom.js';
import type { LinearProbeOptions } from './metrics/index.js';
import { runReport, type ReportOptions, type ReportRun } from './benchmark/report.js';
import { formatCell, type Table } from './tables/write.js';
import { tableHtml, type TableHtmlOptions } from './tables/html.js';
import { saveReport } from './report/save.js';
import type { ReportData } from './report/types.js';
import { withContext, type ProgressListener } from './util/progress.js';
import type { PlotlyFigure } from './figures/specs.js';
import { showFigure, tslabBundleWriter, type MimeBundle } from './figures/html.js';
import type { WriteFiguresOptions } from './figures/index.js';

// Moved to their steps; re-exported so notebooks keep one namespace of helpers.
export { holmAdjust, spearman } from './metrics/stats.js';
export { pairwiseComparison } from './benchmark/compare.js';
export { studyTables } from './benchmark/tables.js';
export { intervalFigure, lineFigure } from './figures/charts.js';
export { tableHtml, sideBySide, noteHtml, type TableHtmlOptions } from './tables/html.js';
export { table5StudyLayout, studyNames, compareReported, withReported } from './tables/compare.js';

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
  if (data === 'phantom') {
    const onProgress = withContext(opts.onProgress, { step: 'data' });
    return ensurePhantom({ scale: opts.scale ?? NOTEBOOK_PHANTOM_SCALE, onProgress });
  }
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
  /** Report folder (tables, per-model files, report.json). */
  out: string;
  /** Embeddings and k-NN cache, shared between notebooks; default `<out>/work`. */
  work?: string;
  /** Bootstrap replicates of the P@N intervals (default 1000; notebooks use fewer). */
  replicates?: number;
  probe?: LinearProbeOptions | false;
  /** Index-size ablation: 'auto' (default), 'study', false, or explicit options. */
  indexSize?: ReportOptions['indexSize'];
  k?: number;
  /** Also re-rank (αQE, DBA, k-reciprocal vs plain; parameters on val), as `cbir report --rerank`; default false. */
  rerank?: boolean;
  /** Figure files into `<out>/figures` as `cbir report` writes them; default false (notebooks draw their figures inline). */
  figures?: WriteFiguresOptions | false;
  workers?: number;
  threads?: number;
  onProgress?: ProgressListener;
  log?: (line: string) => void;
}

/** What a notebook works with after `notebookReport`: the run, and the report as saved. */
export interface NotebookReport extends ReportRun {
  /** The saved report (report.json in `out`). */
  saved: ReportData;
  out: string;
  tables: Record<string, Table>;
  /** Embedding store folder of each evaluated model id. */
  stores: Record<string, string>;
  work: string;
}

/**
 * Run the study's experiments for a notebook through `runReport` (the same path as `cbir
 * report`) and save the report into `out`. Embeddings and k-NN tables are cached in `work`, so
 * rerunning a notebook or running the next one reuses them.
 */
export async function notebookReport(o: NotebookReportOptions): Promise<NotebookReport> {
  if (!(o.models ?? []).length && !(o.embeddings ?? []).length) {
    throw new CbirError('no models and no embeddings given', {
      hint: "set MODELS to model ids (e.g. ['hog4x4x9', 'tiny-vit']) or EMBEDDINGS to embedding store / HDF5 folders",
      code: 'notebook/no-models',
    });
  }
  const manifest = await openData(o.data, { scale: o.scale, onProgress: o.onProgress });
  const out = resolve(o.out);
  const work = resolve(o.work ?? join(out, 'work'));
  const run = await runReport({
    data: manifest,
    models: o.models,
    stores: o.embeddings,
    workDir: work,
    replicates: o.replicates,
    probe: o.probe,
    indexSize: o.indexSize,
    k: o.k,
    rerank: o.rerank,
    workers: o.workers,
    threads: o.threads,
    onProgress: o.onProgress,
    log: o.log,
  });
  const saved = await saveReport(run, out, { figures: o.figures ?? false, log: o.log });
  const stores = Object.fromEntries(run.report.models.map((m) => [m.modelId, m.store.dir]));
  return { ...run, saved, out, tables: run.report.tables as Record<string, Table>, stores, work };
}

// ---- display ----

/** Minimal display surface (tslab's `display`, plus whole mime bundles through its kernel). */
interface Display {
  html(s: string): void;
  markdown(s: string): void;
  png(b: Uint8Array): void;
  jpeg(b: Uint8Array): void;
  bundle?(b: MimeBundle): void;
}

let display: Display | null | undefined;

/** tslab's display when running inside a tslab kernel, else null. */
function tslabDisplay(): Display | null {
  if (display !== undefined) return display;
  try {
    const d = (createRequire(import.meta.url)('tslab') as { display: Display }).display;
    const bundle = tslabBundleWriter();
    display = {
      html: (s) => d.html(s),
      markdown: (s) => d.markdown(s),
      png: (b) => d.png(b),
      jpeg: (b) => d.jpeg(b),
      ...(bundle ? { bundle } : {}),
    };
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

/**
 * Show an image (PNG or any format sharp reads, e.g. a query grid) as JPEG in the notebook cell:
 * photo-like images such as grids of radiographs take about a quarter of their PNG's bytes, which
 * keeps executed notebooks small (the report's files keep the PNG). Prints a line outside a notebook.
 */
export async function showJpeg(image: Uint8Array, opts: { quality?: number; label?: string } = {}): Promise<void> {
  const jpeg = await sharp(image)
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: opts.quality ?? 80, mozjpeg: true })
    .toBuffer();
  const d = tslabDisplay();
  if (d) {
    try {
      d.jpeg(jpeg);
      return;
    } catch {
      /* not inside a running cell */
    }
  }
  console.log(`[${opts.label ?? 'image'}: JPEG, ${jpeg.length} bytes]`);
}

/** Show a table (as HTML) or an HTML string in the notebook cell; prints text outside a notebook. Returns nothing, so it is safe as a cell's last expression. */
export function show(x: Table | string, opts: TableHtmlOptions = {}): void {
  if (typeof x === 'string') {
    emit(
      'html',
      x,
      x
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim(),
    );
    return;
  }
  const text = `${x.title}\n${x.columns.join('\t')}\n${x.rows.map((r) => r.map((v) => formatCell(v, opts.digits)).join('\t')).join('\n')}`;
  emit('html', tableHtml(x, opts), text);
}

/** Show Markdown in the notebook cell. */
export function showMarkdown(md: string): void {
  emit('markdown', md, md);
}

/**
 * Show a plotly figure inline as a plotly output (`application/vnd.plotly.v1+json`, drawn by
 * JupyterLab and VS Code without trust; no plotly library in the notebook). Returns nothing.
 */
export function plot(fig: PlotlyFigure): void {
  const d = tslabDisplay();
  if (d) {
    try {
      showFigure(fig, { display: d });
      return;
    } catch {
      /* not inside a running cell */
    }
  }
  console.log(`[figure] ${JSON.stringify((fig.layout.title as { text?: string } | undefined)?.text ?? '')}`);
}
