import { createHash, type Hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, join } from 'node:path';
import { CbirError, errorMessage } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fsx.js';
import {
  IMAGES_FILE,
  RECORD_BYTES,
  decodeRecords,
  encodeRecords,
  recordsDigest,
  type ImageRecords,
} from './content.js';
import { withFsErrors } from '../util/fserrors.js';

/**
 * An embedding store is a folder:
 *   vectors.f32  float32, little-endian, row-major count × dim, rows L2-normalised
 *   ids.txt      one id per line (the manifest's filepath of each row, in row order), '\n'-terminated
 *   meta.json    model id, extractor fingerprint, dim, count, manifest hash, created, content hash
 *   images.bin   (embedded stores) what each row was computed from: the SHA-1 of the image file's
 *                bytes and its stat record (content.ts); the key of the embedding cache
 * meta.json is written last, atomically: a store is complete exactly when meta.json exists.
 * contentHash = sha256(bytes of vectors.f32 ‖ bytes of ids.txt); it does not depend on when or
 * how (resumed, sharded, merged) the store was made. images.digest = sha256 of the rows' SHA-1s.
 */
export const VECTORS_FILE = 'vectors.f32';
export const IDS_FILE = 'ids.txt';
export const META_FILE = 'meta.json';
/** Folder inside a store folder holding an unfinished (resumable) embedding run. */
export const PARTIAL_DIR = 'partial';
export const STORE_FORMAT = 'radcbir-embeddings';

/**
 * The most values one Float32Array holds here (Node 20 / V8: 2^32 elements; its ArrayBuffer may
 * exceed 4 GiB, but no Uint8Array or Buffer over more than 4 GiB can be made). 2^32 − 1 is kept.
 */
export const MAX_ARRAY_VALUES = 2 ** 32 - 1;
/** The largest byte view one read goes through. */
const MAX_VIEW_BYTES = 1 << 30;
/** Rows per block when neither the caller nor CBIR_BLOCK_ROWS says otherwise. */
export const DEFAULT_BLOCK_ROWS = 4096;

/**
 * Rows per block of every blocked path (store reads, readAll's reads, k-NN query blocks). The
 * environment variable CBIR_BLOCK_ROWS, read here and nowhere else, overrides every block size
 * (tests force tiny blocks with it); otherwise `preferred` (the caller's), else 4096.
 */
export function blockRows(preferred?: number): number {
  const env = process.env.CBIR_BLOCK_ROWS;
  const size = env !== undefined && env !== '' ? Number(env) : (preferred ?? DEFAULT_BLOCK_ROWS);
  if (!Number.isInteger(size) || size <= 0) {
    throw new CbirError(
      env !== undefined && env !== ''
        ? `CBIR_BLOCK_ROWS must be a positive integer, got "${env}"`
        : `the block size must be a positive integer, got ${size}`,
      { hint: 'unset CBIR_BLOCK_ROWS, or give a row count such as 4096', code: 'embeddings/bad-block-rows' },
    );
  }
  return size;
}

/** Which contiguous slice of a manifest a shard store holds. */
export interface ShardInfo {
  /** 0-based shard number. */
  index: number;
  count: number;
  /** First manifest row (inclusive). */
  start: number;
  /** Last manifest row (exclusive). */
  end: number;
  /** Rows in the whole manifest. */
  total: number;
}

export interface EmbeddingsMeta {
  format: typeof STORE_FORMAT;
  version: 1;
  modelId: string;
  /** Fingerprint of the extractor (weights + preprocessing, or descriptor parameters). */
  fingerprint: string;
  dim: number;
  count: number;
  /** Hash of the manifest the rows belong to (Manifest.hash). */
  manifestHash: string;
  /** ISO time the store was completed. */
  created: string;
  contentHash: string;
  dtype: 'float32';
  byteOrder: 'little';
  normalization: 'l2';
  /** Batch size the rows were computed with (batches are aligned to multiples of it). */
  batchSize?: number;
  /** Present on shard stores only. */
  shard?: ShardInfo;
  /** Where the vectors came from when not embedded here (e.g. an HDF5 import). */
  source?: Record<string, unknown>;
  /** The images the rows were computed from (embedded stores): images.bin and the digest of the rows' SHA-1s. */
  images?: { file: typeof IMAGES_FILE; hash: 'sha1'; digest: string };
}

/** The fields a writer needs; the rest (count, contentHash, created, format) it fills in. */
export type MetaFields = Pick<EmbeddingsMeta, 'modelId' | 'fingerprint' | 'manifestHash'> &
  Partial<Pick<EmbeddingsMeta, 'batchSize' | 'shard' | 'source'>>;

function assertLittleEndian(): void {
  if (endianness() !== 'LE')
    throw new CbirError('embedding stores are little-endian float32; this machine is big-endian', {
      code: 'embeddings/endianness',
    });
}

/** ids.txt bytes for a list of ids (rejects ids holding a line break). */
export function idsText(ids: readonly string[], file = IDS_FILE): string {
  for (let i = 0; i < ids.length; i++) {
    if (/[\r\n]/.test(ids[i])) {
      throw new CbirError(`id "${ids[i].replace(/[\r\n]/g, '⏎')}" holds a line break`, {
        file,
        row: i + 1,
        hint: 'rename the image so that its path has no line break, and rebuild the manifest',
        code: 'embeddings/bad-id',
      });
    }
  }
  return ids.length === 0 ? '' : ids.join('\n') + '\n';
}

/**
 * Streaming writer of one store: append row blocks (any number of rows), then `finish` with
 * the ids and the meta fields. The vectors go to a temporary file that is fsynced and renamed;
 * meta.json is written last, so a crash at any point leaves no complete-looking store.
 */
export class StoreWriter {
  private readonly hash: Hash = createHash('sha256');
  private rowsWritten = 0;
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly dim: number,
    private readonly fh: FileHandle,
    private readonly tmp: string,
  ) {}

  /** Start writing a store into `dir` (an existing store there is made incomplete at once). */
  static async create(dir: string, dim: number): Promise<StoreWriter> {
    assertLittleEndian();
    if (!Number.isInteger(dim) || dim <= 0)
      throw new CbirError(`embedding dimension must be a positive integer, got ${dim}`, {
        file: dir,
        code: 'embeddings/bad-dim',
      });
    const tmp = join(dir, `.${VECTORS_FILE}.${process.pid}.tmp`);
    const fh = await withFsErrors(dir, 'creating the embedding store', async () => {
      await mkdir(dir, { recursive: true });
      await rm(join(dir, META_FILE), { force: true });
      return open(tmp, 'w');
    });
    return new StoreWriter(dir, dim, fh, tmp);
  }

  get count(): number {
    return this.rowsWritten;
  }

  /** Append whole rows (length a multiple of dim). The bytes are written as they are. */
  async append(rows: Float32Array): Promise<void> {
    if (rows.length % this.dim !== 0)
      throw new Error(`StoreWriter.append: ${rows.length} values is not a multiple of dim ${this.dim}`);
    const bytes = new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength);
    await this.appendBytes(bytes);
  }

  /** Append raw little-endian float32 row bytes (length a multiple of 4·dim). */
  async appendBytes(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength % (4 * this.dim) !== 0)
      throw new Error(`StoreWriter.appendBytes: ${bytes.byteLength} bytes is not a whole number of rows`);
    await withFsErrors(this.dir, 'writing the embedding store', async () => {
      let off = 0;
      while (off < bytes.byteLength) {
        const { bytesWritten } = await this.fh.write(bytes, off, bytes.byteLength - off);
        off += bytesWritten;
      }
    });
    this.hash.update(bytes);
    this.rowsWritten += bytes.byteLength / (4 * this.dim);
  }

  /**
   * Write ids.txt (and images.bin when `images` are given) and meta.json. `beforeMeta` runs after
   * the data files are in place and before meta.json is written (used by tests to crash in that
   * window). File-system failures (a full disk, …) become CbirErrors naming the store.
   */
  async finish(
    ids: readonly string[],
    fields: MetaFields,
    beforeMeta?: () => void | Promise<void>,
    images?: ImageRecords,
  ): Promise<EmbeddingsMeta> {
    if (ids.length !== this.rowsWritten)
      throw new Error(`StoreWriter.finish: ${ids.length} ids for ${this.rowsWritten} rows`);
    if (images && images.sha1.length / 20 !== this.rowsWritten)
      throw new Error(`StoreWriter.finish: ${images.sha1.length / 20} image records for ${this.rowsWritten} rows`);
    return withFsErrors(this.dir, 'writing the embedding store', () =>
      this.writeFiles(ids, fields, beforeMeta, images),
    );
  }

  private async writeFiles(
    ids: readonly string[],
    fields: MetaFields,
    beforeMeta: (() => void | Promise<void>) | undefined,
    images: ImageRecords | undefined,
  ): Promise<EmbeddingsMeta> {
    await this.fh.sync();
    await this.fh.close();
    this.closed = true;
    const text = Buffer.from(idsText(ids, join(this.dir, IDS_FILE)), 'utf8');
    this.hash.update(text);
    const idsTmp = join(this.dir, `.${IDS_FILE}.${process.pid}.tmp`);
    const ih = await open(idsTmp, 'w');
    try {
      await ih.writeFile(text);
      await ih.sync();
    } finally {
      await ih.close();
    }
    if (images) await writeFileAtomic(join(this.dir, IMAGES_FILE), encodeRecords(images));
    else await rm(join(this.dir, IMAGES_FILE), { force: true });
    await rename(this.tmp, join(this.dir, VECTORS_FILE));
    await rename(idsTmp, join(this.dir, IDS_FILE));
    await fsyncDir(this.dir);
    if (beforeMeta) await beforeMeta();
    const meta: EmbeddingsMeta = {
      format: STORE_FORMAT,
      version: 1,
      modelId: fields.modelId,
      fingerprint: fields.fingerprint,
      dim: this.dim,
      count: this.rowsWritten,
      manifestHash: fields.manifestHash,
      created: new Date().toISOString(),
      contentHash: this.hash.digest('hex'),
      dtype: 'float32',
      byteOrder: 'little',
      normalization: 'l2',
      ...(fields.batchSize !== undefined ? { batchSize: fields.batchSize } : {}),
      ...(fields.shard ? { shard: fields.shard } : {}),
      ...(fields.source ? { source: fields.source } : {}),
      ...(images ? { images: { file: IMAGES_FILE, hash: 'sha1' as const, digest: recordsDigest(images) } } : {}),
    };
    await writeJsonAtomic(join(this.dir, META_FILE), meta);
    await fsyncDir(this.dir);
    return meta;
  }

  /** Give up: close and delete the temporary vectors file. */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => {});
    }
    await rm(this.tmp, { force: true });
  }
}

async function fsyncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // some filesystems do not allow fsync on a directory; the renames are still ordered
  }
}

/** Write a whole store from one matrix (for small stores, imports and tests). Rows are written as given. */
export async function writeEmbeddings(
  dir: string,
  vectors: Float32Array,
  ids: readonly string[],
  dim: number,
  fields: MetaFields,
): Promise<EmbeddingsMeta> {
  if (vectors.length !== ids.length * dim)
    throw new CbirError(`${vectors.length} values for ${ids.length} ids of dim ${dim}`, {
      file: dir,
      code: 'embeddings/shape',
    });
  const w = await StoreWriter.create(dir, dim);
  try {
    await w.append(vectors);
    return await w.finish(ids, fields);
  } catch (e) {
    await w.abort();
    throw e;
  }
}

/** An opened, complete embedding store. */
export interface EmbeddingStore {
  dir: string;
  meta: EmbeddingsMeta;
  count: number;
  dim: number;
  /** Row ids (manifest filepaths), in row order. */
  ids: string[];
  /**
   * The whole matrix (count × dim) in one Float32Array, read through views of at most 1 GiB; up
   * to MAX_ARRAY_VALUES values (a CbirError `embeddings/too-large` beyond: use `rows`).
   */
  readAll(): Promise<Float32Array>;
  /** Stream the matrix in blocks of up to `blockSize` rows (default `blockRows()`); each block is a fresh array. */
  rows(blockSize?: number): AsyncIterable<{ start: number; data: Float32Array }>;
}

/** Read and check meta.json of a store folder (throws a CbirError saying what to do when it is absent or broken). */
export async function readMeta(dir: string): Promise<EmbeddingsMeta> {
  const metaPath = join(dir, META_FILE);
  if (!existsSync(dir)) {
    throw new CbirError('embedding store folder not found', {
      file: dir,
      hint: 'give the output folder of an embedding run (or of an HDF5 import)',
      code: 'embeddings/not-found',
    });
  }
  if (!existsSync(metaPath)) {
    if (existsSync(join(dir, PARTIAL_DIR))) {
      throw new CbirError('this embedding run has not finished (no meta.json yet)', {
        file: dir,
        hint: 'run the same embedding again: it resumes where it stopped',
        code: 'embeddings/incomplete',
      });
    }
    throw new CbirError('not an embedding store (no meta.json)', {
      file: dir,
      hint: 'give the output folder of an embedding run; a store is complete only when meta.json exists',
      code: 'embeddings/not-a-store',
    });
  }
  let meta: EmbeddingsMeta;
  try {
    meta = JSON.parse(await readFile(metaPath, 'utf8'));
  } catch (e) {
    throw new CbirError(`meta.json is not valid JSON (${errorMessage(e)})`, {
      file: metaPath,
      hint: 'the store is damaged; embed it again from scratch',
      code: 'embeddings/bad-meta',
      cause: e,
    });
  }
  if (
    meta.format !== STORE_FORMAT ||
    !Number.isInteger(meta.dim) ||
    meta.dim <= 0 ||
    !Number.isInteger(meta.count) ||
    meta.count < 0
  ) {
    throw new CbirError('meta.json does not describe a radcbir embedding store (format, dim or count missing)', {
      file: metaPath,
      hint: "embed it again from scratch, or import published vectors from the study's HDF5 files",
      code: 'embeddings/bad-meta',
    });
  }
  return meta;
}

/** Read the ids of a store (one per line). */
async function readIds(dir: string, expected: number): Promise<string[]> {
  const file = join(dir, IDS_FILE);
  if (!existsSync(file))
    throw new CbirError('ids.txt is missing', {
      file: dir,
      hint: 'the store is damaged; embed it again from scratch',
      code: 'embeddings/missing-ids',
    });
  const text = await readFile(file, 'utf8');
  const ids = text.length === 0 ? [] : text.slice(0, text.endsWith('\n') ? -1 : undefined).split('\n');
  if (ids.length !== expected) {
    throw new CbirError(`ids.txt has ${ids.length} lines but meta.json says count ${expected}`, {
      file,
      row: Math.min(ids.length, expected) + 1,
      hint: 'the store is damaged; embed it again from scratch',
      code: 'embeddings/ids-count',
    });
  }
  return ids;
}

/** Open a complete store: checks meta.json, ids.txt and the size of vectors.f32. */
export async function openEmbeddings(dir: string): Promise<EmbeddingStore> {
  assertLittleEndian();
  const meta = await readMeta(dir);
  const ids = await readIds(dir, meta.count);
  const vpath = join(dir, VECTORS_FILE);
  const size = existsSync(vpath) ? (await stat(vpath)).size : -1;
  const expected = meta.count * meta.dim * 4;
  if (size !== expected) {
    throw new CbirError(
      size < 0
        ? 'vectors.f32 is missing'
        : `vectors.f32 has ${size} bytes, expected ${expected} (count ${meta.count} × dim ${meta.dim} × 4)`,
      { file: vpath, hint: 'the store is damaged; embed it again from scratch', code: 'embeddings/size' },
    );
  }
  const { count, dim } = meta;
  return {
    dir,
    meta,
    count,
    dim,
    ids,
    readAll: () => readWhole(vpath, count, dim),
    rows(blockSize) {
      const size = blockRows(blockSize);
      return {
        async *[Symbol.asyncIterator]() {
          const fh = await open(vpath, 'r');
          try {
            for (let start = 0; start < count; start += size) {
              const n = Math.min(size, count - start);
              const data = new Float32Array(n * dim);
              await readFully(fh, new Uint8Array(data.buffer), start * dim * 4);
              yield { start, data };
            }
          } finally {
            await fh.close();
          }
        },
      };
    },
  };
}

/** vectors.f32 (count × dim) into one Float32Array, block by block through byte views of at most 1 GiB. */
async function readWhole(vpath: string, count: number, dim: number): Promise<Float32Array> {
  const values = count * dim;
  if (values > MAX_ARRAY_VALUES) {
    throw new CbirError(
      `${count} rows × ${dim} = ${values} values do not fit one Float32Array (at most 2^32 − 1 = ${MAX_ARRAY_VALUES} values, ${Math.floor(MAX_ARRAY_VALUES / count)} dimensions at this row count)`,
      {
        file: vpath,
        hint: 'this step holds every vector in one array: read the store in blocks instead (EmbeddingStore.rows(blockSize), as a saved index is built), or evaluate fewer rows',
        code: 'embeddings/too-large',
      },
    );
  }
  const out = new Float32Array(values);
  const rowBytes = dim * 4;
  const step = Math.max(1, Math.min(blockRows(), Math.floor(MAX_VIEW_BYTES / rowBytes)));
  const fh = await open(vpath, 'r');
  try {
    for (let start = 0; start < count; start += step) {
      const n = Math.min(step, count - start);
      await readFully(fh, new Uint8Array(out.buffer, start * rowBytes, n * rowBytes), start * rowBytes);
    }
  } finally {
    await fh.close();
  }
  return out;
}

/**
 * The image records of a store (what each row was computed from), or null when the store has
 * none (imported, written directly, or made before radcbir recorded them) or they are damaged.
 */
export async function readImageRecords(dir: string, count: number): Promise<ImageRecords | null> {
  try {
    const bytes = await readFile(join(dir, IMAGES_FILE));
    if (bytes.byteLength !== count * RECORD_BYTES) return null;
    return decodeRecords(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch {
    return null;
  }
}

/** Replace a complete store's image records (same hashes, refreshed stat records); atomic. */
export async function writeImageRecords(dir: string, records: ImageRecords): Promise<void> {
  await withFsErrors(dir, 'updating the image records of the embedding store', () =>
    writeFileAtomic(join(dir, IMAGES_FILE), encodeRecords(records)),
  );
}

/** Read exactly buf.byteLength bytes at `position` (fails on a short file). */
export async function readFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < buf.byteLength) {
    const len = Math.min(buf.byteLength - off, 1 << 30);
    const { bytesRead } = await fh.read(buf, off, len, position + off);
    if (bytesRead === 0)
      throw new CbirError(`file ended after ${position + off} bytes`, {
        hint: 'the file is truncated; embed it again from scratch',
        code: 'embeddings/truncated',
      });
    off += bytesRead;
  }
}

/** Recompute a store's content hash from its files: sha256(vectors.f32 ‖ ids.txt). */
export async function computeContentHash(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of [VECTORS_FILE, IDS_FILE]) {
    const fh = await open(join(dir, f), 'r');
    try {
      const buf = new Uint8Array(1 << 20);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.byteLength, null);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
      }
    } finally {
      await fh.close();
    }
  }
  return h.digest('hex');
}

export interface EmbeddingsInfo {
  dir: string;
  count: number;
  dim: number;
  modelId: string;
  fingerprint: string;
  manifestHash: string;
  contentHash: string;
  created: string;
  bytes: number;
  batchSize?: number;
  shard?: ShardInfo;
  source?: Record<string, unknown>;
  /** Digest of the images the rows were computed from (embedded stores). */
  imagesDigest?: string;
  /** Present when `verify` was asked: whether the files still hash to contentHash. */
  verified?: boolean;
}

/** Summary of a store; with `verify`, also recomputes the content hash and fails when it differs. */
export async function embeddingsInfo(dir: string, opts: { verify?: boolean } = {}): Promise<EmbeddingsInfo> {
  const store = await openEmbeddings(dir);
  const m = store.meta;
  const info: EmbeddingsInfo = {
    dir,
    count: m.count,
    dim: m.dim,
    modelId: m.modelId,
    fingerprint: m.fingerprint,
    manifestHash: m.manifestHash,
    contentHash: m.contentHash,
    created: m.created,
    bytes: m.count * m.dim * 4,
    ...(m.batchSize !== undefined ? { batchSize: m.batchSize } : {}),
    ...(m.shard ? { shard: m.shard } : {}),
    ...(m.source ? { source: m.source } : {}),
    ...(m.images ? { imagesDigest: m.images.digest } : {}),
  };
  if (opts.verify) {
    const actual = await computeContentHash(dir);
    if (actual !== m.contentHash) {
      throw new CbirError(`content hash mismatch: files hash to ${actual}, meta.json says ${m.contentHash}`, {
        file: join(dir, basename(VECTORS_FILE)),
        hint: 'the store was modified or damaged after it was written; embed it again from scratch',
        code: 'embeddings/hash-mismatch',
      });
    }
    info.verified = true;
  }
  return info;
}
