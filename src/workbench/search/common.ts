/**
 * Input validation and small helpers shared by the exact and HNSW indices.
 */
import { availableParallelism } from 'node:os';
import { CbirError } from '../errors.js';
import type { BuildOptions } from './types.js';

/** Default thread count: every core the process may use. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/** Throw a CbirError unless `n` is a positive integer. */
export function checkPositiveInt(what: string, n: number, hint: string): void {
  if (!Number.isInteger(n) || n < 1)
    throw new CbirError(`${what} must be a positive integer, got ${n}`, { hint, code: 'index/bad-parameter' });
}

/** Check that a flat vector buffer holds whole rows of `dim` finite values; returns the row count. */
export function checkMatrix(what: string, data: Float32Array, dim: number, file?: string): number {
  if (!(data instanceof Float32Array))
    throw new CbirError(`${what} must be a Float32Array`, {
      file,
      hint: 'pass embeddings as a row-major Float32Array (rows × dim)',
      code: 'index/bad-input',
    });
  checkPositiveInt('dimension', dim, 'pass the embedding dimension (e.g. 768)');
  if (data.length % dim !== 0) {
    throw new CbirError(`${what} has ${data.length} values, not a multiple of the dimension ${dim}`, {
      file,
      hint: 'check that the vectors and the index have the same dimension',
      code: 'index/dim-mismatch',
    });
  }
  return data.length / dim;
}

/** Throw a CbirError naming the first row of `data` (n × dim) that holds NaN or ±Infinity. */
export function checkFinite(
  what: string,
  data: Float32Array,
  dim: number,
  rowOf?: (i: number) => number,
  file?: string,
): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      const r = Math.floor(i / dim);
      const row = rowOf ? rowOf(r) : r;
      throw new CbirError(`${what} row ${row} holds a non-finite value (${v}) at component ${i % dim}`, {
        file,
        row: row + 1,
        hint: 're-embed that image or drop the row; embeddings must be finite and L2-normalised',
        code: 'index/non-finite',
      });
    }
  }
}

/** The source rows and ids of an index build, ids validated (distinct, 0 ≤ id < 2^31). */
export function resolveRows(n: number, opts: BuildOptions): { src: Int32Array; ids: Int32Array } {
  let src: Int32Array;
  if (opts.rows) {
    src = opts.rows;
    for (let i = 0; i < src.length; i++) {
      const r = src[i];
      if (!(r >= 0 && r < n))
        throw new CbirError(`index row ${r} (position ${i} of rows) is outside the ${n} vectors`, {
          hint: 'pass row numbers of the embeddings matrix',
          code: 'index/bad-row',
        });
    }
  } else {
    src = new Int32Array(n);
    for (let i = 0; i < n; i++) src[i] = i;
  }
  const ids = opts.ids ?? src;
  if (ids.length !== src.length)
    throw new CbirError(`${ids.length} ids for ${src.length} indexed rows`, {
      hint: 'give exactly one id per indexed row',
      code: 'index/bad-ids',
    });
  for (let i = 0; i < ids.length; i++)
    if (ids[i] < 0)
      throw new CbirError(`id ${ids[i]} at position ${i} is negative`, {
        hint: 'ids must be ≥ 0 (they are manifest row ids)',
        code: 'index/bad-ids',
      });
  if (src.length === 0)
    throw new CbirError('the index would be empty', { hint: 'pass at least one vector to index', code: 'index/empty' });
  return { src, ids };
}

/**
 * Sort (id, source row) pairs by id. Returns the permutation; throws on a duplicate id.
 * Already-sorted ids (the common case: row numbers in order) cost one pass.
 */
export function sortById(ids: Int32Array): Int32Array {
  const n = ids.length;
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  let sorted = true;
  for (let i = 1; i < n; i++)
    if (ids[i] <= ids[i - 1]) {
      sorted = false;
      break;
    }
  if (!sorted) {
    perm.sort((a, b) => ids[a] - ids[b]);
    for (let i = 1; i < n; i++) {
      if (ids[perm[i]] === ids[perm[i - 1]])
        throw new CbirError(`id ${ids[perm[i]]} occurs twice`, {
          hint: 'ids of an index must be distinct',
          code: 'index/duplicate-id',
        });
    }
  }
  return perm;
}

/** Bytes of a typed array (a view, no copy). */
export function bytesOf(a: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
