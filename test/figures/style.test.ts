/**
 * Legibility of the figures: distinct categorical colours (CIEDE2000, checked against Sharma et
 * al.'s published test pairs), unique (colour, marker) styles, point labels that stay clear of
 * each other, similarity captions that tell neighbours apart, line plots with one colour per group.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PALETTE, MODALITY_COLORS, categoricalStyle, hexToRgb } from '../../src/workbench/figures/colors.js';
import { placeLabels } from '../../src/workbench/figures/labels.js';
import { similarityLabels } from '../../src/workbench/figures/grid.js';
import { lineFigure } from '../../src/workbench/figures/charts.js';
import { perClassFigure, valueTicks, type PerClassPoint } from '../../src/workbench/figures/specs.js';

/** sRGB (D65) → CIELAB. */
function lab(hex: string): [number, number, number] {
  const lin = hexToRgb(hex)
    .map((v) => v / 255)
    .map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  const X = (0.4124564 * lin[0] + 0.3575761 * lin[1] + 0.1804375 * lin[2]) / 0.95047;
  const Y = 0.2126729 * lin[0] + 0.7151522 * lin[1] + 0.072175 * lin[2];
  const Z = (0.0193339 * lin[0] + 0.119192 * lin[1] + 0.9503041 * lin[2]) / 1.08883;
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
  return [116 * f(Y) - 16, 500 * (f(X) - f(Y)), 200 * (f(Y) - f(Z))];
}

/** CIEDE2000 colour difference (Sharma, Wu & Dalal 2005). */
function deltaE2000([L1, a1, b1]: number[], [L2, a2, b2]: number[]): number {
  const rad = Math.PI / 180;
  const Cb = (Math.hypot(a1, b1) + Math.hypot(a2, b2)) / 2;
  const G = 0.5 * (1 - Math.sqrt(Cb ** 7 / (Cb ** 7 + 25 ** 7)));
  const a1p = (1 + G) * a1,
    a2p = (1 + G) * a2;
  const C1 = Math.hypot(a1p, b1),
    C2 = Math.hypot(a2p, b2);
  const hue = (b: number, a: number) => (b === 0 && a === 0 ? 0 : (Math.atan2(b, a) / rad + 360) % 360);
  const h1 = hue(b1, a1p),
    h2 = hue(b2, a2p);
  let dh = 0;
  if (C1 * C2 !== 0) dh = h2 - h1 > 180 ? h2 - h1 - 360 : h2 - h1 < -180 ? h2 - h1 + 360 : h2 - h1;
  const dH = 2 * Math.sqrt(C1 * C2) * Math.sin((dh / 2) * rad);
  const Lb = (L1 + L2) / 2,
    Cp = (C1 + C2) / 2;
  let hb = h1 + h2;
  if (C1 * C2 !== 0) hb = Math.abs(h1 - h2) <= 180 ? hb / 2 : hb < 360 ? (hb + 360) / 2 : (hb - 360) / 2;
  const T =
    1 -
    0.17 * Math.cos((hb - 30) * rad) +
    0.24 * Math.cos(2 * hb * rad) +
    0.32 * Math.cos((3 * hb + 6) * rad) -
    0.2 * Math.cos((4 * hb - 63) * rad);
  const SL = 1 + (0.015 * (Lb - 50) ** 2) / Math.sqrt(20 + (Lb - 50) ** 2),
    SC = 1 + 0.045 * Cp,
    SH = 1 + 0.015 * Cp * T;
  const RT = -Math.sin(60 * Math.exp(-(((hb - 275) / 25) ** 2)) * rad) * 2 * Math.sqrt(Cp ** 7 / (Cp ** 7 + 25 ** 7));
  const l = (L2 - L1) / SL,
    c = (C2 - C1) / SC,
    h = dH / SH;
  return Math.sqrt(l * l + c * c + h * h + RT * c * h);
}

test('CIEDE2000 of the test agrees with Sharma et al. (2005) to 1e-4', () => {
  const pairs: [number[], number[], number][] = [
    [[50, 2.6772, -79.7751], [50, 0, -82.7485], 2.0425],
    [[50, 3.1571, -77.2803], [50, 0, -82.7485], 2.8615],
    [[50, 0, 0], [50, -1, 2], 2.3669],
    [[50, 2.5, 0], [73, 25, -18], 27.1492],
    [[50, 2.5, 0], [61, -5, 29], 22.8977],
    [[60.2574, -34.0099, 36.2677], [60.4626, -34.1751, 39.4387], 1.2644],
  ];
  for (const [a, b, want] of pairs) assert.ok(Math.abs(deltaE2000(a, b) - want) < 1e-4, `${a} vs ${b}`);
  // sRGB → Lab: white is L 100, a = b = 0; pure red is (53.24, 80.09, 67.20)
  assert.ok(lab('#ffffff').every((v, i) => Math.abs(v - [100, 0, 0][i]) < 0.01));
  assert.ok(lab('#ff0000').every((v, i) => Math.abs(v - [53.24, 80.09, 67.2][i]) < 0.05));
});

test('the 24 palette colours differ pairwise by ΔE00 ≥ 15 and stand out from the white background', () => {
  assert.equal(PALETTE.length, 24);
  const labs = PALETTE.map(lab);
  let min = Infinity,
    pair = '';
  for (let i = 0; i < labs.length; i++)
    for (let j = i + 1; j < labs.length; j++) {
      const d = deltaE2000(labs[i], labs[j]);
      if (d < min) [min, pair] = [d, `${PALETTE[i]} / ${PALETTE[j]}`];
    }
  assert.ok(min >= 15, `closest pair ${pair}: ΔE00 ${min.toFixed(1)}`);
  for (const c of PALETTE) assert.ok(deltaE2000(lab(c), lab('#ffffff')) >= 20, `${c} is visible on white`);
  // the pairs new users mixed up: classes 5 and 23, 21 and 22 of the phantom's 24 (sorted by name)
  assert.ok(deltaE2000(labs[5], labs[23]) >= 15);
  assert.ok(deltaE2000(labs[21], labs[22]) >= 15);
  for (const c of Object.values(MODALITY_COLORS)) assert.match(c, /^#[0-9a-f]{6}$/);
});

test('(colour, marker) styles are unique for the first 100 classes', () => {
  const styles = Array.from({ length: 100 }, (_, i) => categoricalStyle(i));
  assert.equal(new Set(styles.map((s) => `${s.color} ${s.symbol}`)).size, 100);
  assert.equal(styles[0].symbol, 'circle');
  assert.notEqual(styles[24].symbol, styles[0].symbol, 'past 24 classes the marker changes');
  assert.equal(styles[24].color, styles[0].color);
});

const boxOf = (p: { x: number; y: number }, off: { ax: number; ay: number }, text: string, fontSize = 11) => {
  const w = 0.6 * fontSize * text.length + 6,
    h = 1.3 * fontSize + 4;
  return { x0: p.x + off.ax - w / 2, x1: p.x + off.ax + w / 2, y0: p.y + off.ay - h / 2, y1: p.y + off.ay + h / 2 };
};
const overlaps = (a: ReturnType<typeof boxOf>, b: ReturnType<typeof boxOf>) =>
  a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

test('point labels: clear of each other and of every point when there is room, inside the plot area', () => {
  // three points close together at the bottom (as classes with P@1 = 0), two apart
  const pts = [
    { x: 100, y: 380 },
    { x: 112, y: 380 },
    { x: 130, y: 380 },
    { x: 400, y: 100 },
    { x: 600, y: 200 },
  ];
  const labels = pts.map((p, i) => ({ ...p, text: `CT/chest/class-${i}` }));
  const area = { x0: 70, y0: 80, x1: 770, y1: 400 };
  const placed = placeLabels(labels, pts, area);
  assert.equal(placed.length, 5);
  const boxes = placed.map((o, i) => boxOf(pts[i], o, labels[i].text));
  for (let i = 0; i < boxes.length; i++) {
    assert.equal(placed[i].crowded, false, `label ${i} found a free place`);
    const b = boxes[i];
    assert.ok(b.x0 >= area.x0 && b.x1 <= area.x1 && b.y0 >= area.y0 && b.y1 <= area.y1, `label ${i} inside`);
    for (let j = i + 1; j < boxes.length; j++) assert.ok(!overlaps(b, boxes[j]), `labels ${i} and ${j} apart`);
    for (const p of pts) assert.ok(!overlaps(b, { x0: p.x - 6, x1: p.x + 6, y0: p.y - 6, y1: p.y + 6 }));
  }
  // no room at all: still one placement per label, marked crowded
  const tight = placeLabels(labels, pts, { x0: 95, y0: 375, x1: 135, y1: 385 });
  assert.ok(tight.every((p) => p.crowded));
});

test('per-class figure: class names on the points (all up to 12 classes, else the 4 best and 4 worst)', () => {
  const rows = (n: number): PerClassPoint[] =>
    Array.from({ length: n }, (_, i) => ({
      className: `XR/region${i}/class${i}`,
      kind: i % 3 === 0 ? 'anatomical' : 'pathological',
      indexImages: 5 + 7 * i,
      queries: 10,
      p1: ((i * 7919) % n) / n,
    }));
  const few = perClassFigure(rows(6), { model: 'm' });
  const notes = few.layout.annotations as { text: string; x: number; y: number }[];
  assert.deepEqual(
    notes.map((a) => a.text).sort(),
    rows(6)
      .map((r) => r.className)
      .sort(),
  );
  const c3 = notes.find((a) => a.text === 'XR/region3/class3')!;
  assert.ok(Math.abs(c3.x - Math.log10(26)) < 1e-12, 'annotation x on a log axis is log10 of the value');
  assert.equal(c3.y, rows(6)[3].p1);
  assert.match(String((few.layout.title as { text: string }).text), /labels: every class/);

  const many = rows(20);
  const fig = perClassFigure(many, { model: 'm' });
  const labelled = (fig.layout.annotations as { text: string }[]).map((a) => a.text);
  const byP1 = [...many].sort((a, b) => a.p1 - b.p1 || b.indexImages - a.indexImages).map((r) => r.className);
  assert.equal(labelled.length, 8);
  assert.deepEqual(new Set(labelled), new Set([...byP1.slice(0, 4), ...byP1.slice(-4)]));
  assert.match(String((fig.layout.title as { text: string }).text), /4 highest and lowest P@1/);
  assert.deepEqual(perClassFigure(many, { model: 'm', labels: false }).layout.annotations, []);
});

test('index-size ticks: every plotted value when few, else log ticks with the first and last value', () => {
  assert.deepEqual(valueTicks([1, 2, 5, 10, 20, 27, 27, 5]), [1, 2, 5, 10, 20, 27]);
  const many = Array.from({ length: 30 }, (_, i) => 3 + 11 * i);
  const t = valueTicks(many);
  assert.equal(t[0], 3);
  assert.equal(t[t.length - 1], 322);
  assert.ok(t.includes(10) && t.includes(100), `${t}`);
  assert.ok(!t.includes(300), '300 would crowd 322');
});

test('grid similarities: 4 decimals, more where neighbours would read alike, never 1 for a value below 1', () => {
  assert.deepEqual(similarityLabels([0.9962, 0.95, NaN]), ['0.9962', '0.9500', '']);
  assert.deepEqual(similarityLabels([0.99612, 0.99608]), ['0.99612', '0.99608']);
  assert.deepEqual(similarityLabels([0.999961, 0.5]), ['0.99996', '0.50000'], '0.99996 must not read 1.0000');
  assert.deepEqual(similarityLabels([0.9961234, 0.9961219]), ['0.996123', '0.996122']);
  assert.deepEqual(similarityLabels([0.9961234, 0.9961231]), ['0.9961', '0.9961'], 'closer than 1e-6: float noise');
  assert.deepEqual(similarityLabels([0.8, 0.8]), ['0.8000', '0.8000'], 'ties read alike');
  assert.deepEqual(similarityLabels([1, 0.99999999]), ['1.0000', '1.0000'], 'equal to 1 within float32 rounding');
  const row = [0.99812, 0.99809, 0.99801, 0.99799, 0.99799, 0.99733];
  const s = similarityLabels(row);
  for (let i = 0; i + 1 < row.length; i++) if (row[i] !== row[i + 1]) assert.notEqual(s[i], s[i + 1]);
});

test('line plot: one colour per group (loss solid, accuracy dashed), legend below the plot, right axis 0–1 with 2 decimals', () => {
  const x = [1, 2, 3];
  const fig = lineFigure(
    ['a', 'b'].flatMap((m) => [
      { name: `${m} loss`, group: m, x, y: [1, 0.8, 0.7] },
      { name: `${m} val acc`, group: m, x, y: [0.3, 0.5, 0.55], dash: 'dash', yaxis: 'y2' as const },
    ]),
    { title: 't', xTitle: 'epoch', yTitle: 'loss', y2Title: 'accuracy', y2Range: [0, 1] },
  );
  const color = (i: number) => (fig.data[i].line as { color: string; dash: string }).color;
  assert.equal(color(0), color(1), 'a: loss and accuracy share a colour');
  assert.equal(color(2), color(3));
  assert.notEqual(color(0), color(2), 'a and b differ');
  assert.deepEqual(
    fig.data.map((t) => (t.line as { dash: string }).dash),
    ['solid', 'dash', 'solid', 'dash'],
  );
  assert.deepEqual(
    fig.data.map((t) => t.legendgroup),
    ['a', 'a', 'b', 'b'],
  );
  const legend = fig.layout.legend as { orientation: string; y: number; yanchor: string };
  assert.equal(legend.orientation, 'h');
  assert.ok(legend.y < 0 && legend.yanchor === 'top', 'below the plot area');
  const y2 = fig.layout.yaxis2 as { tickformat: string; range: number[]; side: string };
  assert.equal(y2.tickformat, '.2f');
  assert.deepEqual(y2.range, [0, 1]);
  // without groups every series has its own colour
  const plain = lineFigure(
    [
      { name: 'p', x, y: x },
      { name: 'q', x, y: x },
    ],
    { title: 't', xTitle: 'x', yTitle: 'y' },
  );
  assert.notEqual((plain.data[0].line as { color: string }).color, (plain.data[1].line as { color: string }).color);
  assert.equal(plain.layout.yaxis2, undefined);
});
