/**
 * Text labels for scatter points (pure): each label goes to the first of a ring of offsets around
 * its point where its box stays in the plot area and overlaps no other label and no point, else to
 * the offset that overlaps least; plotly draws it as an annotation with a short arrow.
 */

/** A point in pixels (origin top left, y down). */
export interface PixelPoint {
  x: number;
  y: number;
}

/** A label to place: its point (pixels) and its text. */
export interface LabelRequest extends PixelPoint {
  text: string;
}

/** Where a label went: its text box centre as an offset from its point (plotly's annotation ax/ay). */
export interface LabelPlacement {
  ax: number;
  ay: number;
  /** The box overlaps another label or a point (no free place was found). */
  crowded: boolean;
}

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

const overlap = (a: Box, b: Box) =>
  Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0)) * Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));

/** Offsets tried around a point (whole pixels), nearest first: 12 directions at growing distances. */
function candidateOffsets(w: number, h: number): PixelPoint[] {
  const out: PixelPoint[] = [];
  for (const r of [1, 1.8, 2.8, 4, 5.5, 7, 9]) {
    const dx = Math.round(w / 2 + 8 * r),
      dy = Math.round(h / 2 + 8 * r),
      more = Math.round(4 * r);
    out.push(
      { x: dx, y: -dy },
      { x: -dx, y: -dy },
      { x: dx, y: dy },
      { x: -dx, y: dy },
      { x: 0, y: -dy - more },
      { x: 0, y: dy + more },
      // above or below, the box running off to one side (for wide labels near the plot's edges)
      { x: Math.round(w / 2 - 6), y: -dy - more },
      { x: -Math.round(w / 2 - 6), y: -dy - more },
      { x: Math.round(w / 2 - 6), y: dy + more },
      { x: -Math.round(w / 2 - 6), y: dy + more },
      { x: dx + more, y: 0 },
      { x: -dx - more, y: 0 },
    );
  }
  return out;
}

/**
 * Place `labels` (in order: earlier ones get the better places) among `points` (every marker,
 * radius `pointRadius` px) inside `area`. Text width is estimated as 0.6 em per character.
 */
export function placeLabels(
  labels: readonly LabelRequest[],
  points: readonly PixelPoint[],
  area: Box,
  opts: { fontSize?: number; pointRadius?: number } = {},
): LabelPlacement[] {
  const fontSize = opts.fontSize ?? 11,
    pr = opts.pointRadius ?? 6;
  const obstacles: Box[] = points.map((p) => ({ x0: p.x - pr, y0: p.y - pr, x1: p.x + pr, y1: p.y + pr }));
  const placed: Box[] = [];
  return labels.map((l) => {
    const w = 0.6 * fontSize * l.text.length + 6,
      h = 1.3 * fontSize + 4;
    let best: { off: PixelPoint; cost: number; box: Box } | null = null;
    for (const off of candidateOffsets(w, h)) {
      const cx = l.x + off.x,
        cy = l.y + off.y;
      const box = { x0: cx - w / 2, y0: cy - h / 2, x1: cx + w / 2, y1: cy + h / 2 };
      const outside =
        Math.max(0, area.x0 - box.x0) +
        Math.max(0, box.x1 - area.x1) +
        Math.max(0, area.y0 - box.y0) +
        Math.max(0, box.y1 - area.y1);
      let cost = outside * h * 10;
      for (const o of obstacles) cost += overlap(box, o);
      for (const o of placed) cost += 4 * overlap(box, o);
      if (!best || cost < best.cost) best = { off, cost, box };
      if (cost === 0) break;
    }
    placed.push(best!.box);
    return { ax: best!.off.x, ay: best!.off.y, crowded: best!.cost > 0 };
  });
}
