/**
 * Figures of a report: plotly specs (P@N curves, Fig. 2 index size, Fig. 5 per-class P@1, Fig. 6
 * class imbalance, Fig. 4 t-SNE maps), query grids (Fig. 3), renderers (offline HTML, PNG by
 * headless Chromium, tslab notebooks) and `writeFigures`, which makes all of them from a finished
 * report folder.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { CbirError, errorMessage } from '../errors.js';
import type { ClassKind, Manifest } from '../data/manifest.js';
import { datasetStats } from '../data/stats.js';
import { openEmbeddings } from '../embeddings/store.js';
import { writeFileAtomic } from '../util/fsx.js';
import type { ProgressListener } from '../util/progress.js';
import { figuresHtml, plotlyBundlePath } from './html.js';
import { findChromium, renderPngs, requireChromium, type PngJob } from './png.js';
import { bestModel, readIndexSize, readPerClass, readPrecisionCurve, reportModels } from './read.js';
import { imbalanceFigure, indexSizeFigure, perClassFigure, precisionCurvesFigure } from './specs.js';
import { addSimilarities, chooseGridQueries, gridQueriesFromKnnCsv, renderQueryGrid, type TileCache } from './grid.js';
import { embeddingMapFigures, type NamedFigure } from './maps.js';

export * from './specs.js';
export { KIND_COLORS, GRID_COLORS, MODALITY_COLORS, PALETTE, categoricalStyle } from './colors.js';
export {
  figureHtml,
  figuresHtml,
  plotlyBundle,
  plotlyBundlePath,
  notebookFigureHtml,
  notebookPlotlyHtml,
  showFigure,
  resetNotebookPlotly,
  type FigureHtmlOptions,
  type HtmlDisplay,
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
export {
  readPrecisionCurve,
  readIndexSize,
  readPerClass,
  reportModels,
  bestModel,
  readCsvTable,
  reportManifestDir,
} from './read.js';
export {
  renderQueryGrid,
  gridLayout,
  gridSvg,
  chooseGridQueries,
  gridQueriesFromTable,
  gridQueriesFromKnnCsv,
  addSimilarities,
  type GridQuery,
  type GridOptions,
  type GridLayout,
  type GridCell,
  type QueryGrid,
  type TileCache,
} from './grid.js';
export {
  embeddingMapFigures,
  mapFigures,
  sampleForMap,
  balancedCap,
  readStoreRows,
  type NamedFigure,
  type EmbeddingMapOptions,
} from './maps.js';

/** Options of `writeFigures`. */
export interface WriteFiguresOptions {
  /** Embeddings + k-NN folder of the report (default `<report>/work`). */
  workDir?: string;
  /** 'auto' (default): PNGs when Chromium is installed, else a note; true: PNGs required (CbirError without Chromium); false: HTML only. Grid PNGs need no browser and are always written. */
  png?: boolean | 'auto';
  /** Plotly in the HTML files: 'inline' (default: each file standalone) or 'shared' (one plotly.min.js copied next to them; still offline). */
  plotly?: 'inline' | 'shared';
  /** Models to draw (default: all models of the report). */
  models?: string[];
  /** t-SNE maps (needs the embedding stores); default: the best model by micro P@1; false = none. */
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
  /** Query grids (needs knn.csv and the images); default: every model, 2 queries per modality, seed 0; false = none. */
  grids?: false | { models?: string[]; perModality?: number; seed?: number; matches?: number; tile?: number };
  /** Append (or replace) the Figures section of `<report>/summary.md` (default true). */
  summary?: boolean;
  onProgress?: ProgressListener;
  log?: (line: string) => void;
}

/** One written figure (paths relative to the report folder). */
export interface FigureFile {
  name: string;
  title: string;
  /** The HTML page showing it (several figures may share a page). */
  html?: string;
  png?: string;
  /** The plotly spec as JSON (plotly figures only). */
  json?: string;
}

export interface WriteFiguresResult {
  /** `<report>/figures`. */
  dir: string;
  figures: FigureFile[];
  /** What was skipped and why (no Chromium, no manifest, no embedding store, …). */
  notes: string[];
}

const SUMMARY_BEGIN = '<!-- cbir figures: begin -->';
const SUMMARY_END = '<!-- cbir figures: end -->';
const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');

/**
 * Every figure of a finished report into `<report>/figures/`: HTML always (offline), PNG when
 * Chromium is available, plotly specs as JSON, query grids as PNG + HTML; then a Figures section
 * linking them in `<report>/summary.md` (replaced, not duplicated, on reruns). With `manifest`
 * null only the figures made from the report's CSV files are drawn (a note says so).
 */
export async function writeFigures(
  reportDir: string,
  manifest: Manifest | null,
  opts: WriteFiguresOptions = {},
): Promise<WriteFiguresResult> {
  const report = resolve(reportDir);
  const dir = join(report, 'figures');
  const work = resolve(opts.workDir ?? join(report, 'work'));
  const log = opts.log ?? (() => {});
  const notes: string[] = [];
  const note = (s: string) => {
    notes.push(s);
    log(s);
  };
  const pngMode = opts.png ?? 'auto';
  if (pngMode === true) requireChromium();
  const chromium = pngMode === false ? null : findChromium();
  if (pngMode === 'auto' && !chromium)
    note(
      'PNG figures not rendered: Chromium not found (install it with `apt-get install chromium`); the HTML figures have the same content.',
    );

  const allModels = await reportModels(report);
  if (allModels.length === 0)
    throw new CbirError('no model results in the report folder (no <model>/precision_at_n.csv)', {
      file: report,
      hint: 'pass the --out folder of a finished `cbir report`',
      code: 'figures/no-report',
    });
  const models = opts.models ?? allModels;
  for (const m of models)
    if (!allModels.includes(m))
      throw new CbirError(`model "${m}" is not in the report (models: ${allModels.join(', ')})`, {
        file: report,
        hint: 'pick models the report was made with',
        code: 'figures/unknown-model',
      });
  await mkdir(dir, { recursive: true });

  let plotlyRef: 'inline' | { src: string } = 'inline';
  if (opts.plotly === 'shared') {
    await copyFile(plotlyBundlePath(), join(dir, 'plotly.min.js'));
    plotlyRef = { src: 'plotly.min.js' };
  }
  const files: FigureFile[] = [];
  const pngJobs: { job: PngJob; file: FigureFile }[] = [];
  const rel = (p: string) => relative(report, p).split('\\').join('/');
  /** One HTML page holding `figs`; each figure also gets its JSON spec and (later) a PNG. */
  const page = async (pageName: string, figs: NamedFigure[], title: string) => {
    const html = join(dir, `${pageName}.html`);
    await writeFileAtomic(
      html,
      figuresHtml(
        figs.map((f) => f.figure),
        { title, plotly: plotlyRef },
      ),
    );
    for (const f of figs) {
      const json = join(dir, `${f.name}.json`);
      await writeFileAtomic(json, JSON.stringify(f.figure));
      const entry: FigureFile = { name: f.name, title: f.title, html: rel(html), json: rel(json) };
      files.push(entry);
      if (chromium) pngJobs.push({ job: { figure: f.figure, file: join(dir, `${f.name}.png`) }, file: entry });
    }
  };

  // P@N curves
  const curves = await Promise.all(models.map((m) => readPrecisionCurve(report, m)));
  const pTitle =
    'Retrieval precision P@N, N = 1 … ' + Math.max(...curves.map((c) => (c.n.length ? c.n[c.n.length - 1] : 0)));
  await page(
    'precision_at_n',
    [
      {
        name: 'precision_at_n',
        title: pTitle,
        figure: precisionCurvesFigure(curves, { title: `${pTitle} (shaded: 95 % bootstrap interval)` }),
      },
    ],
    pTitle,
  );

  // Fig. 2: index size
  const isz = (await readIndexSize(report)).filter((p) => models.includes(p.model));
  if (isz.length)
    await page(
      'index_size',
      [{ name: 'index_size', title: 'P@1 against index images per class (Fig. 2)', figure: indexSizeFigure(isz) }],
      'P@1 against index size',
    );
  else note('index-size figure skipped: index_size.csv has no rows (the ablation was skipped).');

  // Fig. 5: per-class P@1, one figure per model on one page
  const perClass = await readPerClass(report);
  const pc: NamedFigure[] = [];
  for (const m of models) {
    const rows = perClass.get(m);
    if (!rows?.length) {
      note(`per-class figure of ${m} skipped: no rows in per_class_p1.csv.`);
      continue;
    }
    pc.push({
      name: `per_class_p1_${safe(m)}`,
      title: `Per-class P@1 against index samples: ${m} (Fig. 5)`,
      figure: perClassFigure(rows, { model: m }),
    });
  }
  if (pc.length) await page('per_class_p1', pc, 'Per-class P@1 against index samples');

  if (!manifest) {
    note('class-imbalance histogram, t-SNE maps and query grids skipped: no manifest (pass --data <manifest dir>).');
  } else {
    // Fig. 6: class imbalance
    const st = datasetStats(manifest);
    const kinds = new Map<string, ClassKind>(manifest.classes.map((c) => [c.name, c.kind]));
    await page(
      'class_imbalance',
      [
        {
          name: 'class_imbalance',
          title: 'Class imbalance (Fig. 6)',
          figure: imbalanceFigure(st.imbalance.bins, { kinds, over: st.imbalance.over }),
        },
      ],
      'Class imbalance',
    );

    // Fig. 4: t-SNE maps
    if (opts.tsne !== false) {
      const t = opts.tsne ?? {};
      const tsneModels = t.models ?? [await bestModel(report, models)];
      for (const m of tsneModels) {
        const storeDir = join(work, 'embeddings', m);
        if (!existsSync(join(storeDir, 'meta.json'))) {
          note(
            `t-SNE maps of ${m} skipped: no embedding store at ${relative(process.cwd(), storeDir) || storeDir} (pass --work).`,
          );
          continue;
        }
        const store = await openEmbeddings(storeDir);
        const figs = await embeddingMapFigures(manifest, store, {
          label: m,
          maxPoints: t.maxPoints,
          seed: t.seed,
          perplexity: t.perplexity,
          iterations: t.iterations,
          subset: t.subset,
          onProgress: opts.onProgress,
          log,
        });
        await page(`tsne_${safe(m)}`, figs, `t-SNE maps of ${m} embeddings`);
      }
    }

    // Fig. 3: query grids
    if (opts.grids !== false) {
      const g = opts.grids ?? {};
      const queries = chooseGridQueries(manifest, manifest.indicesOf('test'), {
        perModality: g.perModality ?? 2,
        seed: g.seed ?? 0,
      });
      if (queries.length === 0) note('query grids skipped: the manifest has no test split.');
      const cache: TileCache = new Map();
      for (const m of queries.length ? (g.models ?? models) : []) {
        const knnCsv = join(report, m, 'knn.csv');
        if (!existsSync(knnCsv)) {
          note(`query grid of ${m} skipped: ${rel(knnCsv)} not found.`);
          continue;
        }
        let rows = await gridQueriesFromKnnCsv(knnCsv, manifest, queries, g.matches ?? 6);
        const storeDir = join(work, 'embeddings', m);
        if (existsSync(join(storeDir, 'meta.json')))
          rows = await addSimilarities(rows, manifest, await openEmbeddings(storeDir));
        else note(`query grid of ${m}: similarities not shown (no embedding store at ${storeDir}).`);
        const title = `Top-${g.matches ?? 6} retrievals of ${m} (query orange; match green = same class, red = other class)`;
        const grid = await renderQueryGrid(manifest, rows, {
          matches: g.matches ?? 6,
          tile: g.tile,
          title,
          tileCache: cache,
        });
        for (const w of grid.warnings) note(`query grid of ${m}: unreadable image ${w}`);
        const png = join(dir, `grid_${safe(m)}.png`),
          html = join(dir, `grid_${safe(m)}.html`);
        await writeFileAtomic(png, grid.png);
        await writeFileAtomic(html, grid.html);
        files.push({ name: `grid_${safe(m)}`, title: `Query grid: ${m} (Fig. 3)`, png: rel(png), html: rel(html) });
      }
    }
  }

  if (pngJobs.length) {
    log(`rendering ${pngJobs.length} PNG figures with ${chromium}`);
    try {
      await renderPngs(
        pngJobs.map((p) => p.job),
        {
          chromium: chromium!,
          onFile: (_, j) => {
            pngJobs[j].file.png = rel(pngJobs[j].job.file);
          },
        },
      );
    } catch (e) {
      if (pngMode === true) throw e;
      // 'auto': the HTML figures are written; say why some PNGs are missing instead of failing the report.
      note(`PNG rendering stopped: ${errorMessage(e).split('\n')[0]} (the HTML figures are complete).`);
    }
  }
  if (opts.summary !== false) await appendSummary(report, files, notes);
  return { dir, figures: files, notes };
}

/** The Figures section of summary.md (Markdown, between markers so reruns replace it). */
export function figuresSection(files: readonly FigureFile[], notes: readonly string[]): string {
  const lines = [SUMMARY_BEGIN, '### Figures', ''];
  for (const f of files) {
    const links = [f.png && `[PNG](${f.png})`, f.html && `[HTML](${f.html})`, f.json && `[plotly JSON](${f.json})`]
      .filter(Boolean)
      .join(' · ');
    lines.push(`- ${f.title}: ${links}`);
  }
  if (notes.length) lines.push('', ...notes.map((n) => `_${n.replace(/_/g, '\\_')}_`));
  lines.push(
    '',
    'HTML figures work offline (plotly is inlined or next to them); regenerate with `cbir figures --report <this folder> --data <manifest dir>`.',
    SUMMARY_END,
    '',
  );
  return lines.join('\n');
}

/** Add or replace the Figures section of `<report>/summary.md` (idempotent). */
export async function appendSummary(
  reportDir: string,
  files: readonly FigureFile[],
  notes: readonly string[],
): Promise<void> {
  const file = join(reportDir, 'summary.md');
  let text = existsSync(file) ? await readFile(file, 'utf8') : '# radcbir benchmark report\n';
  const a = text.indexOf(SUMMARY_BEGIN),
    b = text.indexOf(SUMMARY_END);
  if (a >= 0 && b > a) text = text.slice(0, a) + text.slice(b + SUMMARY_END.length).replace(/^\n+/, '');
  text = `${text.replace(/\n*$/, '\n\n')}${figuresSection(files, notes)}`;
  await writeFileAtomic(file, text);
}
