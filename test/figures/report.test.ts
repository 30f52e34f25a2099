import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { generatePhantom } from '../../src/workbench/data/phantom.js';
import { readManifest, type Manifest } from '../../src/workbench/data/manifest.js';
import { runReport } from '../../src/workbench/benchmark/report.js';
import { saveReport, openReport, addFigures } from '../../src/workbench/report/save.js';
import type { ReportData } from '../../src/workbench/report/types.js';
import { CbirError } from '../../src/workbench/errors.js';
import { writeFigures, findChromium, type PlotlyFigure } from '../../src/workbench/figures/index.js';
import { main } from '../../src/cli/main.js';
import { tempDir } from '../helpers/datasets.js';

// One small phantom report (two built-in models) shared by the tests below.
let tmp: { dir: string; cleanup: () => void };
let out: string;
let manifest: Manifest;
let saved: ReportData;

before(async () => {
  tmp = tempDir();
  const data = join(tmp.dir, 'data');
  await generatePhantom({ out: data, seed: 5, scale: 0.1, size: 32 });
  out = join(tmp.dir, 'report');
  const run = await runReport({
    data,
    models: ['tiny16', 'hog4x4x9'],
    workDir: join(out, 'work'),
    replicates: 50,
    probe: false,
    workers: 0,
  });
  saved = await saveReport(run, out, { figures: false });
  manifest = await readManifest(data);
});
after(() => tmp?.cleanup());

function withoutChromium<T>(fn: () => Promise<T>): Promise<T> {
  const saved = process.env.CBIR_CHROMIUM;
  process.env.CBIR_CHROMIUM = '';
  return fn().finally(() => {
    if (saved === undefined) delete process.env.CBIR_CHROMIUM;
    else process.env.CBIR_CHROMIUM = saved;
  });
}

test(
  'addFigures on a saved report: every figure as HTML + JSON, grids as PNG + HTML, recorded in report.json and summary.md (idempotent)',
  { timeout: 180_000 },
  async () => {
    const opts = { png: false as const, tsne: { maxPoints: 120, iterations: 250 }, grids: { perModality: 1 } };
    const rep = await addFigures(out, opts);
    const res = { figures: rep.figures!.files };
    assert.deepEqual((await openReport(out)).figures, rep.figures, 'report.json records the figures');
    for (const f of res.figures)
      for (const p of [f.html, f.json, f.png]) if (p) assert.ok(rep.files.includes(p), `${p} in files`);
    const names = res.figures.map((f) => f.name);
    for (const n of [
      'precision_at_n',
      'index_size',
      'per_class_p1_tiny16',
      'per_class_p1_hog4x4x9',
      'class_imbalance',
      'grid_tiny16',
      'grid_hog4x4x9',
    ])
      assert.ok(names.includes(n), `${n} missing from ${names.join(', ')}`);
    const tsne = names.filter((n) => n.startsWith('tsne_'));
    assert.equal(
      tsne.length,
      4,
      `t-SNE maps of the best model by modality, region, class and one modality: ${tsne.join(', ')}`,
    );
    for (const f of res.figures) {
      for (const p of [f.html, f.json, f.png]) if (p) assert.ok(existsSync(join(out, p)), `${p} missing`);
      assert.equal(
        f.png !== undefined,
        f.name.startsWith('grid_'),
        'png: false → only the grids (no browser needed) have PNGs',
      );
      if (f.json) {
        const spec = JSON.parse(readFileSync(join(out, f.json), 'utf8')) as PlotlyFigure;
        assert.ok(spec.data.length > 0 && spec.layout.width > 0, `${f.json} is a plotly figure`);
      }
    }
    // P@N curve data comes from precision_at_n.csv: 100 N per model.
    const pn = JSON.parse(readFileSync(join(out, 'figures/precision_at_n.json'), 'utf8')) as PlotlyFigure;
    const lines = pn.data.filter((t) => t.fill === undefined);
    assert.equal(lines.length, 4);
    assert.equal((lines[0].x as number[]).length, 100);
    const row1 = readFileSync(join(out, 'tiny16/precision_at_n.csv'), 'utf8').split('\n')[1].split(',');
    const tinyMicro = lines.find((t) => t.name === 'tiny16' && t.xaxis === 'x')!;
    assert.ok(Math.abs((tinyMicro.y as number[])[0] - Number(row1[1])) < 1e-5);
    // The grid has one row per modality with a test split, 7 tiles each.
    const grid = await sharp(join(out, 'figures/grid_tiny16.png')).metadata();
    assert.ok(
      grid.width! > 7 * 150 && grid.height! > manifest.modalities.length * 150,
      `${grid.width} × ${grid.height}`,
    );
    assert.equal(
      readFileSync(join(out, 'figures/grid_tiny16.html'), 'utf8').match(/<img /g)!.length,
      manifest.modalities.length * 7,
    );
    const html = readFileSync(join(out, 'figures/precision_at_n.html'), 'utf8');
    assert.doesNotMatch(html, /<script[^>]*\ssrc=/i);

    const summary1 = readFileSync(join(out, 'summary.md'), 'utf8');
    assert.equal(summary1.split('### Figures').length, 2);
    assert.ok(summary1.includes('[HTML](figures/precision_at_n.html)'));
    assert.ok(summary1.includes('[PNG](figures/grid_tiny16.png)'));
    assert.ok(summary1.startsWith('# radcbir benchmark report'), 'the report part is kept');
    await addFigures(out, { ...opts, tsne: false, grids: false });
    const summary2 = readFileSync(join(out, 'summary.md'), 'utf8');
    assert.equal(summary2.split('### Figures').length, 2, 'rerun replaces the section');
    assert.ok(!summary2.includes('figures/grid_tiny16.png'), 'the section lists the latest run');
    assert.equal(
      summary2.slice(0, summary2.indexOf('### Figures')),
      summary1.slice(0, summary1.indexOf('### Figures')),
    );
    assert.ok(!(await openReport(out)).files.includes('figures/grid_tiny16.png'), 'files follow the latest figures');
  },
);

test(
  'without Chromium: PNGs required → a CbirError naming apt-get install chromium; auto → HTML and a note',
  { timeout: 60_000 },
  async () => {
    await withoutChromium(async () => {
      await assert.rejects(
        writeFigures({ report: saved, manifest }, { png: true, tsne: false, grids: false }),
        (e: unknown) => e instanceof CbirError && /apt-get install chromium/.test(e.message),
      );
      const res = await writeFigures({ report: saved, manifest: null }, { tsne: false, grids: false });
      assert.ok(res.notes.some((n) => /Chromium not found.*apt-get install chromium/.test(n)));
      assert.ok(
        res.notes.some((n) => /manifest is not available/.test(n)),
        'without a manifest the data figures are skipped with a note',
      );
      assert.deepEqual(res.figures.map((f) => f.name).sort(), [
        'index_size',
        'per_class_p1_hog4x4x9',
        'per_class_p1_tiny16',
        'precision_at_n',
      ]);
      assert.ok(res.figures.every((f) => f.png === undefined));
      const viaDisk = await addFigures(out, { tsne: false, grids: false });
      assert.ok(viaDisk.figures!.notes.some((n) => /apt-get install chromium/.test(n)));
      assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /apt-get install chromium/);
    });
    await assert.rejects(
      writeFigures({ report: saved, manifest }, { models: ['nope'], png: false }),
      (e: unknown) => e instanceof CbirError && /model "nope" is not in the report/.test(e.message),
    );
  },
);

test(
  'cbir figures: HTML only, manifest found through report.json; a missing report is a clear error',
  { timeout: 60_000 },
  async () => {
    const logs: string[] = [];
    const log = console.log,
      err = console.error;
    console.log = (...a: unknown[]) => logs.push(a.join(' '));
    console.error = (...a: unknown[]) => logs.push(a.join(' '));
    try {
      assert.equal(await main(['figures', '--report', out, '--html', '--no-tsne', '--no-grids', '--shared-plotly']), 0);
      assert.equal(await main(['figures', '--report', join(out, 'nope')]), 1);
      assert.equal(await main(['figures', '--report', out, '--png', '--html']), 1);
    } finally {
      console.log = log;
      console.error = err;
    }
    assert.ok(existsSync(join(out, 'figures/class_imbalance.html')), 'the manifest came from report.json');
    assert.ok(logs.some((l) => /report folder not found/.test(l)));
    assert.ok(existsSync(join(out, 'figures/plotly.min.js')), '--shared-plotly copies the bundle once');
    const html = readFileSync(join(out, 'figures/class_imbalance.html'), 'utf8');
    assert.match(html, /<script src="plotly\.min\.js"><\/script>/);
    assert.ok(html.length < 100_000);
  },
);

test(
  "with Chromium: the report's PNGs have the figures' sizes and are not blank",
  {
    skip: findChromium() ? false : 'Chromium not installed (apt-get install chromium): report PNGs not tested',
    timeout: 120_000,
  },
  async () => {
    const res = await writeFigures({ report: saved, manifest }, { png: 'auto', tsne: false, grids: false });
    const pngs = res.figures.filter((f) => f.png);
    assert.equal(pngs.length, res.figures.length);
    for (const f of pngs) {
      const spec = JSON.parse(readFileSync(join(out, f.json!), 'utf8')) as PlotlyFigure;
      const { data, info } = await sharp(join(out, f.png!)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height], [spec.layout.width, spec.layout.height], f.name);
      let nonWhite = 0;
      for (let i = 0; i < data.length; i += 3) if (data[i] + data[i + 1] + data[i + 2] < 600) nonWhite++;
      assert.ok(nonWhite > 2000, `${f.name}: ${nonWhite} non-white pixels`);
    }
    assert.ok(readdirSync(join(out, 'figures')).filter((f) => f.endsWith('.png')).length >= pngs.length);
  },
);
