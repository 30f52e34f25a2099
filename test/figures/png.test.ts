import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import sharp from 'sharp';
import { CbirError } from '../../src/workbench/errors.js';
import { findChromium, requireChromium, renderPngs } from '../../src/workbench/figures/png.js';
import { precisionCurvesFigure, perClassFigure, type PlotlyFigure } from '../../src/workbench/figures/specs.js';
import { KIND_COLORS, hexToRgb } from '../../src/workbench/figures/colors.js';
import { tempDir } from '../helpers/datasets.js';

const chromium = findChromium();
const noChromium = chromium ? false : 'Chromium not installed (apt-get install chromium): PNG rendering not tested';

async function pixels(file: string) {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Pixel statistics: variance of the luminance and the number of distinct colours (quantised to 4 bits a channel). */
function stats(data: Buffer) {
  let s = 0,
    s2 = 0;
  const colours = new Set<number>();
  const n = data.length / 3;
  for (let i = 0; i < data.length; i += 3) {
    const l = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
    s += l;
    s2 += l * l;
    colours.add(((data[i] >> 4) << 8) | ((data[i + 1] >> 4) << 4) | (data[i + 2] >> 4));
  }
  return { variance: s2 / n - (s / n) ** 2, colours: colours.size };
}

function countNear(data: Buffer, rgb: [number, number, number], tol = 12): number {
  let k = 0;
  for (let i = 0; i < data.length; i += 3)
    if (
      Math.abs(data[i] - rgb[0]) <= tol &&
      Math.abs(data[i + 1] - rgb[1]) <= tol &&
      Math.abs(data[i + 2] - rgb[2]) <= tol
    )
      k++;
  return k;
}

test('without Chromium: a CbirError that says apt-get install chromium', () => {
  const saved = process.env.CBIR_CHROMIUM;
  try {
    process.env.CBIR_CHROMIUM = '';
    assert.equal(findChromium(), null);
    assert.throws(
      () => requireChromium(),
      (e: unknown) =>
        e instanceof CbirError && e.code === 'figures/no-chromium' && /apt-get install chromium/.test(e.message),
    );
    process.env.CBIR_CHROMIUM = '/nonexistent/chromium';
    assert.equal(findChromium(), null);
    assert.throws(
      () => requireChromium(),
      (e: unknown) => e instanceof CbirError && /\/nonexistent\/chromium/.test(e.message),
    );
  } finally {
    if (saved === undefined) delete process.env.CBIR_CHROMIUM;
    else process.env.CBIR_CHROMIUM = saved;
  }
});

test(
  "PNG via headless Chromium: requested size, not blank, the traces' colours drawn",
  { skip: noChromium, timeout: 120_000 },
  async () => {
    const { dir, cleanup } = tempDir();
    try {
      const bars: PlotlyFigure = {
        data: [{ type: 'bar', x: ['a', 'b', 'c'], y: [3, 1, 2], marker: { color: '#d62728' } }],
        layout: { width: 640, height: 400, title: { text: 'bars' } },
      };
      const N = Array.from({ length: 100 }, (_, i) => i + 1);
      const curves = precisionCurvesFigure([
        {
          model: 'm',
          n: N,
          micro: N.map((n) => 1 / n),
          microLo: N.map((n) => 0.8 / n),
          microHi: N.map(() => 1),
          macro: N.map((n) => 0.5 / n),
        },
      ]);
      const perClass = perClassFigure(
        [
          { className: 'A/a/normal', kind: 'anatomical', indexImages: 100, queries: 5, p1: 0.9 },
          { className: 'A/a/x', kind: 'pathological', indexImages: 10, queries: 5, p1: 0.2 },
        ],
        { model: 'm' },
      );
      const files = await renderPngs(
        [
          { figure: bars, file: join(dir, 'bars.png') },
          { figure: curves, file: join(dir, 'curves.png') },
          { figure: perClass, file: join(dir, 'per_class.png'), width: 500, height: 350 },
        ],
        { chromium: chromium! },
      );
      assert.equal(files.length, 3);

      const b = await pixels(join(dir, 'bars.png'));
      assert.deepEqual([b.width, b.height], [640, 400]);
      const sb = stats(b.data);
      assert.ok(sb.variance > 200, `luminance variance ${sb.variance.toFixed(1)}`);
      assert.ok(sb.colours >= 4, `${sb.colours} distinct colours`);
      assert.ok(countNear(b.data, [0xd6, 0x27, 0x28]) > 5000, 'the red bars are drawn');

      const c = await pixels(join(dir, 'curves.png'));
      assert.deepEqual([c.width, c.height], [curves.layout.width, curves.layout.height]);
      const sc = stats(c.data);
      assert.ok(sc.variance > 50 && sc.colours >= 6, `variance ${sc.variance.toFixed(1)}, ${sc.colours} colours`);

      const p = await pixels(join(dir, 'per_class.png'));
      assert.deepEqual([p.width, p.height], [500, 350], 'the job size overrides the layout size');
      // Markers are drawn at opacity 0.85 over white.
      const onWhite = (hex: string) =>
        hexToRgb(hex).map((v) => Math.round(0.85 * v + 0.15 * 255)) as [number, number, number];
      assert.ok(countNear(p.data, onWhite(KIND_COLORS.anatomical), 10) > 20, 'anatomical marker drawn in its colour');
      assert.ok(
        countNear(p.data, onWhite(KIND_COLORS.pathological), 10) > 20,
        'pathological marker drawn in its colour',
      );
    } finally {
      cleanup();
    }
  },
);

test('a size that cannot be drawn is an error naming the output file (before any browser starts)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const bad: PlotlyFigure = { data: [], layout: { width: 0, height: 100 } };
    await assert.rejects(
      renderPngs([{ figure: bad, file: join(dir, 'bad.png') }], { chromium: '/nonexistent/chromium' }),
      (e: unknown) => e instanceof CbirError && /bad\.png/.test(e.message) && /0 × 100/.test(e.message),
    );
  } finally {
    cleanup();
  }
});
