/**
 * What the App shows: the frame (tabs, title and where, legend, content, status line) and the
 * content of each screen, as functions of the App's state.
 */
import type { ReactNode } from 'react';
import { Box, Text } from 'ink';
import { buildView, compareView, VIEWS, type ViewModel } from './views.js';
import { TableView, startCursor } from './TableView.js';
import { QueryView, type QueryCursor } from './QueryView.js';
import { SetupView, type SetupState } from './SetupView.js';
import { RunView } from './RunView.js';
import { Help } from './Help.js';
import { displayPath, truncate, truncateLeft, wrapLines } from './layout.js';
import { searchBrowse, testBrowse } from './browse.js';
import { modelIds } from './report.js';
import { headerWhere, runNote, TABS, type AppAction, type AppState } from './app-state.js';
import type { ImageMode } from './image.js';

/** A screen's title, legend line and content. */
export interface Shown {
  title: string;
  legend: string;
  content: ReactNode;
}

/** What the screens need besides the state. */
export interface ScreenContext {
  width: number;
  height: number;
  /** The screen has the keys (no help, no export prompt). */
  active: boolean;
  dispatch: (a: AppAction) => void;
  /** The latest state (key handlers may run before a re-render). */
  read: () => AppState;
  defaultOut: (data: string) => string;
  onStart: () => void;
  onOpen: (dir: string) => void;
  imageMode: ImageMode;
}

const RUN_TITLES = { running: 'Run in progress', done: 'Run finished', stopped: 'Run stopped', failed: 'Run failed' };

/** The run screen: the setup of a new run, or the progress of the current one. */
function runScreen(s: AppState, c: ScreenContext): Shown {
  if (s.runScreen === 'progress' && s.run) {
    const legend =
      s.run.status === 'running'
        ? 'goes on while you browse (1…7) · s stop · q stop and quit · a rerun resumes'
        : 'n: new run (a rerun resumes) · 1…7: views';
    const content = <RunView run={s.run} width={c.width} height={c.height} now={s.now} />;
    return { title: RUN_TITLES[s.run.status], legend, content };
  }
  const content = (
    <SetupView
      state={s.setup}
      read={() => c.read().setup}
      update={(setup: SetupState) => c.dispatch({ type: 'setup', setup })}
      models={s.models}
      defaultOut={c.defaultOut}
      onStart={c.onStart}
      onOpen={c.onOpen}
      onCapture={(captured) => c.dispatch({ type: 'captured', captured })}
      onNote={(text) => c.dispatch({ type: 'status', status: { text, color: 'yellow' } })}
      openDir={s.report?.dir ?? null}
      width={c.width}
      height={c.height}
      active={c.active}
    />
  );
  return { title: 'New run', legend: 'embed, index and evaluate: pick a dataset and models, then Start', content };
}

/** The query browser of the open report. */
function queryScreen(s: AppState, c: ScreenContext): Shown {
  const q = s.query;
  const models = modelIds(s.report!);
  const model = models[q.cursor.model];
  const set = model ? q.sets[model] : undefined;
  const content = (
    <QueryView
      key="test"
      models={models}
      browse={set && q.manifest ? testBrowse(set, q.manifest.m) : null}
      loading={q.loading}
      error={q.error}
      warning={q.manifest?.warning ?? null}
      cursor={q.cursor}
      read={() => c.read().query.cursor}
      update={(cursor: QueryCursor) => c.dispatch({ type: 'query-cursor', cursor })}
      width={c.width}
      height={c.height}
      active={c.active}
      imageMode={c.imageMode}
      onCapture={(captured) => c.dispatch({ type: 'captured', captured })}
    />
  );
  return {
    title: 'Query browser: top matches of each test query',
    legend: '←→ query · ↑↓ match · w next miss · / find · m model · +/- matches · s search',
    content,
  };
}

/** The query browser on the last search's results: each searched image with its closest index images. */
function searchScreen(s: AppState, c: ScreenContext): Shown {
  const { set, cursor } = s.search!;
  const models = set.fromReport && s.report ? modelIds(s.report) : [set.model];
  const back = s.report ? ' · Esc: back to the test queries' : '';
  const content = (
    <QueryView
      key="search"
      models={models}
      browse={searchBrowse(set)}
      loading={null}
      error={null}
      warning={null}
      cursor={cursor}
      read={() => c.read().search?.cursor ?? cursor}
      update={(next: QueryCursor) => c.dispatch({ type: 'search-cursor', cursor: next })}
      width={c.width}
      height={c.height}
      active={c.active}
      imageMode={c.imageMode}
      onCapture={(captured) => c.dispatch({ type: 'captured', captured })}
      onEscape={s.report ? () => c.dispatch({ type: 'search-close' }) : undefined}
      hint={`s: search another image${back}`}
    />
  );
  const keys = set.fromReport && models.length > 1 ? 'm model · +/-' : '+/- matches';
  return {
    title: 'Search: the closest index images to your image',
    legend: `←→ image · ↑↓ match · w miss · / find · ${keys} · s search${s.report ? ' · Esc back' : ''}`,
    content,
  };
}

/** The query browser before any search, without a report: how to search the --index folder. */
function indexOnlyScreen(s: AppState): Shown {
  const text = `Index ${displayPath(s.indexDir ?? '')}: press s, then type or paste the path of an image, a DICOM file or a folder (searched recursively), and Enter.`;
  return {
    title: 'Search: the closest index images to your image',
    legend: 's search · 0 run screen (open a report there) · q quit',
    content: <Text wrap="wrap">{text}</Text>,
  };
}

/** The content of the current screen. */
export function screenContent(s: AppState, c: ScreenContext): Shown {
  if (s.help) return { title: 'Keys', legend: 'Esc or ? closes', content: <Help width={c.width} height={c.height} /> };
  if (s.screen === 'run') return runScreen(s, c);
  if (s.screen === 'queries' && s.search) return searchScreen(s, c);
  if (s.screen === 'queries' && !s.report && s.indexDir) return indexOnlyScreen(s);
  if (!s.report) {
    const text =
      'No report open. Press 0 to run one or to open a report folder, or start with `cbir tui --report <dir>`.';
    const title = VIEWS.find((v) => v.key === s.screen)?.label ?? 'Open reports compared';
    return { title, legend: '', content: <Text color="yellow">{truncate(text, c.width)}</Text> };
  }
  if (s.screen === 'queries') return queryScreen(s, c);
  const view: ViewModel =
    s.screen === 'compare'
      ? compareView(s.reports, s.reports.indexOf(s.report))
      : buildView(s.report, s.screen, { overallMode: s.overallMode });
  const content = (
    <TableView
      key={`${view.key}-${s.overallMode}`}
      view={view}
      width={c.width}
      height={c.height}
      active={c.active}
      cursor={s.cursors[view.key] ?? startCursor(view)}
      onCursor={(cursor) => c.dispatch({ type: 'cursor', view: view.key, cursor })}
    />
  );
  return { title: view.title, legend: view.legend, content };
}

/** Most lines the status line may take (an error with its hint). */
export const STATUS_LINES = 4;

/** The status line, wrapped to `width`: the message, else the running model's progress, else the key hint. */
export function statusLines(s: AppState, width: number): { lines: string[]; color: string } {
  if (s.searchPrompt !== null) {
    const text = `search with an image, DICOM file or folder: ${s.searchPrompt}▌  Enter search · Esc cancel`;
    return { lines: wrapLines(text, width, STATUS_LINES), color: 'cyan' };
  }
  const note = runNote(s);
  const text = s.status?.text ?? (note || '? help · s search · e export · q quit');
  return { lines: wrapLines(text, width, STATUS_LINES), color: s.status?.color ?? (note ? 'cyan' : 'gray') };
}

/** The whole screen: tabs, title with the report folder, legend, content, status lines. */
export function Frame(props: {
  state: AppState;
  shown: Shown;
  status: { lines: string[]; color: string };
  width: number;
  height: number;
  contentHeight: number;
}) {
  const { state: s, shown, width } = props;
  const head = headerWhere(s);
  const where = head ? truncateLeft(head, Math.max(10, width - shown.title.length - 3)) : '';
  return (
    <Box flexDirection="column" width={width} height={props.height}>
      <Text wrap="truncate">
        {TABS.map((t, i) => (
          <Text
            key={t.key}
            inverse={t.screen === s.screen}
            bold={t.screen === s.screen}
            dimColor={t.screen !== 'run' && !s.report}
          >{`${i ? ' ' : ''}${t.key} ${t.label}`}</Text>
        ))}
      </Text>
      <Box>
        <Box flexGrow={1}>
          <Text bold wrap="truncate">
            {truncate(shown.title, Math.max(10, width - where.length - 1))}
          </Text>
        </Box>
        <Text dimColor>{where}</Text>
      </Box>
      <Text dimColor wrap="truncate">
        {truncate(shown.legend, width)}
      </Text>
      <Box height={props.contentHeight} flexDirection="column">
        {shown.content}
      </Box>
      {props.status.lines.map((l, i) => (
        <Text key={i} color={props.status.color} wrap="truncate">
          {l}
        </Text>
      ))}
    </Box>
  );
}
