/**
 * Figures of a report: plotly specs (P@N curves, Fig. 2 index size, Fig. 5 per-class P@1, Fig. 6
 * class imbalance, Fig. 4 t-SNE maps), query grids (Fig. 3), renderers (offline HTML, PNG by
 * headless Chromium, tslab notebooks) and `writeFigures`, which makes all of them from a finished
 * report folder.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { errorMessage } from '../errors.js';
import type { ClassKind, Manifest } from '../data/manifest.js';
import { datasetStats } from '../data/stats.js';
import { openEmbeddings } from '../embeddings/store.js';
import { writeFileAtomic } from '../util/fsx.js';
import { withFsErrors } from '../util/fserrors.js';
import { withContext, type ProgressListener } from '../util/progress.js';
import { figuresHtml, plotlyBundlePath } from './html.js';
import { findChromium, renderPngs, requireChromium, type PngJob } from './png.js';
import { bestModel, indexSizePoints, perClassPoints, precisionCurve, unknownModel } from './read.js';
import { readKnnTable, type KnnTable } from '../knn/index.js';
import type { ModelEvaluation } from '../benchmark/evaluate.js';
import type { FigureFile, ReportData } from '../report/types.js';
import { imbalanceFigure, indexSizeFigure, perClassFigure, precisionCurvesFigure } from './specs.js';
import { chooseGridQueries, gridQueriesFromTable, renderQueryGrid, type TileCache } from './grid.js';
import { embeddingMapFigures, type NamedFigure } from './maps.js';

export * from './specs.js';
export { KIND_COLORS, GRID_COLORS, MODALITY_COLORS, PALETTE, categoricalStyle } from './colors.js';
export {
  figureHtml,
  figuresHtml,
  plotlyBundle,
  plotlyBundlePath,
  notebookFigureBundle,
  showFigure,
  tslabBundleWriter,
  PLOTLY_MIME,
  type FigureHtmlOptions,
  type FigureDisplay,
  type MimeBundle,
} from './html.js';
export {
  renderPng,
  renderPngs,
  findChromium,
  requireChromium,
  chromiumArgs,
  CHROMIUM_PATHS,
  type PngJob,
  type PngOptions,
} from './png.js';
export { precisionCurve, indexSizePoints, perClassPoints, bestModel } from './read.js';
export {
  renderQueryGrid,
  gridLayout,
  gridSvg,
  chooseGridQueries,
  gridQueriesFromTable,
  gridQueriesFromKnnCsv,
  addSimilarities,
  similarityLabels,
  type GridQuery,
  type GridOptions,
  type GridLayout,
  type GridCell,
  type QueryGrid,
  type TileCache,
} from './grid.js';
export { placeLabels, type LabelRequest, type LabelPlacement, type PixelPoint } from './labels.js';
export {
  embeddingMapFigures,
  mapFigures,
  sampleForMap,
  mapSample,
  balancedCap,
  readStoreRows,
  type NamedFigure,
  type EmbeddingMapOptions,
  type MapSample,
  type MapFigureOptions,
} from './maps.js';

/** Options of `writeFigures`. */
export interface WriteFiguresOptions {
  /** 'auto' (default): PNGs when Chromium is installed, else a note; true: PNGs required (CbirError without Chromium); false: HTML only. Grid PNGs need no browser and are always written. */
  png?: boolean | 'auto';
  /** Plotly in the HTML files: 'inline' (default: each file standalone) or 'shared' (one plotly.min.js copied next to them; still offline). */
  plotly?: 'inline' | 'shared';
  /** Models to draw (default: all models of the report). */
  models?: string[];
  /** t-SNE maps (read the models' embedding stores); default: the best model by micro P@1; false = none. */
  tsne?:
    | false
    | {
        models?: string[];
        maxPoints?: number;
        seed?: number;
        perplexity?: number;
        iterations?: number;
        subset?: string | false;
      };
  /** Query grids (read the k-NN tables and the images); default: every model, 2 queries per modality, seed 0; false = none. */
  grids?: false | { models?: string[]; perModality?: number; seed?: number; matches?: number; tile?: number };
  onProgress?: ProgressListener;
  log?: (line: string) => void;
}

export type { FigureFile };

export interface WriteFiguresResult {
  /** `<report>/figures`. */
  dir: string;
  figures: FigureFile[];
  /** What was skipped and why (no Chromium, no manifest, no embedding store, …). */
  notes: string[];
}

/** What the figures are drawn from: a report with its folder set, its manifest (null: only the tables' figures), and the run's evaluations when in memory. */
export interface FigureSource {
  report: ReportData;
  manifest: Manifest | null;
  evaluations?: readonly ModelEvaluation[];
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');

/** Collects the figure files of one report folder: HTML pages, JSON specs, and the PNG jobs for later. */
class FigureWriter {
  readonly files: FigureFile[] = [];
  readonly notes: string[] = [];
  readonly pngJobs: { job: PngJob; file: FigureFile }[] = [];
  plotlyRef: 'inline' | { src: string } = 'inline';

  constructor(
    readonly report: string,
    readonly dir: string,
    readonly chromium: string | null,
    readonly log: (line: string) => void,
  ) {}

  /** A path relative to the report folder, with forward slashes. */
  rel(p: string): string {
    return relative(this.report, p).split('\\').join('/');
  }

  note(s: string): void {
    this.notes.push(s);
    this.log(s);
  }

  /** One HTML page holding `figs`; each figure also gets its JSON spec and (later) a PNG. */
  async page(pageName: string, figs: NamedFigure[], title: string): Promise<void> {
    const html = join(this.dir, `${pageName}.html`);
    await writeFileAtomic(
      html,
      figuresHtml(
        figs.map((f) => f.figure),
        { title, plotly: this.plotlyRef },
      ),
    );
    for (const f of figs) {
      const json = join(this.dir, `${f.name}.json`);
      await writeFileAtomic(json, JSON.stringify(f.figure));
      const entry: FigureFile = { name: f.name, title: f.title, html: this.rel(html), json: this.rel(json) };
      this.files.push(entry);
      if (this.chromium)
        this.pngJobs.push({ job: { figure: f.figure, file: join(this.dir, `${f.name}.png`) }, file: entry });
    }
  }
}

/** P@N curves, Fig. 2 (index size) and Fig. 5 (per-class P@1): drawn from the report's tables. */
async function tableFigures(w: FigureWriter, r: ReportData, models: string[]): Promise<void> {
  const curves = models.map((m) => precisionCurve(r, m));
  const maxN = Math.max(...curves.map((c) => (c.n.length ? c.n[c.n.length - 1] : 0)));
  const pTitle = `Retrieval precision P@N, N = 1 … ${maxN}`;
  const pFig = precisionCurvesFigure(curves, { title: `${pTitle} (shaded: 95 % bootstrap interval)` });
  await w.page('precision_at_n', [{ name: 'precision_at_n', title: pTitle, figure: pFig }], pTitle);

  const isz = indexSizePoints(r).filter((p) => models.includes(p.model));
  const iTitle = 'P@1 against index images per class (Fig. 2)';
  if (isz.length)
    await w.page(
      'index_size',
      [{ name: 'index_size', title: iTitle, figure: indexSizeFigure(isz) }],
      'P@1 against index size',
    );
  else w.note('index-size figure skipped: the ablation has no rows (it was skipped).');

  const perClass = perClassPoints(r);
  const pc: NamedFigure[] = [];
  for (const m of models) {
    const rows = perClass.get(m);
    if (!rows?.length) {
      w.note(`per-class figure of ${m} skipped: no per-class rows.`);
      continue;
    }
    const title = `Per-class P@1 against index samples: ${m} (Fig. 5)`;
    pc.push({ name: `per_class_p1_${safe(m)}`, title, figure: perClassFigure(rows, { model: m }) });
  }
  if (pc.length) await w.page('per_class_p1', pc, 'Per-class P@1 against index samples');
}

/** Fig. 6: class imbalance of the manifest. */
async function imbalancePage(w: FigureWriter, manifest: Manifest): Promise<void> {
  const st = datasetStats(manifest);
  const kinds = new Map<string, ClassKind>(manifest.classes.map((c) => [c.name, c.kind]));
  const figure = imbalanceFigure(st.imbalance.bins, { kinds, over: st.imbalance.over });
  await w.page(
    'class_imbalance',
    [{ name: 'class_imbalance', title: 'Class imbalance (Fig. 6)', figure }],
    'Class imbalance',
  );
}

/** Fig. 4: t-SNE maps of the chosen models' embedding stores (as the report names them). */
async function tsnePages(
  w: FigureWriter,
  src: FigureSource,
  models: string[],
  opts: WriteFiguresOptions,
): Promise<void> {
  const t = opts.tsne || {};
  for (const m of t.models ?? [bestModel(src.report, models)]) {
    const entry = src.report.models.find((x) => x.modelId === m);
    if (!entry) throw unknownModel(src.report, m);
    if (!existsSync(join(entry.store.dir, 'meta.json'))) {
      w.note(`t-SNE maps of ${m} skipped: its embedding store ${entry.store.dir} is gone.`);
      continue;
    }
    const store = await openEmbeddings(entry.store.dir);
    const figs = await embeddingMapFigures(src.manifest!, store, {
      label: m,
      maxPoints: t.maxPoints,
      seed: t.seed,
      perplexity: t.perplexity,
      iterations: t.iterations,
      subset: t.subset,
      onProgress: withContext(opts.onProgress, { step: 'figures', model: m }),
      log: opts.log,
      onNote: (s) => w.note(s),
    });
    await w.page(`tsne_${safe(m)}`, figs, `t-SNE maps of ${m} embeddings`);
  }
}

/** The test k-NN table of a model: the run's (in memory) or the cached one the report names; null when gone. */
async function knnTableOf(src: FigureSource, model: string): Promise<KnnTable | null> {
  const e = src.evaluations?.find((x) => x.modelId === model);
  if (e) return e.table;
  const dir = src.report.models.find((x) => x.modelId === model)?.knn.test;
  if (!dir || !existsSync(join(dir, 'meta.json'))) return null;
  return readKnnTable(dir);
}

/** Fig. 3: query grids (2 queries per modality by default), one per model. */
async function gridPages(
  w: FigureWriter,
  src: FigureSource,
  models: string[],
  opts: WriteFiguresOptions,
): Promise<void> {
  const manifest = src.manifest!;
  const g = opts.grids || {};
  const matches = g.matches ?? 6;
  const queries = chooseGridQueries(manifest, manifest.indicesOf('test'), {
    perModality: g.perModality ?? 2,
    seed: g.seed ?? 0,
  });
  if (queries.length === 0) w.note('query grids skipped: the manifest has no test split.');
  const cache: TileCache = new Map();
  for (const m of queries.length ? (g.models ?? models) : []) {
    const table = await knnTableOf(src, m);
    if (!table) {
      w.note(`query grid of ${m} skipped: its k-NN table is no longer in the work folder.`);
      continue;
    }
    const rows = gridQueriesFromTable(table, queries, matches);
    const title = `Top-${matches} retrievals of ${m} (query orange; match green = same class, red = other class)`;
    const grid = await renderQueryGrid(manifest, rows, { matches, tile: g.tile, title, tileCache: cache });
    for (const x of grid.warnings) w.note(`query grid of ${m}: unreadable image ${x}`);
    const png = join(w.dir, `grid_${safe(m)}.png`),
      html = join(w.dir, `grid_${safe(m)}.html`);
    await writeFileAtomic(png, grid.png);
    await writeFileAtomic(html, grid.html);
    w.files.push({ name: `grid_${safe(m)}`, title: `Query grid: ${m} (Fig. 3)`, png: w.rel(png), html: w.rel(html) });
  }
}

/** Render the plotly figures' PNGs; with png 'auto' a failure becomes a note (the HTML is complete). */
async function pngStage(w: FigureWriter, pngMode: boolean | 'auto'): Promise<void> {
  if (!w.pngJobs.length) return;
  w.log(`rendering ${w.pngJobs.length} PNG figures with ${w.chromium}`);
  try {
    await renderPngs(
      w.pngJobs.map((p) => p.job),
      { chromium: w.chromium!, onFile: (_, j) => void (w.pngJobs[j].file.png = w.rel(w.pngJobs[j].job.file)) },
    );
  } catch (e) {
    if (pngMode === true) throw e;
    w.note(`PNG rendering stopped: ${errorMessage(e).split('\n')[0]} (the HTML figures are complete).`);
  }
}

/**
 * Every figure of a report into `<report>/figures/`: HTML always (offline), PNG when Chromium is
 * available, plotly specs as JSON, query grids as PNG + HTML. Drawn from the report (its tables,
 * and the embedding stores and k-NN tables it names) and its manifest; with `manifest` null only
 * the figures of the tables are drawn (a note says so). Returns the files and notes; recording
 * them in the report is the caller's step (`saveReport`, `addFigures`).
 */
export async function writeFigures(src: FigureSource, opts: WriteFiguresOptions = {}): Promise<WriteFiguresResult> {
  const r = src.report;
  if (!r.dir) throw new Error('internal: writeFigures needs a report with its folder set');
  const pngMode = opts.png ?? 'auto';
  if (pngMode === true) requireChromium();
  const chromium = pngMode === false ? null : findChromium();
  const w = new FigureWriter(r.dir, join(r.dir, 'figures'), chromium, opts.log ?? (() => {}));
  if (pngMode === 'auto' && !chromium) {
    w.note(
      'PNG figures not rendered: Chromium not found (install it with `apt-get install chromium`); the HTML figures have the same content.',
    );
  }
  const all = r.models.map((m) => m.modelId);
  const models = opts.models ?? all;
  for (const m of models) if (!all.includes(m)) throw unknownModel(r, m);
  // a full disk, a read-only folder or a file where figures/ should be: a CbirError naming the path
  await withFsErrors(w.dir, 'writing the figures', () => drawFigures(w, src, models, opts, pngMode));
  return { dir: w.dir, figures: w.files, notes: w.notes };
}

/** Every figure into `w.dir` (made first): the tables' figures, then those that need the manifest, then the PNGs. */
async function drawFigures(
  w: FigureWriter,
  src: FigureSource,
  models: string[],
  opts: WriteFiguresOptions,
  pngMode: boolean | 'auto',
): Promise<void> {
  const r = src.report;
  await mkdir(w.dir, { recursive: true });
  if (opts.plotly === 'shared') {
    await copyFile(plotlyBundlePath(), join(w.dir, 'plotly.min.js'));
    w.plotlyRef = { src: 'plotly.min.js' };
  }
  await tableFigures(w, r, models);
  if (!src.manifest) {
    w.note(
      "class-imbalance histogram, t-SNE maps and query grids skipped: the report's manifest is not available (give its folder).",
    );
  } else {
    await imbalancePage(w, src.manifest);
    if (opts.tsne !== false) await tsnePages(w, src, models, opts);
    if (opts.grids !== false) await gridPages(w, src, models, opts);
  }
  await pngStage(w, pngMode);
}
