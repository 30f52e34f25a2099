/**
 * The App's state as data: one `AppState`, changed only by the pure `reduceApp`, and the keys
 * that work on every screen mapped by the pure `appKeys` to actions (state changes) and effects
 * (quit, export, search, start or stop a run), which the App carries out. The screens' own keys (table
 * cursor, query browser, setup fields) live in their components.
 */
import { join } from 'node:path';
import type { Manifest, ModelInfo, ReportData, Table } from '../workbench/index.js';
import { buildView, compareView, overallModes, VIEWS, type OverallMode, type TableKey, type ViewKey } from './views.js';
import type { TableCursor } from './TableView.js';
import { START_QUERY, type QueryCursor } from './QueryView.js';
import type { SetupState } from './SetupView.js';
import { queryTable, searchTable, type ExportFormat } from './export.js';
import type { QuerySet } from './queries.js';
import { modelIds } from './report.js';
import { reduceRun, stopRunState, type RunMessage, type RunState } from './runner.js';
import { editText, type KeyLike } from './keys.js';
import { displayPath } from './layout.js';
import type { SearchSet } from './search.js';

/** The screens: the run screen, the views of the current report (1…7), and the open reports side by side. */
export type Screen = 'run' | ViewKey | 'compare';

/** The status line's message. */
export interface Status {
  text: string;
  color?: string;
}

/** The query browser's data and where it is. */
export interface QueryState {
  cursor: QueryCursor;
  manifest: { m: Manifest; warning: string | null } | null;
  /** Neighbours per model, loaded on first view. */
  sets: Record<string, QuerySet>;
  loading: string | null;
  error: string | null;
}

/** Search results shown in the query browser, and where it is in them. */
export interface SearchState {
  set: SearchSet;
  cursor: QueryCursor;
}

export interface AppState {
  /** The current report: the one the views show. */
  report: ReportData | null;
  /** Every report opened in this session, in the order opened (one per folder); `report` is one of them. */
  reports: ReportData[];
  screen: Screen;
  help: boolean;
  /** Waiting for the export format key. */
  exporting: boolean;
  /** A screen's text field takes every key. */
  captured: boolean;
  /** q was pressed once during a run. */
  confirmQuit: boolean;
  status: Status | null;
  overallMode: OverallMode;
  cursors: Partial<Record<TableKey, TableCursor>>;
  setup: SetupState;
  /** Models offered on the run screen; null while they are listed. */
  models: ModelInfo[] | null;
  run: RunState | null;
  runScreen: 'setup' | 'progress';
  /** The clock of the run screen (elapsed time). */
  now: number;
  query: QueryState;
  /** The saved index searched with s (`cbir tui --index`), or null: the open report's train split. */
  indexDir: string | null;
  /** The search prompt's text while it is open (s), else null. */
  searchPrompt: string | null;
  /** The last search's results, shown by the query browser instead of the test queries (Esc: back). */
  search: SearchState | null;
}

export const TABS: { screen: Screen; key: string; label: string }[] = [
  { screen: 'run', key: '0', label: 'Run' },
  ...VIEWS.map((v, i) => ({ screen: v.key as Screen, key: String(i + 1), label: v.label })),
];

export const DEFAULT_SETUP: SetupState = {
  data: '',
  out: '',
  replicates: '1000',
  probe: true,
  indexSize: true,
  figures: true,
  models: [],
  open: '',
};

const START_QUERY_STATE: QueryState = { cursor: START_QUERY, manifest: null, sets: {}, loading: null, error: null };

/** The state on start: a report's overall table, or the run screen without one. */
export function initialAppState(o: {
  report?: ReportData | null;
  screen?: Screen;
  setup?: Partial<SetupState>;
  models?: ModelInfo[] | null;
  now?: number;
  index?: string | null;
}): AppState {
  const open = o.report?.dir ? { open: displayPath(o.report.dir) } : {};
  return {
    report: o.report ?? null,
    reports: o.report ? [o.report] : [],
    screen: o.screen ?? (o.report ? 'overall' : o.index ? 'queries' : 'run'),
    help: false,
    exporting: false,
    captured: false,
    confirmQuit: false,
    status: null,
    overallMode: 'values',
    cursors: {},
    setup: { ...DEFAULT_SETUP, ...o.setup, ...open },
    models: o.models ?? null,
    run: null,
    runScreen: 'setup',
    now: o.now ?? Date.now(),
    query: START_QUERY_STATE,
    indexDir: o.index ?? null,
    searchPrompt: null,
    search: null,
  };
}

export type AppAction =
  | { type: 'opened'; report: ReportData; note?: string }
  | { type: 'switch-report'; index: number }
  | { type: 'status'; status: Status | null }
  | { type: 'screen'; screen: Screen }
  | { type: 'help'; open: boolean }
  | { type: 'exporting'; on: boolean }
  | { type: 'captured'; captured: boolean }
  | { type: 'confirm-quit'; on: boolean }
  | { type: 'overall-mode'; key?: 'i' | 'b' }
  | { type: 'cursor'; view: TableKey; cursor: TableCursor }
  | { type: 'setup'; setup: SetupState }
  | { type: 'models'; models: ModelInfo[] }
  | { type: 'run-started'; run: RunState }
  | { type: 'run-message'; message: RunMessage }
  | { type: 'run-stopped'; now: number }
  | { type: 'run-screen'; screen: 'setup' | 'progress' }
  | { type: 'tick'; now: number }
  | { type: 'query-cursor'; cursor: QueryCursor }
  | { type: 'query-loading'; text: string | null }
  | { type: 'query-manifest'; dir: string | null; manifest: { m: Manifest; warning: string | null } }
  | { type: 'query-set'; dir: string | null; set: QuerySet }
  | { type: 'query-error'; error: string }
  | { type: 'search-prompt'; text: string | null }
  | { type: 'search-results'; set: SearchSet }
  | { type: 'search-cursor'; cursor: QueryCursor }
  | { type: 'search-close' };

/** What the App does beside changing state. */
export type AppEffect =
  { type: 'quit' } | { type: 'export'; format: ExportFormat } | { type: 'stop-run' } | { type: 'search'; text: string };
export type AppCommand = AppAction | AppEffect;

const RUN_FAILED = 'run failed (see the run screen, 0); n: change the setup and run again (finished steps are reused)';

/** The query browser's part of the state. */
function reduceQuery(s: AppState, a: AppAction): AppState {
  const q = s.query;
  const same = (dir: string | null) => s.report !== null && s.report.dir === dir;
  switch (a.type) {
    case 'query-cursor':
      return { ...s, query: { ...q, cursor: a.cursor } };
    case 'query-loading':
      return { ...s, query: { ...q, loading: a.text } };
    case 'query-manifest':
      return same(a.dir) ? { ...s, query: { ...q, manifest: a.manifest } } : s;
    case 'query-set':
      return same(a.dir) ? { ...s, query: { ...q, sets: { ...q.sets, [a.set.model]: a.set }, loading: null } } : s;
    case 'query-error':
      return { ...s, query: { ...q, error: a.error, loading: null } };
    default:
      return reduceSearch(s, a);
  }
}

/** What a finished search says on the status line. */
export function searchNote(set: SearchSet): string {
  const n = set.queries.length;
  const failed = set.failed ? ` (${set.failed} could not be read)` : '';
  return `${n} image${n === 1 ? '' : 's'} searched${failed}: top ${set.k} of ${set.model}, ${set.where}`;
}

/** The search's part of the state: the prompt, its results in the query browser. */
function reduceSearch(s: AppState, a: AppAction): AppState {
  switch (a.type) {
    case 'search-prompt':
      return { ...s, searchPrompt: a.text };
    case 'search-results': {
      // the browser's place (matches shown, images, the model) carries over; a new search starts at its first image
      const from = s.search?.set.fromReport ? s.search.cursor : s.query.cursor;
      const model = a.set.fromReport && s.report ? Math.max(0, modelIds(s.report).indexOf(a.set.model)) : 0;
      const cursor = { ...from, model, query: 0, match: 0 };
      const status = { text: searchNote(a.set), color: a.set.failed ? 'yellow' : 'green' };
      return { ...s, search: { set: a.set, cursor }, screen: 'queries', status };
    }
    case 'search-cursor':
      return s.search ? { ...s, search: { ...s.search, cursor: a.cursor } } : s;
    case 'search-close': {
      if (!s.search) return s;
      // back to the test queries, on the model the search used when it came from the report
      const model = s.search.set.fromReport ? s.search.cursor.model : s.query.cursor.model;
      return { ...s, search: null, query: { ...s.query, cursor: { ...s.query.cursor, model } }, status: null };
    }
    default:
      return s;
  }
}

/** The run's part of the state. */
function reduceRunActions(s: AppState, a: AppAction): AppState {
  switch (a.type) {
    case 'run-started':
      return { ...s, run: a.run, runScreen: 'progress', now: a.run.startedAt };
    case 'run-message': {
      const run = s.run ? reduceRun(s.run, a.message) : s.run;
      return a.message.type === 'error' ? { ...s, run, status: { text: RUN_FAILED, color: 'red' } } : { ...s, run };
    }
    case 'run-stopped':
      return {
        ...s,
        run: s.run ? stopRunState(s.run, a.now) : s.run,
        status: { text: 'run stopped: finished steps are kept; n then Start resumes it', color: 'yellow' },
      };
    case 'run-screen':
      return { ...s, runScreen: a.screen };
    case 'tick':
      return { ...s, now: a.now };
    default:
      return reduceQuery(s, a);
  }
}

/** A report's folder as shown. */
export function reportPlace(r: ReportData): string {
  return r.dir ? displayPath(r.dir) : '(a report not saved)';
}

/** An open report as shown: `#1 runs/start`. */
export function reportLabel(s: AppState, r: ReportData): string {
  return `#${s.reports.indexOf(r) + 1} ${reportPlace(r)}`;
}

/** A report opened: it becomes the current one, added to the open reports (or replacing the one of its folder). */
function openedReport(s: AppState, report: ReportData, note?: string): AppState {
  const at = s.reports.findIndex((r) => r === report || (r.dir !== null && r.dir === report.dir));
  const reports = at >= 0 ? s.reports.map((r, i) => (i === at ? report : r)) : [...s.reports, report];
  const others =
    reports.length > 1 ? ` · ${reports.length} reports open: r / R switch between them, c compares them` : '';
  return {
    ...s,
    report,
    reports,
    query: START_QUERY_STATE,
    search: s.search?.set.fromReport ? null : s.search,
    cursors: {},
    screen: 'overall',
    setup: report.dir ? { ...s.setup, open: displayPath(report.dir) } : s.setup,
    status: { text: (note ?? `opened ${report.dir}`) + others, color: 'green' },
  };
}

/** Switch the views to open report `index` (the screen and the table cursors stay, the query browser restarts). */
function switchReport(s: AppState, index: number): AppState {
  const report = s.reports[index];
  if (!report || report === s.report) return s;
  const setup = report.dir ? { ...s.setup, open: displayPath(report.dir) } : s.setup;
  const search = s.search?.set.fromReport ? null : s.search;
  const next = { ...s, report, query: START_QUERY_STATE, setup, search };
  const text = `report ${reportLabel(next, report)} (${index + 1} of ${s.reports.length}) · r / R: next / previous · c: compare`;
  return { ...next, status: { text, color: 'green' } };
}

/** The App's reducer (pure). */
export function reduceApp(s: AppState, a: AppAction): AppState {
  switch (a.type) {
    case 'opened':
      return openedReport(s, a.report, a.note);
    case 'switch-report':
      return switchReport(s, a.index);
    case 'status':
      return { ...s, status: a.status };
    case 'screen':
      return { ...s, screen: a.screen };
    case 'help':
      return { ...s, help: a.open };
    case 'exporting':
      return { ...s, exporting: a.on };
    case 'captured':
      return { ...s, captured: a.captured };
    case 'confirm-quit':
      return { ...s, confirmQuit: a.on };
    case 'overall-mode': {
      const modes = overallModes(s.report, a.key);
      return { ...s, overallMode: modes[(modes.indexOf(s.overallMode) + 1) % modes.length] };
    }
    case 'cursor':
      return { ...s, cursors: { ...s.cursors, [a.view]: a.cursor } };
    case 'setup':
      return { ...s, setup: a.setup };
    case 'models':
      return { ...s, models: a.models };
    default:
      return reduceRunActions(s, a);
  }
}

/** Keys of the run screen's progress view: s stops, n goes back to the setup, Esc to the report. */
function runScreenKeys(s: AppState, input: string, key: KeyLike): AppCommand[] {
  const running = s.run?.status === 'running';
  if (input === 's' && running) return [{ type: 'stop-run' }];
  if (input === 'n' && !running)
    return [
      { type: 'run-screen', screen: 'setup' },
      { type: 'status', status: null },
    ];
  if (key.escape && s.report) return [{ type: 'screen', screen: 'overall' }];
  return [];
}

/** Keys after the quit confirmation: help, export, tabs, the overall mode, the run screen. */
function screenKeys(s: AppState, input: string, key: KeyLike): AppCommand[] {
  if (s.help) return key.escape || input === '?' ? [{ type: 'help', open: false }] : [];
  if (input === '?') return [{ type: 'help', open: true }];
  if (input === 'e') {
    if (!s.report && !(s.screen === 'queries' && s.search))
      return [{ type: 'status', status: { text: 'no report open: nothing to export', color: 'yellow' } }];
    const ask = { text: 'export as: c = CSV, m = Markdown (any other key cancels)', color: 'cyan' };
    return [
      { type: 'exporting', on: true },
      { type: 'status', status: ask },
    ];
  }
  const tab = TABS.findIndex((t) => t.key === input);
  if (tab >= 0)
    return [
      { type: 'screen', screen: TABS[tab].screen },
      { type: 'status', status: null },
    ];
  if (key.tab) {
    const i = Math.max(
      0,
      TABS.findIndex((t) => t.screen === (s.screen === 'compare' ? 'overall' : s.screen)),
    );
    const next = TABS[(i + (key.shift ? TABS.length - 1 : 1)) % TABS.length].screen;
    return [
      { type: 'screen', screen: next },
      { type: 'status', status: null },
    ];
  }
  if (input === 'i' && s.screen === 'overall') return [{ type: 'overall-mode' }];
  if (input === 'b' && s.screen === 'overall') return beyondKey(s);
  if (input === 's' && s.screen !== 'run') return searchKey(s);
  if (input === 'r' || input === 'R' || input === 'c') return reportKeys(s, input);
  if (s.screen === 'compare' && key.escape) return [{ type: 'screen', screen: 'overall' }];
  if (s.screen === 'run' && s.runScreen === 'progress') return runScreenKeys(s, input, key);
  return [];
}

/** b: the ranking and re-ranking tables beyond the study, when the report has them. */
function beyondKey(s: AppState): AppCommand[] {
  if (s.report?.beyond) return [{ type: 'overall-mode', key: 'b' }];
  const text = 'this report has no ranking metrics (written before them): re-run `cbir report` to add them';
  return [{ type: 'status', status: { text, color: 'yellow' } }];
}

/** s: open the search prompt, when there is an index to search. */
function searchKey(s: AppState): AppCommand[] {
  if (!s.indexDir && !s.report)
    return [
      {
        type: 'status',
        status: {
          text: 'no index to search: start with `cbir tui --index <dir>` (a folder made by `cbir index build`), or open a report (0) to search its train split',
          color: 'yellow',
        },
      },
    ];
  return [
    { type: 'search-prompt', text: '' },
    { type: 'status', status: null },
  ];
}

/** A key in the search prompt: text edits it, Enter searches (an empty prompt closes), Esc cancels. */
function searchPromptKeys(s: AppState, input: string, key: KeyLike): AppCommand[] {
  const e = editText(s.searchPrompt ?? '', input, key, { clear: true });
  const close: AppAction = { type: 'search-prompt', text: null };
  if (e.kind === 'cancel') return [close, { type: 'status', status: { text: 'search cancelled' } }];
  if (e.kind === 'commit') return e.text.trim() ? [close, { type: 'search', text: e.text.trim() }] : [close];
  if (e.kind === 'edit') return [{ type: 'search-prompt', text: e.text }];
  return [];
}

/** r / R: the next / previous open report; c: the open reports compared (c again: back to the overall table). */
function reportKeys(s: AppState, input: string): AppCommand[] {
  const say = (text: string): AppCommand[] => [{ type: 'status', status: { text, color: 'yellow' } }];
  if (!s.report) return say('no report open: run one or open a report folder on the run screen (0)');
  if (input === 'c')
    return [
      { type: 'screen', screen: s.screen === 'compare' ? 'overall' : 'compare' },
      { type: 'status', status: null },
    ];
  const n = s.reports.length;
  if (n < 2)
    return say(
      `only ${reportLabel(s, s.report)} is open: a finished run, or a folder opened on the run screen (0), adds another`,
    );
  const i = s.reports.indexOf(s.report);
  return [{ type: 'switch-report', index: (i + (input === 'r' ? 1 : n - 1)) % n }];
}

/**
 * What has the keys now: while this stays the same, the keys of one chunk go on to the same
 * screen handler; when it changes, the rest waits for the new screen (see input.ts).
 */
export function keyTarget(s: AppState): readonly unknown[] {
  return [s.screen, s.runScreen, s.help, s.exporting, s.overallMode, s.report, s.searchPrompt !== null, !!s.search];
}

/**
 * What a key does on every screen (pure): the export format while exporting; the search prompt
 * while it is open (s); nothing while a screen's text field has the keys; q quits (asking again while a run is going); then `screenKeys`.
 */
export function appKeys(s: AppState, input: string, key: KeyLike): AppCommand[] {
  if (s.exporting) {
    const off: AppAction = { type: 'exporting', on: false };
    if (input === 'c') return [off, { type: 'export', format: 'csv' }];
    if (input === 'm') return [off, { type: 'export', format: 'md' }];
    return [off, { type: 'status', status: { text: 'export cancelled' } }];
  }
  if (s.searchPrompt !== null) return searchPromptKeys(s, input, key);
  if (s.captured) return [];
  if (input === 'q') {
    if (s.run?.status !== 'running' || s.confirmQuit) return [{ type: 'quit' }];
    const ask = 'a run is going: press q again to stop it and quit (a rerun resumes), any other key to stay';
    return [
      { type: 'confirm-quit', on: true },
      { type: 'status', status: { text: ask, color: 'yellow' } },
    ];
  }
  const reset: AppCommand[] = s.confirmQuit
    ? [
        { type: 'confirm-quit', on: false },
        { type: 'status', status: null },
      ]
    : [];
  return [...reset, ...screenKeys(s, input, key)];
}

/** What `e` exports on the current screen (a table and its file name), or null when nothing. */
export function exportJob(s: AppState, exportDir?: string): { table: Table; dir: string; name: string } | null {
  const r = s.report;
  const dir = exportDir ?? (r?.dir ? join(r.dir, 'exports') : join(process.cwd(), 'exports'));
  if (s.screen === 'queries' && s.search) {
    const { set, cursor } = s.search;
    const q = Math.min(cursor.query, set.queries.length - 1);
    return { table: searchTable(set, q, cursor.n), dir, name: `search_${set.model}_${q + 1}` };
  }
  if (!r || s.screen === 'run') return null;
  if (s.screen === 'compare')
    return { table: compareView(s.reports, s.reports.indexOf(r)).table, dir, name: 'compare' };
  if (s.screen !== 'queries') {
    const v = buildView(r, s.screen, { overallMode: s.overallMode });
    if (v.empty) return null;
    const mode = s.overallMode;
    const name =
      v.key !== 'overall' || mode === 'values'
        ? v.key
        : mode === 'micro' || mode === 'macro'
          ? `overall_${mode}_ci`
          : mode;
    return { table: v.table, dir, name };
  }
  const qc = s.query.cursor;
  const model = modelIds(r)[qc.model];
  const qs = model ? s.query.sets[model] : undefined;
  if (!qs || !s.query.manifest) return null;
  const q = Math.min(qc.query, qs.queryRows.length - 1);
  return { table: queryTable(qs, s.query.manifest.m, q, qc.n), dir, name: `query_${model}_${q + 1}` };
}

/** The status line's note about a run going on while another screen shows (and where it writes). */
export function runNote(s: AppState): string {
  const r = s.run;
  if (r?.status !== 'running' || s.screen === 'run') return '';
  const to = `(run → ${displayPath(r.request.out)}; 0: progress)`;
  if (r.current < 0) return `▶ ${r.figures ? 'figures' : r.dataProgress ? 'phantom dataset' : 'run starting'} ${to}`;
  const p = r.models[r.current];
  return `▶ ${p.model} ${p.phase} ${p.total ? Math.floor((p.done / p.total) * 100) : 0}% ${to}`;
}

/**
 * The header's right side: on the run screen, the folder a run writes into (never the open
 * report, which is not what runs); on a view, the report it shows (`#2 runs/x` when several are open).
 */
export function headerWhere(s: AppState): string {
  if (s.screen === 'run') {
    const r = s.run;
    if (!r || s.runScreen !== 'progress') return '';
    return r.status === 'running' ? `run in progress → ${displayPath(r.request.out)}` : displayPath(r.request.out);
  }
  if (!s.report) return '';
  return s.reports.length > 1 ? reportLabel(s, s.report) : s.report.dir ? displayPath(s.report.dir) : '';
}
