import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { CbirError, errorCode, errorMessage } from '../errors.js';
import type { Manifest } from '../data/manifest.js';

/**
 * What an embedding row was computed from: per image the SHA-1 of its file bytes (the content
 * key of the caches) and a stat record [size, mtimeMs, ctimeMs, ino] (a pre-filter: an image
 * whose stat record is unchanged is not read again; one whose record changed is hashed and
 * compared). On disk (`images.bin` in a store and in a partial run) one 52-byte record per row:
 * the 20 hash bytes, then the four stat fields as little-endian float64.
 */
export const IMAGES_FILE = 'images.bin';
export const HASH_BYTES = 20;
export const STAT_FIELDS = 4;
export const RECORD_BYTES = HASH_BYTES + 8 * STAT_FIELDS;

/** Hashes (n × 20 bytes) and stat records (n × 4) of n images, in row order. */
export interface ImageRecords {
  sha1: Uint8Array;
  stat: Float64Array;
}

export function emptyRecords(n: number): ImageRecords {
  return { sha1: new Uint8Array(n * HASH_BYTES), stat: new Float64Array(n * STAT_FIELDS) };
}

/** The on-disk bytes of records. */
export function encodeRecords(r: ImageRecords): Uint8Array {
  const n = r.sha1.length / HASH_BYTES;
  const out = new Uint8Array(n * RECORD_BYTES);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    out.set(r.sha1.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), i * RECORD_BYTES);
    for (let k = 0; k < STAT_FIELDS; k++)
      view.setFloat64(i * RECORD_BYTES + HASH_BYTES + 8 * k, r.stat[i * STAT_FIELDS + k], true);
  }
  return out;
}

/** Records from their on-disk bytes (a whole number of records). */
export function decodeRecords(bytes: Uint8Array): ImageRecords {
  const n = Math.floor(bytes.byteLength / RECORD_BYTES);
  const r = emptyRecords(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    r.sha1.set(bytes.subarray(i * RECORD_BYTES, i * RECORD_BYTES + HASH_BYTES), i * HASH_BYTES);
    for (let k = 0; k < STAT_FIELDS; k++)
      r.stat[i * STAT_FIELDS + k] = view.getFloat64(i * RECORD_BYTES + HASH_BYTES + 8 * k, true);
  }
  return r;
}

function statRecord(s: { size: number; mtimeMs: number; ctimeMs: number; ino: number }): number[] {
  return [s.size, s.mtimeMs, s.ctimeMs, s.ino];
}

/** The image file error for a failed open/read/stat, in the words of the decoder's errors. */
function imageFileError(e: unknown, file: string): CbirError {
  const code = errorCode(e);
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new CbirError('image file not found', {
      file,
      hint: 'check the path in the manifest and the images root',
      code: 'image/not-found',
      cause: e,
    });
  if (code === 'EACCES' || code === 'EPERM')
    return new CbirError('image file cannot be read (permission denied)', {
      file,
      hint: 'make the image readable for this user, or remove it from the manifest',
      code: 'image/unreadable',
      cause: e,
    });
  return new CbirError(`image file cannot be read (${errorMessage(e).split('\n')[0]})`, {
    file,
    hint: 'check the file and the disk; fix or remove it from the manifest',
    code: 'image/unreadable',
    cause: e,
  });
}

function notAFile(file: string): CbirError {
  return new CbirError('not a regular file (a folder, FIFO, socket or device)', {
    file,
    hint: 'the manifest must list image files only; remove this row or point it at the image itself',
    code: 'image/not-a-file',
  });
}

/**
 * Read one image file whole, with its SHA-1 and stat record. Opened non-blocking, so a FIFO
 * cannot hang the run, and only regular files are read (no devices such as /dev/zero).
 */
export async function readImageFile(file: string): Promise<{ bytes: Buffer; sha1: Buffer; stat: number[] }> {
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw imageFileError(e, file);
  }
  try {
    const s = await fh.stat();
    if (!s.isFile()) throw notAFile(file);
    const bytes = await fh.readFile();
    return { bytes, sha1: createHash('sha1').update(bytes).digest(), stat: statRecord(s) };
  } catch (e) {
    throw e instanceof CbirError ? e : imageFileError(e, file);
  } finally {
    await fh.close().catch(() => {});
  }
}

/** Run `fn(i)` for i in [0, n) with at most `limit` calls in flight. */
async function forEachLimited(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < n; i = next++) await fn(i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
}

function rowList(manifest: Manifest, rows: number[], count: number): string {
  const shown = rows.map((i) => `row ${i + 1} "${manifest.filepaths[i]}"`).join(', ');
  return count > rows.length ? `${shown} and ${count - rows.length} more` : shown;
}

/**
 * Check the manifest rows start..end before any work: every path free of line breaks, every
 * image present and a regular file. Returns the current stat record of each image (rows from
 * `start`); throws one CbirError naming the first rows (and the count) otherwise.
 */
export async function checkImages(manifest: Manifest, start: number, end: number): Promise<Float64Array> {
  for (let i = start; i < end; i++) {
    const p = manifest.filepaths[i];
    if (/[\r\n]/.test(p) || p.length === 0) {
      throw new CbirError(
        `manifest row ${i + 1} (line ${i + 2} of its CSV) has ${p.length === 0 ? 'an empty path' : `a path with a line break ("${p.replace(/[\r\n]/g, '⏎')}")`}`,
        {
          file: manifest.dir,
          hint: 'rename the image so that its path has no line break, and prepare the manifest again; nothing was embedded',
          code: 'embed/bad-path',
        },
      );
    }
  }
  const stats = new Float64Array((end - start) * STAT_FIELDS);
  const missing: number[] = [];
  const odd: number[] = [];
  let nMissing = 0;
  let nOdd = 0;
  await forEachLimited(end - start, 32, async (k) => {
    const i = start + k;
    try {
      const s = await stat(manifest.resolvePath(i));
      if (!s.isFile()) {
        if (nOdd++ < 3) odd.push(i);
        return;
      }
      stats.set(statRecord(s), k * STAT_FIELDS);
    } catch (e) {
      if (errorCode(e) !== 'ENOENT' && errorCode(e) !== 'ENOTDIR') throw imageFileError(e, manifest.resolvePath(i));
      if (nMissing++ < 3) missing.push(i);
    }
  });
  if (nMissing > 0) {
    missing.sort((a, b) => a - b);
    throw new CbirError(
      `${nMissing} of ${end - start} images are missing: ${rowList(manifest, missing, nMissing)} (images root ${manifest.imagesRoot})`,
      {
        file: manifest.resolvePath(missing[0]),
        hint: 'check the images root and the paths in the manifest, or prepare the manifest again; nothing was embedded',
        code: 'embed/missing-images',
      },
    );
  }
  if (nOdd > 0) {
    odd.sort((a, b) => a - b);
    throw new CbirError(`${nOdd} manifest rows are not image files: ${rowList(manifest, odd, nOdd)}`, {
      file: manifest.resolvePath(odd[0]),
      hint: 'the manifest must list image files only (no folders, FIFOs or devices); prepare it again; nothing was embedded',
      code: 'image/not-a-file',
    });
  }
  return stats;
}

function sameStat(a: Float64Array, ai: number, b: Float64Array, bi: number): boolean {
  for (let k = 0; k < STAT_FIELDS; k++) if (a[ai * STAT_FIELDS + k] !== b[bi * STAT_FIELDS + k]) return false;
  return true;
}

/** Whether hash `ai` of `a` (n × 20 bytes) equals hash `bi` of `b`. */
export function sameHash(a: Uint8Array, ai: number, b: Uint8Array, bi: number): boolean {
  for (let k = 0; k < HASH_BYTES; k++) if (a[ai * HASH_BYTES + k] !== b[bi * HASH_BYTES + k]) return false;
  return true;
}

/**
 * Which recorded rows still describe the images on disk. `recorded` holds the records of rows
 * `start`, `start + 1`, …; `current` the stat records of the same rows now. A row whose stat
 * record is unchanged is taken as unchanged; any other is hashed and compared. Returns one flag
 * per recorded row (1 = unchanged) and updates `recorded.stat` to the current records of rows
 * whose content is unchanged.
 */
export async function unchangedRows(
  manifest: Manifest,
  start: number,
  recorded: ImageRecords,
  current: Float64Array,
): Promise<{ same: Uint8Array; changed: number }> {
  const n = recorded.sha1.length / HASH_BYTES;
  const same = new Uint8Array(n);
  let changed = 0;
  await forEachLimited(n, 8, async (k) => {
    if (sameStat(recorded.stat, k, current, k)) {
      same[k] = 1;
      return;
    }
    let sha1: Uint8Array;
    try {
      sha1 = (await readImageFile(manifest.resolvePath(start + k))).sha1;
    } catch {
      changed++; // unreadable now: embedding it again reports why
      return;
    }
    if (sameHash(sha1, 0, recorded.sha1, k)) {
      same[k] = 1;
      recorded.stat.set(current.subarray(k * STAT_FIELDS, (k + 1) * STAT_FIELDS), k * STAT_FIELDS);
    } else changed++;
  });
  return { same, changed };
}

/** Whether two rows' images differ in content. */
export function differentContent(r: ImageRecords, a: number, b: number): boolean {
  return !sameHash(r.sha1, a, r.sha1, b);
}

/** sha256 over the hashes in row order: the content digest of the images a store was computed from. */
export function recordsDigest(r: ImageRecords): string {
  return createHash('sha256').update(r.sha1).digest('hex');
}
