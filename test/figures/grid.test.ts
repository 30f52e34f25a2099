import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Manifest, classInfoFromName, type ManifestEntry, type Split } from '../../src/workbench/data/manifest.js';
import { writeEmbeddings } from '../../src/workbench/embeddings/store.js';
import { CbirError } from '../../src/workbench/errors.js';
import {
  renderQueryGrid,
  gridLayout,
  chooseGridQueries,
  gridQueriesFromTable,
  gridQueriesFromKnnCsv,
  addSimilarities,
  fitText,
} from '../../src/workbench/figures/grid.js';
import { GRID_COLORS, hexToRgb } from '../../src/workbench/figures/colors.js';
import { tempDir } from '../helpers/datasets.js';

/** 12 flat grey images (value 20·i + 10) in 3 classes over 2 modalities; rows 0-5 test, 6-11 train. */
async function fixture(dir: string): Promise<Manifest> {
  const classes = ['CT/head/normal', 'CT/head/bleed', 'XR/chest/normal'];
  const entries: ManifestEntry[] = [];
  mkdirSync(join(dir, 'img'), { recursive: true });
  for (let i = 0; i < 12; i++) {
    const className = classes[i % 3];
    const file = `img/${i}.png`;
    const v = 20 * i + 10;
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: v, g: v, b: v } } })
      .png()
      .toFile(join(dir, file));
    const split: Split = i < 6 ? 'test' : 'train';
    entries.push({
      filepath: file,
      dataset: 'd',
      split,
      modality: className.split('/')[0],
      anatomicRegion: className.split('/')[1],
      className,
    });
  }
  return Manifest.fromEntries(
    entries,
    classes.map((c) => classInfoFromName(c)),
    { dir, imagesRoot: dir },
  );
}

const near = (px: number[], rgb: [number, number, number], tol = 8) => px.every((v, c) => Math.abs(v - rgb[c]) <= tol);

test('grid PNG: size as laid out, query frame orange, matches green or red by class, images in place', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const m = await fixture(dir);
    // Query 0 (CT/head/normal): neighbours 6 (same class), 7 (bleed), 9 (same), 8 (XR), then none.
    // Query 4 (CT/head/bleed): 7 (same), 10 (same), 6, 11, 9, 8.
    const table = {
      k: 6,
      queryRows: Int32Array.from([0, 4]),
      ids: Int32Array.from([6, 7, 9, 8, -1, -1, 7, 10, 6, 11, 9, 8]),
      sims: Float32Array.from([0.99, 0.9, 0.8, 0.7, -Infinity, -Infinity, 0.95, 0.94, 0.5, 0.4, 0.3, 0.2]),
    };
    const queries = gridQueriesFromTable(table, [4, 0]);
    assert.deepEqual(Array.from(queries[0].neighbours), [7, 10, 6, 11, 9, 8]);
    const grid = await renderQueryGrid(m, queries, { tile: 64, frame: 6, title: 'test grid' });
    const { data, info } = await sharp(grid.png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [grid.layout.width, grid.layout.height]);
    assert.equal(grid.layout.width, 2 * 16 + 7 * 76 + 6 * 12);
    const px = (x: number, y: number) => {
      const o = (Math.round(y) * info.width + Math.round(x)) * info.channels;
      return [data[o], data[o + 1], data[o + 2]];
    };

    const expected: Record<string, string[]> = {
      '0': ['query', 'match', 'match', 'mismatch', 'mismatch', 'mismatch', 'mismatch'],
      '1': ['query', 'match', 'mismatch', 'match', 'mismatch', 'empty', 'empty'],
    };
    assert.equal(grid.layout.cells.length, 14);
    for (const cell of grid.layout.cells) {
      assert.equal(cell.frame, expected[cell.line][cell.column], `line ${cell.line} column ${cell.column}`);
      if (cell.frame === 'empty') continue;
      const colour = hexToRgb(GRID_COLORS[cell.frame]);
      // Middle of the left and top frame bars, and the image centre.
      assert.ok(
        near(px(cell.x + 3, cell.y + cell.size / 2), colour),
        `left frame of line ${cell.line} col ${cell.column}: ${px(cell.x + 3, cell.y + cell.size / 2)}`,
      );
      assert.ok(
        near(px(cell.x + cell.size / 2, cell.y + 3), colour),
        `top frame of line ${cell.line} col ${cell.column}`,
      );
      const v = 20 * cell.row + 10;
      assert.ok(
        near(px(cell.x + cell.size / 2, cell.y + cell.size / 2), [v, v, v], 3),
        `image of row ${cell.row} at line ${cell.line} col ${cell.column}`,
      );
    }
    // Distinct colours really are distinct.
    assert.ok(!near(hexToRgb(GRID_COLORS.query), hexToRgb(GRID_COLORS.mismatch), 60));
    // Captions: the SVG overlay drew dark text under the first tile.
    const c0 = grid.layout.cells[0];
    let dark = 0;
    for (let y = c0.y + c0.size + 2; y < c0.y + c0.size + 34; y++)
      for (let x = c0.x; x < c0.x + c0.size; x++) if (px(x, y)[0] < 100) dark++;
    assert.ok(dark > 30, `caption pixels: ${dark}`);
    assert.deepEqual(grid.warnings, []);

    // HTML: images as data URIs, frames coloured, similarity shown.
    assert.equal(grid.html.match(/<img src="data:image\/png;base64,/g)!.length, 12);
    assert.doesNotMatch(grid.html, /src="(https?:|file:)/);
    assert.ok(grid.html.includes(`border-color:${GRID_COLORS.query}`));
    assert.ok(grid.html.includes('sim 0.9500'), 'similarities with 4 decimals');
    assert.ok(grid.html.includes('CT/head/bleed'));
  } finally {
    cleanup();
  }
});

test('grid: an unreadable image becomes a grey tile and a warning; rows outside the manifest are errors', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const m = await fixture(dir);
    writeFileSync(join(dir, 'img/6.png'), 'not a png');
    const grid = await renderQueryGrid(m, [{ query: 0, neighbours: [6, 9] }], { matches: 2, tile: 32 });
    assert.equal(grid.warnings.length, 1);
    assert.match(grid.warnings[0], /img\/6\.png/);
    assert.throws(
      () => gridLayout(m, [{ query: 0, neighbours: [99] }]),
      (e: unknown) => e instanceof CbirError && /neighbour row 99/.test(e.message),
    );
    assert.throws(() => gridLayout(m, []), CbirError);
  } finally {
    cleanup();
  }
});

test('default queries: per modality, seeded, distinct classes first', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const m = await fixture(dir);
    const test = m.indicesOf('test');
    const q = chooseGridQueries(m, test, { perModality: 2, seed: 1 });
    assert.equal(q.length, 4);
    assert.deepEqual(
      Array.from(q.slice(0, 2), (r) => m.modalities[m.modalityIndex[r]]),
      ['CT', 'CT'],
    );
    assert.notEqual(m.classIndex[q[0]], m.classIndex[q[1]], 'two CT classes → one query of each');
    assert.deepEqual(
      Array.from(q.slice(2), (r) => m.classes[m.classIndex[r]].name),
      ['XR/chest/normal', 'XR/chest/normal'],
    );
    assert.deepEqual(chooseGridQueries(m, test, { perModality: 2, seed: 1 }), q);
    for (const r of q) assert.ok(test.includes(r));
  } finally {
    cleanup();
  }
});

test('grid rows from knn.csv (streamed) and similarities from the embedding store', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const m = await fixture(dir);
    const knn = join(dir, 'knn.csv');
    writeFileSync(
      knn,
      [
        'query,1,2,3',
        'img/0.png,img/6.png,img/9.png,img/7.png',
        'img/1.png,img/7.png,,img/8.png',
        'img/2.png,img/8.png,img/11.png,img/6.png',
        '',
      ].join('\n'),
    );
    const rows = await gridQueriesFromKnnCsv(knn, m, [2, 0], 6);
    assert.deepEqual(
      rows.map((r) => r.query),
      [2, 0],
    );
    assert.deepEqual(Array.from(rows[1].neighbours), [6, 9, 7]);
    assert.ok(Number.isNaN(rows[0].sims![0]));
    const gap = await gridQueriesFromKnnCsv(knn, m, [1]);
    assert.deepEqual(Array.from(gap[0].neighbours), [7, -1, 8]);

    // Unit vectors in 2-D at angle 0.1·i: cos of the difference is the similarity.
    const dim = 2;
    const vectors = new Float32Array(12 * dim);
    for (let i = 0; i < 12; i++) {
      vectors[2 * i] = Math.cos(0.1 * i);
      vectors[2 * i + 1] = Math.sin(0.1 * i);
    }
    const store = join(dir, 'store');
    await writeEmbeddings(store, vectors, m.filepaths, dim, { modelId: 't', fingerprint: 'f', manifestHash: m.hash });
    const withSims = await addSimilarities(rows, m, { dir: store, dim, ids: m.filepaths });
    const expected = [6, 9, 7].map((r) => Math.cos(0.1 * r));
    Array.from(withSims[1].sims!).forEach((s, j) =>
      assert.ok(Math.abs(s - expected[j]) < 1e-6, `sim ${s} vs ${expected[j]}`),
    );

    writeFileSync(knn, 'query,1\nimg/0.png,img/missing.png\n');
    await assert.rejects(
      gridQueriesFromKnnCsv(knn, m, [0]),
      (e: unknown) => e instanceof CbirError && e.row === 2 && /img\/missing\.png/.test(e.message),
    );
    writeFileSync(knn, 'q,1\n');
    await assert.rejects(gridQueriesFromKnnCsv(knn, m, [0]), (e: unknown) => e instanceof CbirError && e.row === 1);
    writeFileSync(knn, 'query,1\nimg/1.png,img/6.png\n');
    await assert.rejects(
      gridQueriesFromKnnCsv(knn, m, [0]),
      (e: unknown) => e instanceof CbirError && /not in knn\.csv/.test(e.message),
    );
  } finally {
    cleanup();
  }
});

test('captions are shortened to the tile width', () => {
  assert.equal(fitText('short', 100, 10), 'short');
  const long = fitText('MR/brain/a_very_long_label_name', 60, 10);
  assert.equal(long.length, 10);
  assert.ok(long.endsWith('…'));
});

test('grid: a query of unknown class (a user image) frames its matches grey, neither ✓ nor ✗, and says so', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const m = await fixture(dir);
    const grid = await renderQueryGrid(m, [{ query: 0, neighbours: [6, 7], unlabelled: true }], {
      matches: 2,
      tile: 32,
    });
    assert.deepEqual(
      grid.layout.cells.map((c) => c.frame),
      ['query', 'neutral', 'neutral'],
    );
    assert.equal(grid.layout.cells[0].className, 'unknown class');
    const { data, info } = await sharp(grid.png).raw().toBuffer({ resolveWithObject: true });
    const c = grid.layout.cells[2];
    const o = (Math.round(c.y + c.size / 2) * info.width + Math.round(c.x + 2)) * info.channels;
    assert.ok(near([data[o], data[o + 1], data[o + 2]], hexToRgb(GRID_COLORS.neutral)), 'grey frame');
    assert.ok(grid.html.includes('query class unknown'));
    assert.ok(!grid.html.includes(`border-color:${GRID_COLORS.mismatch}`));
    // The same neighbours with a known query class are judged.
    const judged = await renderQueryGrid(m, [{ query: 0, neighbours: [6, 7] }], { matches: 2, tile: 32 });
    assert.deepEqual(
      judged.layout.cells.map((x) => x.frame),
      ['query', 'match', 'mismatch'],
    );
    assert.ok(!judged.html.includes('query class unknown'));
  } finally {
    cleanup();
  }
});
