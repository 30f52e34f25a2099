/** General plotly charts for notebooks: dot-and-whisker intervals and line plots. */
import type { PlotlyFigure } from './specs.js';
import { PALETTE } from './colors.js';

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

/** One line of `lineFigure`. */
export interface LineSeries {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  dash?: string;
  yaxis?: 'y' | 'y2';
  /** Series of one group (e.g. one model's loss and accuracy) share a colour and toggle together; default: the name. */
  group?: string;
}

/**
 * A line plot (one trace per series) as a plotly figure, e.g. validation F1 over k or training
 * curves. One colour per group; the legend sits below the plot, clear of the title and both
 * axes; a right axis (`y2Title`) gets fixed-decimal ticks (`y2Format`, default '.2f') and
 * optionally a fixed range (`y2Range`, e.g. [0, 1] for an accuracy).
 */
export function lineFigure(
  series: LineSeries[],
  opts: {
    title: string;
    xTitle: string;
    yTitle: string;
    y2Title?: string;
    y2Range?: [number, number];
    y2Format?: string;
    width?: number;
    height?: number;
    marker?: { x: number; y: number; text: string }[];
  },
): PlotlyFigure {
  const groups = [...new Set(series.map((s) => s.group ?? s.name))];
  const data: PlotlyFigure['data'] = series.map((s) => {
    const color = PALETTE[groups.indexOf(s.group ?? s.name) % PALETTE.length];
    return {
      type: 'scatter',
      mode: 'lines',
      name: s.name,
      legendgroup: s.group ?? s.name,
      x: Array.from(s.x),
      y: Array.from(s.y, (v) => (Number.isFinite(v) ? Number(v.toPrecision(6)) : null)),
      line: { color, dash: s.dash ?? 'solid', width: 2 },
      yaxis: s.yaxis ?? 'y',
    };
  });
  // Legend rows below the plot: about four entries per row at the default width.
  const legendRows = Math.ceil(series.length / Math.max(1, Math.floor((opts.width ?? 760) / 190)));
  const bottom = 80 + 22 * legendRows;
  const height = opts.height ?? 380 + bottom;
  const layout: PlotlyFigure['layout'] = {
    title: { text: opts.title, x: 0.5, xanchor: 'center' },
    width: opts.width ?? 760,
    height,
    font: { family: 'DejaVu Sans, Liberation Sans, Arial, sans-serif', size: 13 },
    paper_bgcolor: '#fff',
    plot_bgcolor: '#fff',
    xaxis: { title: { text: opts.xTitle }, showgrid: true, gridcolor: '#e6e6e6', showline: true, linecolor: '#444' },
    yaxis: { title: { text: opts.yTitle }, showgrid: true, gridcolor: '#e6e6e6', showline: true, linecolor: '#444' },
    // 58 px under the plot area: below the x-axis title
    legend: {
      orientation: 'h',
      x: 0.5,
      xanchor: 'center',
      y: -58 / Math.max(100, height - 60 - bottom),
      yanchor: 'top',
      bgcolor: 'rgba(255,255,255,0)',
    },
    margin: { l: 70, r: opts.y2Title ? 80 : 30, t: 60, b: bottom },
  };
  if (opts.y2Title)
    layout.yaxis2 = {
      title: { text: opts.y2Title },
      overlaying: 'y',
      side: 'right',
      showgrid: false,
      showline: true,
      linecolor: '#444',
      tickformat: opts.y2Format ?? '.2f',
      ...(opts.y2Range ? { range: opts.y2Range, autorange: false } : {}),
    };
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
