/**
 * HTML renderers of plotly figures, all offline: the plotly bundle of the installed
 * `plotly.js-dist-min` package is inlined (no CDN), for standalone files and for tslab notebooks.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { CbirError } from '../errors.js';
import type { PlotlyFigure } from './specs.js';

const require = createRequire(import.meta.url);
let bundle: string | undefined;

/** Path of the installed plotly bundle (`plotly.js-dist-min/plotly.min.js`). */
export function plotlyBundlePath(): string {
  try {
    return require.resolve('plotly.js-dist-min/plotly.min.js');
  } catch (e) {
    throw new CbirError('the plotly.js-dist-min package is not installed', {
      hint: 'run `npm install` in the radcbir folder (figures need its plotly.min.js)',
      code: 'figures/no-plotly',
      cause: e,
    });
  }
}

/** The plotly.js bundle source (read once). */
export function plotlyBundle(): string {
  if (bundle === undefined) {
    const text = readFileSync(plotlyBundlePath(), 'utf8');
    // A literal "</script" would end the inline <script> element early.
    bundle = text.replace(/<\/script/gi, '<\\/script');
  }
  return bundle;
}

/** JSON for embedding inside a <script> element (no `</script>`, no U+2028/9 line breaks). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Plotly config: no logo, no cloud links; `staticPlot` for screenshots. */
export function plotlyConfig(staticPlot: boolean): Record<string, unknown> {
  return {
    staticPlot,
    displaylogo: false,
    responsive: false,
    showLink: false,
    showSendToCloud: false,
    toImageButtonOptions: { format: 'png', scale: 2 },
  };
}

export interface FigureHtmlOptions {
  /** Page title (default: the figure's title text). */
  title?: string;
  /** 'inline' (default) embeds plotly.min.js; `{ src }` loads it from a relative path instead (still offline). */
  plotly?: 'inline' | { src: string };
  /** Non-interactive plot (for screenshots). */
  staticPlot?: boolean;
}

function figureTitle(fig: PlotlyFigure): string {
  const t = fig.layout.title as { text?: string } | string | undefined;
  const s = typeof t === 'string' ? t : (t?.text ?? 'figure');
  return s
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function plotlyScript(p: FigureHtmlOptions['plotly']): string {
  if (p === undefined || p === 'inline') return `<script>${plotlyBundle()}</script>`;
  if (/^[a-z][a-z0-9+.-]*:/i.test(p.src) || p.src.startsWith('//')) {
    throw new CbirError(`plotly src "${p.src}" is not a relative path`, {
      hint: 'figures must work offline: give a path relative to the HTML file, or inline the bundle',
      code: 'figures/bad-option',
    });
  }
  return `<script src="${escapeHtml(p.src)}"></script>`;
}

/** A standalone HTML document showing one or more figures, one below the other; works offline. */
export function figuresHtml(figs: readonly PlotlyFigure[], opts: FigureHtmlOptions = {}): string {
  if (figs.length === 0) throw new CbirError('no figures to render', { code: 'figures/no-data' });
  const title = opts.title ?? figureTitle(figs[0]);
  const divs = figs
    .map((f, i) => `<div id="fig${i}" class="fig" style="width:${f.layout.width}px;height:${f.layout.height}px"></div>`)
    .join('\n');
  const calls = figs
    .map(
      (f, i) =>
        `Plotly.newPlot('fig${i}', ${scriptJson(f.data)}, ${scriptJson(f.layout)}, ${scriptJson(plotlyConfig(opts.staticPlot ?? false))});`,
    )
    .join('\n');
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title>`,
    '<style>html,body{margin:0;padding:0;background:#fff}.fig{margin:0}</style>',
    plotlyScript(opts.plotly),
    '</head><body>',
    divs,
    `<script>${calls}</script>`,
    '</body></html>',
    '',
  ].join('\n');
}

/** A standalone HTML document of one figure (plotly inlined by default, so it works offline). */
export function figureHtml(fig: PlotlyFigure, opts: FigureHtmlOptions = {}): string {
  return figuresHtml([fig], opts);
}

// ---- tslab notebooks ----

let notebookBundleShown = false;

/** The `<script>` element that defines `window.Plotly` in a notebook page (the whole inlined bundle). */
export function notebookPlotlyHtml(): string {
  return `<script>${plotlyBundle()}</script>`;
}

/**
 * An HTML fragment for a notebook output cell showing `fig`. The plotly bundle is inlined in the
 * first figure of the process (the kernel), or when `includePlotly` is true; later fragments wait
 * for `window.Plotly` to appear, so the bundle travels once per notebook.
 */
export function notebookFigureHtml(fig: PlotlyFigure, opts: { includePlotly?: boolean } = {}): string {
  const include = opts.includePlotly ?? !notebookBundleShown;
  if (include) notebookBundleShown = true;
  const id = `cbir-fig-${randomBytes(6).toString('hex')}`;
  const draw = `(function(){var n=0;function go(){if(window.Plotly){window.Plotly.newPlot(${scriptJson(id)},${scriptJson(fig.data)},${scriptJson(fig.layout)},${scriptJson(plotlyConfig(false))});}else if(n++<100){setTimeout(go,100);}else{document.getElementById(${scriptJson(id)}).textContent='plotly is not loaded: run the first figure cell again (or call showFigure(fig, {includePlotly: true}))';}}go();})();`;
  return `${include ? notebookPlotlyHtml() : ''}<div id="${id}" style="width:${fig.layout.width}px;height:${fig.layout.height}px"></div><script>${draw}</script>`;
}

/** Minimal display surface (tslab's `display`). */
export interface HtmlDisplay {
  html(s: string): void;
}

/**
 * Show a figure in a tslab notebook cell (offline: the plotly bundle is inlined once per
 * kernel). `display` defaults to `require('tslab').display`; returns the HTML shown.
 */
export function showFigure(fig: PlotlyFigure, opts: { includePlotly?: boolean; display?: HtmlDisplay } = {}): string {
  let display = opts.display;
  if (!display) {
    try {
      display = (require('tslab') as { display: HtmlDisplay }).display;
    } catch (e) {
      throw new CbirError('tslab is not installed', {
        hint: 'showFigure works inside a tslab notebook; elsewhere write a file with figureHtml()',
        code: 'figures/no-tslab',
        cause: e,
      });
    }
  }
  const html = notebookFigureHtml(fig, { includePlotly: opts.includePlotly });
  display.html(html);
  return html;
}

/** Forget that the bundle was shown (e.g. after clearing all outputs), so the next figure inlines it again. */
export function resetNotebookPlotly(): void {
  notebookBundleShown = false;
}
