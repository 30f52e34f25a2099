/**
 * Starting a benchmark run from the TUI and following it: the run (phantom if needed, then
 * `runReport`) goes to a worker thread; its messages update a `RunState` through the pure
 * `reduceRun`, which attributes each progress event to the model being worked on.
 */
import { errorMessage } from '../workbench/index.js';
import { Worker } from 'node:worker_threads';
import { basename, join } from 'node:path';
import { displayPath } from './layout.js';
import { PROJECT_ROOT } from '../workbench/data/phantom.js';
import type { ProgressEvent } from '../workbench/util/progress.js';

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
  /** Current step, e.g. 'embed tiny16', 'knn search (exact)', 'linear probe'. */
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

/** Progress phases of the figures step (after the models). */
const FIGURE_PHASE = /^t-SNE/;

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

/**
 * Apply one worker message. runReport works model by model: 'embed <id>' events and
 * '<id>: …' log lines say which model is current; other steps (k-NN, probe, index size) belong
 * to the current one.
 */
export function reduceRun(s: RunState, msg: RunMessage, now = Date.now()): RunState {
  switch (msg.type) {
    case 'data':
      return { ...s, dataDir: msg.dir, dataProgress: null };
    case 'log': {
      if (msg.line.startsWith('figures: '))
        return { ...setCurrent(s, -1), log: [...s.log, msg.line].slice(-LOG_LINES) };
      const i = s.models.findIndex((m) => msg.line.startsWith(`${m.model}: `));
      const next = i >= 0 ? setCurrent(s, i) : s;
      return { ...next, log: [...next.log, msg.line].slice(-LOG_LINES) };
    }
    case 'progress': {
      const e = msg.event;
      if (e.phase === 'phantom') return { ...s, dataProgress: e };
      if (FIGURE_PHASE.test(e.phase)) return { ...setCurrent(s, -1), figures: e };
      let next = s;
      const embedding = e.phase.startsWith('embed ') ? s.models.findIndex((m) => m.model === e.phase.slice(6)) : -1;
      if (embedding >= 0) next = setCurrent(s, embedding);
      if (next.current < 0) return next;
      const models = next.models.map((m, j) =>
        j !== next.current
          ? m
          : {
              ...m,
              status: 'running' as const,
              phase: e.phase,
              done: e.done,
              total: e.total,
              unit: e.unit,
              rate: e.rate,
              etaSeconds: e.etaSeconds,
              embedRate: e.phase.startsWith('embed ') ? e.rate : m.embedRate,
            },
      );
      return { ...next, models };
    }
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
