import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, truncate, utimes, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CbirError, errorCode } from '../errors.js';
import type { Manifest } from '../data/manifest.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fsx.js';
import { PARTIAL_DIR, StoreWriter, readFully, type EmbeddingsMeta, type MetaFields } from './store.js';
import {
  HASH_BYTES,
  IMAGES_FILE,
  RECORD_BYTES,
  STAT_FIELDS,
  decodeRecords,
  differentContent,
  encodeRecords,
  unchangedRows,
  type ImageRecords,
} from './content.js';
import { RowCheck, degenerateError, type DegenerateContext } from './degenerate.js';

/**
 * The resumable partial run of an embedding (`<out>/partial/`): run.json (what is being
 * embedded), append-only chunk files of rows, images.bin (what each row was computed from, one
 * record per row, see content.ts), journal.jsonl and the lock. See pipeline.ts for the protocol.
 */

/** Identity of a run: a partial or complete store is only continued when all of it matches. */
export interface RunSpec {
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

export interface JournalEntry {
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

export function sameSpec(have: RunSpec, want: RunSpec): string | null {
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
export function refuse(what: string, file: string): never {
  throw new CbirError(`this folder holds ${what}`, {
    file,
    hint: 'write to a new output folder, or start again from scratch (force), which deletes them',
    code: 'embed/mismatch',
  });
}

/** What recovery checks the recorded rows against: the manifest and the images' stat records now (rows from the slice's start). */
export interface CurrentImages {
  manifest: Manifest;
  stats: Float64Array;
}

/**
 * The resumable partial run in `<out>/partial/`: it holds the lock, run.json, the journal, the
 * chunk files and images.bin. `open` takes the lock and recovers what an earlier run recorded
 * (rows whose image changed since are dropped with everything after them); `append` writes one
 * batch to the current chunk and its image records to images.bin (fsync) and only then records
 * it in the journal (fsync), so a kill -9 at any point loses at most the batch in flight;
 * `finalize` turns the recorded batches into the store and deletes the partial run; `release`
 * drops the lock.
 */
export class PartialRun {
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
  private imagesFh: FileHandle | null = null;
  /** Recorded rows dropped on recovery because their images changed. */
  changed = 0;

  private constructor(
    readonly dir: string,
    private readonly spec: RunSpec,
    /** Idempotent. */
    readonly release: () => Promise<void>,
  ) {
    this.nextRow = spec.start;
  }

  /** Create `<out>/partial` (emptied first with `force`), take its lock and recover the recorded batches. */
  static async open(out: string, spec: RunSpec, force: boolean, current: CurrentImages): Promise<PartialRun> {
    const dir = join(out, PARTIAL_DIR);
    if (force) await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const run = new PartialRun(dir, spec, await acquireLock(dir));
    try {
      await run.recover(current);
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

  /**
   * Refuse another run's partial, read the journal, keep its consistent prefix up to the first
   * row whose image changed since it was recorded, and drop unrecorded bytes.
   */
  private async recover(current: CurrentImages): Promise<void> {
    const runPath = join(this.dir, RUN);
    await this.checkRunSpec(runPath);
    const journalPath = join(this.dir, JOURNAL);
    const { entries: raw, clean } = await readJournal(journalPath);
    if (!existsSync(runPath) || raw.length === 0) await writeJsonAtomic(runPath, this.spec);
    await this.keepConsistentPrefix(raw);
    await this.keepUnchangedImages(current);
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
    const kept: JournalEntry[] = [];
    const ends = new Map<string, number>();
    let next = this.spec.start;
    for (const e of raw) {
      const okShape =
        e.start === next &&
        e.end > e.start &&
        e.end <= end &&
        e.bytes === (e.end - e.start) * dim * 4 &&
        e.offset === (ends.get(e.chunk) ?? 0) &&
        /^chunk-\d+\.f32$/.test(e.chunk);
      if (!okShape) break;
      const p = join(this.dir, e.chunk);
      const size = existsSync(p) ? (await stat(p)).size : -1;
      if (size < e.offset + e.bytes) break;
      kept.push(e);
      ends.set(e.chunk, e.offset + e.bytes);
      next = e.end;
    }
    this.keep(kept);
  }

  /** Keep these recorded batches (a prefix of the journal) and nothing after them. */
  private keep(entries: JournalEntry[]): void {
    this.entries = entries;
    this.chunkEnd = new Map();
    for (const e of entries) this.chunkEnd.set(e.chunk, e.offset + e.bytes);
    this.nextRow = entries.length > 0 ? entries[entries.length - 1].end : this.spec.start;
  }

  /**
   * Keep recorded batches only while images.bin holds their rows' records and those images are
   * unchanged (same stat record, or same content hash); cut images.bin to the kept rows.
   */
  private async keepUnchangedImages(current: CurrentImages): Promise<void> {
    const { start } = this.spec;
    const file = join(this.dir, IMAGES_FILE);
    const size = existsSync(file) ? (await stat(file)).size : 0;
    const withRecords = Math.floor(size / RECORD_BYTES);
    let n = this.entries.findIndex((e) => e.end - start > withRecords);
    if (n >= 0) this.keep(this.entries.slice(0, n));
    const rows = this.nextRow - start;
    let refreshed: ImageRecords | null = null;
    if (rows > 0) {
      const recorded = await this.readRecords(rows);
      const before = Float64Array.from(recorded.stat);
      const stats = current.stats.subarray(0, rows * STAT_FIELDS);
      const { same } = await unchangedRows(current.manifest, start, recorded, stats);
      const firstChanged = same.indexOf(0);
      if (firstChanged >= 0) {
        n = this.entries.findIndex((e) => e.end - start > firstChanged);
        this.changed = rows - (this.entries[n].start - start);
        this.keep(this.entries.slice(0, n));
      }
      if (recorded.stat.some((v, i) => v !== before[i])) refreshed = recorded;
    }
    const kept = this.nextRow - start;
    if (refreshed && kept > 0) {
      // same images, new stat records (touched or copied): keep the fresh ones
      const r = {
        sha1: refreshed.sha1.subarray(0, kept * HASH_BYTES),
        stat: refreshed.stat.subarray(0, kept * STAT_FIELDS),
      };
      await writeFileAtomic(file, encodeRecords(r));
    } else if (size !== kept * RECORD_BYTES && existsSync(file)) await truncate(file, kept * RECORD_BYTES);
  }

  /** The image records of the first `rows` recorded rows. */
  private async readRecords(rows: number): Promise<ImageRecords> {
    const buf = new Uint8Array(rows * RECORD_BYTES);
    const fh = await open(join(this.dir, IMAGES_FILE), 'r');
    try {
      await readFully(fh, buf, 0);
    } finally {
      await fh.close();
    }
    return decodeRecords(buf);
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

  /** Open the current chunk (the last recorded one, or a new one), images.bin and the journal for appending. */
  async openAppend(chunkRows: number): Promise<void> {
    this.chunkRows = chunkRows;
    const last = this.entries[this.entries.length - 1];
    this.chunkName = last ? last.chunk : chunkFileName(this.nextRow);
    this.chunkOffset = this.chunkEnd.get(this.chunkName) ?? 0;
    this.chunkFh = await open(join(this.dir, this.chunkName), 'a');
    this.imagesFh = await open(join(this.dir, IMAGES_FILE), 'a');
    this.journalFh = await open(join(this.dir, JOURNAL), 'a');
  }

  /**
   * Append the rows s..e (`bytes`) to the current chunk (starting a new chunk when it is full)
   * and their image records to images.bin, fsync both, call `afterWrite`, then record the batch
   * in the journal and fsync.
   */
  async append(
    s: number,
    e: number,
    bytes: Uint8Array,
    records: ImageRecords,
    afterWrite: () => void | Promise<void>,
  ): Promise<void> {
    const n = e - s;
    if (this.chunkOffset > 0 && this.chunkOffset / (4 * this.spec.dim) + n > this.chunkRows) {
      await this.chunkFh!.close();
      this.chunkName = chunkFileName(s);
      this.chunkOffset = 0;
      this.chunkFh = await open(join(this.dir, this.chunkName), 'a');
    }
    await writeAll(this.chunkFh!, bytes);
    await writeAll(this.imagesFh!, encodeRecords(records));
    await this.chunkFh!.sync();
    await this.imagesFh!.sync();
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

  /** Close the chunk, images and journal handles (errors ignored). */
  async closeAppend(): Promise<void> {
    for (const fh of [this.chunkFh, this.imagesFh, this.journalFh]) await fh?.close().catch(() => {});
    this.chunkFh = null;
    this.imagesFh = null;
    this.journalFh = null;
  }

  /**
   * Concatenate the recorded batches (checking their hashes and that the embeddings are not
   * degenerate) into the store at `out`, write ids and images.bin, then meta.json; then release
   * the lock and delete the partial run.
   */
  async finalize(
    out: string,
    ids: readonly string[],
    fields: MetaFields,
    onStage: StageHook,
    naming: Omit<DegenerateContext, 'total'>,
  ): Promise<EmbeddingsMeta> {
    const writer = await StoreWriter.create(out, this.spec.dim);
    try {
      const check = await this.copyInto(writer);
      const records = await this.readRecords(this.nextRow - this.spec.start);
      const finding = check.finding(check.allSame && this.distinctFrom(records, check.refRow - this.spec.start));
      if (finding) throw degenerateError(finding, { ...naming, total: `${ids.length} images` });
      const meta = await writer.finish(ids, fields, () => onStage('before-meta'), records);
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

  /** Whether some row's image differs in content from row `ref`'s. */
  private distinctFrom(records: ImageRecords, ref: number): boolean {
    const n = records.sha1.length / HASH_BYTES;
    if (ref < 0) return false;
    for (let i = 0; i < n; i++) if (differentContent(records, i, ref)) return true;
    return false;
  }

  /** Append every recorded batch to `writer` (refusing one whose bytes no longer match its sha256); returns the rows' check. */
  private async copyInto(writer: StoreWriter): Promise<RowCheck> {
    const handles = new Map<string, FileHandle>();
    const check = new RowCheck(this.spec.dim);
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
        check.add(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4), e.start);
        await writer.appendBytes(buf);
      }
    } finally {
      for (const fh of handles.values()) await fh.close().catch(() => {});
    }
    return check;
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let w = 0;
  while (w < bytes.byteLength) w += (await fh.write(bytes, w, bytes.byteLength - w)).bytesWritten;
}

/** A pipeline stage hook bound to one row range. */
export type StageHook = (stage: 'before-meta' | 'after-meta' | 'complete') => void | Promise<void>;
