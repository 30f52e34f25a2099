import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, truncate, utimes, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CbirError } from '../errors.js';
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
  type ShardInfo,
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
      hint: 'shards count from 0: --shard 0/4, 1/4, 2/4, 3/4 embed the four quarters; a job array passes its task id as i',
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
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
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
            alive = (err as NodeJS.ErrnoException).code === 'EPERM';
          }
        }
      }
      if (alive) {
        throw new CbirError(`another embedding run (pid ${other.pid} on ${other.host}) is writing this store`, {
          file,
          hint: `wait for it to finish, or give this run another --out; a lock not refreshed for ${LOCK_STALE_MS / 1000} s is taken over automatically`,
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

/**
 * Embed the rows of a manifest (or one shard of it) into a store at `out`. Reruns of the same
 * call continue an interrupted run; a store or partial run for another manifest, model, batch
 * size or slice is refused unless `force`. Stops with a CbirError naming the image when an
 * image cannot be decoded or the model gives NaN/Inf; all completed batches stay on disk.
 */
export async function embedManifest(opts: EmbedOptions): Promise<EmbedResult> {
  const { manifest, extractor, out } = opts;
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new CbirError(`batch size must be a positive integer, got ${batchSize}`, {
      hint: 'use e.g. --batch 32',
      code: 'embed/bad-batch',
    });
  if (opts.shard) parseShard(`${opts.shard.index}/${opts.shard.count}`);
  const dim = extractor.dim;
  if (!Number.isInteger(dim) || dim < 1)
    throw new CbirError(`extractor ${extractor.id} reports dimension ${dim}`, { code: 'embed/bad-dim' });
  const total = manifest.size;
  const { start, end } = shardRange(total, batchSize, opts.shard);
  const spec: RunSpec = {
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
  const shardInfo: ShardInfo | undefined = opts.shard
    ? { index: opts.shard.index, count: opts.shard.count, start, end, total }
    : undefined;
  const partial = join(out, PARTIAL_DIR);
  const refuse = (what: string, file: string): never => {
    throw new CbirError(`this folder holds ${what}`, {
      file,
      hint: 'choose a new --out folder, or pass --force to delete them and start again',
      code: 'embed/mismatch',
    });
  };

  // 1. A complete store already there?
  const metaPath = join(out, META_FILE);
  if (existsSync(metaPath)) {
    if (opts.force) {
      await rm(metaPath, { force: true });
    } else {
      const meta = await readMeta(out);
      const have = specOfMeta(meta);
      const diff = sameSpec({ ...spec, ...have, batchSize: meta.batchSize ?? batchSize }, spec);
      if (diff) refuse(diff, metaPath);
      await rm(partial, { recursive: true, force: true }); // leftovers of a run killed after meta.json
      return { dir: out, meta, embedded: 0, resumed: meta.count, alreadyComplete: true };
    }
  }

  // 2. Partial run: continue it if it is this run.
  if (opts.force) await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  const release = await acquireLock(partial);
  let runner: BatchRunner | null = null;
  try {
    const runPath = join(partial, RUN);
    if (existsSync(runPath)) {
      let prev: RunSpec | null = null;
      try {
        prev = JSON.parse(await readFile(runPath, 'utf8')) as RunSpec;
      } catch {
        prev = null; // torn run.json: nothing can have been recorded yet
      }
      if (prev) {
        const diff = sameSpec(prev, spec);
        if (diff) refuse(diff, runPath);
      }
    }
    const journalPath = join(partial, JOURNAL);
    const { entries: raw, clean } = await readJournal(journalPath);
    if (!existsSync(runPath) || raw.length === 0) await writeJsonAtomic(runPath, spec);

    // 3. Check the recorded batches against the chunk files; keep the longest consistent prefix.
    const entries: JournalEntry[] = [];
    const chunkEnd = new Map<string, number>();
    let next = start;
    for (const e of raw) {
      const okShape =
        e.start === next &&
        e.end > e.start &&
        e.end <= end &&
        e.bytes === (e.end - e.start) * dim * 4 &&
        e.offset === (chunkEnd.get(e.chunk) ?? 0) &&
        /^chunk-\d+\.f32$/.test(e.chunk);
      if (!okShape) break;
      const p = join(partial, e.chunk);
      const size = existsSync(p) ? (await stat(p)).size : -1;
      if (size < e.offset + e.bytes) break;
      entries.push(e);
      chunkEnd.set(e.chunk, e.offset + e.bytes);
      next = e.end;
    }
    if (!clean || entries.length !== raw.length) await writeFileAtomic(journalPath, entries.map(journalLine).join(''));
    // drop bytes and chunk files that no recorded batch owns
    for (const f of await readdir(partial)) {
      if (!/^chunk-\d+\.f32$/.test(f)) continue;
      const keep = chunkEnd.get(f);
      if (keep === undefined) await rm(join(partial, f), { force: true });
      else if ((await stat(join(partial, f))).size !== keep) await truncate(join(partial, f), keep);
    }
    const resumed = next - start;

    // 4. Embed the remaining batches.
    let embedded = 0;
    if (next < end) {
      const tracker = new ProgressTracker(`embed ${extractor.id}`, end - start, opts.onProgress, 'images', resumed);
      const setup: TaskSetup = isBuiltinDescriptor(extractor)
        ? { mode: 'descriptor', descriptorId: extractor.id, fingerprint: extractor.fingerprint }
        : extractor.preprocess && extractor.embedTensor
          ? { mode: 'tensor', spec: extractor.preprocess }
          : { mode: 'decode' };
      const workers = opts.workers ?? defaultWorkers();
      if (!Number.isInteger(workers) || workers < 0)
        throw new CbirError(`--workers must be an integer ≥ 0, got ${workers}`, { code: 'embed/bad-workers' });
      runner = workers === 0 ? new InlineRunner(setup) : new WorkerPool(workers, setup);
      const prefetch = Math.max(2, opts.prefetch ?? 2 * Math.max(1, workers));
      const chunkRows = opts.chunkRows ?? 65536;

      const last = entries[entries.length - 1];
      let chunkName = last ? last.chunk : `chunk-${String(next).padStart(10, '0')}.f32`;
      let chunkOffset = chunkEnd.get(chunkName) ?? 0;
      let chunkFh: FileHandle = await open(join(partial, chunkName), 'a');
      const journalFh = await open(journalPath, 'a');
      try {
        // bounded queue of batches in flight: decoding runs ahead of the extractor by at most `prefetch` batches
        const queue: { s: number; e: number; work: Promise<TaskResult> }[] = [];
        let submit = next;
        const fill = () => {
          while (queue.length < prefetch && submit < end) {
            const s = submit;
            const e = Math.min(end, s + batchSize);
            const paths: string[] = [];
            for (let i = s; i < e; i++) paths.push(manifest.resolvePath(i));
            const work = runner!.run(paths);
            work.catch(() => {}); // handled when its turn comes; completed batches before it are kept
            queue.push({ s, e, work });
            submit = e;
          }
        };
        fill();
        while (queue.length > 0) {
          const { s, e, work } = queue.shift()!;
          const result = await work;
          fill();
          const n = e - s;
          let rows: Float32Array;
          if (result.kind === 'vectors') rows = result.data;
          else if (result.kind === 'tensor') rows = await extractor.embedTensor!(result.data, n);
          else rows = await extractor.embed(result.images);
          if (rows.length !== n * dim) {
            throw new CbirError(
              `extractor ${extractor.id} returned ${rows.length} values for ${n} images of dim ${dim}`,
              {
                file: manifest.resolvePath(s),
                hint: "the model card's dim or pooling does not match the model output; fix the card",
                code: 'embed/bad-output',
              },
            );
          }
          const bad = firstNonFiniteRow(rows, dim);
          if (bad >= 0) {
            const i = s + bad;
            throw new CbirError(
              `the embedding of this image contains NaN or Inf (manifest row ${i + 1} of ${total}, model ${extractor.id}); ${s - start} images before its batch are saved`,
              {
                file: manifest.resolvePath(i),
                hint: 'check the image (blank, corrupt or extreme values?) and the model; fix or remove it (then `cbir data prepare` again), or rerun the same command after fixing the model to resume',
                code: 'embed/non-finite',
              },
            );
          }
          rows = rows.slice(); // own copy: normalised in place, then written
          l2NormalizeRows(rows, dim);
          const bytes = new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength);
          if (chunkOffset > 0 && chunkOffset / (4 * dim) + n > chunkRows) {
            await chunkFh.close();
            chunkName = `chunk-${String(s).padStart(10, '0')}.f32`;
            chunkOffset = 0;
            chunkFh = await open(join(partial, chunkName), 'a');
          }
          let w = 0;
          while (w < bytes.byteLength) w += (await chunkFh.write(bytes, w, bytes.byteLength - w)).bytesWritten;
          await chunkFh.sync();
          await opts.onStage?.('batch-written', { start: s, end: e });
          const entry: JournalEntry = {
            start: s,
            end: e,
            chunk: chunkName,
            offset: chunkOffset,
            bytes: bytes.byteLength,
            sha256: createHash('sha256').update(bytes).digest('hex'),
          };
          await journalFh.write(journalLine(entry));
          await journalFh.sync();
          entries.push(entry);
          chunkOffset += bytes.byteLength;
          embedded += n;
          tracker.add(n);
          await opts.onStage?.('batch-recorded', { start: s, end: e });
        }
        tracker.finish();
      } finally {
        await chunkFh.close().catch(() => {});
        await journalFh.close().catch(() => {});
      }
      await runner.close();
      runner = null;
    }

    // 5. Finalise: concatenate the recorded batches (checking their hashes), write ids, then meta.json.
    await opts.onStage?.('before-finalize', { start, end });
    const writer = await StoreWriter.create(out, dim);
    try {
      const handles = new Map<string, FileHandle>();
      try {
        for (const e of entries) {
          let fh = handles.get(e.chunk);
          if (!fh) {
            fh = await open(join(partial, e.chunk), 'r');
            handles.set(e.chunk, fh);
          }
          const buf = new Uint8Array(e.bytes);
          await readFully(fh, buf, e.offset);
          if (createHash('sha256').update(buf).digest('hex') !== e.sha256) {
            throw new CbirError(
              `rows ${e.start}–${e.end} changed on disk after they were written (checksum mismatch)`,
              {
                file: join(partial, e.chunk),
                hint: 'the disk or file system damaged the partial run; rerun with --force to embed again',
                code: 'embed/corrupt-chunk',
              },
            );
          }
          await writer.appendBytes(buf);
        }
      } finally {
        for (const fh of handles.values()) await fh.close().catch(() => {});
      }
      const meta = await writer.finish(
        manifest.filepaths.slice(start, end),
        {
          modelId: extractor.id,
          fingerprint: extractor.fingerprint,
          manifestHash: manifest.hash,
          batchSize,
          ...(shardInfo ? { shard: shardInfo } : {}),
        },
        () => opts.onStage?.('before-meta', { start, end }),
      );
      await opts.onStage?.('after-meta', { start, end });
      await release();
      await rm(partial, { recursive: true, force: true });
      await opts.onStage?.('complete', { start, end });
      return { dir: out, meta, embedded, resumed, alreadyComplete: false };
    } catch (e) {
      await writer.abort();
      throw e;
    }
  } finally {
    if (runner) await runner.close();
    await release().catch(() => {});
  }
}
