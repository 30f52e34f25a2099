import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestCells, buildView, formatValue } from '../../src/tui/views.js';
import { columnWidths, scrollOffset, truncate, truncateLeft, visibleColumns } from '../../src/tui/layout.js';
import { initialRunState, reduceRun, reportCommand, type RunMessage } from '../../src/tui/runner.js';
import type { ProgressEvent } from '../../src/workbench/index.js';
import { freshOut, refusal, TUI_DEFAULT_MODELS } from '../../src/tui/main.js';
import { grayColor, imageMode, renderGray } from '../../src/tui/image.js';
import { DEFAULT_MODELS } from '../../src/cli/commands/start.js';
import { modelIds } from '../../src/tui/report.js';
import { fixtureReport } from './fixtures.js';

test('bestCells marks the largest value per column, all ties, per group, skipping ineligible rows and NaN', () => {
  const rows = [
    ['a', 0.5, 3, NaN],
    ['b', 0.7, 3, 0.1],
    ['c', 0.7, 1, null],
    ['count', 99, 99, 99],
  ];
  const best = bestCells(rows, [1, 2, 3], (r) => r < 3);
  assert.deepEqual([...best].sort(), ['0,2', '1,1', '1,2', '1,3', '2,1']);
  const grouped = bestCells(
    [
      ['a', 'x', 1],
      ['b', 'y', 0.2],
      ['c', 'x', 2],
    ],
    [2],
    () => true,
    (r) => ['x', 'y', 'x'][r],
  );
  assert.deepEqual([...grouped].sort(), ['1,2', '2,2']);
});

test('overall view: P@1/3/5/10 micro and macro from Table 3, best marked, intervals from precision_at_n', () => {
  const r = fixtureReport();
  const v = buildView(r, 'overall');
  assert.deepEqual(v.labels, ['model', 'P@1', 'P@3', 'P@5', 'P@10', 'P@1', 'P@3', 'P@5', 'P@10']);
  assert.deepEqual(v.groups.slice(1), ['micro', 'micro', 'micro', 'micro', 'macro', 'macro', 'macro', 'macro']);
  const cell = (model: string, c: number) => v.rows[modelIds(r).indexOf(model)].cells[c];
  assert.equal(cell('beta', 1).text, '0.720');
  assert.equal(cell('beta', 1).best, true);
  assert.equal(cell('alpha', 1).best, false);
  // tie on micro P@5: both marked
  assert.equal(cell('alpha', 3).best, true);
  assert.equal(cell('beta', 3).best, true);
  assert.equal(cell('alpha', 5).best, true); // macro P@1 0.45 > 0.44
  assert.match(v.detail(1, 1), /beta · micro P@1 = 0\.720 · 95 % CI 0\.670–0\.760/);
  assert.match(v.detail(0, 7), /alpha · macro P@5 = 0\.380 · 95 % CI 0\.320–0\.430/);
  // export keeps full numbers and the report's column names
  assert.deepEqual(v.table.columns, [
    'model',
    'micro_p1',
    'micro_p3',
    'micro_p5',
    'micro_p10',
    'macro_p1',
    'macro_p3',
    'macro_p5',
    'macro_p10',
  ]);
  assert.deepEqual(v.table.rows[1], ['beta', 0.72, 0.6, 0.52, 0.49, 0.44, 0.41, 0.37, 0.36]);

  const ci = buildView(r, 'overall', { overallMode: 'micro' });
  assert.deepEqual(ci.labels, ['model', 'P@1', '95 % CI', 'P@3', '95 % CI', 'P@5', '95 % CI', 'P@10', '95 % CI']);
  assert.equal(ci.rows[1].cells[2].text, '0.67–0.76');
  assert.equal(ci.rows[1].cells[1].best, true);
  assert.deepEqual(ci.table.columns.slice(0, 4), ['model', 'micro_p1', 'micro_p1_lo', 'micro_p1_hi']);
  assert.ok(Math.abs((ci.table.rows[0][3] as number) - 0.65) < 1e-12);
});

test('group views: count rows are never best and show as integers; labels drop the micro_p1_ prefix', () => {
  const r = fixtureReport();
  const v = buildView(r, 'modality');
  assert.deepEqual(v.labels, ['model', 'CT', 'MR', 'avg', 'CT', 'MR', 'avg']);
  assert.deepEqual(v.groups, ['', 'micro P@1', 'micro P@1', 'micro P@1', 'macro P@1', 'macro P@1', 'macro P@1']);
  const q = v.rows[3];
  assert.equal(q.meta, true);
  assert.equal(q.cells[1].text, '100');
  assert.ok(q.cells.every((c) => !c.best));
  assert.equal(v.rows[1].cells[1].best, true);
  assert.match(v.detail(1, 2), /beta · micro P@1 on MR = 0\.640 · 100 queries/);

  const a = buildView(r, 'anatomy');
  assert.deepEqual(a.labels, ['model', 'anat', 'path', 'anat', 'path', 'anat', 'path', 'both']);
  assert.deepEqual(a.groups, ['', 'CT', 'CT', 'MR', 'MR', 'all', 'all', 'all']);
  assert.equal(a.rows[0].meta, true);
  assert.equal(a.rows[3].cells[7].best, true);
  assert.match(a.detail(3, 2), /beta · CT_path = 0\.650 · 3 classes, 40 queries/);

  const k = buildView(r, 'quality');
  // best per method: alpha's probe AUROC micro (0.92) is best among probes though beta's knn has 0.93
  const probeAlpha = k.rows[1];
  assert.equal(probeAlpha.cells[3].best, true);
  assert.equal(k.rows[2].cells[3].best, true);
  assert.equal(k.rows[0].cells[3].best, false);
  assert.equal(k.rows[2].cells[2].best, false, 'k is not a score');

  const p = buildView(r, 'paired');
  assert.deepEqual(p.labels.slice(6), ['p', 'p Holm', 'n≠', 'sig']);
  assert.equal(p.rows[0].cells[9].text, 'yes');
  assert.equal(p.rows[0].cells[4].flag, true);
  assert.equal(p.rows[1].cells[4].flag, false);
  assert.equal(p.rows[2].cells[6].text, '<0.001');
  assert.equal(p.rows[0].cells[7].text, '0.006', 'the Holm-adjusted p, which decides "significant"');
  assert.equal(p.rows[0].cells[7].flag, true);
  assert.match(p.detail(0, 0), /p = 0\.002, Holm 0\.006: significant/);
  assert.equal(p.rows[1].cells[5].text, '[-0.070, 0.050]');
});

test('views of a report without a table say why instead of showing an empty table', () => {
  const r = fixtureReport();
  delete r.tables.comparison;
  r.models = r.models.slice(0, 1);
  assert.match(buildView(r, 'paired').empty ?? '', /two or more models/);
});

test('layout: columns that fit keep the cursor visible, rows scroll, text is cut with …', () => {
  const widths = [10, 7, 7, 7, 7, 7, 7];
  assert.deepEqual(visibleColumns(widths, 40, 1, 1), { start: 1, end: 5 });
  assert.deepEqual(visibleColumns(widths, 40, 6, 1), { start: 3, end: 7 });
  assert.deepEqual(visibleColumns(widths, 200, 6, 4), { start: 1, end: 7 });
  assert.equal(scrollOffset(100, 10, 55, 0), 46);
  assert.equal(scrollOffset(100, 10, 3, 46), 3);
  assert.equal(scrollOffset(5, 10, 4, 2), 0);
  assert.equal(truncate('abcdef', 4), 'abc…');
  assert.equal(truncateLeft('images/CT/x.png', 8), '…T/x.png');
  assert.deepEqual(
    columnWidths(
      { labels: ['model', 'P@1'], rows: [{ cells: [{ text: 'a-very-long-model-name' }, { text: '0.500' }] }] },
      12,
    ),
    [12, 6],
  );
  assert.equal(formatValue(NaN), 'n/a');
  assert.equal(formatValue(null), '');
  assert.equal(formatValue(0.12345), '0.123');
});

test('reduceRun attributes progress by step and model, keeps the embedding rate, finishes', () => {
  const ev = (e: Partial<ProgressEvent> & { phase: string }): RunMessage => ({
    type: 'progress',
    event: { done: 1, total: 10, rate: 1, etaSeconds: 9, unit: 'items', ...e },
  });
  let s = initialRunState({ data: null, models: ['m1', 'm2'], out: '/o' }, 0);
  assert.deepEqual(
    s.models.map((m) => m.status),
    ['waiting', 'waiting'],
  );
  s = reduceRun(s, ev({ step: 'data', phase: 'phantom', done: 5, total: 50, unit: 'images' }));
  assert.equal(s.dataProgress?.done, 5);
  assert.equal(s.current, -1, 'making the dataset is no model');
  s = reduceRun(
    s,
    ev({ step: 'embed', model: 'm1', phase: 'embed m1', done: 10, total: 100, rate: 50, unit: 'images' }),
  );
  assert.equal(s.current, 0);
  assert.equal(s.models[0].status, 'running');
  assert.equal(s.models[0].step, 'embed');
  s = reduceRun(s, ev({ step: 'knn', model: 'm1', phase: 'knn search (exact)', done: 5, total: 20, rate: 100 }));
  assert.equal(s.models[0].phase, 'knn search (exact)');
  assert.equal(s.models[0].embedRate, 50);
  // embeddings reused: no embed event; m2's first event (k-NN) makes it current
  s = reduceRun(s, ev({ step: 'knn', model: 'm2', phase: 'knn search (exact)', done: 1, total: 20 }));
  assert.deepEqual(
    s.models.map((m) => m.status),
    ['done', 'running'],
  );
  s = reduceRun(s, ev({ step: 'probe', model: 'm2', phase: 'linear probe', done: 3, total: 10, unit: 'epochs' }));
  assert.equal(s.models[1].phase, 'linear probe');
  assert.equal(s.models[0].phase, 'knn search (exact)');
  assert.equal(s.models[1].embedRate, null, 'no embed step for m2');
  // an event of no model belongs to the current one
  s = reduceRun(s, ev({ phase: 'something', done: 4, total: 10 }));
  assert.equal(s.models[1].phase, 'something');
  // the figures step comes after every model (its events name models too: still the figures)
  s = reduceRun(s, ev({ step: 'figures', model: 'm1', phase: 't-SNE', done: 10, total: 500, unit: 'iterations' }));
  assert.equal(s.current, -1);
  assert.deepEqual(
    s.models.map((m) => m.status),
    ['done', 'done'],
  );
  assert.equal(s.figures?.phase, 't-SNE');
  s = reduceRun(s, { type: 'done', out: '/o' }, 5000);
  assert.equal(s.status, 'done');
  assert.equal(s.finishedAt, 5000);
  assert.ok(s.models.every((m) => m.status === 'done'));
  const f = reduceRun(initialRunState({ data: null, models: ['m1'], out: '/o' }), { type: 'error', message: 'boom' });
  assert.equal(f.status, 'failed');
  assert.equal(f.error, 'boom');
});

test('reduceRun does not parse log lines: a line starting with a model id only goes to the log', () => {
  let s = initialRunState({ data: '/d', models: ['m1', 'm2'], out: '/o' }, 0);
  s = reduceRun(s, {
    type: 'progress',
    event: {
      step: 'embed',
      model: 'm1',
      phase: 'embed m1',
      done: 1,
      total: 10,
      rate: 5,
      etaSeconds: 2,
      unit: 'images',
    },
  });
  const before = s;
  for (const line of ['m2: embeddings reused in y', 'embed m2', 't-SNE of m1', 'figures: no Chromium'])
    s = reduceRun(s, { type: 'log', line });
  assert.equal(s.current, 0, 'm1 is still the current model');
  assert.deepEqual(s.models, before.models);
  assert.equal(s.figures, null);
  assert.deepEqual(s.log, ['m2: embeddings reused in y', 'embed m2', 't-SNE of m1', 'figures: no Chromium']);
  // an event without step and model (say, a phase named like a model) does not switch models either
  s = reduceRun(s, {
    type: 'progress',
    event: { phase: 'embed m2', done: 2, total: 10, rate: 5, etaSeconds: 2, unit: 'images' },
  });
  assert.equal(s.current, 0);
  assert.equal(s.models[0].phase, 'embed m2');
  assert.equal(s.models[1].status, 'waiting');
});

test('reportCommand and the non-TTY refusal name the equivalent cbir commands', () => {
  assert.equal(
    reportCommand(
      {
        data: '/data/x',
        models: ['a', 'b'],
        out: '/r/out',
        replicates: 100,
        probe: false,
        indexSize: false,
        figures: false,
      },
      '/elsewhere',
    ),
    'cbir report --data /data/x --models a,b --out /r/out --replicates 100 --no-probe --index-size off --no-figures',
  );
  assert.equal(
    reportCommand({ data: null, models: ['a'], out: '/w/runs/t' }, '/w'),
    'cbir start --models a --out runs/t',
  );
  const r = fixtureReport('/tmp/some-report');
  r.dataset = { ...r.dataset, dir: '/data/phantom' };
  const none = () => false;
  const text = refusal({ report: '/tmp/some-report' }, r, none);
  assert.match(text, /needs an interactive terminal/);
  // new folders next to the finished report, reusing its work folder; never --out the report itself
  assert.match(
    text,
    /cbir report --data \/data\/phantom --models alpha,beta,gamma --work \/tmp\/some-report\/work --out \/tmp\/some-report-2 /,
  );
  assert.match(
    text,
    /cbir eval --data \/data\/phantom --model alpha --work \/tmp\/some-report\/work --out \/tmp\/some-report-alpha /,
  );
  assert.doesNotMatch(text, /--out \/tmp\/some-report( |$)/m);
  assert.match(text, /table3_retrieval\.csv/);
  // a -2 that is a finished report too: -3
  const taken = new Set(['/tmp/some-report-2', '/tmp/some-report-alpha']);
  const t3 = refusal({ report: '/tmp/some-report' }, r, (d) => taken.has(d));
  assert.match(t3, /--out \/tmp\/some-report-3 /);
  assert.match(t3, /--out \/tmp\/some-report-alpha-2 /);
  const t2 = refusal({ data: '/data/mine', models: ['tiny16'], out: '/tmp/o' }, null, none);
  assert.match(t2, /cbir report --data \/data\/mine --models tiny16 --out \/tmp\/o\n/);
  assert.match(t2, /cbir eval --data \/data\/mine --model tiny16 --out \/tmp\/o-tiny16 /);
  const t4 = refusal({ data: '/data/mine', models: ['tiny16'], out: '/tmp/o' }, null, (d) => d === '/tmp/o');
  assert.match(t4, /cbir report --data \/data\/mine --models tiny16 --out \/tmp\/o-2\n/, 'a finished report there');
  assert.equal(
    freshOut('/x/r/', (d) => d === '/x/r/' || d === '/x/r-2'),
    '/x/r-3',
  );
  assert.equal(
    freshOut('/x/free', () => false),
    '/x/free',
  );
});

test('the run screen ticks the models `cbir start` runs', () => {
  assert.deepEqual(TUI_DEFAULT_MODELS, DEFAULT_MODELS);
});

test('images as text: half blocks in the 256-colour gray ramp, or an ASCII ramp without colours', () => {
  // 2 columns × 4 pixel rows → 2 text rows; left column black, right column white
  const gray = Uint8Array.from([0, 255, 0, 255, 0, 255, 128, 255]);
  assert.deepEqual(renderGray(gray, 2, 2, 'ascii'), [' @', ':@']);
  const blocks = renderGray(gray, 2, 2, 'blocks');
  assert.equal(blocks.length, 2);
  assert.equal(blocks[0], '\x1b[38;5;16;48;5;16m▀\x1b[38;5;231;48;5;231m▀\x1b[0m');
  assert.match(blocks[1], /^\x1b\[38;5;16;48;5;2[34]\dm▀/);
  assert.equal(grayColor(0), 16);
  assert.equal(grayColor(255), 231);
  assert.ok(grayColor(100) > 232 && grayColor(100) < grayColor(200) && grayColor(200) <= 255);
  assert.equal(imageMode({ NO_COLOR: '1' }), 'ascii');
  assert.equal(imageMode({ TERM: 'dumb' }), 'ascii');
  assert.equal(imageMode({ TERM: 'xterm-256color' }), 'blocks');
});
