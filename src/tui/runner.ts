/**
 * Starting a benchmark run from the TUI and following it: the run (phantom if needed, then
 * `runReport`, `saveReport`) goes to a worker thread; its messages update a `RunState` through
 * the pure `reduceRun`, which attributes each progress event by its `step` and `model`.
 */
import { Worker } from 'node:worker_threads';
import { basename, join } from 'node:path';
import { errorMessage, PROJECT_ROOT, type ProgressEvent, type ProgressStep } from '../workbench/index.js';
import { displayPath } from './layout.js';

/** What to run (the setup screen's choices). */
export interface RunRequest {
  /** Manifest folder, or null for the phantom dataset (made once, cached in .cache/). */
  data: string | null;
  models: string[];
  out: string;
  workDir?: string;
  /** Bootstrap replicates (default 1000). */
  replicates?: number;
  /** false skips linear probing. */
  probe?: boolean;
  /** false skips the index-size ablation. */
  indexSize?: boolean;
  /** false skips the figures (P@N curves, t-SNE maps, query grids). */
  figures?: boolean;
  /** Embedding worker threads (default: one per spare core). */
  workers?: number;
}

/** Messages from the worker. */
export type RunMessage =
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'log'; line: string }
  | { type: 'data'; dir: string }
  | { type: 'done'; out: string }
  | { type: 'error'; message: string };

/** One model's progress in a run. */
export interface ModelProgress {
  model: string;
  status: 'waiting' | 'running' | 'done' | 'failed';
  /** The pipeline step of the last event ('embed', 'knn', 'probe', 'index-size'), or null. */
  step: ProgressStep | null;
  /** What runs, in words, e.g. 'embed tiny16', 'knn search (exact)', 'linear probe'. */
  phase: string;
  done: number;
  total: number;
  unit: string;
  rate: number;
  etaSeconds: number;
  /** The embedding step's last rate (images/s), kept after later steps start. */
  embedRate: number | null;
}

export interface RunState {
  request: RunRequest;
  status: 'running' | 'done' | 'failed' | 'stopped';
  /** Dataset folder once known (the phantom's is known after it is made). */
  dataDir: string | null;
  /** Progress of making the phantom, while that runs. */
  dataProgress: ProgressEvent | null;
  models: ModelProgress[];
  /** Index into models of the one being worked on, or -1. */
  current: number;
  /** Progress of the figures (t-SNE maps), made after every model is evaluated. */
  figures: ProgressEvent | null;
  /** Last log lines (newest last). */
  log: string[];
  error: string | null;
  out: string | null;
  startedAt: number;
  finishedAt: number | null;
}

const LOG_LINES = 50;

/** The state before any message. */
export function initialRunState(request: RunRequest, now = Date.now()): RunState {
  return {
    request,
    status: 'running',
    dataDir: request.data,
    dataProgress: null,
    models: request.models.map((model) => ({
      model,
      status: 'waiting',
      step: null,
      phase: '',
      done: 0,
      total: 0,
      unit: '',
      rate: 0,
      etaSeconds: NaN,
      embedRate: null,
    })),
    current: -1,
    figures: null,
    log: [],
    error: null,
    out: null,
    startedAt: now,
    finishedAt: null,
  };
}

/** Make model i the current one (the previous one is done); i = -1: no model (the figures step). */
function setCurrent(s: RunState, i: number): RunState {
  if (i === s.current || (i < 0 && s.current < 0)) return s;
  const models = s.models.map((m, j) =>
    j === s.current && m.status === 'running'
      ? { ...m, status: 'done' as const, etaSeconds: 0 }
      : j === i
        ? { ...m, status: 'running' as const }
        : m,
  );
  return { ...s, models, current: i };
}

/** Model `s.current` takes event `e` as its progress. */
function applyToCurrent(s: RunState, e: ProgressEvent): RunState {
  if (s.current < 0) return s;
  const models = s.models.map((m, j) =>
    j !== s.current
      ? m
      : {
          ...m,
          status: 'running' as const,
          step: e.step ?? m.step,
          phase: e.phase,
          done: e.done,
          total: e.total,
          unit: e.unit,
          rate: e.rate,
          etaSeconds: e.etaSeconds,
          embedRate: e.step === 'embed' ? e.rate : m.embedRate,
        },
  );
  return { ...s, models };
}

/**
 * A progress event, by its step and model only: 'data' is the dataset's progress, 'figures'
 * the figures' (after every model: no model is current then); any other step of a model makes
 * that model the current one. An event without a model belongs to the current model.
 */
function reduceProgress(s: RunState, e: ProgressEvent): RunState {
  if (e.step === 'data') return { ...s, dataProgress: e };
  if (e.step === 'figures') return { ...setCurrent(s, -1), figures: e };
  const i = e.model === undefined ? -1 : s.models.findIndex((m) => m.model === e.model);
  return applyToCurrent(i >= 0 ? setCurrent(s, i) : s, e);
}

/** Apply one worker message. Log lines are only kept for the log; they never change the state of a model. */
export function reduceRun(s: RunState, msg: RunMessage, now = Date.now()): RunState {
  switch (msg.type) {
    case 'data':
      return { ...s, dataDir: msg.dir, dataProgress: null };
    case 'log':
      return { ...s, log: [...s.log, msg.line].slice(-LOG_LINES) };
    case 'progress':
      return reduceProgress(s, msg.event);
    case 'done':
      return {
        ...s,
        status: 'done',
        out: msg.out,
        finishedAt: now,
        current: -1,
        figures: s.figures ? { ...s.figures, done: s.figures.total, etaSeconds: 0 } : null,
        models: s.models.map((m) => ({ ...m, status: 'done', etaSeconds: 0 })),
      };
    case 'error':
      return {
        ...s,
        status: 'failed',
        error: msg.message,
        finishedAt: now,
        models: s.models.map((m, j) => (j === s.current ? { ...m, status: 'failed' } : m)),
      };
  }
}

/** The run stopped by the user: running models go back to waiting (a rerun resumes them). */
export function stopRunState(s: RunState, now = Date.now()): RunState {
  return {
    ...s,
    status: 'stopped',
    finishedAt: now,
    models: s.models.map((m) => (m.status === 'running' ? { ...m, status: 'waiting' } : m)),
  };
}

/** A run in progress. */
export interface RunHandle {
  /** Stop the run (the worker is terminated; finished embeddings and k-NN tables are kept for a resume). */
  stop(): Promise<void>;
}

/** Start `req` in a worker thread; every message goes to `onMessage`. */
export function startRun(req: RunRequest, onMessage: (m: RunMessage) => void): RunHandle {
  const worker = new Worker(new URL('./run-worker-entry.mjs', import.meta.url), { workerData: req });
  let finished = false;
  worker.on('message', (m: RunMessage) => {
    if (m.type === 'done' || m.type === 'error') finished = true;
    onMessage(m);
  });
  worker.on('error', (e) => {
    finished = true;
    onMessage({ type: 'error', message: errorMessage(e) });
  });
  worker.on('exit', (code) => {
    if (!finished && code !== 0)
      onMessage({ type: 'error', message: `the run's worker thread exited with code ${code}` });
    finished = true;
  });
  return {
    async stop() {
      finished = true;
      await worker.terminate();
    },
  };
}

/** Default report folder of a TUI run on dataset `data` (null = phantom): `<project>/runs/tui-<dataset folder name>`. */
export function defaultRunOut(data: string | null): string {
  const name = data ? basename(data.replace(/[\\/]+$/, '')) || 'data' : 'phantom';
  return join(PROJECT_ROOT, 'runs', `tui-${name}`);
}

/** The `cbir report` command that does the same run without the UI. */
export function reportCommand(req: RunRequest, cwd = process.cwd()): string {
  const rel = (p: string) => displayPath(p, cwd);
  const parts = ['cbir', req.data ? 'report' : 'start'];
  if (req.data) parts.push('--data', rel(req.data));
  parts.push('--models', req.models.join(','), '--out', rel(req.out));
  if (req.workDir) parts.push('--work', rel(req.workDir));
  if (req.replicates !== undefined && req.replicates !== 1000) parts.push('--replicates', String(req.replicates));
  if (req.probe === false) parts.push('--no-probe');
  if (req.indexSize === false) parts.push('--index-size', 'off');
  if (req.figures === false) parts.push('--no-figures');
  return parts.join(' ');
}
