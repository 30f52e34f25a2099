import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Manifest, classInfoFromName, type ManifestEntry } from '../../src/workbench/data/manifest.js';
import { datasetStats } from '../../src/workbench/data/stats.js';
import { CbirError } from '../../src/workbench/errors.js';
import {
  precisionCurvesFigure,
  indexSizeFigure,
  perClassFigure,
  imbalanceFigure,
  scatterMapFigure,
  logTicks,
  type PlotlyTrace,
} from '../../src/workbench/figures/specs.js';
import { KIND_COLORS, MODALITY_COLORS, PALETTE } from '../../src/workbench/figures/colors.js';
import { mapFigures, balancedCap, sampleForMap, mapSample } from '../../src/workbench/figures/maps.js';

const N = Array.from({ length: 10 }, (_, i) => i + 1);
const lines = (data: PlotlyTrace[]) => data.filter((t) => t.fill === undefined);
const bands = (data: PlotlyTrace[]) => data.filter((t) => t.fill === 'toself');

/** A JSON round trip changes nothing: the spec holds no typed arrays, NaN or functions. */
function assertJsonable(x: unknown): void {
  assert.deepEqual(JSON.parse(JSON.stringify(x)), x);
}

test('P@N curves: micro and macro panels, one legend entry and one colour per model, bands only where intervals exist', () => {
  const fig = precisionCurvesFigure([
    {
      model: 'alpha',
      n: N,
      micro: N.map((n) => 0.9 - n / 100),
      microLo: N.map((n) => 0.85 - n / 100),
      microHi: N.map((n) => 0.95 - n / 100),
      macro: N.map((n) => 0.7 - n / 100),
      macroLo: N.map((n) => 0.6 - n / 100),
      macroHi: N.map((n) => 0.8 - n / 100),
    },
    {
      model: 'beta',
      n: N,
      micro: N.map(() => 0.5),
      microLo: N.map(() => NaN),
      microHi: N.map(() => NaN),
      macro: N.map(() => 0.4),
    },
  ]);
  assertJsonable(fig);
  assert.equal(lines(fig.data).length, 4, 'a micro and a macro line per model');
  assert.equal(bands(fig.data).length, 2, 'alpha has micro and macro bands, beta (NaN intervals) none');
  const legend = fig.data.filter((t) => t.showlegend !== false).map((t) => t.name);
  assert.deepEqual(legend, ['alpha', 'beta']);
  const alpha = lines(fig.data).filter((t) => t.name === 'alpha');
  assert.deepEqual(
    alpha.map((t) => [t.xaxis, t.yaxis]),
    [
      ['x', 'y'],
      ['x2', 'y2'],
    ],
  );
  assert.equal((alpha[0].line as { color: string }).color, (alpha[1].line as { color: string }).color);
  assert.notEqual(
    (alpha[0].line as { color: string }).color,
    (lines(fig.data).find((t) => t.name === 'beta')!.line as { color: string }).color,
  );
  assert.deepEqual(alpha[0].x, N);
  assert.deepEqual(
    alpha[0].y,
    N.map((n) => Number((0.9 - n / 100).toPrecision(6))),
  );
  // The band is a closed polygon: hi forwards, lo backwards.
  const band = bands(fig.data)[0];
  assert.equal((band.x as number[]).length, 20);
  assert.equal((band.y as number[])[0], 0.94);
  assert.equal((band.y as number[])[19], 0.84);
  assert.ok(fig.layout.xaxis2 && fig.layout.yaxis2, 'second panel axes');
});

test('P@N curves: a column of the wrong length is an error naming the file', () => {
  assert.throws(
    () => precisionCurvesFigure([{ model: 'a', n: N, micro: N, macro: N.slice(1), source: 'r/a/precision_at_n.csv' }]),
    (e: unknown) =>
      e instanceof CbirError && /r\/a\/precision_at_n\.csv/.test(e.message) && /macro has 9 values/.test(e.message),
  );
  assert.throws(() => precisionCurvesFigure([]), CbirError);
});

test('index size: one line per model, sorted by N, ± std error bars, log x with a tick at every plotted N', () => {
  const fig = indexSizeFigure([
    { model: 'a', indexPerClass: 100, mean: 0.9, std: 0.01, seeds: 5, classes: 3 },
    { model: 'a', indexPerClass: 5, mean: 0.6, std: 0.1, seeds: 5, classes: 3 },
    { model: 'b', indexPerClass: 5, mean: 0.5, std: 0.2, seeds: 5, classes: 3 },
  ]);
  assertJsonable(fig);
  assert.deepEqual(
    fig.data.map((t) => t.name),
    ['a', 'b'],
  );
  assert.deepEqual(fig.data[0].x, [5, 100]);
  assert.deepEqual(fig.data[0].y, [0.6, 0.9]);
  assert.deepEqual((fig.data[0].error_y as { array: number[] }).array, [0.1, 0.01]);
  const x = fig.layout.xaxis as { type: string; tickvals: number[] };
  assert.equal(x.type, 'log');
  assert.deepEqual(x.tickvals, [5, 100], 'the first and the last point have their labels');
  assert.deepEqual((fig.layout.xaxis as { ticktext: string[] }).ticktext, ['5', '100']);
  assert.match(String((fig.layout.title as { text: string }).text), /3 classes, 5 seeds/);
});

test('per-class P@1: anatomical and pathological traces in their own colours, classes without index images left out', () => {
  const fig = perClassFigure(
    [
      { className: 'CT/head/normal', kind: 'anatomical', indexImages: 90, queries: 26, p1: 0.8 },
      { className: 'CT/head/bleed', kind: 'pathological', indexImages: 9, queries: 3, p1: 0 },
      { className: 'CT/head/rare', kind: 'pathological', indexImages: 0, queries: 2, p1: 0 },
      { className: 'MR/brain/glioma', kind: 'pathological', indexImages: 300, queries: 40, p1: 0.5 },
    ],
    { model: 'tiny16' },
  );
  assertJsonable(fig);
  const [anat, path] = fig.data;
  assert.equal((anat.marker as { color: string }).color, KIND_COLORS.anatomical);
  assert.equal((path.marker as { color: string }).color, KIND_COLORS.pathological);
  assert.notEqual(KIND_COLORS.anatomical, KIND_COLORS.pathological);
  assert.deepEqual(anat.x, [90]);
  assert.deepEqual(path.x, [9, 300]);
  assert.deepEqual(path.y, [0, 0.5]);
  assert.equal(anat.name, 'anatomical (1 classes)');
  assert.equal(path.name, 'pathological (2 classes)');
  assert.match(String((fig.layout.title as { text: string }).text), /tiny16.*1 class without index images/);
  assert.equal((fig.layout.xaxis as { type: string }).type, 'log');
});

function tinyManifest(counts: Record<string, number>): Manifest {
  const entries: ManifestEntry[] = [];
  for (const [name, n] of Object.entries(counts)) {
    const [modality, region] = name.split('/');
    for (let i = 0; i < n; i++)
      entries.push({
        filepath: `${name}/${i}.png`,
        dataset: `ds-${modality}`,
        split: i % 5 === 0 ? 'test' : i % 5 === 1 ? 'val' : 'train',
        modality,
        anatomicRegion: region,
        className: name,
      });
  }
  return Manifest.fromEntries(
    entries,
    Object.keys(counts).map((c) => classInfoFromName(c)),
    { dir: '/tmp/none' },
  );
}

test('class imbalance: bins from datasetStats, stacked by kind, counts add up', () => {
  const m = tinyManifest({
    'CT/head/normal': 120,
    'CT/head/bleed': 3,
    'MR/brain/normal': 60,
    'MR/brain/glioma': 7,
    'XR/chest/normal': 25,
  });
  const st = datasetStats(m);
  const kinds = new Map(m.classes.map((c) => [c.name, c.kind] as const));
  const fig = imbalanceFigure(st.imbalance.bins, { kinds });
  assertJsonable(fig);
  assert.deepEqual(
    fig.data.map((t) => t.name),
    ['anatomical', 'pathological'],
  );
  assert.deepEqual(fig.data[0].x, ['2–4', '5–9', '10–19', '20–49', '50–99', '100–199']);
  assert.deepEqual(fig.data[0].y, [0, 0, 0, 1, 1, 1]);
  assert.deepEqual(fig.data[1].y, [1, 1, 0, 0, 0, 0]);
  assert.equal((fig.data[0].marker as { color: string }).color, KIND_COLORS.anatomical);
  assert.equal(fig.layout.barmode, 'stack');
  assert.equal(fig.layout.showlegend, true);
  const plain = imbalanceFigure(st.imbalance.bins);
  assert.equal(plain.data.length, 1);
  assert.deepEqual(plain.data[0].y, [1, 1, 0, 1, 1, 1]);
  assert.equal(plain.layout.showlegend, false);
});

test('scatter map: one trace per group present (sorted), counts in the legend, hover per point, fixed modality colours', () => {
  const xy = Float32Array.from([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  const fig = scatterMapFigure(
    {
      xy,
      group: [2, 0, 2, 0, 2],
      groupNames: ['MR', 'unused', 'CT'],
      hover: ['a', 'b', 'c', 'd', 'e'],
      colors: MODALITY_COLORS,
    },
    { title: 't', legendTitle: 'modality' },
  );
  assertJsonable(fig);
  assert.deepEqual(
    fig.data.map((t) => t.name),
    ['CT (3)', 'MR (2)'],
  );
  assert.deepEqual(fig.data[0].x, [0, 2, 4]);
  assert.deepEqual(fig.data[0].hovertext, ['a', 'c', 'e']);
  assert.equal((fig.data[0].marker as { color: string }).color, MODALITY_COLORS.CT);
  assert.equal((fig.data[1].marker as { color: string }).color, MODALITY_COLORS.MR);
  assert.equal(fig.data[0].type, 'scatter', 'SVG scatter renders headless (no WebGL)');
  assert.equal((fig.layout.legend as { title: { text: string } }).title.text, 'modality');
  // Groups without a fixed colour take distinct palette colours.
  const many = scatterMapFigure(
    {
      xy: new Float32Array(60),
      group: Array.from({ length: 30 }, (_, i) => i),
      groupNames: Array.from({ length: 30 }, (_, i) => `c${String(i).padStart(2, '0')}`),
    },
    { title: 't' },
  );
  const styles = new Set(
    many.data.map((t) => `${(t.marker as { color: string }).color}/${(t.marker as { symbol: string }).symbol}`),
  );
  assert.equal(styles.size, 30);
  assert.equal((many.data[0].marker as { color: string }).color, PALETTE[0]);
  assert.ok(many.layout.height >= 120 + 19 * 30, 'tall enough for the legend');
  assert.throws(
    () => scatterMapFigure({ xy, group: [0, 1, 5, 0, 0], groupNames: ['a', 'b'] }, { title: 't' }),
    /group code 5/,
  );
  assert.throws(
    () => scatterMapFigure({ xy, group: [0, 1], groupNames: ['a', 'b'] }, { title: 't' }),
    /5 points but 2 group codes/,
  );
});

test('t-SNE maps of a manifest: by modality, region and class, hover names path, class and modality', () => {
  const m = tinyManifest({ 'CT/head/normal': 4, 'CT/chest/nodule': 3, 'XR/chest/normal': 5 });
  const rows = Int32Array.from([0, 2, 4, 6, 8, 10]);
  const xy = new Float32Array(12).map((_, i) => i);
  const figs = mapFigures(m, rows, xy, { label: 'm1', prefix: 'tsne_m1' });
  assert.deepEqual(
    figs.map((f) => f.name),
    ['tsne_m1_modality', 'tsne_m1_region', 'tsne_m1_class'],
  );
  assert.deepEqual(
    figs[0].figure.data.map((t) => t.name),
    ['CT (4)', 'XR (2)'],
  );
  assert.deepEqual(
    figs[1].figure.data.map((t) => t.name),
    ['chest (4)', 'head (2)'],
  );
  assert.equal(figs[2].figure.data.length, 3);
  const hover = (figs[0].figure.data[0].hovertext as string[])[0];
  assert.match(hover, /CT\/head\/normal\/0\.png/);
  assert.match(hover, /class CT\/head\/normal/);
  assert.match(hover, /modality CT/);
  assert.match(figs[2].title, /m1 embeddings: 6 images, coloured by class/);
  assert.equal((figs[2].figure.layout.legend as { title: { text: string } }).title.text, 'class (images)');
});

test('t-SNE maps of a sample: titles say how many were sampled of how many, legends count sampled of all', () => {
  const m = tinyManifest({ 'CT/head/normal': 1500, 'CT/chest/nodule': 40, 'XR/chest/normal': 1458 });
  const all = Int32Array.from({ length: m.size }, (_, i) => i);
  const s = mapSample(m, all, 1024, 0);
  assert.equal(s.total, 2998);
  assert.equal(s.cap, balancedCap([1500, 40, 1458], 1024));
  assert.deepEqual(s.rows, sampleForMap(m, all, 1024, 0));
  const xy = new Float32Array(2 * s.rows.length);
  const figs = mapFigures(m, s.rows, xy, { label: 'm1', prefix: 'p', sample: { from: all, cap: s.cap } });
  const n = s.rows.length.toLocaleString('en-US');
  for (const f of figs)
    assert.match(f.title, new RegExp(`m1 embeddings: ${n} sampled of 2,998 images \\(≤ ${s.cap} per class\\)`));
  const byClass = figs.find((f) => f.name === 'p_class')!.figure;
  assert.deepEqual(
    byClass.data.map((t) => t.name),
    ['CT/chest/nodule (40 of 40)', `CT/head/normal (${s.cap} of 1500)`, `XR/chest/normal (${s.cap} of 1458)`],
  );
  assert.equal((byClass.layout.legend as { title: { text: string } }).title.text, 'class (sampled of all)');
  const byModality = figs.find((f) => f.name === 'p_modality')!.figure;
  assert.deepEqual(
    byModality.data.map((t) => t.name),
    [`CT (${s.cap + 40} of 1540)`, `XR (${s.cap} of 1458)`],
  );
});

test('single-modality data: no one-colour modality or region map, a note says why', () => {
  const m = tinyManifest({ 'MR/brain/normal': 9, 'MR/brain/glioma': 6 });
  const rows = Int32Array.from({ length: m.size }, (_, i) => i);
  const notes: string[] = [];
  const figs = mapFigures(m, rows, new Float32Array(2 * m.size), {
    label: 'm1',
    prefix: 'p',
    onNote: (x) => notes.push(x),
  });
  assert.deepEqual(
    figs.map((f) => f.name),
    ['p_class'],
  );
  assert.equal(notes.length, 2);
  assert.match(notes[0], /by modality left out: all 15 mapped images are MR/);
  assert.match(notes[1], /by region left out: all 15 mapped images are of the brain region/);
  // two regions of one modality: the region map stays
  const two = tinyManifest({ 'MR/brain/normal': 4, 'MR/knee/normal': 4 });
  const names = mapFigures(
    two,
    Int32Array.from({ length: 8 }, (_, i) => i),
    new Float32Array(16),
    {
      label: 'm1',
      prefix: 'p',
    },
  ).map((f) => f.name);
  assert.deepEqual(names, ['p_region', 'p_class']);
});

test('balanced sample for maps: small classes whole, large ones capped, at most maxPoints, seeded', () => {
  assert.equal(balancedCap([10, 1000, 5], 100), 85);
  assert.equal(balancedCap([10, 20], 100), 20);
  const m = tinyManifest({ 'CT/head/normal': 200, 'CT/head/bleed': 10, 'XR/chest/normal': 50 });
  const all = Int32Array.from({ length: m.size }, (_, i) => i);
  const s = sampleForMap(m, all, 100, 1);
  assert.ok(s.length <= 100 && s.length >= 95, `${s.length}`);
  const counts = new Int32Array(3);
  for (const r of s) counts[m.classIndex[r]]++;
  assert.equal(counts[1], 10, 'the small class is kept whole');
  assert.deepEqual(sampleForMap(m, all, 100, 1), s);
  assert.notDeepEqual(sampleForMap(m, all, 100, 2), s);
});

test('log ticks: 1-2-5 per decade, powers of ten for wide ranges', () => {
  assert.deepEqual(logTicks(3, 140), [5, 10, 20, 50, 100]);
  assert.deepEqual(logTicks(1, 1e6), [1, 10, 100, 1000, 10000, 100000, 1000000]);
  assert.deepEqual(logTicks(7, 8), [1, 10]);
});
