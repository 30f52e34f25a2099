/**
 * What an image file holds, for the duplicate and leakage checks: the sha256 of its bytes, the
 * sha256 of its decoded pixels and its 16×16 thumbnail (thumbs.ts). Files are read safely
 * (non-blocking open, regular files only, at most MAX_IMAGE_BYTES), and the results are cached
 * in a CSV keyed by path, size and mtime (`prepare` keeps one in its output folder; reports keep
 * one in their work folder).
 */
import { constants, createWriteStream, existsSync } from 'node:fs';
import { once } from 'node:events';
import { mkdir, open, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CbirError, errorCode, errorMessage } from '../errors.js';
import { decodeImage, type RgbImage } from '../images/decode.js';
import { sha256, writeFileAtomic } from '../util/fsx.js';
import { csvLine, readCsvRecords } from '../util/csv.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { THUMB_PIXELS, thumbnail16 } from './thumbs.js';

/** The largest image file read (512 MiB): anything bigger is refused, so a stray huge file cannot fill memory. */
export const MAX_IMAGE_BYTES = 512 * 1024 * 1024;

/** Error codes of files that could not be read (as opposed to files read but not decodable: 'image/corrupt'). */
export const UNREADABLE_CODES = ['image/unreadable', 'image/not-a-file', 'image/too-large'] as const;

/** True when `e` says the file could not be read at all (permission, missing, not a regular file, too large). */
export function isUnreadable(e: unknown): boolean {
  return e instanceof CbirError && (UNREADABLE_CODES as readonly string[]).includes(e.code ?? '');
}

/** Why opening or reading a file failed, in words. */
function readFailure(e: unknown): string {
  switch (errorCode(e)) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'the file does not exist (a broken link, or it was removed)';
    case 'ENOTDIR':
      return 'a part of its path is a file, not a folder';
    case 'ELOOP':
      return 'too many levels of symbolic links (a link loop)';
    case 'EISDIR':
      return 'it is a folder';
    default:
      return errorMessage(e).split('\n')[0];
  }
}

/**
 * Read an image file whole. Opened non-blocking, so a FIFO cannot hang; only regular files are
 * read (a device such as /dev/zero is refused); files over `maxBytes` are refused. Throws a
 * CbirError with code image/unreadable, image/not-a-file or image/too-large naming the file.
 */
export async function readImageBytes(file: string, maxBytes = MAX_IMAGE_BYTES): Promise<Buffer> {
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new CbirError(`cannot read the image: ${readFailure(e)}`, {
      file,
      hint: 'make the file readable (or remove it from the source), then run again',
      code: 'image/unreadable',
      cause: e,
    });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile())
      throw new CbirError(
        `not a regular file (${st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a folder' : 'a device or socket'})`,
        {
          file,
          hint: 'only image files are read; remove it or replace it with the image itself',
          code: 'image/not-a-file',
        },
      );
    if (st.size > maxBytes) throw tooLarge(file, st.size, maxBytes);
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      const { bytesRead } = await fh.read(buf, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return off === st.size ? buf : buf.subarray(0, off);
  } catch (e) {
    if (e instanceof CbirError) throw e;
    throw new CbirError(`cannot read the image: ${readFailure(e)}`, {
      file,
      hint: 'make the file readable (or remove it from the source), then run again',
      code: 'image/unreadable',
      cause: e,
    });
  } finally {
    await fh.close().catch(() => {});
  }
}

function tooLarge(file: string, size: number, max: number): CbirError {
  const mib = (b: number) => `${Math.round(b / 1048576)} MiB`;
  return new CbirError(`the file is ${mib(size)}, over the ${mib(max)} limit for one image`, {
    file,
    hint: 'this is not a 2D image the benchmark can use; remove it from the source',
    code: 'image/too-large',
  });
}

/** sha256 of decoded pixels: dimensions then RGB bytes. */
export function pixelHash(img: RgbImage): string {
  return sha256(
    Buffer.concat([
      Buffer.from(`${img.width}x${img.height}\n`),
      Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength),
    ]),
  );
}

/** The content keys of one image. */
export interface ImageContent {
  byteHash: string;
  pixelHash: string;
  /** 16×16 grayscale thumbnail (THUMB_PIXELS bytes). */
  thumb: Uint8Array;
}

/** Content keys of decoded bytes. */
export function contentOf(bytes: Uint8Array, img: RgbImage): ImageContent {
  return { byteHash: sha256(bytes), pixelHash: pixelHash(img), thumb: thumbnail16(img) };
}

/** A cache of content keys by file path, size and mtime (see `openContentCache`). */
export interface ContentCache {
  get(file: string, size: number, mtimeMs: number): ImageContent | undefined;
  put(file: string, size: number, mtimeMs: number, c: ImageContent): Promise<void>;
  /** Rewrite the cache with only the entries of `keep` (all when omitted), and close it. */
  close(keep?: string[]): Promise<void>;
}

/** Bump when decoding, hashing or the thumbnail change, so old caches are ignored. */
const CACHE_VERSION = '2';
const CACHE_HEADER = csvLine(['file', 'size', 'mtime_ms', 'byte_sha256', 'pixel_sha256', 'thumb16', 'version']);

function cacheLine(file: string, size: number, mtimeMs: string, c: ImageContent): string {
  const thumb = Buffer.from(c.thumb.buffer, c.thumb.byteOffset, c.thumb.byteLength).toString('base64');
  return csvLine([file, size, mtimeMs, c.byteHash, c.pixelHash, thumb, CACHE_VERSION]);
}

/** The entries of a cache file (a damaged or old one reads as empty: it is only a lost speed-up). */
async function readCache(path: string): Promise<Map<string, { size: number; mtimeMs: string; c: ImageContent }>> {
  const map = new Map<string, { size: number; mtimeMs: string; c: ImageContent }>();
  if (!existsSync(path)) return map;
  try {
    let first = true;
    for await (const { cells } of readCsvRecords(path)) {
      if (first) {
        first = false;
        continue;
      }
      if (cells.length !== 7 || cells[6] !== CACHE_VERSION) continue;
      const thumb = new Uint8Array(Buffer.from(cells[5], 'base64'));
      if (thumb.length !== THUMB_PIXELS) continue;
      map.set(cells[0], {
        size: Number(cells[1]),
        mtimeMs: cells[2],
        c: { byteHash: cells[3], pixelHash: cells[4], thumb },
      });
    }
  } catch {
    map.clear();
  }
  return map;
}

/**
 * Open a content cache (file,size,mtime_ms,byte_sha256,pixel_sha256,thumb16,version). Entries
 * whose size and mtime still match are reused. New entries are appended as they are made, so an
 * interrupted run resumes where it stopped; `readOnly` only reads (e.g. the cache of a manifest
 * folder that a report should not write into).
 */
export async function openContentCache(path: string, options: { readOnly?: boolean } = {}): Promise<ContentCache> {
  const map = await readCache(path);
  const get: ContentCache['get'] = (file, size, mtimeMs) => {
    const e = map.get(file);
    return e && e.size === size && e.mtimeMs === String(mtimeMs) ? e.c : undefined;
  };
  if (options.readOnly) return { get, put: async () => {}, close: async () => {} };
  if (!existsSync(path)) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, CACHE_HEADER + '\n');
  }
  const stream = createWriteStream(path, { flags: 'a' });
  const closed = once(stream, 'close');
  stream.on('error', () => {}); // a failed append only loses the speed-up; close() rewrites the file
  return {
    get,
    async put(file, size, mtimeMs, c) {
      map.set(file, { size, mtimeMs: String(mtimeMs), c });
      if (!stream.write(cacheLine(file, size, String(mtimeMs), c) + '\n')) await once(stream, 'drain');
    },
    async close(keep) {
      stream.end();
      await closed;
      const lines = [CACHE_HEADER];
      for (const f of keep ?? map.keys()) {
        const e = map.get(f);
        if (e) lines.push(cacheLine(f, e.size, e.mtimeMs, e.c));
      }
      await writeFileAtomic(path, lines.join('\n') + '\n');
    },
  };
}

/** Content keys of many files, in typed form. */
export interface ContentTable {
  /** sha256 of each file's bytes ('' when it could not be read). */
  byteHash: string[];
  /** n × 256 thumbnails (zero where `decoded[i]` is 0). */
  thumbs: Uint8Array;
  /** 1 where the file was decoded (its thumbnail is valid). */
  decoded: Uint8Array;
  /** Files that could not be read or decoded: index and the error's first line. */
  problems: { index: number; message: string; unreadable: boolean }[];
}

/** Run `fn` over 0..n-1 with at most `limit` in flight. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < n; i = next++) await fn(i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
}

/**
 * Byte hash and thumbnail of every file (absolute paths), read through the caches: entries of
 * `lookup` caches (read only) and of `cache` (read and extended) are reused while the file's
 * size and mtime match. Files that cannot be read or decoded are listed in `problems`; a file
 * read but not decodable keeps its byte hash.
 */
export async function imageContents(
  files: readonly string[],
  o: { cache?: ContentCache; lookup?: ContentCache[]; concurrency?: number; onProgress?: ProgressListener } = {},
): Promise<ContentTable> {
  const n = files.length;
  const out: ContentTable = {
    byteHash: new Array(n).fill(''),
    thumbs: new Uint8Array(n * THUMB_PIXELS),
    decoded: new Uint8Array(n),
    problems: [],
  };
  const progress = new ProgressTracker('content check', n, o.onProgress, 'images');
  const caches = [...(o.lookup ?? []), ...(o.cache ? [o.cache] : [])];
  await pool(n, o.concurrency ?? 3, async (i) => {
    const file = resolve(files[i]);
    try {
      const st = await stat(file).catch(() => null);
      let c = st ? caches.map((x) => x.get(file, st.size, st.mtimeMs)).find((x) => x) : undefined;
      if (!c) {
        const bytes = await readImageBytes(file);
        out.byteHash[i] = sha256(bytes);
        c = contentOf(bytes, await decodeImage(bytes, {}, file));
        if (st) await o.cache?.put(file, st.size, st.mtimeMs, c);
      }
      out.byteHash[i] = c.byteHash;
      out.thumbs.set(c.thumb, i * THUMB_PIXELS);
      out.decoded[i] = 1;
    } catch (e) {
      out.problems.push({ index: i, message: errorMessage(e).split('\n')[0], unreadable: isUnreadable(e) });
    }
    progress.add();
  });
  if (n === 0) progress.finish();
  out.problems.sort((a, b) => a.index - b.index);
  return out;
}
