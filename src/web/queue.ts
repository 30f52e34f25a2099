/**
 * A bounded work queue: at most `concurrency` jobs run at once, at most `maxQueued` wait; a job
 * beyond that is refused at once (the server answers 503 with Retry-After), so a burst of
 * uploads can neither pile up unbounded memory nor starve the embedding model.
 */
import { HttpError } from './http.js';

/** Counters of a queue, for /api/status and the tests. */
export interface QueueStats {
  concurrency: number;
  maxQueued: number;
  running: number;
  queued: number;
  /** The most jobs that ever ran at the same time. */
  peakRunning: number;
  peakQueued: number;
  done: number;
  failed: number;
  rejected: number;
}

export class WorkQueue {
  private running = 0;
  private waiting: (() => void)[] = [];
  private counts = { peakRunning: 0, peakQueued: 0, done: 0, failed: 0, rejected: 0 };

  constructor(
    readonly concurrency: number,
    readonly maxQueued: number,
    /** Seconds a refused client is asked to wait (Retry-After). */
    readonly retryAfter = 1,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    if (!Number.isInteger(maxQueued) || maxQueued < 0)
      throw new RangeError(`maxQueued must be a non-negative integer, got ${maxQueued}`);
  }

  /** Run `job` when a slot is free; refused with a 503 HttpError when the queue is full. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueued) {
        this.counts.rejected++;
        throw new HttpError(
          503,
          `the server is busy (${this.running} searches running, ${this.waiting.length} waiting)`,
          `try again in ${this.retryAfter} s`,
          'web/busy',
          { 'Retry-After': String(this.retryAfter) },
        );
      }
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        this.counts.peakQueued = Math.max(this.counts.peakQueued, this.waiting.length);
      });
    } else this.running++;
    this.counts.peakRunning = Math.max(this.counts.peakRunning, this.running);
    try {
      const out = await job();
      this.counts.done++;
      return out;
    } catch (e) {
      this.counts.failed++;
      throw e;
    } finally {
      const next = this.waiting.shift();
      if (next)
        next(); // the slot passes to the next job: `running` stays the same
      else this.running--;
    }
  }

  stats(): QueueStats {
    return {
      concurrency: this.concurrency,
      maxQueued: this.maxQueued,
      running: this.running,
      queued: this.waiting.length,
      ...this.counts,
    };
  }
}
