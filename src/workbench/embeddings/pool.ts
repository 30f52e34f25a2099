import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { fromTaskError, TaskRunner, type TaskResult, type TaskSetup } from './tasks.js';

/** Runs batches of image work: in worker threads, or (workers = 0) in the calling thread. */
export interface BatchRunner {
  run(paths: string[]): Promise<TaskResult>;
  close(): Promise<void>;
}

/** A sensible worker count: one per core left over by the main thread, at most 6. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(6, availableParallelism() - 1));
}

const ENTRY = new URL('./worker-entry.mjs', import.meta.url);
const WORKER_TS = new URL('./worker.ts', import.meta.url).href;

interface Pending {
  resolve: (r: TaskResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: number | null;
}

/**
 * A fixed pool of worker threads (started lazily, all with the same TaskSetup). Tasks queue
 * when all workers are busy; the caller bounds how many it submits (back-pressure).
 */
export class WorkerPool implements BatchRunner {
  private readonly slots: Slot[] = [];
  private readonly queue: { id: number; paths: string[] }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failed: Error | null = null;
  private closed = false;

  constructor(
    readonly size: number,
    readonly setup: TaskSetup,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`WorkerPool size must be ≥ 1, got ${size}`);
  }

  private spawn(): Slot {
    const worker = new Worker(ENTRY, { workerData: { entry: WORKER_TS, setup: this.setup } });
    const slot: Slot = { worker, busy: null };
    worker.on('message', (msg: { id: number; result?: TaskResult; error?: import('./tasks.js').TaskError }) => {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      slot.busy = null;
      if (p) {
        if (msg.error) p.reject(fromTaskError(msg.error));
        else p.resolve(msg.result!);
      }
      this.pump();
    });
    const die = (err: Error) => {
      this.failed ??= err;
      // a dead worker fails everything that is waiting: the run stops, completed batches stay
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(err);
      }
      this.queue.length = 0;
    };
    worker.on('error', (e) => die(e instanceof Error ? e : new Error(String(e))));
    worker.on('exit', (code) => {
      if (!this.closed && code !== 0) die(new Error(`an embedding worker thread exited with code ${code}`));
    });
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.busy === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const task = this.queue.shift()!;
      slot.busy = task.id;
      slot.worker.ref();
      slot.worker.postMessage(task);
    }
    for (const s of this.slots) if (s.busy === null) s.worker.unref();
  }

  run(paths: string[]): Promise<TaskResult> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error('WorkerPool is closed'));
    const id = this.nextId++;
    const p = new Promise<TaskResult>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.queue.push({ id, paths });
    this.pump();
    return p;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new Error('WorkerPool closed'));
    }
  }
}

/** The same work in the calling thread (sharp still decodes on libuv's thread pool). */
export class InlineRunner implements BatchRunner {
  private readonly runner: TaskRunner;
  constructor(setup: TaskSetup) {
    this.runner = new TaskRunner(setup);
  }
  run(paths: string[]): Promise<TaskResult> {
    return this.runner.run(paths);
  }
  async close(): Promise<void> {}
}
