/** The App's pure parts: the reducer, the global keys, export jobs, and the screens' key functions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appKeys,
  exportJob,
  headerWhere,
  initialAppState,
  reduceApp,
  runNote,
  type AppAction,
  type AppCommand,
  type AppState,
} from '../../src/tui/app-state.js';
import { initialRunState } from '../../src/tui/runner.js';
import { START_CURSOR, startCursor, tableKey } from '../../src/tui/TableView.js';
import { buildView, compareView } from '../../src/tui/views.js';
import { missingWeightsNote } from '../../src/tui/SetupView.js';
import { KeyQueue } from '../../src/tui/input.js';
import { findMove, queryKey, START_QUERY, type QueryCursor } from '../../src/tui/QueryView.js';
import type { QuerySet } from '../../src/tui/queries.js';
import { testBrowse } from '../../src/tui/browse.js';
import { editText, parseKeys, splitKeys } from '../../src/tui/keys.js';
import { columnWidths, plural, queryImageSize, wrapLines } from '../../src/tui/layout.js';
import type { Manifest, ModelInfo } from '../../src/workbench/index.js';
import { fixtureReport } from './fixtures.js';

/** Apply the state actions of `cmds` (effects are returned apart). */
function apply(s: AppState, cmds: AppCommand[]): { state: AppState; effects: AppCommand[] } {
  const effects: AppCommand[] = [];
  for (const c of cmds) {
    if (c.type === 'quit' || c.type === 'export' || c.type === 'stop-run') effects.push(c);
    else s = reduceApp(s, c as AppAction);
  }
  return { state: s, effects };
}
const press = (s: AppState, input: string, key = {}) => apply(s, appKeys(s, input, key));

test('initial state: a report opens on the overall table, no report on the run screen', () => {
  assert.equal(initialAppState({ report: fixtureReport() }).screen, 'overall');
  const s = initialAppState({ setup: { models: ['a'] } });
  assert.equal(s.screen, 'run');
  assert.equal(s.runScreen, 'setup');
  assert.deepEqual(s.setup.models, ['a']);
  assert.equal(s.setup.replicates, '1000');
  assert.equal(initialAppState({ report: fixtureReport(), screen: 'queries' }).screen, 'queries');
});

test('reduceApp: opening a report resets the query browser and the table cursors, and says so', () => {
  let s = initialAppState({});
  s = reduceApp(s, { type: 'cursor', view: 'overall', cursor: { ...START_CURSOR, row: 2 } });
  s = reduceApp(s, { type: 'query-cursor', cursor: { ...START_QUERY, query: 5 } });
  s = reduceApp(s, { type: 'query-error', error: 'boom' });
  const r = fixtureReport('/r');
  s = reduceApp(s, { type: 'opened', report: r });
  assert.equal(s.report, r);
  assert.equal(s.screen, 'overall');
  assert.deepEqual(s.cursors, {});
  assert.equal(s.query.cursor.query, 0);
  assert.equal(s.query.error, null);
  assert.deepEqual(s.status, { text: 'opened /r', color: 'green' });
  assert.equal(reduceApp(s, { type: 'opened', report: r, note: 'done' }).status?.text, 'done');
});

test('reduceApp: query data of another report (a late load) is dropped', () => {
  let s = initialAppState({ report: fixtureReport('/r') });
  const set = { model: 'alpha', k: 1, queryRows: new Int32Array(0), ids: new Int32Array(0), sims: null, source: 'x' };
  s = reduceApp(s, { type: 'query-loading', text: 'reading…' });
  assert.equal(reduceApp(s, { type: 'query-set', dir: '/other', set }).query.sets.alpha, undefined);
  const t = reduceApp(s, { type: 'query-set', dir: '/r', set });
  assert.equal(t.query.sets.alpha, set);
  assert.equal(t.query.loading, null);
});

test('reduceApp: a run starts on the progress screen, its messages go through reduceRun, a failure is said', () => {
  let s = initialAppState({});
  const run = initialRunState({ data: null, models: ['m1'], out: '/o' }, 7);
  s = reduceApp(s, { type: 'run-started', run });
  assert.equal(s.runScreen, 'progress');
  assert.equal(s.now, 7);
  s = reduceApp(s, {
    type: 'run-message',
    message: {
      type: 'progress',
      event: { step: 'knn', model: 'm1', phase: 'knn', done: 1, total: 4, rate: 1, etaSeconds: 3, unit: 'q' },
    },
  });
  assert.equal(s.run?.current, 0);
  assert.equal(runNote(s), '', 'no note on the run screen itself');
  assert.equal(runNote({ ...s, screen: 'overall' }), '▶ m1 knn 25% (run → /o; 0: progress)');
  const stopped = reduceApp(s, { type: 'run-stopped', now: 9 });
  assert.equal(stopped.run?.status, 'stopped');
  assert.equal(stopped.run?.models[0].status, 'waiting');
  assert.match(stopped.status?.text ?? '', /run stopped/);
  const failed = reduceApp(s, { type: 'run-message', message: { type: 'error', message: 'x' } });
  assert.equal(failed.run?.status, 'failed');
  assert.match(failed.status?.text ?? '', /run failed/);
});

test('appKeys: tabs and Tab switch screens, ? opens and Esc closes the help, i cycles the overall mode', () => {
  let s = initialAppState({ report: fixtureReport() });
  s = press(s, '3').state;
  assert.equal(s.screen, 'anatomy');
  s = press(s, '', { tab: true }).state;
  assert.equal(s.screen, 'dataset');
  s = press(s, '', { tab: true, shift: true }).state;
  assert.equal(s.screen, 'anatomy');
  s = press(s, '1').state;
  s = press(s, 'i').state;
  assert.equal(s.overallMode, 'micro');
  s = press(s, '?').state;
  assert.equal(s.help, true);
  assert.equal(press(s, '2').state.screen, 'overall', 'keys do nothing under the help');
  s = press(s, '', { escape: true }).state;
  assert.equal(s.help, false);
});

test('appKeys: e asks for the format, c exports, another key cancels; nothing to export without a report', () => {
  let s = initialAppState({ report: fixtureReport() });
  s = press(s, 'e').state;
  assert.equal(s.exporting, true);
  const c = press(s, 'c');
  assert.equal(c.state.exporting, false);
  assert.deepEqual(c.effects, [{ type: 'export', format: 'csv' }]);
  const x = press(s, 'x');
  assert.deepEqual(x.effects, []);
  assert.equal(x.state.status?.text, 'export cancelled');
  assert.match(press(initialAppState({}), 'e').state.status?.text ?? '', /no report open/);
});

test('appKeys: q quits at once, but asks again while a run is going; another key then cancels', () => {
  assert.deepEqual(press(initialAppState({}), 'q').effects, [{ type: 'quit' }]);
  const running = reduceApp(initialAppState({}), {
    type: 'run-started',
    run: initialRunState({ data: null, models: ['m'], out: '/o' }),
  });
  const once = press(running, 'q');
  assert.deepEqual(once.effects, []);
  assert.equal(once.state.confirmQuit, true);
  assert.deepEqual(press(once.state, 'q').effects, [{ type: 'quit' }]);
  const stay = press(once.state, 'x').state;
  assert.equal(stay.confirmQuit, false);
  assert.equal(stay.status, null);
  // on the progress screen: s stops the run
  assert.deepEqual(press(running, 's').effects, [{ type: 'stop-run' }]);
  const captured = reduceApp(running, { type: 'captured', captured: true });
  assert.deepEqual(appKeys(captured, 'q', {}), [], 'a text field takes every key');
});

test('exportJob: the current view with its file name, the overall intervals as overall_<mode>_ci', () => {
  let s = initialAppState({ report: fixtureReport('/r') });
  assert.deepEqual({ ...exportJob(s), table: undefined }, { table: undefined, dir: '/r/exports', name: 'overall' });
  s = reduceApp(s, { type: 'overall-mode' });
  assert.equal(exportJob(s, '/x')?.name, 'overall_micro_ci');
  assert.equal(exportJob(s, '/x')?.dir, '/x');
  assert.equal(exportJob(reduceApp(s, { type: 'screen', screen: 'queries' })), null, 'no neighbours loaded yet');
  assert.equal(exportJob(reduceApp(s, { type: 'screen', screen: 'run' })), null);
});

test('screen keys as pure functions: table cursor, query browser, text fields, status wrapping', () => {
  const dims = { nRows: 3, nCols: 9, bodyHeight: 10, widths: [8, 6, 6, 6, 6, 6, 6, 6, 6], width: 79 };
  assert.equal(tableKey(START_CURSOR, 'j', {}, dims)?.row, 1);
  assert.equal(tableKey(START_CURSOR, '', { end: true }, dims)?.col, 8);
  assert.equal(tableKey(START_CURSOR, 'x', {}, dims), null);

  // three queries of classes A, B, A, each with row 3 (class B) as top-1: queries 0 and 2 miss
  const m = {
    filepaths: ['a.png', 'b.png', 'c.png', 'd.png'],
    classIndex: Uint16Array.from([0, 1, 0, 1]),
    classes: [{ name: 'A' }, { name: 'B' }],
    resolvePath: (i: number) => `/images/${'abcd'[i]}.png`,
  } as unknown as Manifest;
  const qs: QuerySet = {
    model: 'x',
    k: 2,
    queryRows: Int32Array.from([0, 1, 2]),
    ids: Int32Array.from([3, 2, 3, 0, 3, 2]),
    sims: null,
    source: 's',
  };
  const browse = testBrowse(qs, m);
  const d = { browse, models: 2 };
  const c: QueryCursor = { ...START_QUERY, n: 2 };
  assert.equal(queryKey(c, 'l', {}, d)?.cursor.query, 1);
  assert.equal(queryKey(c, '', { leftArrow: true }, d)?.cursor.query, 0, 'clamped');
  assert.equal(queryKey(c, 'm', {}, d)?.cursor.model, 1);
  assert.equal(queryKey(c, 'M', {}, d)?.cursor.model, 1, 'wraps');
  assert.equal(queryKey(c, 'w', {}, d)?.cursor.query, 2, 'the next query whose top-1 match has another class');
  assert.equal(queryKey({ ...c, query: 2 }, 'W', {}, d)?.cursor.query, 0);
  assert.equal(queryKey(c, 'j', {}, d)?.cursor.match, 1);
  assert.equal(queryKey(c, 'v', {}, { browse: null, models: 2 })?.cursor.images, false);
  assert.equal(queryKey(c, 'l', {}, { browse: null, models: 2 }), null);
  assert.equal(findMove(c, '3', browse)?.cursor.query, 2);
  assert.match(findMove(c, 'zzz', browse)?.note ?? '', /no query matches "zzz"/);
  assert.equal(browse.query(2, 2).matches[0].file, '/images/d.png', 'matches carry their image file');

  assert.deepEqual(editText('ab', 'c', {}), { kind: 'edit', text: 'abc' });
  assert.deepEqual(editText('ab', '', { backspace: true }), { kind: 'edit', text: 'a' });
  assert.deepEqual(editText('ab', 'cd\r', {}), { kind: 'commit', text: 'abcd' }, 'a paste ending with Enter');
  assert.deepEqual(editText('ab', '', { escape: true }), { kind: 'cancel' });
  assert.deepEqual(editText('ab', 'u', { ctrl: true }, { clear: true }), { kind: 'edit', text: '' });
  assert.deepEqual(editText('ab', 'u', { ctrl: true }), { kind: 'ignore' });

  assert.deepEqual(wrapLines('one two three\n  → four', 9), ['one two', 'three', '→ four']);
  assert.deepEqual(wrapLines('a b c d', 1, 2), ['a', '…']);
});

test('splitKeys: several keys read at once become one key each, in order (escape sequences too)', () => {
  const keys = (input: string, key = {}) => splitKeys(input, key).map((k) => [k.input, k.key]);
  assert.deepEqual(keys('jj'), [
    ['j', {}],
    ['j', {}],
  ]);
  assert.deepEqual(keys('l l'), [
    ['l', {}],
    [' ', {}],
    ['l', {}],
  ]);
  assert.deepEqual(keys('j\u001b[Bk\r'), [
    ['j', {}],
    ['', { downArrow: true }],
    ['k', {}],
    ['', { return: true }],
  ]);
  assert.deepEqual(keys('\u001b[B\u001b[A\u001bOC\u001b[6~\u001b[1;5D'), [
    ['', { downArrow: true }],
    ['', { upArrow: true }],
    ['', { rightArrow: true }],
    ['', { pageDown: true }],
    ['', { leftArrow: true }],
  ]);
  // Ink strips the first Esc of a chunk and sets meta: the chunk is rebuilt
  assert.deepEqual(keys('[B\u001b[B', { meta: true }), [
    ['', { downArrow: true }],
    ['', { downArrow: true }],
  ]);
  assert.deepEqual(keys('Wq\t\x7f\x15'), [
    ['W', { shift: true }],
    ['q', {}],
    ['', { tab: true }],
    ['', { delete: true }],
    ['u', { ctrl: true }],
  ]);
  // one key as Ink recognised it stays as it is
  assert.deepEqual(keys('', { downArrow: true }), [['', { downArrow: true }]]);
  assert.deepEqual(keys('j'), [['j', {}]]);
  assert.equal(parseKeys('a\u001b').at(-1)?.key.escape, true, 'Esc alone');
});

test('KeyQueue: keys go on one by one; after a key that changes the target the rest waits for the render', async () => {
  let target = 'a';
  const seen: string[] = [];
  const q = new KeyQueue(
    (k) => {
      seen.push(`${target}:${k.input}`);
      if (k.input === 's') target = 'b';
    },
    () => [target],
    30,
  );
  q.push(parseKeys('jsjj'));
  assert.deepEqual(seen, ['a:j', 'a:s'], 'the keys after s wait');
  assert.equal(q.pending, 2);
  q.push(parseKeys('k'));
  assert.equal(q.pending, 3, 'new keys queue behind them');
  q.rendered();
  assert.deepEqual(seen, ['a:j', 'a:s', 'b:j', 'b:j', 'b:k']);
  q.push(parseKeys('sx'));
  await new Promise((r) => setTimeout(r, 60)); // no render came: the timer lets them go on
  assert.deepEqual(seen.slice(-2), ['b:s', 'b:x']);
  q.clear();
});

test('open reports: a second one is added, r / R switch, c compares them, Esc goes back; the header names the current', () => {
  const a = fixtureReport('/runs/a');
  const b = fixtureReport('/runs/b');
  let s = initialAppState({ report: a });
  assert.equal(s.setup.open, '/runs/a', 'the run screen offers the report open now');
  assert.match(press(s, 'r').state.status?.text ?? '', /only #1 \/runs\/a is open/);
  s = reduceApp(s, { type: 'opened', report: b, note: 'run finished: report in /runs/b' });
  assert.deepEqual(s.reports, [a, b]);
  assert.equal(s.report, b);
  assert.match(s.status?.text ?? '', /run finished: report in \/runs\/b · 2 reports open: r \/ R switch/);
  assert.equal(headerWhere(s), '#2 /runs/b');
  s = press(s, '2').state;
  s = press(s, 'r').state;
  assert.equal(s.report, a);
  assert.equal(s.screen, 'modality', 'the same view of the other report');
  assert.equal(headerWhere(s), '#1 /runs/a');
  assert.equal(s.setup.open, '/runs/a');
  assert.equal(press(s, 'R').state.report, b);
  s = press(s, 'c').state;
  assert.equal(s.screen, 'compare');
  assert.equal(exportJob(s)?.name, 'compare');
  assert.deepEqual(exportJob(s)?.table.columns.slice(0, 3), ['report', 'model', 'micro_p1']);
  assert.equal(press(s, '', { escape: true }).state.screen, 'overall');
  assert.equal(press(s, 'c').state.screen, 'overall');
  // the same folder opened again replaces its entry
  const b2 = fixtureReport('/runs/b');
  assert.equal(reduceApp(s, { type: 'opened', report: b2 }).reports.length, 2);
  assert.match(press(initialAppState({}), 'c').state.status?.text ?? '', /no report open/);
});

test('during a run the header names the run and its folder, not the open report', () => {
  let s = initialAppState({ report: fixtureReport('/runs/old') });
  s = reduceApp(s, { type: 'run-started', run: initialRunState({ data: null, models: ['m'], out: '/runs/new' }) });
  s = reduceApp(s, { type: 'screen', screen: 'run' });
  assert.equal(headerWhere(s), 'run in progress → /runs/new');
  assert.equal(headerWhere(reduceApp(s, { type: 'run-screen', screen: 'setup' })), '');
  assert.equal(headerWhere(reduceApp(s, { type: 'screen', screen: 'overall' })), '/runs/old');
  assert.match(runNote(reduceApp(s, { type: 'screen', screen: 'overall' })), /run → \/runs\/new/);
});

test('compareView: every open report’s Table 3, best over all rows for one dataset, within each report otherwise', () => {
  const a = fixtureReport('/runs/a');
  const b = fixtureReport('/runs/b');
  b.tables.table3_retrieval = {
    ...b.tables.table3_retrieval!,
    rows: [['delta', 0.8, 0.5, 0.5, 0.4, 0.3, 0.3, 0.3, 0.3, 0.7, 0.9, 0.2, 0.4, 200]],
  };
  const v = compareView([a, b], 1);
  assert.deepEqual(
    v.rows.map((r) => r.cells[0].text),
    ['#1 alpha', '#1 beta', '#1 gamma', '#2 delta'],
  );
  assert.equal(v.rows[3].cells[1].best, true, 'delta 0.80 beats beta 0.72');
  assert.equal(v.rows[1].cells[1].best, false);
  assert.match(v.legend, /#2 is current .* same dataset/);
  assert.match(v.detail(3, 1), /#2 \/runs\/b .*delta · micro P@1 = 0\.800/);
  b.dataset = { ...b.dataset, hash: 'f'.repeat(64) };
  const w = compareView([a, b], 0);
  assert.equal(w.rows[1].cells[1].best, true, 'different datasets: best within each report');
  assert.equal(w.rows[3].cells[1].best, true);
  assert.match(w.legend, /different datasets/);
});

test('Anat/Path: the cursor starts on the first model row, counts are pluralised (1 class)', () => {
  const v = buildView(fixtureReport(), 'anatomy');
  assert.equal(startCursor(v).row, 2, 'past the classes and samples rows');
  assert.equal(startCursor(buildView(fixtureReport(), 'overall')).row, 0);
  assert.match(v.detail(2, 3), /alpha · MR_anat = 0\.600 · 1 class, 50 queries/);
  assert.match(v.detail(2, 2), /· 3 classes, 40 queries/);
  assert.equal(plural(1, 'query', 'queries'), '1 query');
  assert.equal(plural(undefined, 'query', 'queries'), '? queries');
});

test('best-value stars get a cell of their own: a column with a star is one wider, so a gap stays before it', () => {
  const v = {
    labels: ['model', 'P@1', 'k'],
    rows: [
      { cells: [{ text: 'a' }, { text: '0.622', best: true }, { text: '12' }] },
      { cells: [{ text: 'b' }, { text: '0.500' }, { text: '7' }] },
    ],
  };
  assert.deepEqual(columnWidths(v, 16, 1), [5, 7, 3]);
  assert.deepEqual(columnWidths(v, 16, 2), [5, 8, 4]);
});

test('query images scale with the terminal: 16 × 7 at 80 × 24, larger when there is room, none when too small', () => {
  assert.deepEqual(queryImageSize(80, 19), { cols: 16, rows: 7 });
  const big = queryImageSize(160, 43)!;
  assert.ok(big.cols >= 36 && big.rows >= 18, JSON.stringify(big));
  assert.ok(2 * big.rows + 2 <= 43 && 160 - big.cols - 2 >= 48, 'both images and the match list fit');
  const huge = queryImageSize(400, 200)!;
  assert.deepEqual(huge, { cols: 62, rows: 30 });
  assert.equal(queryImageSize(60, 40), null);
  assert.equal(queryImageSize(120, 15), null);
});

test('a model without weights: the note names it, where it was looked for, and how to get it', () => {
  const info = {
    id: 'vit-b16',
    name: 'ViT',
    dim: 768,
    builtin: false,
    kind: 'study',
    weightsPresent: false,
    path: null,
  };
  const note = missingWeightsNote(info as ModelInfo, { file: 'vit-b16.onnx', url: null }, ['/w/models/weights']);
  assert.match(note, /^vit-b16 cannot run here: its weights \(vit-b16\.onnx\) are not in \/w\/models\/weights/);
  assert.match(note, /`cbir models pull vit-b16 --url <url>` \(its card has no download URL\)/);
  assert.match(note, /export_onnx\.py/);
  assert.doesNotMatch(
    missingWeightsNote(info as ModelInfo, { file: 'v.onnx', url: 'https://x/v.onnx' }, ['/w']),
    /--url/,
  );
});
