/**
 * Progress reporting for long work. The core only emits events; shells (CLI, TUI, notebooks)
 * decide how to show them. `consoleProgress` draws a one-line bar on a TTY and prints
 * occasional lines otherwise (CI logs).
 */
export interface ProgressEvent {
  /**
   * The pipeline step this work belongs to, set by whoever runs the step: 'data' (phantom,
   * prepare), 'embed', 'knn' (index + search), 'probe', 'index-size', 'figures' (t-SNE maps).
   * Absent when a step is called on its own.
   */
  step?: ProgressStep;
  /** The model the work is for, when it is for one. */
  model?: string;
  /** What is running, in words, e.g. 'embed resnet50' or 'knn search (exact)'. */
  phase: string;
  done: number;
  total: number;
  /** Items per second over the recent window. */
  rate: number;
  /** Seconds left at the current rate; NaN when unknown. */
  etaSeconds: number;
  /** Unit of the items, e.g. 'images'. */
  unit: string;
}

export type ProgressStep = 'data' | 'embed' | 'knn' | 'probe' | 'index-size' | 'figures';

export type ProgressListener = (e: ProgressEvent) => void;

/** A listener that stamps each event with the step and model it belongs to (undefined in, undefined out). */
export function withContext(
  listener: ProgressListener | undefined,
  ctx: { step: ProgressStep; model?: string },
): ProgressListener | undefined {
  if (!listener) return undefined;
  return (e) => listener({ ...e, step: ctx.step, ...(ctx.model !== undefined ? { model: ctx.model } : {}) });
}

/** Tracks rate and ETA for one phase and calls the listener at most every `intervalMs`. */
export class ProgressTracker {
  private readonly start = performance.now();
  private lastEmit = 0;
  private windowStart = performance.now();
  private windowDone = 0;
  private rate = 0;
  private lastEmittedDone = -1;
  /** Items done before this tracker started (a resumed run): not part of its rate. */
  private readonly initialDone: number;
  done: number;

  constructor(
    readonly phase: string,
    readonly total: number,
    private readonly listener?: ProgressListener,
    readonly unit = 'items',
    initialDone = 0,
    private readonly intervalMs = 250,
  ) {
    this.done = initialDone;
    this.windowDone = initialDone;
    this.initialDone = initialDone;
  }

  add(n = 1): void {
    this.done += n;
    const now = performance.now();
    const dt = (now - this.windowStart) / 1000;
    if (dt >= 1) {
      const r = (this.done - this.windowDone) / dt;
      this.rate = this.rate === 0 ? r : 0.7 * r + 0.3 * this.rate;
      this.windowStart = now;
      this.windowDone = this.done;
    }
    if (now - this.lastEmit >= this.intervalMs || this.done >= this.total) {
      this.lastEmit = now;
      this.emit();
    }
  }

  /** Emit the final state (once; a no-op when the last event already showed it). */
  finish(): void {
    if (this.lastEmittedDone !== this.done) this.emit();
  }

  private emit(): void {
    if (!this.listener) return;
    this.lastEmittedDone = this.done;
    let rate = this.rate;
    if (rate === 0) {
      const dt = (performance.now() - this.start) / 1000;
      rate = dt > 0 ? (this.done - this.initialDone) / dt : 0;
    }
    const left = this.total - this.done;
    this.listener({
      phase: this.phase,
      done: this.done,
      total: this.total,
      rate,
      etaSeconds: rate > 0 ? left / rate : NaN,
      unit: this.unit,
    });
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  return h > 0
    ? `${h}:${String(m).padStart(2, '0')}:${String(ss).padStart(2, '0')}`
    : `${m}:${String(ss).padStart(2, '0')}`;
}

/** A listener that renders progress on stderr. */
export function consoleProgress(stream: NodeJS.WriteStream = process.stderr): ProgressListener {
  let lastLine = 0;
  let lastPhase = '';
  return (e) => {
    const pct = e.total > 0 ? e.done / e.total : 1;
    const text = `${e.model && !e.phase.includes(e.model) ? `${e.model}: ` : ''}${e.phase} ${e.done}/${e.total} ${e.unit} ${e.rate.toFixed(1)} ${e.unit}/s ETA ${formatDuration(e.etaSeconds)}`;
    if (stream.isTTY) {
      const width = 24;
      const filled = Math.round(pct * width);
      stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
      if (e.done >= e.total) stream.write('\n');
    } else {
      const now = Date.now();
      if (e.phase !== lastPhase || now - lastLine > 5000 || e.done >= e.total) {
        stream.write(text + '\n');
        lastLine = now;
        lastPhase = e.phase;
      }
    }
  };
}
