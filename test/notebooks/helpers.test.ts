import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePhantom } from '../../src/workbench/data/phantom.js';
import { exportH5 } from '../../src/workbench/embeddings/index.js';
import {
  tableHtml,
  holmAdjust,
  spearman,
  compareReported,
  table5StudyLayout,
  notebookReport,
  pairwiseComparison,
  lineFigure,
  intervalFigure,
  openData,
} from '../../src/workbench/notebook.js';
import type { Table } from '../../src/workbench/tables/write.js';
import { PROJECT_ROOT, tempDir } from '../helpers/datasets.js';

const NOTEBOOKS = join(PROJECT_ROOT, 'notebooks');
const EXPECTED = [
  '00_quickstart',
  '01_retrieval_tables',
  '02_embedding_quality',
  '03_index_size',
  '04_embedding_space',
  '05_query_grids',
  '06_per_class_and_imbalance',
  '07_model_comparison',
];

interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: unknown[];
  execution_count?: number | null;
  metadata?: { tags?: string[] };
}
const text = (s: string | string[]) => (Array.isArray(s) ? s.join('') : s);

test('committed notebooks: the expected set, tslab kernel, no outputs, markdown intro then a parameters cell', () => {
  const names = readdirSync(NOTEBOOKS)
    .filter((f) => f.endsWith('.ipynb'))
    .map((f) => f.replace(/\.ipynb$/, ''))
    .sort();
  assert.deepEqual(names, EXPECTED);
  for (const name of names) {
    const file = join(NOTEBOOKS, `${name}.ipynb`);
    const nb = JSON.parse(readFileSync(file, 'utf8')) as {
      nbformat: number;
      metadata: { kernelspec: { name: string } };
      cells: Cell[];
    };
    assert.equal(nb.nbformat, 4, file);
    assert.equal(nb.metadata.kernelspec.name, 'tslab', file);
    assert.equal(nb.cells[0].cell_type, 'markdown', `${file}: starts with an explanation`);
    const code = nb.cells.filter((c) => c.cell_type === 'code');
    assert.ok(code.length >= 4, file);
    assert.ok(code[0].metadata?.tags?.includes('parameters'), `${file}: first code cell is tagged "parameters"`);
    assert.match(text(code[0].source), /^\/\/ Parameters/, `${file}: first code cell holds the parameters`);
    assert.match(
      text(code[1].source),
      /require\('\.\/_setup\.cjs'\)\.load\(\)/,
      `${file}: second code cell loads the core`,
    );
    for (const c of code) {
      assert.deepEqual(c.outputs, [], `${file}: committed without outputs`);
      assert.equal(c.execution_count, null, file);
    }
  }
});

test('tableHtml: escapes text, right-aligns numbers, bolds the best value among the highlighted rows only', () => {
  const t: Table = {
    title: 'T <1>',
    columns: ['model', 'p1', 'n', 'f1'],
    rows: [
      ['a&b', 0.5, 10, 0.25],
      ['c', 0.75, 3, 0.125],
      ['queries', 99, 99, 0.99],
    ],
    notes: ['x < y'],
  };
  const html = tableHtml(t, { highlight: ['a&b', 'c'] });
  assert.match(html, /<caption[^>]*>T &lt;1&gt;<\/caption>/);
  assert.match(html, />a&amp;b</);
  assert.match(html, /<b>0\.750<\/b>/);
  assert.match(html, /<b>0\.250<\/b>/);
  assert.doesNotMatch(html, /<b>10<\/b>/, 'whole-number columns (counts, k) are not ranked');
  assert.doesNotMatch(html, /<b>0\.990<\/b>/, 'rows outside the highlight list are not compared');
  assert.doesNotMatch(html, /<b>0\.500<\/b>/);
  assert.match(html, /text-align:right">0\.500/);
  assert.match(html, /x &lt; y/);
  const only = tableHtml(t, { columns: ['n'], caption: false });
  assert.doesNotMatch(only, /0\.500|caption/);
  assert.match(only, />10</);
});

test('holmAdjust matches the step-down formula (statsmodels multipletests "holm" values)', () => {
  // p = [0.01, 0.04, 0.03, 0.005], m = 4: sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.06
  const adj = holmAdjust([0.01, 0.04, 0.03, 0.005]);
  const expected = [0.03, 0.06, 0.06, 0.02];
  adj.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-12, `${i}: ${v}`));
  assert.deepEqual(Array.from(holmAdjust([0.9, 0.8])), [1, 1]);
});

test('spearman: monotone → 1, reversed → −1, ties get average ranks, constant → NaN', () => {
  assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 1000]), 1);
  assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  // x ranks [1, 2.5, 2.5, 4], y ranks [1, 2, 3, 4]: Pearson = 4.5 / sqrt(4.5 · 5)
  assert.ok(Math.abs(spearman([1, 2, 2, 3], [1, 2, 3, 4]) - 4.5 / Math.sqrt(4.5 * 5)) < 1e-12);
  assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])));
  assert.throws(() => spearman([1], [1, 2]), /x has 1 values, y 2/);
});

test('compareReported pairs rows by study name and column; table5StudyLayout maps knn / linear_probe rows', () => {
  const mine: Table = {
    title: 'T3',
    columns: ['model', 'micro_p1', 'macro_p1', 'queries'],
    rows: [
      ['resnet50', 0.6, 0.25, 10],
      ['hog4x4x9', 0.5, 0.2, 10],
    ],
  };
  const theirs: Table = {
    title: 'R',
    columns: ['model', 'group', 'micro_p1', 'macro_p1'],
    rows: [['ResNet', 'off-the-shelf', 0.539, 0.203]],
  };
  const cmp = compareReported(mine, theirs, new Map([['resnet50', 'ResNet']]))!;
  assert.deepEqual(
    cmp.rows.map((r) => r.slice(0, 5)),
    [
      ['resnet50', 'ResNet', 'micro_p1', 0.6, 0.539],
      ['resnet50', 'ResNet', 'macro_p1', 0.25, 0.203],
    ],
  );
  assert.ok(Math.abs((cmp.rows[0][5] as number) - 0.061) < 1e-12);
  assert.equal(compareReported(mine, theirs, new Map()), null);

  const t5: Table = {
    title: 'T5',
    columns: [
      'model',
      'method',
      'k_or_epoch',
      'micro_auroc',
      'macro_auroc',
      'micro_auprc',
      'macro_auprc',
      'micro_f1',
      'macro_f1',
      'macro_precision',
      'macro_recall',
      'accuracy',
    ],
    rows: [
      ['m', 'knn', 3, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.5],
      ['m', 'linear_probe', 7, 0.91, 0.81, 0.71, 0.61, 0.51, 0.41, 0.31, 0.21, 0.51],
    ],
  };
  const s = table5StudyLayout(t5);
  assert.deepEqual(s.columns.slice(1, 5), ['knn_micro_aurpc', 'knn_micro_f1', 'knn_macro_aurpc', 'knn_macro_f1']);
  assert.deepEqual(s.rows, [['m', 0.9, 0.5, 0.8, 0.4, 0.91, 0.51, 0.81, 0.41]]);
});

test('figure helpers: line and interval specs carry the data and stay JSON', () => {
  const f = lineFigure([{ name: 'a', x: [1, 2], y: new Float64Array([0.5, NaN]) }], {
    title: 'T',
    xTitle: 'x',
    yTitle: 'y',
    marker: [{ x: 1, y: 0.5, text: 'best' }],
  });
  assert.equal(f.data.length, 2);
  assert.deepEqual(f.data[0].y, [0.5, null]);
  const g = intervalFigure([{ name: 'm', value: 0.5, lo: 0.4, hi: 0.7 }], { title: 'T', xTitle: 'P@1' });
  const e = g.data[0].error_x as { array: number[]; arrayminus: number[] };
  assert.ok(Math.abs(e.array[0] - 0.2) < 1e-12 && Math.abs(e.arrayminus[0] - 0.1) < 1e-12);
  assert.doesNotThrow(() => JSON.stringify([f, g]));
});

test("notebookReport: a model id, the same embeddings through the study's HDF5 layout, pairwise tests, errors", async () => {
  const tmp = tempDir();
  try {
    const manifest = await generatePhantom({ out: join(tmp.dir, 'phantom'), scale: 0.15 });
    const common = {
      data: manifest,
      work: join(tmp.dir, 'work'),
      replicates: 50,
      probe: false as const,
      indexSize: false as const,
    };
    const a = await notebookReport({ ...common, models: ['hog4x4x9', 'tiny16'], out: join(tmp.dir, 'a') });
    assert.deepEqual(
      a.evaluations.map((e) => e.modelId),
      ['hog4x4x9', 'tiny16'],
    );
    assert.equal(a.saved.figures, null, 'notebooks draw figures inline, no figure files by default');
    assert.equal(a.saved.models[1].store.source, 'embedded');
    assert.ok(a.tables.table3_retrieval.rows.filter((r) => r[0] !== 'chance').length === 2 && a.tables.comparison);

    // the hog store exported as the study's <model>/<dataset>.h5 files and evaluated from there
    const h5 = join(tmp.dir, 'h5', 'hog4x4x9');
    await exportH5({ manifest, store: a.stores.hog4x4x9, out: h5 });
    const b = await notebookReport({ ...common, models: ['tiny16'], embeddings: [h5], out: join(tmp.dir, 'b') });
    assert.deepEqual(
      b.evaluations.map((e) => e.modelId),
      ['tiny16', 'hog4x4x9'],
    );
    const ea = a.evaluations[0],
      eb = b.evaluations[1];
    assert.deepEqual(Array.from(eb.precision.micro), Array.from(ea.precision.micro), 'same vectors, same P@N');
    assert.deepEqual(Array.from(eb.precision.macro), Array.from(ea.precision.macro));
    for (const name of [
      'table3_retrieval',
      'table4_modality',
      'table9_anatomy_pathology',
      'table10_dataset',
      'table5_embedding_quality',
      'per_class_p1',
      'comparison',
    ]) {
      assert.ok(b.tables[name], `${name} built for stores too`);
      assert.ok(readFileSync(join(tmp.dir, 'b', `${name}.csv`), 'utf8').length > 0);
    }
    const hogRow = (t: Table) => t.rows.find((r) => r[0] === 'hog4x4x9');
    assert.deepEqual(hogRow(b.tables.table4_modality), hogRow(a.tables.table4_modality));
    assert.deepEqual(hogRow(b.tables.table9_anatomy_pathology), hogRow(a.tables.table9_anatomy_pathology));
    assert.deepEqual(
      b.tables.table9_anatomy_pathology.rows.slice(0, 2),
      a.tables.table9_anatomy_pathology.rows.slice(0, 2),
      'class and sample counts',
    );

    const pw = pairwiseComparison(a.evaluations, { average: 'macro', replicates: 50, permutations: 200 });
    assert.equal(pw.rows.length, 1);
    const [ma, mb, diff] = pw.rows[0] as [string, string, number];
    const val = (id: string) => a.evaluations.find((e) => e.modelId === id)!.precision.macro[0];
    assert.ok(val(ma) >= val(mb), 'A is the better model of the pair');
    assert.ok(Math.abs(diff - (val(ma) - val(mb))) < 1e-9);
    assert.ok((pw.rows[0][6] as number) >= (pw.rows[0][5] as number), 'Holm never lowers a p-value');

    await assert.rejects(
      notebookReport({ ...common, models: ['hog4x4x9'], embeddings: [h5], out: join(tmp.dir, 'c') }),
      /model "hog4x4x9" is given twice/,
    );
    await assert.rejects(
      notebookReport({ ...common, embeddings: [join(tmp.dir, 'nothing')], out: join(tmp.dir, 'd') }),
      (e: Error & { file?: string; hint?: string }) =>
        e.file === join(tmp.dir, 'nothing') && /meta\.json/.test(e.message) && !!e.hint,
    );
    await assert.rejects(notebookReport({ ...common, out: join(tmp.dir, 'e') }), /no models and no embeddings/);
    await assert.rejects(
      openData(join(tmp.dir, 'missing')),
      (e: Error & { hint?: string }) => /dataset not found/.test(e.message) && /phantom/.test(e.hint ?? ''),
    );
  } finally {
    tmp.cleanup();
  }
});
