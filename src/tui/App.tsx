import { useEffect, useRef, useState, type MutableRefObject } from 'react';
import { useApp, useInput, useStdout } from 'ink';
import {
  errorMessage,
  listModels,
  openReport as openReportFile,
  type ModelInfo,
  type ReportData,
} from '../workbench/index.js';
import { modelIds } from './report.js';
import type { SetupState } from './SetupView.js';
import { setupRequest } from './SetupView.js';
import { useSyncReducer } from './hooks.js';
import { exportTable } from './export.js';
import { loadQuerySet, openQueryManifest } from './queries.js';
import {
  defaultRunOut,
  initialRunState,
  startRun as defaultStartRun,
  type RunHandle,
  type RunMessage,
  type RunRequest,
} from './runner.js';
import { imageMode as detectImageMode, type ImageMode } from './image.js';
import {
  appKeys,
  exportJob,
  initialAppState,
  keyTarget,
  reduceApp,
  type AppAction,
  type AppCommand,
  type AppState,
} from './app-state.js';
import { KeyBusContext, KeyQueue, type KeyBus } from './input.js';
import { splitKeys, type Keypress } from './keys.js';
import type { Screen } from './app-state.js';
import { Frame, screenContent, statusLines } from './AppScreens.js';
import { useSearch } from './search.js';

export type { Screen } from './app-state.js';

export interface AppProps {
  /** An opened report (`cbir tui --report`); without one the app opens on the run screen. */
  report?: ReportData | null;
  /** Manifest folder for the query browser, instead of the one the report names (`report.dataset.dir`). */
  dataDir?: string;
  /** Work folder (embeddings, k-NN cache) of the report, when it moved (default: the one the report names). */
  workDir?: string;
  /** A saved index folder (`cbir index build`) that s searches; default: the open report's train split. */
  index?: string;
  /** Matches kept per searched image (default SEARCH_K). */
  searchK?: number;
  /** Where exports go, default `<report>/exports`. */
  exportDir?: string;
  /** Fixed terminal size (tests); default the terminal's, following resizes. */
  size?: { columns: number; rows: number };
  /** Models offered on the run screen (default: listModels()). */
  models?: ModelInfo[] | (() => Promise<ModelInfo[]>);
  /** Initial choices of the run screen. */
  setup?: Partial<SetupState>;
  /** Report folder for a run on dataset `data` ('' = phantom). */
  defaultOut?: (data: string) => string;
  /** Starts a run (default: a worker thread running runReport and saveReport). */
  startRun?: (req: RunRequest, onMessage: (m: RunMessage) => void) => RunHandle;
  /** Opens a report folder (default: the core's `openReport`). */
  loadReport?: (dir: string) => Promise<ReportData>;
  imageMode?: ImageMode;
  initialScreen?: Screen;
  /** Called once when the app quits. */
  onQuit?: () => void;
}

type Dispatch = (a: AppAction) => void;

function useTerminalSize(fixed?: { columns: number; rows: number }): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(fixed ?? read());
  useEffect(() => {
    if (fixed) return;
    const on = () => setSize(read());
    stdout.on('resize', on);
    return () => {
      stdout.off('resize', on);
    };
  }, [fixed, stdout]);
  return fixed ?? size;
}

/** The run screen's model list (listed once), and its clock while a run goes. */
function useModelsAndClock(props: AppProps, s: AppState, dispatch: Dispatch): void {
  useEffect(() => {
    if (s.models) return;
    const list = typeof props.models === 'function' ? props.models : () => listModels();
    list().then(
      (models) => dispatch({ type: 'models', models }),
      (e) => {
        dispatch({ type: 'models', models: [] });
        dispatch({ type: 'status', status: { text: `cannot list models: ${errorMessage(e)}`, color: 'red' } });
      },
    );
  }, []);
  const running = s.run?.status === 'running';
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => dispatch({ type: 'tick', now: Date.now() }), 1000);
    return () => clearInterval(t);
  }, [running]);
}

/** Query browser data: the manifest once, then each model's neighbours on first view. */
function useQueryData(props: AppProps, s: AppState, dispatch: Dispatch, ref: MutableRefObject<AppState>): void {
  const loadingKey = useRef<string | null>(null);
  const { report, screen } = s;
  const { sets, error, manifest } = s.query;
  const model = report ? (modelIds(report)[s.query.cursor.model] ?? null) : null;
  useEffect(() => {
    if (screen !== 'queries' || !report || !model || error || sets[model]) return;
    const key = `${report.dir}|${model}`;
    if (loadingKey.current === key) return;
    loadingKey.current = key;
    (async () => {
      let man = ref.current.query.manifest;
      if (!man) {
        dispatch({ type: 'query-loading', text: `reading the manifest ${props.dataDir ?? report.dataset.dir}…` });
        const o = await openQueryManifest(report, props.dataDir);
        man = { m: o.manifest, warning: o.warning };
        dispatch({ type: 'query-manifest', dir: report.dir, manifest: man });
      }
      dispatch({ type: 'query-loading', text: `reading the neighbours of ${model}…` });
      const set = await loadQuerySet(report, man.m, model, { workDir: props.workDir });
      dispatch({ type: 'query-set', dir: report.dir, set });
    })()
      .catch((e) => dispatch({ type: 'query-error', error: errorMessage(e) }))
      .finally(() => {
        loadingKey.current = null;
      });
  }, [screen, report, model, sets, manifest, error]);
}

/** The effects of the App: open a report, start and stop a run, export, search, quit. */
function useAppEffects(props: AppProps, s: AppState, dispatch: Dispatch, ref: MutableRefObject<AppState>) {
  const { exit } = useApp();
  const handle = useRef<RunHandle | null>(null);
  const defaultOut = props.defaultOut ?? ((d: string) => defaultRunOut(d || null));
  // Ctrl-C (Ink exits and unmounts) must stop a run too, or its worker keeps the process alive.
  useEffect(
    () => () => {
      void handle.current?.stop();
    },
    [],
  );
  const status = (text: string, color?: string) => dispatch({ type: 'status', status: { text, color } });
  const o = { index: props.index, dataDir: props.dataDir, workDir: props.workDir, k: props.searchK };
  const search = useSearch(o, s, dispatch, ref);
  const openReport = (dir: string, note?: string) => {
    (props.loadReport ?? openReportFile)(dir).then(
      (report) => dispatch({ type: 'opened', report, note }),
      (e) => status(errorMessage(e), 'red'), // with its hint, on the next line
    );
  };
  const onMessage = (m: RunMessage) => {
    dispatch({ type: 'run-message', message: m });
    if (m.type === 'done' || m.type === 'error') handle.current = null;
    if (m.type === 'done') openReport(m.out, `run finished: report in ${m.out}`);
  };
  const start = () => {
    const req = setupRequest(ref.current.setup, defaultOut);
    if (req.models.length === 0) return status('tick at least one model (Space) before starting', 'yellow');
    if (handle.current) return status('a run is going already', 'yellow');
    dispatch({ type: 'run-started', run: initialRunState(req) });
    status(`run started: ${req.models.join(', ')} (keep browsing: 1…7; progress: 0)`, 'cyan');
    handle.current = (props.startRun ?? defaultStartRun)(req, onMessage);
  };
  const run = (c: AppCommand) => {
    if (c.type === 'quit') {
      void handle.current?.stop();
      handle.current = null;
      props.onQuit?.();
      exit();
    } else if (c.type === 'stop-run') {
      if (!handle.current) return;
      void handle.current.stop();
      handle.current = null;
      dispatch({ type: 'run-stopped', now: Date.now() });
    } else if (c.type === 'export') {
      const job = exportJob(ref.current, props.exportDir);
      if (!job) return status('nothing to export on this screen', 'yellow');
      exportTable(job.table, c.format, job.dir, job.name).then(
        (file) => status(`exported to ${file}`, 'green'),
        (e) => status(`export failed: ${errorMessage(e)}`, 'red'),
      );
    } else if (c.type === 'search') search.start(c.text);
    else dispatch(c);
  };
  return { defaultOut, openReport, start, run };
}

/**
 * Every key, one at a time: the screen's handler (registered with `useKeys`) first, then the
 * global keys (`appKeys`). Ink's chunks of several keys are split; the rest of a chunk after a
 * key that changes what has the keys waits for the next render (see input.ts).
 */
function useAppInput(
  s: AppState,
  ref: MutableRefObject<AppState>,
  run: (c: AppCommand) => void,
): { bus: KeyBus; queue: KeyQueue } {
  const bus = useRef<KeyBus>(new Set()).current;
  const latestRun = useRef(run);
  latestRun.current = run;
  const queue = useRef<KeyQueue | null>(null);
  queue.current ??= new KeyQueue(
    (k: Keypress) => {
      for (const slot of [...bus]) if (slot.current.active) slot.current.handler(k.input, k.key);
      for (const c of appKeys(ref.current, k.input, k.key)) latestRun.current(c);
    },
    () => keyTarget(ref.current),
  );
  useInput((input, key) => queue.current!.push(splitKeys(input, key)));
  useEffect(() => queue.current!.rendered(keyTarget(s)));
  useEffect(() => () => queue.current!.clear(), []);
  return { bus, queue: queue.current };
}

/**
 * The TUI: a run screen (new run with live per-model progress) and views of a report (tables
 * with best values and intervals, the query browser), export, help. See `HELP` for the keys.
 * The state is one `AppState` (app-state.ts) changed by the pure `reduceApp`.
 */
export function App(props: AppProps) {
  const { columns: width, rows } = useTerminalSize(props.size);
  const height = Math.max(8, rows - 1); // one spare line: Ink redraws in place only below the terminal height
  const [s, dispatch, ref] = useSyncReducer(reduceApp, () =>
    initialAppState({
      report: props.report,
      screen: props.initialScreen,
      setup: props.setup,
      models: Array.isArray(props.models) ? props.models : null,
      index: props.index,
    }),
  );
  const fx = useAppEffects(props, s, dispatch, ref);
  useModelsAndClock(props, s, dispatch);
  useQueryData(props, s, dispatch, ref);
  const { bus } = useAppInput(s, ref, fx.run);
  const status = statusLines(s, width);
  const contentHeight = height - 3 - status.lines.length;
  const shown = screenContent(s, {
    width,
    height: contentHeight,
    active: !s.help && !s.exporting && s.searchPrompt === null,
    dispatch,
    read: () => ref.current,
    defaultOut: fx.defaultOut,
    onStart: fx.start,
    onOpen: (d) => fx.openReport(d),
    imageMode: props.imageMode ?? detectImageMode(),
  });
  return (
    <KeyBusContext.Provider value={bus}>
      <Frame state={s} shown={shown} status={status} width={width} height={height} contentHeight={contentHeight} />
    </KeyBusContext.Provider>
  );
}
