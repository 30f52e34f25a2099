import { existsSync, statSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CbirError } from '../errors.js';
import type { Manifest } from '../data/manifest.js';
import type { Extractor } from '../models/types.js';
import { isBuiltinDescriptor } from '../models/descriptors/index.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { InlineRunner, WorkerPool, defaultWorkers, type BatchRunner } from './pool.js';
import type { TaskResult, TaskSetup } from './tasks.js';
import {
  META_FILE,
  PARTIAL_DIR,
  VECTORS_FILE,
  openEmbeddings,
  readFully,
  readImageRecords,
  readMeta,
  writeImageRecords,
  type EmbeddingsMeta,
} from './store.js';
import { HASH_BYTES, STAT_FIELDS, checkImages, sameHash, unchangedRows, type ImageRecords } from './content.js';
import { RowCheck, checkEmbeddingRows, degenerateError, type DegenerateContext } from './degenerate.js';
import { fsError } from '../util/fserrors.js';
import { PartialRun, refuse, sameSpec, type RunSpec } from './partial.js';

/**
 * The embedding pipeline: manifest rows → decoded (and, for ONNX models, preprocessed) images
 * in worker threads → the extractor in the main thread → L2-normalised float32 rows appended
 * to a resumable partial store → the final store.
 *
 * Before any work every row is checked (no line break in its path, the image present and a
 * regular file), so a bad row fails the run at once, not after embedding everything before it.
 *
 * Resumability. While running, `<out>/partial/` holds run.json (what is being embedded),
 * append-only chunk files, images.bin and journal.jsonl. Each batch is appended to the current
 * chunk (and its images' records to images.bin) and fsynced, and only then recorded in the
 * journal (fsynced too). On a rerun the journal's valid prefix says which rows are done; any
 * bytes beyond it (a batch written but not recorded, a torn journal line) are discarded.
 * Batches are aligned to multiples of the batch size in the manifest, so a resumed, sharded or
 * uninterrupted run computes exactly the same batches and the final store is byte-identical
 * (same content hash).
 *
 * Content keys. Each row records the SHA-1 of the image file it was computed from (images.bin,
 * see content.ts). A complete store, or a partial run, is reused only for rows whose image is
 * unchanged: a rerun after images were replaced under the same names re-embeds the batches
 * holding changed rows, copies the others from the previous store, and gives the store a fresh
 * run would give.
 *
 * Degenerate output (NaN/Inf, zero-norm rows, the same vector for different images) stops the
 * run with an error naming the rows (degenerate.ts); file-system failures (a full disk, no
 * permission, a file in the way) become errors naming the path; completed batches are kept.
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
  /** Rows copied unchanged from the previous complete store in `out` (their images are unchanged). */
  reused: number;
  /** Rows whose image changed since the previous store (or partial run) computed them; they were embedded again. */
  changed: number;
  /** True when `out` already held this exact store, for these exact images, and nothing was done. */
  alreadyComplete: boolean;
}

/** Rows of a previous complete store of this run whose images are unchanged (`same[k]` for row start + k). */
interface Reuse {
  same: Uint8Array;
  records: ImageRecords | null;
  changed: number;
}

/** Rows before this many of distinct content all embedded to one vector stop the run early (the final check sees all). */
const CONSTANT_EARLY = 64;

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

/**
 * Embed the rows of a manifest (or one shard of it) into a store at `out`. Reruns of the same
 * call continue an interrupted run, and reuse a complete store for the rows whose images are
 * unchanged; a store or partial run for another manifest, model, batch size or slice is refused
 * unless `force`. Stops with a CbirError naming the image when an image is missing or cannot be
 * decoded, or the model gives NaN/Inf, zero vectors or one vector for all images; all
 * completed batches stay on disk.
 */
export async function embedManifest(opts: EmbedOptions): Promise<EmbedResult> {
  const spec = runSpec(opts);
  try {
    return await embedChecked(opts, spec);
  } catch (e) {
    const partial = join(opts.out, PARTIAL_DIR);
    const journal = join(partial, 'journal.jsonl');
    const kept =
      existsSync(journal) && statSync(journal).size > 0 ? `the rows embedded so far are kept in ${partial}` : '';
    throw fsError(e, opts.out, 'writing the embedding store', kept);
  }
}

async function embedChecked(opts: EmbedOptions, spec: RunSpec): Promise<EmbedResult> {
  const { manifest, extractor, out } = opts;
  const { batchSize, start, end } = spec;
  // 0. Every row's path and image, before any work; their stat records key the caches.
  const stats = await checkImages(manifest, start, end);
  // 1. A complete store already there, for these images?
  const complete = await completeStore(opts, spec, stats);
  if (complete && 'result' in complete) return complete.result;
  const reuse = complete?.reuse ?? null;
  // 2. Partial run: continue it if it is this run (it keeps the longest consistent, unchanged prefix).
  const run = await PartialRun.open(out, spec, !!opts.force, { manifest, stats });
  try {
    const resumed = run.next - start;
    // 3. Embed (or copy from the previous store) the remaining batches.
    const done = run.next < end ? await embedRemaining(opts, spec, run, reuse, stats) : { embedded: 0, reused: 0 };
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
      naming(opts),
    );
    const changed = (reuse?.changed ?? 0) + run.changed;
    return { dir: out, meta, ...done, resumed, changed, alreadyComplete: false };
  } finally {
    await run.release().catch(() => {});
  }
}

/** How degenerate rows are named: manifest row, path and file. */
function naming(opts: EmbedOptions): Omit<DegenerateContext, 'total'> {
  const m = opts.manifest;
  return {
    source: `model "${opts.extractor.id}"`,
    label: (i) => `manifest row ${i + 1} ("${m.filepaths[i]}")`,
    file: (i) => m.resolvePath(i),
    codePrefix: 'embed',
  };
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
 * A complete store of this run already in `out`: the result when every row's image is
 * unchanged (leftovers of a partial run are deleted, refreshed stat records saved), else which
 * rows can be reused; null when there is none. One of another run is refused; `force` deletes
 * its meta.json. A store without image records (made before radcbir kept them) is reused for no row.
 */
async function completeStore(
  opts: EmbedOptions,
  spec: RunSpec,
  stats: Float64Array,
): Promise<{ result: EmbedResult } | { reuse: Reuse } | null> {
  const { out } = opts;
  const metaPath = join(out, META_FILE);
  if (!existsSync(metaPath)) return null;
  if (opts.force) {
    await rm(metaPath, { force: true });
    return null;
  }
  const meta = await readMeta(out);
  const have = specOfMeta(meta);
  const diff = sameSpec({ ...spec, ...have, batchSize: meta.batchSize ?? spec.batchSize }, spec);
  if (diff) refuse(diff, metaPath);
  await openEmbeddings(out); // the files are whole
  const records = await readImageRecords(out, meta.count);
  if (!records) return { reuse: { same: new Uint8Array(meta.count), records: null, changed: meta.count } };
  const before = Float64Array.from(records.stat);
  const { same, changed } = await unchangedRows(opts.manifest, spec.start, records, stats);
  if (changed > 0) return { reuse: { same, records, changed } };
  if (records.stat.some((v, i) => v !== before[i])) await writeImageRecords(out, records);
  await rm(join(out, PARTIAL_DIR), { recursive: true, force: true }); // leftovers of a run killed after meta.json
  const result = { dir: out, meta, embedded: 0, resumed: meta.count, reused: 0, changed: 0, alreadyComplete: true };
  return { result };
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

/** A batch in flight: computed by the runner, or copied from the previous store. */
type Batch = { s: number; e: number; work: Promise<TaskResult> | null };

/**
 * Embed rows run.next..end batch by batch and record each in the partial run; returns the rows
 * embedded and those copied from the previous store. Decoding (in the runner) runs ahead of the
 * extractor by at most `prefetch` batches.
 */
async function embedRemaining(
  opts: EmbedOptions,
  spec: RunSpec,
  run: PartialRun,
  reuse: Reuse | null,
  stats: Float64Array,
): Promise<{ embedded: number; reused: number }> {
  const { start, end, batchSize } = spec;
  const tracker = new ProgressTracker(
    `embed ${opts.extractor.id}`,
    end - start,
    opts.onProgress,
    'images',
    run.next - start,
  );
  const workers = opts.workers ?? defaultWorkers();
  const runner = startRunner(opts.extractor, workers);
  const copier = reuse?.records ? await StoreCopier.open(opts.out, spec.dim, start, reuse, stats) : null;
  const watch = new ConstantWatch(opts, spec);
  const counts = { embedded: 0, reused: 0 };
  try {
    const prefetch = Math.max(2, opts.prefetch ?? 2 * Math.max(1, workers));
    await run.openAppend(opts.chunkRows ?? 65536);
    const queue = new BatchQueue(runner, opts.manifest, run.next, end, batchSize, prefetch, copier);
    queue.fill();
    for (let batch = queue.take(); batch; batch = queue.take()) {
      const { s, e, work } = batch;
      const { rows, records } = work ? await computeBatch(opts, spec, await work, s, e) : await copier!.read(s, e);
      queue.fill();
      if (work) watch.add(rows, records, s);
      const bytes = new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength);
      await run.append(s, e, bytes, records, () => opts.onStage?.('batch-written', { start: s, end: e }));
      counts[work ? 'embedded' : 'reused'] += e - s;
      tracker.add(e - s);
      await opts.onStage?.('batch-recorded', { start: s, end: e });
    }
    tracker.finish();
    return counts;
  } finally {
    await run.closeAppend();
    await copier?.close();
    await runner.close();
  }
}

/** Run the extractor on a decoded batch; rows L2-normalised, with the records of its images. */
async function computeBatch(
  opts: EmbedOptions,
  spec: RunSpec,
  result: TaskResult,
  s: number,
  e: number,
): Promise<{ rows: Float32Array; records: ImageRecords }> {
  return { rows: await embedBatch(opts, spec, result, s, e), records: result.records };
}

/** Rows of the previous complete store in `out` whose images are unchanged, read batch by batch. */
class StoreCopier {
  private constructor(
    private readonly fh: FileHandle,
    private readonly dim: number,
    private readonly start: number,
    private readonly reuse: Reuse,
    private readonly stats: Float64Array,
  ) {}

  static async open(out: string, dim: number, start: number, reuse: Reuse, stats: Float64Array): Promise<StoreCopier> {
    return new StoreCopier(await open(join(out, VECTORS_FILE), 'r'), dim, start, reuse, stats);
  }

  /** Whether every row of s..e can be copied. */
  covers(s: number, e: number): boolean {
    for (let i = s; i < e; i++) if (!this.reuse.same[i - this.start]) return false;
    return true;
  }

  async read(s: number, e: number): Promise<{ rows: Float32Array; records: ImageRecords }> {
    const a = s - this.start;
    const b = e - this.start;
    const rows = new Float32Array((b - a) * this.dim);
    await readFully(this.fh, new Uint8Array(rows.buffer), a * this.dim * 4);
    const r = this.reuse.records!;
    const records = {
      sha1: r.sha1.slice(a * HASH_BYTES, b * HASH_BYTES),
      stat: this.stats.slice(a * STAT_FIELDS, b * STAT_FIELDS),
    };
    return { rows, records };
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => {});
  }
}

/**
 * Stops a run early when the model has given one vector to CONSTANT_EARLY rows whose images
 * differ (the check at the end sees every row, also for smaller runs).
 */
class ConstantWatch {
  private readonly check: RowCheck;
  private refSha: Uint8Array | null = null;
  private distinct = 0;

  constructor(
    private readonly opts: EmbedOptions,
    private readonly spec: RunSpec,
  ) {
    this.check = new RowCheck(spec.dim);
  }

  add(rows: Float32Array, records: ImageRecords, s: number): void {
    if (!this.check.allSame) return;
    const wasRef = this.check.refRow;
    this.check.add(rows, s);
    if (wasRef < 0 && this.check.refRow >= 0) {
      const k = this.check.refRow - s;
      this.refSha = records.sha1.slice(k * HASH_BYTES, (k + 1) * HASH_BYTES);
    }
    if (!this.refSha || !this.check.allSame) return;
    for (let k = 0; k < records.sha1.length / HASH_BYTES; k++)
      if (!sameHash(records.sha1, k, this.refSha, 0)) this.distinct++;
    if (this.distinct + 1 >= CONSTANT_EARLY) {
      const f = this.check.finding(true);
      if (f) throw degenerateError(f, { ...naming(this.opts), total: `${this.check.valid} images so far` });
    }
  }
}

/** Batches of the manifest submitted to the runner (or left to the copier), in order, at most `prefetch` in flight. */
class BatchQueue {
  private readonly queue: Batch[] = [];

  constructor(
    private readonly runner: BatchRunner,
    private readonly manifest: Manifest,
    private submit: number,
    private readonly end: number,
    private readonly batchSize: number,
    private readonly prefetch: number,
    private readonly copier: StoreCopier | null,
  ) {}

  /** Submit batches until `prefetch` are in flight or all are submitted. */
  fill(): void {
    while (this.queue.length < this.prefetch && this.submit < this.end) {
      const s = this.submit;
      const e = Math.min(this.end, s + this.batchSize);
      this.submit = e;
      if (this.copier?.covers(s, e)) {
        this.queue.push({ s, e, work: null });
        continue;
      }
      const paths: string[] = [];
      for (let i = s; i < e; i++) paths.push(this.manifest.resolvePath(i));
      const work = this.runner.run(paths);
      work.catch(() => {}); // handled when its turn comes; completed batches before it are kept
      this.queue.push({ s, e, work });
    }
  }

  /** The oldest batch in flight, or undefined when none is left. */
  take(): Batch | undefined {
    return this.queue.shift();
  }
}

/**
 * Run the extractor on one decoded batch (rows s..e) and return its rows L2-normalised (a
 * copy); a wrong number of values, a NaN/Inf or a zero vector is refused, naming the image.
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
  const zero = checkEmbeddingRows(rows, dim, false);
  if (zero) {
    const rowsOf = { ...zero, rows: zero.rows.map((r) => r + s) };
    throw degenerateError(rowsOf, {
      ...naming(opts),
      total: `${n} images in the batch of rows ${s + 1}–${e}`,
      note: `${s - start} images before this batch are saved`,
    });
  }
  rows = rows.slice(); // own copy: normalised in place, then written
  l2NormalizeRows(rows, dim);
  return rows;
}
