import { errorMessage } from '../workbench/index.js';
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { join } from 'node:path';
import type { Manifest } from '../workbench/data/manifest.js';
import type { ModelInfo } from '../workbench/models/registry.js';
import { loadReport as defaultLoadReport, type ReportData } from './report.js';
import { buildView, OVERALL_MODES, VIEWS, type OverallMode, type TableViewKey, type ViewKey } from './views.js';
import { TableView, START_CURSOR, type TableCursor } from './TableView.js';
import { QueryView, START_QUERY, type QueryCursor } from './QueryView.js';
import { SetupView, setupRequest, type SetupState } from './SetupView.js';
import { useSyncState } from './hooks.js';
import { RunView } from './RunView.js';
import { Help } from './Help.js';
import { displayPath, truncate, truncateLeft } from './layout.js';
import { exportTable, queryTable, type ExportFormat } from './export.js';
import { loadQuerySet, openReportManifest, type QuerySet } from './queries.js';
import {
  defaultRunOut,
  initialRunState,
  reduceRun,
  startRun as defaultStartRun,
  type RunHandle,
  type RunMessage,
  type RunRequest,
  type RunState,
} from './runner.js';
import { imageMode as detectImageMode, type ImageMode } from './image.js';

export type Screen = 'run' | ViewKey;

export interface AppProps {
  /** An opened report (`cbir tui --report`); without one the app opens on the run screen. */
  report?: ReportData | null;
  /** Manifest folder for the query browser, instead of the one named in the report's summary.md. */
  dataDir?: string;
  /** Work folder (embeddings, k-NN cache) of the report, default `<report>/work`. */
  workDir?: string;
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
  /** Starts a run (default: a worker thread running runReport). */
  startRun?: (req: RunRequest, onMessage: (m: RunMessage) => void) => RunHandle;
  loadReport?: (dir: string) => Promise<ReportData>;
  imageMode?: ImageMode;
  initialScreen?: Screen;
  /** Called once when the app quits. */
  onQuit?: () => void;
}

const TABS: { screen: Screen; key: string; label: string }[] = [
  { screen: 'run', key: '0', label: 'Run' },
  ...VIEWS.map((v, i) => ({ screen: v.key as Screen, key: String(i + 1), label: v.label })),
];

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

const DEFAULT_SETUP: SetupState = {
  data: '',
  out: '',
  replicates: '1000',
  probe: true,
  indexSize: true,
  figures: true,
  models: [],
  open: '',
};

/**
 * The TUI: a run screen (new run with live per-model progress) and views of a report (tables
 * with best values and intervals, the query browser), export, help. See `HELP` for the keys.
 */
export function App(props: AppProps) {
  const { exit } = useApp();
  const { columns: width, rows } = useTerminalSize(props.size);
  const height = Math.max(8, rows - 1); // one spare line: Ink redraws in place only below the terminal height
  const [report, setReport, reportRef] = useSyncState<ReportData | null>(props.report ?? null);
  const [screen, setScreen, screenRef] = useSyncState<Screen>(
    props.initialScreen ?? (props.report ? 'overall' : 'run'),
  );
  const [help, setHelp, helpRef] = useSyncState(false);
  const [exporting, setExporting, exportingRef] = useSyncState(false);
  const [, setCaptured, capturedRef] = useSyncState(false);
  const [status, setStatus] = useState<{ text: string; color?: string } | null>(null);
  const [, setConfirmQuit, confirmQuitRef] = useSyncState(false);
  const [overallMode, setOverallMode, overallModeRef] = useSyncState<OverallMode>('values');
  const [cursors, setCursors] = useState<Partial<Record<TableViewKey, TableCursor>>>({});
  const [setup, setSetup, setupRef] = useSyncState<SetupState>({ ...DEFAULT_SETUP, ...props.setup });
  const [models, setModels] = useState<ModelInfo[] | null>(Array.isArray(props.models) ? props.models : null);
  const [run, setRun, runRef] = useSyncState<RunState | null>(null);
  const [runScreen, setRunScreen, runScreenRef] = useSyncState<'setup' | 'progress'>('setup');
  const runHandle = useRef<RunHandle | null>(null);
  const [now, setNow] = useState(Date.now());
  // query browser
  const [qCursor, setQCursor, qCursorRef] = useSyncState<QueryCursor>(START_QUERY);
  const [manifest, setManifest, manifestRef] = useSyncState<{ m: Manifest; warning: string | null } | null>(null);
  const [sets, setSets, setsRef] = useSyncState<Record<string, QuerySet>>({});
  const [qLoading, setQLoading] = useState<string | null>(null);
  const [qError, setQError] = useState<string | null>(null);
  const loadingKey = useRef<string | null>(null);
  const imgMode = props.imageMode ?? detectImageMode();
  const load = props.loadReport ?? defaultLoadReport;
  const defaultOut = props.defaultOut ?? ((d: string) => defaultRunOut(d || null));

  useEffect(() => {
    if (models) return;
    const list =
      typeof props.models === 'function'
        ? props.models
        : () => import('../workbench/models/registry.js').then((r) => r.listModels());
    list().then(setModels, (e) => {
      setModels([]);
      setStatus({ text: `cannot list models: ${errorMessage(e)}`, color: 'red' });
    });
  }, []);

  useEffect(() => {
    if (run?.status !== 'running') return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [run?.status]);

  // Ctrl-C (Ink exits and unmounts) must stop a run too, or its worker keeps the process alive.
  useEffect(
    () => () => {
      void runHandle.current?.stop();
    },
    [],
  );

  const quit = () => {
    void runHandle.current?.stop();
    runHandle.current = null;
    props.onQuit?.();
    exit();
  };

  const openReport = (dir: string, note?: string) => {
    load(dir).then(
      (r) => {
        setReport(r);
        setSets({});
        setManifest(null);
        setQError(null);
        setQCursor(START_QUERY);
        setCursors({});
        setScreen('overall');
        setStatus({ text: note ?? `opened ${r.dir}`, color: 'green' });
      },
      (e) => setStatus({ text: errorMessage(e).replace(/\n\s*/g, ' '), color: 'red' }),
    );
  };

  const onMessage = (m: RunMessage) => {
    setRun((s) => (s ? reduceRun(s, m) : s));
    if (m.type === 'done') {
      runHandle.current = null;
      openReport(m.out, `run finished: report in ${m.out}`);
    } else if (m.type === 'error') {
      runHandle.current = null;
      setStatus({
        text: 'run failed (see the run screen, 0); n: change the setup and run again (finished steps are reused)',
        color: 'red',
      });
    }
  };

  const start = () => {
    const req = setupRequest(setupRef.current, defaultOut);
    if (req.models.length === 0) {
      setStatus({ text: 'tick at least one model (Space) before starting', color: 'yellow' });
      return;
    }
    if (runHandle.current) {
      setStatus({ text: 'a run is going already', color: 'yellow' });
      return;
    }
    setRun(initialRunState(req));
    setRunScreen('progress');
    setStatus({ text: `run started: ${req.models.join(', ')} (keep browsing: 1…7; progress: 0)`, color: 'cyan' });
    runHandle.current = (props.startRun ?? defaultStartRun)(req, onMessage);
  };

  // Query browser data: the manifest once, then each model's neighbours on first view.
  const qModel = report?.models[qCursor.model] ?? null;
  useEffect(() => {
    if (screen !== 'queries' || !report || !qModel || qError) return;
    if (sets[qModel]) return;
    const key = `${report.dir}|${qModel}`;
    if (loadingKey.current === key) return;
    loadingKey.current = key;
    (async () => {
      let man = manifest;
      if (!man) {
        setQLoading(`reading the manifest ${props.dataDir ?? report.datasetDir ?? ''}…`);
        const o = await openReportManifest(report, props.dataDir);
        man = { m: o.manifest, warning: o.warning };
        setManifest(man);
      }
      setQLoading(`reading the neighbours of ${qModel}…`);
      const qs = await loadQuerySet(report, man.m, qModel, { workDir: props.workDir });
      setSets((s) => ({ ...s, [qModel]: qs }));
      setQLoading(null);
    })()
      .catch((e) => {
        setQError(errorMessage(e));
        setQLoading(null);
      })
      .finally(() => {
        loadingKey.current = null;
      });
  }, [screen, report, qModel, sets, manifest, qError]);

  const tableKey = screen !== 'run' && screen !== 'queries' ? screen : null;
  const view = useMemo(
    () => (report && tableKey ? buildView(report, tableKey, { overallMode }) : null),
    [report, tableKey, overallMode],
  );

  const doExport = (format: ExportFormat) => {
    const r = reportRef.current;
    const sc = screenRef.current;
    const dir = props.exportDir ?? (r ? join(r.dir, 'exports') : join(process.cwd(), 'exports'));
    let job: Promise<string> | null = null;
    const v = r && sc !== 'run' && sc !== 'queries' ? buildView(r, sc, { overallMode: overallModeRef.current }) : null;
    const qc = qCursorRef.current;
    const qm = r?.models[qc.model];
    const qs = qm ? setsRef.current[qm] : undefined;
    if (v && !v.empty)
      job = exportTable(
        v.table,
        format,
        dir,
        v.key === 'overall' && overallModeRef.current !== 'values' ? `overall_${overallModeRef.current}_ci` : v.key,
      );
    else if (sc === 'queries' && qs && manifestRef.current) {
      const q = Math.min(qc.query, qs.queryRows.length - 1);
      job = exportTable(queryTable(qs, manifestRef.current.m, q, qc.n), format, dir, `query_${qm}_${q + 1}`);
    }
    if (!job) {
      setStatus({ text: 'nothing to export on this screen', color: 'yellow' });
      return;
    }
    job.then(
      (file) => setStatus({ text: `exported to ${file}`, color: 'green' }),
      (e) => setStatus({ text: `export failed: ${errorMessage(e)}`, color: 'red' }),
    );
  };

  useInput((input, key) => {
    if (exportingRef.current) {
      setExporting(false);
      if (input === 'c') doExport('csv');
      else if (input === 'm') doExport('md');
      else setStatus({ text: 'export cancelled' });
      return;
    }
    if (capturedRef.current) return;
    const running = runRef.current?.status === 'running';
    if (input === 'q') {
      if (running && !confirmQuitRef.current) {
        setConfirmQuit(true);
        setStatus({
          text: 'a run is going: press q again to stop it and quit (a rerun resumes), any other key to stay',
          color: 'yellow',
        });
        return;
      }
      quit();
      return;
    }
    if (confirmQuitRef.current) {
      setConfirmQuit(false);
      setStatus(null);
    }
    if (helpRef.current) {
      if (key.escape || input === '?') setHelp(false);
      return;
    }
    if (input === '?') {
      setHelp(true);
      return;
    }
    const sc = screenRef.current;
    if (input === 'e') {
      if (!reportRef.current) {
        setStatus({ text: 'no report open: nothing to export', color: 'yellow' });
        return;
      }
      setExporting(true);
      setStatus({ text: 'export as: c = CSV, m = Markdown (any other key cancels)', color: 'cyan' });
      return;
    }
    const tab = TABS.findIndex((t) => t.key === input);
    if (tab >= 0) {
      setScreen(TABS[tab].screen);
      setStatus(null);
      return;
    }
    if (key.tab) {
      const i = TABS.findIndex((t) => t.screen === sc);
      setScreen(TABS[(i + (key.shift ? TABS.length - 1 : 1)) % TABS.length].screen);
      setStatus(null);
      return;
    }
    if (input === 'i' && sc === 'overall') {
      setOverallMode((m) => OVERALL_MODES[(OVERALL_MODES.indexOf(m) + 1) % OVERALL_MODES.length]);
      return;
    }
    if (sc === 'run' && runScreenRef.current === 'progress') {
      if (input === 's' && running && runHandle.current) {
        const h = runHandle.current;
        runHandle.current = null;
        void h.stop();
        setRun((r) =>
          r
            ? {
                ...r,
                status: 'stopped',
                finishedAt: Date.now(),
                models: r.models.map((m) => (m.status === 'running' ? { ...m, status: 'waiting' } : m)),
              }
            : r,
        );
        setStatus({ text: 'run stopped: finished steps are kept; n then Start resumes it', color: 'yellow' });
      } else if (input === 'n' && !running) {
        setRunScreen('setup');
        setStatus(null);
      } else if (key.escape && reportRef.current) setScreen('overall');
    }
  });

  // ---- layout: tabs, title, legend, content, status ----
  const contentHeight = height - 4;
  let title = '',
    legend = '';
  let content: ReactNode;
  const active = !help && !exporting;
  if (help) {
    title = 'Keys';
    legend = 'Esc or ? closes';
    content = <Help width={width} height={contentHeight} />;
  } else if (screen === 'run') {
    if (runScreen === 'progress' && run) {
      title =
        run.status === 'running'
          ? 'Run in progress'
          : run.status === 'done'
            ? 'Run finished'
            : run.status === 'stopped'
              ? 'Run stopped'
              : 'Run failed';
      legend =
        run.status === 'running'
          ? 'goes on while you browse (1…7) · s stop · q stop and quit · a rerun resumes'
          : 'n: new run (a rerun resumes) · 1…7: views';
      content = <RunView run={run} width={width} height={contentHeight} now={now} />;
    } else {
      title = 'New run';
      legend = 'embed, index and evaluate: pick a dataset and models, then Start';
      content = (
        <SetupView
          state={setup}
          update={setSetup}
          models={models}
          defaultOut={defaultOut}
          onStart={start}
          onOpen={(d) => openReport(d)}
          onCapture={setCaptured}
          width={width}
          height={contentHeight}
          active={active}
        />
      );
    }
  } else if (!report) {
    title = VIEWS.find((v) => v.key === screen)!.label;
    content = (
      <Text color="yellow">
        {truncate(
          'No report open. Press 0 to run one or to open a report folder, or start with `cbir tui --report <dir>`.',
          width,
        )}
      </Text>
    );
  } else if (screen === 'queries') {
    title = 'Query browser: top matches of each test query';
    legend = '←→ query · ↑↓ match · w next miss · / find · m model · +/- matches · v images';
    content = (
      <QueryView
        models={report.models}
        manifest={manifest?.m ?? null}
        set={qModel ? (sets[qModel] ?? null) : null}
        loading={qLoading}
        error={qError}
        warning={manifest?.warning ?? null}
        cursor={qCursor}
        update={setQCursor}
        width={width}
        height={contentHeight}
        active={active}
        imageMode={imgMode}
        onCapture={setCaptured}
      />
    );
  } else if (view) {
    title = view.title;
    legend = view.legend;
    content = (
      <TableView
        key={`${view.key}-${overallMode}`}
        view={view}
        width={width}
        height={contentHeight}
        active={active}
        cursor={cursors[view.key] ?? START_CURSOR}
        onCursor={(c) => setCursors((s) => ({ ...s, [view.key]: c }))}
      />
    );
  }

  const runNote =
    run?.status === 'running' && run.current >= 0 && screen !== 'run'
      ? (() => {
          const p = run.models[run.current];
          return `▶ ${p.model} ${p.phase} ${p.total ? Math.floor((p.done / p.total) * 100) : 0}%`;
        })()
      : '';
  const statusText = status?.text ?? (runNote || '? help · e export · q quit');
  const where = report ? truncateLeft(displayPath(report.dir), Math.max(10, width - title.length - 3)) : '';

  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">
        {TABS.map((t, i) => (
          <Text
            key={t.key}
            inverse={t.screen === screen}
            bold={t.screen === screen}
            dimColor={t.screen !== 'run' && !report}
          >{`${i ? ' ' : ''}${t.key} ${t.label}`}</Text>
        ))}
      </Text>
      <Box>
        <Box flexGrow={1}>
          <Text bold wrap="truncate">
            {truncate(title, Math.max(10, width - where.length - 1))}
          </Text>
        </Box>
        <Text dimColor>{where}</Text>
      </Box>
      <Text dimColor wrap="truncate">
        {truncate(legend, width)}
      </Text>
      <Box height={contentHeight} flexDirection="column">
        {content}
      </Box>
      <Text color={status?.color ?? (runNote ? 'cyan' : 'gray')} wrap="truncate">
        {truncate(statusText, width)}
      </Text>
    </Box>
  );
}
