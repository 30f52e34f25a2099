import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, truncate, utimes, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CbirError, errorCode } from '../errors.js';
import type { Manifest } from '../data/manifest.js';
import type { Extractor } from '../models/types.js';
import { isBuiltinDescriptor } from '../models/descriptors/index.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fsx.js';
import { InlineRunner, WorkerPool, defaultWorkers, type BatchRunner } from './pool.js';
import type { TaskResult, TaskSetup } from './tasks.js';
import {
  META_FILE,
  PARTIAL_DIR,
  StoreWriter,
  readFully,
  readMeta,
  type EmbeddingsMeta,
  type MetaFields,
} from './store.js';

/**
 * The embedding pipeline: manifest rows → decoded (and, for ONNX models, preprocessed) images
 * in worker threads → the extractor in the main thread → L2-normalised float32 rows appended
 * to a resumable partial store → the final store.
 *
 * Resumability. While running, `<out>/partial/` holds run.json (what is being embedded),
 * append-only chunk files and journal.jsonl. Each batch is appended to the current chunk and
 * fsynced, and only then recorded in the journal (fsynced too). On a rerun the journal's valid
 * prefix says which rows are done; any bytes beyond it (a batch written but not recorded, a
 * torn journal line) are discarded. Batches are aligned to multiples of the batch size in the
 * manifest, so a resumed, sharded or uninterrupted run computes exactly the same batches and
 * the final store is byte-identical (same content hash).
 */

export interface EmbedOptions {
  manifest: Manifest;
  extractor: Extractor;
  /** Store folder to create (or resume). */
  out: string;
  /** Images per extractor call; default 32. */
  batchSize?: number;
  /** Embed one contiguous slice (shard index of count, 0-based). */
  shard?: { index: number; count: number };
  /** Worker threads for decoding/preprocessing; 0 = in the calling thread. Default: cores − 1 (≤ 6). */
  workers?: number;
  /** Throw away an existing store or partial run in `out` (also one for another manifest or model). */
  force?: boolean;
  onProgress?: ProgressListener;
  /** Rows per chunk file of the partial run (default 65536). */
  chunkRows?: number;
  /** Batches in flight ahead of the extractor (default 2 × workers, at least 2). */
  prefetch?: number;
  /** Test hook, called at the points where a crash matters. */
  onStage?: (stage: EmbedStage, info: { start: number; end: number }) => void | Promise<void>;
}

export type EmbedStage =
  'batch-written' | 'batch-recorded' | 'before-finalize' | 'before-meta' | 'after-meta' | 'complete';

export interface EmbedResult {
  dir: string;
  meta: EmbeddingsMeta;
  /** Rows computed by this call. */
  embedded: number;
  /** Rows found done from an earlier, interrupted run. */
  resumed: number;
  /** True when `out` already held this exact store and nothing was done. */
  alreadyComplete: boolean;
}

/** Identity of a run: a partial or complete store is only continued when all of it matches. */
interface RunSpec {
  format: 'radcbir-embeddings-partial';
  version: 1;
  modelId: string;
  fingerprint: string;
  dim: number;
  manifestHash: string;
  batchSize: number;
  start: number;
  end: number;
  total: number;
  shard: { index: number; count: number } | null;
}

interface JournalEntry {
  start: number;
  end: number;
  chunk: string;
  offset: number;
  bytes: number;
  sha256: string;
}

const JOURNAL = 'journal.jsonl';
const RUN = 'run.json';
const LOCK = 'lock';

/**
 * Rows of shard `index` of `count`: the manifest's batches (multiples of `batchSize`) are dealt
 * out in contiguous runs, so shard boundaries fall on batch boundaries.
 */
export function shardRange(
  total: number,
  batchSize: number,
  shard?: { index: number; count: number },
): { start: number; end: number } {
  if (!shard) return { start: 0, end: total };
  const batches = Math.ceil(total / batchSize);
  const b0 = Math.floor((shard.index * batches) / shard.count);
  const b1 = Math.floor(((shard.index + 1) * batches) / shard.count);
  return { start: Math.min(total, b0 * batchSize), end: Math.min(total, b1 * batchSize) };
}

/** Parse `i/n` (0-based shard i of n). */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index >= 0 && index < count)) {
    throw new CbirError(`--shard "${text}" is not of the form i/n with 0 ≤ i < n`, {
      hint: 'shards count from 0: shards 0/4, 1/4, 2/4, 3/4 embed the four quarters; a job array passes its task id as i',
      code: 'embed/bad-shard',
    });
  }
  return { index, count };
}

/** Divide rows by their L2 norm in place (rows of zeros stay zero). */
export function l2NormalizeRows(data: Float32Array, dim: number): void {
  // x ← x / ‖x‖₂ per row
  for (let o = 0; o < data.length; o += dim) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += data[o + k] * data[o + k];
    if (s > 0) {
      const inv = 1 / Math.sqrt(s);
      for (let k = 0; k < dim; k++) data[o + k] *= inv;
    }
  }
}

/** Index of the first row holding a NaN or ±Inf, or -1. */
export function firstNonFiniteRow(data: Float32Array, dim: number): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return Math.floor(i / dim);
  return -1;
}

function sameSpec(have: RunSpec, want: RunSpec): string | null {
  if (have.manifestHash !== want.manifestHash)
    return `embeddings of a different manifest (manifest hash ${have.manifestHash.slice(0, 12)}…, this manifest ${want.manifestHash.slice(0, 12)}…)`;
  if (have.fingerprint !== want.fingerprint || have.modelId !== want.modelId)
    return `embeddings of another model or model version (${have.modelId}, fingerprint ${have.fingerprint.slice(0, 12)}…; this run: ${want.modelId}, ${want.fingerprint.slice(0, 12)}…)`;
  if (have.dim !== want.dim) return `embeddings of dimension ${have.dim} (this run: ${want.dim})`;
  if (have.batchSize !== want.batchSize)
    return `embeddings made with --batch ${have.batchSize} (this run: --batch ${want.batchSize}; batches must match for identical results)`;
  if (have.start !== want.start || have.end !== want.end || have.total !== want.total)
    return `rows ${have.start}–${have.end} of ${have.total} (this run: rows ${want.start}–${want.end} of ${want.total}; another --shard?)`;
  return null;
}

function specOfMeta(
  m: EmbeddingsMeta,
): Pick<RunSpec, 'modelId' | 'fingerprint' | 'manifestHash' | 'dim'> & { start: number; end: number; total: number } {
  const total = m.shard ? m.shard.total : m.count;
  return {
    modelId: m.modelId,
    fingerprint: m.fingerprint,
    manifestHash: m.manifestHash,
    dim: m.dim,
    start: m.shard ? m.shard.start : 0,
    end: m.shard ? m.shard.end : m.count,
    total,
  };
}

/** A lock not refreshed for this long belongs to a dead run (e.g. a preempted job on another node). */
const LOCK_STALE_MS = 90_000;
const LOCK_HEARTBEAT_MS = 20_000;

/**
 * Take `partial/lock` (pid, host). A running holder refreshes its mtime every 20 s; a lock is
 * stale when its pid is dead on this host, or when it has not been refreshed for 90 s (a run
 * killed on another node of a job array). Returns the release function (idempotent).
 */
async function acquireLock(partial: string): Promise<() => Promise<void>> {
  const file = join(partial, LOCK);
  const me = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(JSON.stringify(me));
      await fh.close();
      const beat = setInterval(() => {
        const now = new Date();
        utimes(file, now, now).catch(() => {});
      }, LOCK_HEARTBEAT_MS);
      beat.unref();
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        clearInterval(beat);
        await rm(file, { force: true });
      };
    } catch (e) {
      if (errorCode(e) !== 'EEXIST') throw e;
      let other: { pid?: number; host?: string } = {};
      let age = Infinity;
      try {
        age = Date.now() - (await stat(file)).mtimeMs;
        other = JSON.parse(await readFile(file, 'utf8'));
      } catch {
        // torn or vanished lock file: treat as stale
      }
      let alive = age < LOCK_STALE_MS;
      if (alive && other.host === me.host && typeof other.pid === 'number') {
        if (other.pid === process.pid) alive = false;
        else {
          try {
            process.kill(other.pid, 0);
          } catch (err) {
            alive = errorCode(err) === 'EPERM';
          }
        }
      }
      if (alive) {
        throw new CbirError(`another embedding run (pid ${other.pid} on ${other.host}) is writing this store`, {
          file,
          hint: `wait for it to finish, or write this run to another output folder; a lock not refreshed for ${LOCK_STALE_MS / 1000} s is taken over automatically`,
          code: 'embed/locked',
        });
      }
      await rm(file, { force: true }); // stale lock of a killed run
    }
  }
  throw new CbirError('could not take the lock of the partial run', {
    file,
    hint: 'delete the lock file if no other run is writing here',
    code: 'embed/locked',
  });
}

/** Read the journal's valid prefix; a torn last line (crash while appending) is dropped. */
async function readJournal(file: string): Promise<{ entries: JournalEntry[]; clean: boolean }> {
  if (!existsSync(file)) return { entries: [], clean: true };
  const text = await readFile(file, 'utf8');
  const entries: JournalEntry[] = [];
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    if (nl < 0) return { entries, clean: false }; // unterminated last line
    try {
      const e = JSON.parse(text.slice(pos, nl)) as JournalEntry;
      if (
        !Number.isInteger(e.start) ||
        !Number.isInteger(e.end) ||
        typeof e.chunk !== 'string' ||
        typeof e.sha256 !== 'string'
      )
        return { entries, clean: false };
      entries.push(e);
    } catch {
      return { entries, clean: false };
    }
    pos = nl + 1;
  }
  return { entries, clean: true };
}

function journalLine(e: JournalEntry): string {
  return JSON.stringify(e) + '\n';
}

/** Name of the chunk file whose first row is `row`. */
function chunkFileName(row: number): string {
  return `chunk-${String(row).padStart(10, '0')}.f32`;
}

/** Refuse to continue a store or partial run that is not this run. */
function refuse(what: string, file: string): never {
  throw new CbirError(`this folder holds ${what}`, {
    file,
    hint: 'write to a new output folder, or start again from scratch (force), which deletes them',
    code: 'embed/mismatch',
  });
}

/**
 * The resumable partial run in `<out>/partial/`: it holds the lock, run.json, the journal and
 * the chunk files. `open` takes the lock and recovers what an earlier run recorded; `append`
 * writes one batch to the current chunk (fsync) and only then records it in the journal
 * (fsync), so a kill -9 at any point loses at most the batch in flight; `finalize` turns the
 * recorded batches into the store and deletes the partial run; `release` drops the lock.
 */
class PartialRun {
  /** Recorded batches of the journal's consistent prefix, in row order (appended to by `append`). */
  private entries: JournalEntry[] = [];
  /** End offset of the recorded bytes of each chunk file. */
  private chunkEnd = new Map<string, number>();
  /** First row not recorded yet. */
  private nextRow: number;
  private chunkName = '';
  private chunkOffset = 0;
  private chunkRows = 0;
  private chunkFh: FileHandle | null = null;
  private journalFh: FileHandle | null = null;

  private constructor(
    readonly dir: string,
    private readonly spec: RunSpec,
    /** Idempotent. */
    readonly release: () => Promise<void>,
  ) {
    this.nextRow = spec.start;
  }

  /** Create `<out>/partial` (emptied first with `force`), take its lock and recover the recorded batches. */
  static async open(out: string, spec: RunSpec, force: boolean): Promise<PartialRun> {
    const dir = join(out, PARTIAL_DIR);
    if (force) await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const run = new PartialRun(dir, spec, await acquireLock(dir));
    try {
      await run.recover();
    } catch (e) {
      await run.release().catch(() => {});
      throw e;
    }
    return run;
  }

  /** First row not recorded yet (the run is done when it reaches the slice's end). */
  get next(): number {
    return this.nextRow;
  }

  /** Refuse another run's partial, read the journal, keep its consistent prefix and drop unrecorded bytes. */
  private async recover(): Promise<void> {
    const runPath = join(this.dir, RUN);
    await this.checkRunSpec(runPath);
    const journalPath = join(this.dir, JOURNAL);
    const { entries: raw, clean } = await readJournal(journalPath);
    if (!existsSync(runPath) || raw.length === 0) await writeJsonAtomic(runPath, this.spec);
    await this.keepConsistentPrefix(raw);
    if (!clean || this.entries.length !== raw.length)
      await writeFileAtomic(journalPath, this.entries.map(journalLine).join(''));
    await this.dropUnrecorded();
  }

  /** A run.json of another run is refused; a torn one is ignored. */
  private async checkRunSpec(runPath: string): Promise<void> {
    if (!existsSync(runPath)) return;
    let prev: RunSpec | null = null;
    try {
      prev = JSON.parse(await readFile(runPath, 'utf8')) as RunSpec;
    } catch {
      prev = null; // torn run.json: nothing can have been recorded yet
    }
    if (prev) {
      const diff = sameSpec(prev, this.spec);
      if (diff) refuse(diff, runPath);
    }
  }

  /** Check the recorded batches against the chunk files; keep the longest consistent prefix. */
  private async keepConsistentPrefix(raw: JournalEntry[]): Promise<void> {
    const { end, dim } = this.spec;
    for (const e of raw) {
      const okShape =
        e.start === this.nextRow &&
        e.end > e.start &&
        e.end <= end &&
        e.bytes === (e.end - e.start) * dim * 4 &&
        e.offset === (this.chunkEnd.get(e.chunk) ?? 0) &&
        /^chunk-\d+\.f32$/.test(e.chunk);
      if (!okShape) break;
      const p = join(this.dir, e.chunk);
      const size = existsSync(p) ? (await stat(p)).size : -1;
      if (size < e.offset + e.bytes) break;
      this.entries.push(e);
      this.chunkEnd.set(e.chunk, e.offset + e.bytes);
      this.nextRow = e.end;
    }
  }

  /** Drop bytes and chunk files that no recorded batch owns. */
  private async dropUnrecorded(): Promise<void> {
    for (const f of await readdir(this.dir)) {
      if (!/^chunk-\d+\.f32$/.test(f)) continue;
      const keep = this.chunkEnd.get(f);
      if (keep === undefined) await rm(join(this.dir, f), { force: true });
      else if ((await stat(join(this.dir, f))).size !== keep) await truncate(join(this.dir, f), keep);
    }
  }

  /** Open the current chunk (the last recorded one, or a new one) and the journal for appending. */
  async openAppend(chunkRows: number): Promise<void> {
    this.chunkRows = chunkRows;
    const last = this.entries[this.entries.length - 1];
    this.chunkName = last ? last.chunk : chunkFileName(this.nextRow);
    this.chunkOffset = this.chunkEnd.get(this.chunkName) ?? 0;
    this.chunkFh = await open(join(this.dir, this.chunkName), 'a');
    this.journalFh = await open(join(this.dir, JOURNAL), 'a');
  }

  /**
   * Append the rows s..e (`bytes`) to the current chunk (starting a new chunk when it is full)
   * and fsync, call `afterWrite`, then record the batch in the journal and fsync.
   */
  async append(s: number, e: number, bytes: Uint8Array, afterWrite: () => void | Promise<void>): Promise<void> {
    const n = e - s;
    if (this.chunkOffset > 0 && this.chunkOffset / (4 * this.spec.dim) + n > this.chunkRows) {
      await this.chunkFh!.close();
      this.chunkName = chunkFileName(s);
      this.chunkOffset = 0;
      this.chunkFh = await open(join(this.dir, this.chunkName), 'a');
    }
    const fh = this.chunkFh!;
    let w = 0;
    while (w < bytes.byteLength) w += (await fh.write(bytes, w, bytes.byteLength - w)).bytesWritten;
    await fh.sync();
    await afterWrite();
    const entry: JournalEntry = {
      start: s,
      end: e,
      chunk: this.chunkName,
      offset: this.chunkOffset,
      bytes: bytes.byteLength,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
    await this.journalFh!.write(journalLine(entry));
    await this.journalFh!.sync();
    this.entries.push(entry);
    this.chunkOffset += bytes.byteLength;
    this.nextRow = e;
  }

  /** Close the chunk and journal handles (errors ignored). */
  async closeAppend(): Promise<void> {
    await this.chunkFh?.close().catch(() => {});
    await this.journalFh?.close().catch(() => {});
    this.chunkFh = null;
    this.journalFh = null;
  }

  /**
   * Concatenate the recorded batches (checking their hashes) into the store at `out`, write ids,
   * then meta.json; then release the lock and delete the partial run.
   */
  async finalize(out: string, ids: readonly string[], fields: MetaFields, onStage: StageHook): Promise<EmbeddingsMeta> {
    const writer = await StoreWriter.create(out, this.spec.dim);
    try {
      await this.copyInto(writer);
      const meta = await writer.finish(ids, fields, () => onStage('before-meta'));
      await onStage('after-meta');
      await this.release();
      await rm(this.dir, { recursive: true, force: true });
      await onStage('complete');
      return meta;
    } catch (e) {
      await writer.abort();
      throw e;
    }
  }

  /** Append every recorded batch to `writer`, refusing one whose bytes no longer match its sha256. */
  private async copyInto(writer: StoreWriter): Promise<void> {
    const handles = new Map<string, FileHandle>();
    try {
      for (const e of this.entries) {
        let fh = handles.get(e.chunk);
        if (!fh) {
          fh = await open(join(this.dir, e.chunk), 'r');
          handles.set(e.chunk, fh);
        }
        const buf = new Uint8Array(e.bytes);
        await readFully(fh, buf, e.offset);
        if (createHash('sha256').update(buf).digest('hex') !== e.sha256) {
          throw new CbirError(`rows ${e.start}–${e.end} changed on disk after they were written (checksum mismatch)`, {
            file: join(this.dir, e.chunk),
            hint: 'the disk or file system damaged the partial run; embed again from scratch (force)',
            code: 'embed/corrupt-chunk',
          });
        }
        await writer.appendBytes(buf);
      }
    } finally {
      for (const fh of handles.values()) await fh.close().catch(() => {});
    }
  }
}

/** A pipeline stage hook bound to one row range. */
type StageHook = (stage: EmbedStage) => void | Promise<void>;

/**
 * Embed the rows of a manifest (or one shard of it) into a store at `out`. Reruns of the same
 * call continue an interrupted run; a store or partial run for another manifest, model, batch
 * size or slice is refused unless `force`. Stops with a CbirError naming the image when an
 * image cannot be decoded or the model gives NaN/Inf; all completed batches stay on disk.
 */
export async function embedManifest(opts: EmbedOptions): Promise<EmbedResult> {
  const { manifest, extractor, out } = opts;
  const spec = runSpec(opts);
  const { batchSize, start, end } = spec;

  // 1. A complete store already there?
  const complete = await completeStore(out, spec, opts.force);
  if (complete) return complete;

  // 2. Partial run: continue it if it is this run (it keeps the longest consistent prefix).
  const run = await PartialRun.open(out, spec, !!opts.force);
  try {
    const resumed = run.next - start;
    // 3. Embed the remaining batches.
    const embedded = run.next < end ? await embedRemaining(opts, spec, run) : 0;
    // 4. Finalise into the store.
    await opts.onStage?.('before-finalize', { start, end });
    const meta = await run.finalize(
      out,
      manifest.filepaths.slice(start, end),
      {
        modelId: extractor.id,
        fingerprint: extractor.fingerprint,
        manifestHash: manifest.hash,
        batchSize,
        ...(spec.shard
          ? { shard: { index: spec.shard.index, count: spec.shard.count, start, end, total: spec.total } }
          : {}),
      },
      (stage) => opts.onStage?.(stage, { start, end }),
    );
    return { dir: out, meta, embedded, resumed, alreadyComplete: false };
  } finally {
    await run.release().catch(() => {});
  }
}

/** Check the options and describe this run: model, manifest, batch size and the slice of rows. */
function runSpec(opts: EmbedOptions): RunSpec {
  const { manifest, extractor } = opts;
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new CbirError(`batch size must be a positive integer, got ${batchSize}`, {
      hint: 'use a positive batch size, e.g. 32',
      code: 'embed/bad-batch',
    });
  if (opts.shard) parseShard(`${opts.shard.index}/${opts.shard.count}`);
  const dim = extractor.dim;
  if (!Number.isInteger(dim) || dim < 1)
    throw new CbirError(`extractor ${extractor.id} reports dimension ${dim}`, { code: 'embed/bad-dim' });
  const total = manifest.size;
  const { start, end } = shardRange(total, batchSize, opts.shard);
  return {
    format: 'radcbir-embeddings-partial',
    version: 1,
    modelId: extractor.id,
    fingerprint: extractor.fingerprint,
    dim,
    manifestHash: manifest.hash,
    batchSize,
    start,
    end,
    total,
    shard: opts.shard ? { index: opts.shard.index, count: opts.shard.count } : null,
  };
}

/**
 * The result for a complete store of this run already in `out` (leftovers of a partial run are
 * deleted), or null when there is none; one of another run is refused. `force` deletes its meta.json.
 */
async function completeStore(out: string, spec: RunSpec, force: boolean | undefined): Promise<EmbedResult | null> {
  const metaPath = join(out, META_FILE);
  if (!existsSync(metaPath)) return null;
  if (force) {
    await rm(metaPath, { force: true });
    return null;
  }
  const meta = await readMeta(out);
  const have = specOfMeta(meta);
  const diff = sameSpec({ ...spec, ...have, batchSize: meta.batchSize ?? spec.batchSize }, spec);
  if (diff) refuse(diff, metaPath);
  await rm(join(out, PARTIAL_DIR), { recursive: true, force: true }); // leftovers of a run killed after meta.json
  return { dir: out, meta, embedded: 0, resumed: meta.count, alreadyComplete: true };
}

/** Start the decode/preprocess runner for this extractor: worker threads, or inline for 0 workers. */
function startRunner(extractor: Extractor, workers: number): BatchRunner {
  const setup: TaskSetup = isBuiltinDescriptor(extractor)
    ? { mode: 'descriptor', descriptorId: extractor.id, fingerprint: extractor.fingerprint }
    : extractor.preprocess && extractor.embedTensor
      ? { mode: 'tensor', spec: extractor.preprocess }
      : { mode: 'decode' };
  if (!Number.isInteger(workers) || workers < 0)
    throw new CbirError(`--workers must be an integer ≥ 0, got ${workers}`, { code: 'embed/bad-workers' });
  return workers === 0 ? new InlineRunner(setup) : new WorkerPool(workers, setup);
}

/**
 * Embed rows run.next..end batch by batch and record each in the partial run; returns the rows
 * embedded. Decoding (in the runner) runs ahead of the extractor by at most `prefetch` batches.
 */
async function embedRemaining(opts: EmbedOptions, spec: RunSpec, run: PartialRun): Promise<number> {
  const { manifest, extractor } = opts;
  const { start, end, batchSize } = spec;
  const tracker = new ProgressTracker(
    `embed ${extractor.id}`,
    end - start,
    opts.onProgress,
    'images',
    run.next - start,
  );
  const workers = opts.workers ?? defaultWorkers();
  const runner = startRunner(extractor, workers);
  try {
    const prefetch = Math.max(2, opts.prefetch ?? 2 * Math.max(1, workers));
    try {
      await run.openAppend(opts.chunkRows ?? 65536);
      const queue = new BatchQueue(runner, manifest, run.next, end, batchSize, prefetch);
      let embedded = 0;
      queue.fill();
      for (let batch = queue.take(); batch; batch = queue.take()) {
        const { s, e, work } = batch;
        const result = await work;
        queue.fill();
        const rows = await embedBatch(opts, spec, result, s, e);
        const bytes = new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength);
        await run.append(s, e, bytes, () => opts.onStage?.('batch-written', { start: s, end: e }));
        embedded += e - s;
        tracker.add(e - s);
        await opts.onStage?.('batch-recorded', { start: s, end: e });
      }
      tracker.finish();
      return embedded;
    } finally {
      await run.closeAppend();
    }
  } finally {
    await runner.close();
  }
}

/** Batches of the manifest submitted to the runner, in order, at most `prefetch` in flight. */
class BatchQueue {
  private readonly queue: { s: number; e: number; work: Promise<TaskResult> }[] = [];

  constructor(
    private readonly runner: BatchRunner,
    private readonly manifest: Manifest,
    private submit: number,
    private readonly end: number,
    private readonly batchSize: number,
    private readonly prefetch: number,
  ) {}

  /** Submit batches until `prefetch` are in flight or all are submitted. */
  fill(): void {
    while (this.queue.length < this.prefetch && this.submit < this.end) {
      const s = this.submit;
      const e = Math.min(this.end, s + this.batchSize);
      const paths: string[] = [];
      for (let i = s; i < e; i++) paths.push(this.manifest.resolvePath(i));
      const work = this.runner.run(paths);
      work.catch(() => {}); // handled when its turn comes; completed batches before it are kept
      this.queue.push({ s, e, work });
      this.submit = e;
    }
  }

  /** The oldest batch in flight, or undefined when none is left. */
  take(): { s: number; e: number; work: Promise<TaskResult> } | undefined {
    return this.queue.shift();
  }
}

/**
 * Run the extractor on one decoded batch (rows s..e) and return its rows L2-normalised (a
 * copy); a wrong number of values or a NaN/Inf is refused, naming the image.
 */
async function embedBatch(
  opts: EmbedOptions,
  spec: RunSpec,
  result: TaskResult,
  s: number,
  e: number,
): Promise<Float32Array> {
  const { manifest, extractor } = opts;
  const { dim, start, total } = spec;
  const n = e - s;
  let rows: Float32Array;
  if (result.kind === 'vectors') rows = result.data;
  else if (result.kind === 'tensor') rows = await extractor.embedTensor!(result.data, n);
  else rows = await extractor.embed(result.images);
  if (rows.length !== n * dim) {
    throw new CbirError(`extractor ${extractor.id} returned ${rows.length} values for ${n} images of dim ${dim}`, {
      file: manifest.resolvePath(s),
      hint: "the model card's dim or pooling does not match the model output; fix the card",
      code: 'embed/bad-output',
    });
  }
  const bad = firstNonFiniteRow(rows, dim);
  if (bad >= 0) {
    const i = s + bad;
    throw new CbirError(
      `the embedding of this image contains NaN or Inf (manifest row ${i + 1} of ${total}, model ${extractor.id}); ${s - start} images before its batch are saved`,
      {
        file: manifest.resolvePath(i),
        hint: 'check the image (blank, corrupt or extreme values?) and the model; fix or remove it (then prepare the manifest again), or run the same embedding again after fixing the model to resume',
        code: 'embed/non-finite',
      },
    );
  }
  rows = rows.slice(); // own copy: normalised in place, then written
  l2NormalizeRows(rows, dim);
  return rows;
}
