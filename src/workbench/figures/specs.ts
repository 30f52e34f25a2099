/**
 * The study's plots as plain plotly figure specs (`{ data, layout }`, JSON-able), built by pure
 * functions from results: P@N curves (micro and macro, with interval bands), the index-size
 * curve (Fig. 2), per-class P@1 against index samples (Fig. 5), the class-imbalance histogram
 * (Fig. 6) and embedding scatter maps (Fig. 4). Renderers (HTML, PNG, notebook) live in
 * html.ts / png.ts; readers of a report folder in read.ts.
 */
import { CbirError } from '../errors.js';
import type { ClassKind } from '../data/manifest.js';
import { KIND_COLORS, PALETTE, categoricalStyle, withAlpha } from './colors.js';
import { placeLabels } from './labels.js';

/** One plotly trace (plain JSON). */
export type PlotlyTrace = { type: string; [key: string]: unknown };

/** A plotly figure: traces and layout; `layout.width`/`height` are the size PNGs are rendered at. */
export interface PlotlyFigure {
  data: PlotlyTrace[];
  layout: { width: number; height: number; [key: string]: unknown };
}

/** Font stack for every figure: a generic sans-serif that Chromium and librsvg both find. */
export const FONT_FAMILY = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';

function baseLayout(title: string, width: number, height: number): PlotlyFigure['layout'] {
  return {
    title: { text: title, x: 0.5, xanchor: 'center', font: { size: 17 } },
    width,
    height,
    font: { family: FONT_FAMILY, size: 13, color: '#222' },
    paper_bgcolor: '#ffffff',
    plot_bgcolor: '#ffffff',
    margin: { l: 70, r: 30, t: 80, b: 60 },
    hovermode: 'closest',
    legend: { bgcolor: 'rgba(255,255,255,0.85)', bordercolor: '#cccccc', borderwidth: 1 },
  };
}

/** A horizontal legend between the title and the plot area, right-aligned: never over the data. */
const ABOVE_PLOT = {
  orientation: 'h',
  x: 1,
  xanchor: 'right',
  y: 1.01,
  yanchor: 'bottom',
  borderwidth: 0,
  bgcolor: 'rgba(255,255,255,0)',
} as const;

function axis(title: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: { text: title },
    showgrid: true,
    gridcolor: '#e6e6e6',
    zeroline: false,
    linecolor: '#444',
    showline: true,
    ticks: 'outside',
    ...extra,
  };
}

function checkLength(what: string, a: ArrayLike<number> | undefined, n: number, where: string): void {
  if (a !== undefined && a.length !== n) {
    throw new CbirError(`${what} has ${a.length} values, N has ${n}`, {
      file: where,
      hint: 'every column of precision_at_n.csv must have one value per N',
      code: 'figures/bad-input',
    });
  }
}

/** Tick values 1-2-5 per decade (only powers of ten beyond four decades) covering [min, max], for log axes without minor-digit clutter. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max >= min)) return [];
  const lo = Math.floor(Math.log10(min)),
    hi = Math.ceil(Math.log10(max));
  const steps = hi - lo > 4 ? [1] : [1, 2, 5];
  const out: number[] = [];
  for (let e = lo; e <= hi; e++)
    for (const s of steps) {
      const v = Number((s * 10 ** e).toPrecision(12));
      if (v >= min / 1.001 && v <= max * 1.001) out.push(v);
    }
  return out.length >= 2 ? out : [Number((10 ** lo).toPrecision(12)), Number((10 ** hi).toPrecision(12))];
}

/**
 * Ticks at the plotted values themselves when there are at most `maxTicks` distinct ones (e.g. the
 * index sizes of Fig. 2, so every point has its label); otherwise 1-2-5 log ticks with the first
 * and last value added (ticks crowding an end, within a factor 1.25, give way).
 */
export function valueTicks(values: readonly number[], maxTicks = 12): number[] {
  const pos = [...new Set(values.filter((v) => v > 0 && Number.isFinite(v)))].sort((a, b) => a - b);
  if (pos.length === 0) return [];
  if (pos.length <= maxTicks) return pos;
  const min = pos[0],
    max = pos[pos.length - 1];
  const inner = logTicks(min, max).filter((t) => t > min * 1.25 && t < max / 1.25);
  return [min, ...inner, max];
}

function logAxis(
  title: string,
  values: readonly number[],
  ticksAt: 'decades' | 'values' = 'decades',
): Record<string, unknown> {
  const pos = values.filter((v) => v > 0);
  const min = pos.length ? Math.min(...pos) : 1,
    max = pos.length ? Math.max(...pos) : 10;
  const ticks = ticksAt === 'values' ? valueTicks(pos) : logTicks(min, max);
  return axis(title, { type: 'log', tickvals: ticks, ticktext: ticks.map(String), minor: { showgrid: false } });
}

const finite = (a: ArrayLike<number> | undefined): a is ArrayLike<number> =>
  a !== undefined && a.length > 0 && Array.prototype.every.call(a, (v: number) => Number.isFinite(v));
const arr = (a: ArrayLike<number>): number[] =>
  Array.from(a, (v) => (Number.isFinite(v) ? Number(v.toPrecision(6)) : null) as number);

/** P@N of one model for N = 1 … K (rows of `<model>/precision_at_n.csv`); lo/hi are the bootstrap interval, absent or NaN when none was computed. */
export interface PrecisionCurve {
  model: string;
  n: ArrayLike<number>;
  micro: ArrayLike<number>;
  microLo?: ArrayLike<number>;
  microHi?: ArrayLike<number>;
  macro: ArrayLike<number>;
  macroLo?: ArrayLike<number>;
  macroHi?: ArrayLike<number>;
  /** Where the curve was read from (for error messages). */
  source?: string;
}

/**
 * P@N against N for every model: micro (per query) on the left, macro (per class) on the right,
 * each with its 95 % bootstrap band when present. One colour and one legend entry per model.
 */
export function precisionCurvesFigure(
  curves: readonly PrecisionCurve[],
  opts: { title?: string; width?: number; height?: number } = {},
): PlotlyFigure {
  if (curves.length === 0)
    throw new CbirError('no precision curves to plot', {
      hint: 'make the benchmark report first: it writes <model>/precision_at_n.csv',
      code: 'figures/no-data',
    });
  const data: PlotlyTrace[] = [];
  curves.forEach((c, i) => data.push(...precisionCurveTraces(c, PALETTE[i % PALETTE.length])));
  const layout = baseLayout(
    opts.title ?? 'Retrieval precision P@N (shaded: 95 % bootstrap interval)',
    opts.width ?? 1100,
    opts.height ?? 520,
  );
  Object.assign(layout, precisionCurvesAxes(layout));
  return { data, layout };
}

/** The traces of one model's curve (checked): per average, its interval band (when present) and its line. */
function precisionCurveTraces(c: PrecisionCurve, color: string): PlotlyTrace[] {
  const where = c.source ?? `${c.model}/precision_at_n.csv`;
  const n = c.n.length;
  for (const [k, a] of [
    ['micro', c.micro],
    ['micro_lo', c.microLo],
    ['micro_hi', c.microHi],
    ['macro', c.macro],
    ['macro_lo', c.macroLo],
    ['macro_hi', c.macroHi],
  ] as const)
    checkLength(k, a, n, where);
  const data: PlotlyTrace[] = [];
  const x = arr(c.n);
  for (const [average, xaxis, yaxis, y, lo, hi] of [
    ['micro', 'x', 'y', c.micro, c.microLo, c.microHi],
    ['macro', 'x2', 'y2', c.macro, c.macroLo, c.macroHi],
  ] as const) {
    if (finite(lo) && finite(hi)) {
      data.push({
        type: 'scatter',
        mode: 'lines',
        x: [...x, ...[...x].reverse()],
        y: [...arr(hi), ...arr(lo).reverse()],
        fill: 'toself',
        fillcolor: withAlpha(color, 0.18),
        line: { width: 0, color },
        hoverinfo: 'skip',
        showlegend: false,
        legendgroup: c.model,
        name: `${c.model} ${average} 95 % interval`,
        xaxis,
        yaxis,
      });
    }
    data.push({
      type: 'scatter',
      mode: 'lines',
      x,
      y: arr(y),
      name: c.model,
      legendgroup: c.model,
      showlegend: average === 'micro',
      line: { color, width: 2 },
      xaxis,
      yaxis,
      hovertemplate: `${c.model}<br>N = %{x}<br>${average} P@N = %{y:.3f}<extra></extra>`,
    });
  }
  return data;
}

/** Side-by-side micro / macro axes with their headings, the legend below them, and the margins for it. */
function precisionCurvesAxes(layout: PlotlyFigure['layout']): Record<string, unknown> {
  const heading = (text: string, x: number) => ({
    text,
    x,
    y: 1.0,
    xref: 'paper',
    yref: 'paper',
    xanchor: 'center',
    yanchor: 'bottom',
    showarrow: false,
  });
  return {
    xaxis: axis('N (retrieved images)', { domain: [0, 0.46], anchor: 'y' }),
    yaxis: axis('micro P@N (mean over queries)', { anchor: 'x' }),
    xaxis2: axis('N (retrieved images)', { domain: [0.54, 1], anchor: 'y2' }),
    yaxis2: axis('macro P@N (mean over classes)', { anchor: 'x2' }),
    annotations: [heading('<b>micro</b>', 0.23), heading('<b>macro</b>', 0.77)],
    legend: { ...(layout.legend as object), orientation: 'h', x: 0.5, xanchor: 'center', y: -0.3, yanchor: 'top' },
    margin: { l: 70, r: 30, t: 80, b: 130 },
  };
}

/** One point of the index-size ablation (`index_size.csv`): P@1 with N index images per class, over seeds. */
export interface IndexSizePoint {
  model: string;
  indexPerClass: number;
  mean: number;
  std: number;
  seeds?: number;
  classes?: number;
}

/**
 * Study Fig. 2: micro P@1 against the number of index images per class (log x), one line per
 * model, error bars = ± one standard deviation over the random index subsets.
 */
export function indexSizeFigure(
  points: readonly IndexSizePoint[],
  opts: { title?: string; width?: number; height?: number } = {},
): PlotlyFigure {
  if (points.length === 0)
    throw new CbirError('no index-size results to plot', {
      hint: 'the ablation was skipped (no class with enough index images, or the index-size ablation was switched off)',
      code: 'figures/no-data',
    });
  const models = [...new Set(points.map((p) => p.model))];
  const data: PlotlyTrace[] = models.map((m, i) => {
    const ps = points.filter((p) => p.model === m).sort((a, b) => a.indexPerClass - b.indexPerClass);
    const color = PALETTE[i % PALETTE.length];
    return {
      type: 'scatter',
      mode: 'lines+markers',
      name: m,
      x: ps.map((p) => p.indexPerClass),
      y: arr(ps.map((p) => p.mean)),
      error_y: { type: 'data', array: arr(ps.map((p) => p.std)), visible: true, color, thickness: 1.2, width: 4 },
      line: { color, width: 2 },
      marker: { color, size: 7 },
      hovertemplate: `${m}<br>%{x} index images per class<br>P@1 = %{y:.3f} ± %{error_y.array:.3f}<extra></extra>`,
    };
  });
  const p0 = points[0];
  const sub =
    p0.classes !== undefined ? ` (${p0.classes} classes${p0.seeds !== undefined ? `, ${p0.seeds} seeds` : ''})` : '';
  const layout = baseLayout(
    opts.title ?? `P@1 against index size${sub}: mean ± std`,
    opts.width ?? 800,
    opts.height ?? 500,
  );
  Object.assign(layout, {
    xaxis: logAxis(
      'index images per class',
      points.map((p) => p.indexPerClass),
      'values',
    ),
    yaxis: axis('micro P@1'),
    legend: { ...(layout.legend as object), ...ABOVE_PLOT },
  });
  return { data, layout };
}

/** One row of `per_class_p1.csv`. */
export interface PerClassPoint {
  className: string;
  kind: ClassKind;
  indexImages: number;
  queries: number;
  p1: number;
}

/**
 * Study Fig. 5: per-class P@1 of one model against the number of index images of the class (log
 * x), anatomical and pathological classes as two coloured traces, points labelled with their
 * class names (all classes up to 12, else the `labels` highest and lowest P@1, default 4 each).
 * Classes with no index images cannot sit on a log axis and are left out (the title says how many).
 */
export function perClassFigure(
  rows: readonly PerClassPoint[],
  opts: { model: string; title?: string; width?: number; height?: number; labels?: number | 'all' | false },
): PlotlyFigure {
  if (rows.length === 0)
    throw new CbirError(`no per-class rows for model "${opts.model}"`, {
      file: 'per_class_p1.csv',
      hint: 'make the benchmark report with this model first',
      code: 'figures/no-data',
    });
  const kept = rows.filter((r) => r.indexImages > 0 && Number.isFinite(r.p1));
  const dropped = rows.length - kept.length;
  const data: PlotlyTrace[] = (['anatomical', 'pathological'] as const).map((kind) => {
    const rs = kept.filter((r) => r.kind === kind);
    return {
      type: 'scatter',
      mode: 'markers',
      name: `${kind} (${rs.length} classes)`,
      x: rs.map((r) => r.indexImages),
      y: arr(rs.map((r) => r.p1)),
      text: rs.map((r) => `${r.className}<br>${r.queries} queries`),
      marker: { color: KIND_COLORS[kind], size: 9, opacity: 0.85, line: { color: '#ffffff', width: 0.5 } },
      hovertemplate: `%{text}<br>index images %{x}<br>P@1 %{y:.3f}<extra>${kind}</extra>`,
    };
  });
  const chosen = labelledClasses(kept, opts.labels ?? (kept.length <= 12 ? 'all' : 4));
  const which =
    chosen.length === 0
      ? ''
      : chosen.length === kept.length
        ? 'labels: every class'
        : `labels: the ${Math.ceil(chosen.length / 2)} highest and lowest P@1 (hover a point for its class)`;
  const title =
    opts.title ??
    `Per-class P@1 against index samples: ${opts.model}${dropped ? ` (${dropped} class${dropped > 1 ? 'es' : ''} without index images or queries left out)` : ''}`;
  const layout = baseLayout(
    which ? `${title}<br><span style="font-size:12px;color:#555">${which}</span>` : title,
    opts.width ?? 900,
    opts.height ?? 560,
  );
  layout.margin = { l: 70, r: 30, t: which ? 100 : 80, b: 60 };
  const xs = kept.map((r) => Math.log10(r.indexImages));
  const lo = Math.min(...xs),
    hi = Math.max(...xs);
  const pad = Math.max(0.08, 0.06 * (hi - lo));
  const xRange: [number, number] = [lo - pad, hi + pad],
    yRange: [number, number] = [-0.06, 1.08];
  Object.assign(layout, {
    xaxis: {
      ...logAxis(
        'index images of the class',
        kept.map((r) => r.indexImages),
      ),
      range: xRange,
    },
    yaxis: axis('P@1 (micro, within the class)', { range: yRange }),
    legend: { ...(layout.legend as object), ...ABOVE_PLOT },
    annotations: pointLabels(kept, chosen, layout, xRange, yRange),
  });
  return { data, layout };
}

/** The classes to label: all, none, or the k lowest P@1 (larger classes first on ties) and the k highest. */
function labelledClasses(kept: readonly PerClassPoint[], labels: number | 'all' | false): PerClassPoint[] {
  if (labels === false || labels === 0) return [];
  if (labels === 'all' || 2 * labels >= kept.length) return [...kept];
  const order = [...kept].sort((a, b) => a.p1 - b.p1 || b.indexImages - a.indexImages);
  return [...order.slice(0, labels), ...order.slice(-labels).reverse()];
}

/** Annotations naming the chosen points, placed clear of each other and of every point (`placeLabels`). */
function pointLabels(
  kept: readonly PerClassPoint[],
  chosen: readonly PerClassPoint[],
  layout: PlotlyFigure['layout'],
  xRange: [number, number],
  yRange: [number, number],
): Record<string, unknown>[] {
  if (!chosen.length) return [];
  const m = layout.margin as { l: number; r: number; t: number; b: number };
  const x0 = m.l,
    x1 = layout.width - m.r,
    y0 = m.t,
    y1 = layout.height - m.b;
  const px = (r: PerClassPoint) => ({
    x: x0 + ((Math.log10(r.indexImages) - xRange[0]) / (xRange[1] - xRange[0])) * (x1 - x0),
    y: y1 - ((r.p1 - yRange[0]) / (yRange[1] - yRange[0])) * (y1 - y0),
  });
  const placed = placeLabels(
    chosen.map((r) => ({ ...px(r), text: r.className })),
    kept.map(px),
    { x0, y0, x1, y1 },
    { fontSize: 11 },
  );
  return chosen.map((r, i) => ({
    // plotly takes annotation positions on a log axis as log10 of the value
    x: Math.log10(r.indexImages),
    y: r.p1,
    xref: 'x',
    yref: 'y',
    text: r.className,
    showarrow: true,
    arrowhead: 0,
    arrowwidth: 1,
    arrowcolor: '#999',
    ax: placed[i].ax,
    ay: placed[i].ay,
    font: { size: 11, color: '#333' },
    bgcolor: 'rgba(255,255,255,0.75)',
  }));
}

/** One bin of the class-imbalance histogram: classes with lo ≤ samples < hi (as `datasetStats().imbalance.bins`). */
export interface ImbalanceBinInput {
  lo: number;
  hi: number;
  classes: number;
  names: readonly string[];
}

/**
 * Study Fig. 6: number of classes against samples per class in log-spaced bins. With `kinds`
 * (class name → kind), the bars are stacked anatomical / pathological.
 */
export function imbalanceFigure(
  bins: readonly ImbalanceBinInput[],
  opts: { kinds?: ReadonlyMap<string, ClassKind>; over?: string; title?: string; width?: number; height?: number } = {},
): PlotlyFigure {
  if (bins.length === 0)
    throw new CbirError('no histogram bins (the dataset has no classes)', {
      hint: 'check the manifest',
      code: 'figures/no-data',
    });
  const labels = bins.map((b) => (b.hi - b.lo === 1 ? `${b.lo}` : `${b.lo}–${b.hi - 1}`));
  const list = (names: readonly string[]) =>
    (names.length > 12 ? [...names.slice(0, 12), `… ${names.length - 12} more`] : [...names]).join('<br>');
  let data: PlotlyTrace[];
  if (opts.kinds) {
    const kinds = opts.kinds;
    data = (['anatomical', 'pathological'] as const).map((kind) => {
      const names = bins.map((b) => b.names.filter((n) => kinds.get(n) === kind));
      return {
        type: 'bar',
        name: kind,
        x: labels,
        y: names.map((n) => n.length),
        marker: { color: KIND_COLORS[kind] },
        text: names.map(list),
        hovertemplate: `%{x} samples: %{y} ${kind} classes<br>%{text}<extra></extra>`,
        textposition: 'none',
      };
    });
  } else {
    data = [
      {
        type: 'bar',
        name: 'classes',
        x: labels,
        y: bins.map((b) => b.classes),
        marker: { color: PALETTE[0] },
        text: bins.map((b) => list(b.names)),
        hovertemplate: '%{x} samples: %{y} classes<br>%{text}<extra></extra>',
        textposition: 'none',
      },
    ];
  }
  const total = bins.reduce((s, b) => s + b.classes, 0);
  const layout = baseLayout(
    opts.title ??
      `Class imbalance: ${total} classes by samples per class${opts.over && opts.over !== 'all' ? ` (${opts.over} split)` : ''}`,
    opts.width ?? 800,
    opts.height ?? 480,
  );
  Object.assign(layout, {
    barmode: 'stack',
    bargap: 0.08,
    xaxis: axis('samples per class (log-spaced bins)', { type: 'category' }),
    yaxis: axis('number of classes', { rangemode: 'tozero' }),
    showlegend: data.length > 1,
    legend: { ...(layout.legend as object), ...ABOVE_PLOT },
  });
  return { data, layout };
}

/** Points of a 2-D embedding map: xy (n × 2, row-major), a group code per point and the group names. */
export interface ScatterMap {
  xy: Float32Array;
  group: ArrayLike<number>;
  groupNames: readonly string[];
  /** Hover text per point (e.g. path, class, modality); HTML line breaks as `<br>`. */
  hover?: readonly string[];
  /** Fixed colours by group name (e.g. MODALITY_COLORS); other groups take the palette. */
  colors?: Readonly<Record<string, string>>;
  /** When the points are a sample: images per group code in the whole population, so legend entries read "name (sampled of all)". */
  totals?: ArrayLike<number>;
}

/**
 * Study Fig. 4: a t-SNE (or PCA) map, one trace (legend entry) per group present, sorted by name,
 * with hover text per point. Markers are SVG (not WebGL), so the map renders headless.
 */
export function scatterMapFigure(
  map: ScatterMap,
  opts: { title: string; legendTitle?: string; width?: number; height?: number; markerSize?: number },
): PlotlyFigure {
  const n = map.group.length;
  if (map.xy.length !== 2 * n)
    throw new CbirError(`map has ${map.xy.length / 2} points but ${n} group codes`, {
      hint: 'pass one (x, y) pair per point',
      code: 'figures/bad-input',
    });
  if (map.hover && map.hover.length !== n)
    throw new CbirError(`map has ${n} points but ${map.hover.length} hover texts`, {
      hint: 'pass one hover text per point',
      code: 'figures/bad-input',
    });
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const g = map.group[i];
    if (!(g >= 0 && g < map.groupNames.length))
      throw new CbirError(`point ${i} has group code ${g}, only ${map.groupNames.length} groups are named`, {
        hint: 'group codes index groupNames',
        code: 'figures/bad-input',
      });
    let m = members.get(g);
    if (!m) members.set(g, (m = []));
    m.push(i);
  }
  const groups = [...members.keys()].sort((a, b) => map.groupNames[a].localeCompare(map.groupNames[b]));
  const r = (v: number) => Number(v.toPrecision(5));
  let free = 0;
  const data: PlotlyTrace[] = groups.map((g) => {
    const name = map.groupNames[g];
    const idx = members.get(g)!;
    const fixed = map.colors?.[name];
    const style = fixed ? { color: fixed, symbol: 'circle' } : categoricalStyle(free++);
    return {
      type: 'scatter',
      mode: 'markers',
      name: map.totals ? `${name} (${idx.length} of ${map.totals[g]})` : `${name} (${idx.length})`,
      x: idx.map((i) => r(map.xy[2 * i])),
      y: idx.map((i) => r(map.xy[2 * i + 1])),
      marker: { color: style.color, symbol: style.symbol, size: opts.markerSize ?? 5, opacity: 0.8 },
      ...(map.hover ? { hovertext: idx.map((i) => map.hover![i]), hoverinfo: 'text' } : { hoverinfo: 'name' }),
    };
  });
  // Tall enough for the legend (about 19 px per entry) so static PNGs do not clip it.
  const height = opts.height ?? Math.max(650, Math.min(2400, 120 + 19 * data.length));
  const layout = baseLayout(opts.title, opts.width ?? (data.length > 12 ? 1150 : 950), height);
  Object.assign(layout, {
    xaxis: { visible: false, showgrid: false, zeroline: false },
    yaxis: { visible: false, showgrid: false, zeroline: false, scaleanchor: 'x', scaleratio: 1 },
    legend: {
      ...(layout.legend as object),
      title: { text: opts.legendTitle ?? '' },
      itemsizing: 'constant',
      font: { size: data.length > 30 ? 10 : 12 },
      x: 1.01,
      xanchor: 'left',
      y: 1,
      yanchor: 'top',
    },
    margin: { l: 20, r: 20, t: /<br>/i.test(opts.title) ? 92 : 70, b: 20 },
  });
  return { data, layout };
}
