/**
 * HTML renderers of plotly figures, all offline: the plotly bundle of the installed
 * `plotly.js-dist-min` package is inlined (no CDN), for standalone files and for tslab notebooks.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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

// ---- notebooks ----

/** The mime type of a plotly figure in Jupyter outputs: drawn by JupyterLab's plotly renderer and by VS Code, without trust. */
export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

/** A Jupyter output's mime bundle: mime type → content (an object for `+json` types, text otherwise). */
export type MimeBundle = Record<string, unknown>;

/**
 * A notebook figure as a mime bundle, without the plotly library (so an executed notebook stays
 * small): `application/vnd.plotly.v1+json` with `{ data, layout, config }`, which JupyterLab and VS
 * Code draw; a short `text/html` note for viewers that cannot (no script, no copy of the data); and
 * the title as `text/plain`.
 */
export function notebookFigureBundle(fig: PlotlyFigure): MimeBundle {
  const title = figureTitle(fig);
  const note =
    `<div style="max-width:${fig.layout.width}px;padding:6px 10px;border:1px dashed #bbb;color:#555;font-size:13px">` +
    `Plotly figure <b>${escapeHtml(title)}</b>: JupyterLab and VS Code draw it from this output's ${PLOTLY_MIME} data; ` +
    'this viewer cannot (in JupyterLab, install the plotly extension, e.g. with the plotly Python package; or save the figure as offline HTML with figureHtml).</div>';
  return {
    [PLOTLY_MIME]: { data: fig.data, layout: fig.layout, config: plotlyConfig(false) },
    'text/html': note,
    'text/plain': `[plotly figure] ${title}`,
  };
}

/** Where notebook figures go: a writer of whole mime bundles (tslab's kernel), or an HTML-only display. */
export interface FigureDisplay {
  /** Show one output with several mime types (the front end picks the best it can draw). */
  bundle?(b: MimeBundle): void;
  html(s: string): void;
}

/**
 * A writer of multi-mime outputs in the running tslab kernel, or null outside one. tslab's public
 * `display.raw` sends one mime type per output, as a string; a plotly output needs its JSON object
 * next to a fallback, so this sends through the kernel's own `lastWriteDisplayData` (tslab's
 * `dist/jupyter.js`, found in the module cache, where the kernel loaded it).
 */
export function tslabBundleWriter(): ((b: MimeBundle) => void) | null {
  const kernels = () =>
    Object.keys(require.cache)
      .filter((key) => /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(key))
      .map((key) => require.cache[key]?.exports as { lastWriteDisplayData?: unknown } | undefined)
      .filter((m) => m !== undefined && 'lastWriteDisplayData' in m);
  if (kernels().length === 0) return null;
  return (b) => {
    // the writer of the cell running now (tslab sets it per execute request)
    const write = kernels()
      .map((m) => m!.lastWriteDisplayData)
      .find((w) => typeof w === 'function') as ((content: unknown, update: boolean) => void) | undefined;
    if (!write) throw new Error('Not ready: no notebook cell is running');
    write({ data: b, metadata: {}, transient: {} }, false);
  };
}

/**
 * Show a figure in a tslab notebook cell as a plotly mime bundle (`notebookFigureBundle`): no
 * plotly library in the output, drawn without trust by JupyterLab and VS Code. `display` defaults
 * to the running tslab kernel; a display without `bundle` gets the HTML note only. Returns the
 * bundle shown.
 */
export function showFigure(fig: PlotlyFigure, opts: { display?: FigureDisplay } = {}): MimeBundle {
  let display = opts.display;
  if (!display) {
    let html: (s: string) => void;
    try {
      const d = (require('tslab') as { display: { html(s: string): void } }).display;
      html = (s) => d.html(s);
    } catch (e) {
      throw new CbirError('tslab is not installed', {
        hint: 'showFigure works inside a tslab notebook; elsewhere write a file with figureHtml()',
        code: 'figures/no-tslab',
        cause: e,
      });
    }
    display = { html, bundle: tslabBundleWriter() ?? undefined };
  }
  const b = notebookFigureBundle(fig);
  if (display.bundle) display.bundle(b);
  else display.html(b['text/html'] as string);
  return b;
}
