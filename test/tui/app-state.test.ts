/** The App's pure parts: the reducer, the global keys, export jobs, and the screens' key functions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appKeys,
  exportJob,
  initialAppState,
  reduceApp,
  runNote,
  type AppAction,
  type AppCommand,
  type AppState,
} from '../../src/tui/app-state.js';
import { initialRunState } from '../../src/tui/runner.js';
import { START_CURSOR, tableKey } from '../../src/tui/TableView.js';
import { findMove, queryKey, START_QUERY, type QueryCursor } from '../../src/tui/QueryView.js';
import type { QuerySet } from '../../src/tui/queries.js';
import { editText } from '../../src/tui/keys.js';
import { wrapLines } from '../../src/tui/layout.js';
import type { Manifest } from '../../src/workbench/index.js';
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
  assert.equal(runNote({ ...s, screen: 'overall' }), '▶ m1 knn 25%');
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
  } as unknown as Manifest;
  const qs: QuerySet = {
    model: 'x',
    k: 2,
    queryRows: Int32Array.from([0, 1, 2]),
    ids: Int32Array.from([3, 2, 3, 0, 3, 2]),
    sims: null,
    source: 's',
  };
  const d = { qs, m, models: 2 };
  const c: QueryCursor = { ...START_QUERY, n: 2 };
  assert.equal(queryKey(c, 'l', {}, d)?.cursor.query, 1);
  assert.equal(queryKey(c, '', { leftArrow: true }, d)?.cursor.query, 0, 'clamped');
  assert.equal(queryKey(c, 'm', {}, d)?.cursor.model, 1);
  assert.equal(queryKey(c, 'M', {}, d)?.cursor.model, 1, 'wraps');
  assert.equal(queryKey(c, 'w', {}, d)?.cursor.query, 2, 'the next query whose top-1 match has another class');
  assert.equal(queryKey({ ...c, query: 2 }, 'W', {}, d)?.cursor.query, 0);
  assert.equal(queryKey(c, 'j', {}, d)?.cursor.match, 1);
  assert.equal(queryKey(c, 'v', {}, { qs: null, m: null, models: 2 })?.cursor.images, false);
  assert.equal(queryKey(c, 'l', {}, { qs: null, m: null, models: 2 }), null);
  assert.equal(findMove(c, '3', qs, m)?.cursor.query, 2);
  assert.match(findMove(c, 'zzz', qs, m)?.note ?? '', /no query matches "zzz"/);

  assert.deepEqual(editText('ab', 'c', {}), { kind: 'edit', text: 'abc' });
  assert.deepEqual(editText('ab', '', { backspace: true }), { kind: 'edit', text: 'a' });
  assert.deepEqual(editText('ab', 'cd\r', {}), { kind: 'commit', text: 'abcd' }, 'a paste ending with Enter');
  assert.deepEqual(editText('ab', '', { escape: true }), { kind: 'cancel' });
  assert.deepEqual(editText('ab', 'u', { ctrl: true }, { clear: true }), { kind: 'edit', text: '' });
  assert.deepEqual(editText('ab', 'u', { ctrl: true }), { kind: 'ignore' });

  assert.deepEqual(wrapLines('one two three\n  → four', 9), ['one two', 'three', '→ four']);
  assert.deepEqual(wrapLines('a b c d', 1, 2), ['a', '…']);
});
