/**
 * Plain-TypeScript top-k by inner product: the fallback for tiny searches and the reference the
 * tests hold the onnxruntime path to. Order: similarity descending, ties → lower id.
 * Similarities are accumulated in float64 and rounded to float32, the precision of the results.
 */
import { CbirError } from '../errors.js';
import { checkMatrix, checkPositiveInt } from './common.js';
import type { SearchResult } from './types.js';

/**
 * A bounded heap that keeps the k best (similarity, id) pairs; the root is the worst kept pair.
 * "Better" means higher similarity, or equal similarity and lower id.
 */
export class TopKHeap {
  readonly sims: Float64Array;
  readonly ids: Int32Array;
  size = 0;

  constructor(readonly k: number) {
    this.sims = new Float64Array(k);
    this.ids = new Int32Array(k);
  }

  reset(): void {
    this.size = 0;
  }

  /** True when (s, id) would not enter a full heap; cheap pre-check for scans. */
  rejects(s: number, id: number): boolean {
    return this.size === this.k && (s < this.sims[0] || (s === this.sims[0] && id > this.ids[0]));
  }

  /** Offer one candidate. */
  push(s: number, id: number): void {
    const hs = this.sims,
      hi = this.ids;
    if (this.size < this.k) {
      // sift up
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (worse(s, id, hs[p], hi[p])) {
          hs[i] = hs[p];
          hi[i] = hi[p];
          i = p;
        } else break;
      }
      hs[i] = s;
      hi[i] = id;
      return;
    }
    if (this.rejects(s, id)) return;
    // replace root, sift down
    const n = this.size;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let w = l;
      if (r < n && worse(hs[r], hi[r], hs[l], hi[l])) w = r;
      if (worse(hs[w], hi[w], s, id)) {
        hs[i] = hs[w];
        hi[i] = hi[w];
        i = w;
      } else break;
    }
    hs[i] = s;
    hi[i] = id;
  }

  /** Write the kept pairs best-first into out[offset ..), padding to k with (-1, -Infinity); empties the heap. */
  drain(outIds: Int32Array, outSims: Float32Array, offset: number): void {
    const n = this.size;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const hs = this.sims,
      hi = this.ids;
    order.sort((a, b) => hs[b] - hs[a] || hi[a] - hi[b]);
    for (let j = 0; j < n; j++) {
      outIds[offset + j] = hi[order[j]];
      outSims[offset + j] = hs[order[j]];
    }
    for (let j = n; j < this.k; j++) {
      outIds[offset + j] = -1;
      outSims[offset + j] = -Infinity;
    }
    this.size = 0;
  }
}

function worse(s1: number, id1: number, s2: number, id2: number): boolean {
  return s1 < s2 || (s1 === s2 && id1 > id2);
}

/**
 * Exact top-k by inner product over row-major `vectors` (n × dim), blocked loop in plain TS.
 * `ids` names the rows (default: row numbers). k is clamped to n.
 */
export function exactSearchPlain(
  vectors: Float32Array,
  dim: number,
  queries: Float32Array,
  k: number,
  ids?: Int32Array,
): SearchResult {
  const n = checkMatrix('index vectors', vectors, dim);
  const nq = checkMatrix('queries', queries, dim);
  checkPositiveInt('k', k, 'ask for at least one neighbour');
  if (n === 0) throw new CbirError('the index is empty', { hint: 'index at least one vector', code: 'index/empty' });
  if (ids && ids.length !== n)
    throw new CbirError(`${ids.length} ids for ${n} vectors`, {
      hint: 'give one id per vector',
      code: 'index/bad-ids',
    });
  const kk = Math.min(k, n);
  const outIds = new Int32Array(nq * kk);
  const outSims = new Float32Array(nq * kk);
  const QB = 8,
    XB = 256;
  const heaps = Array.from({ length: QB }, () => new TopKHeap(kk));
  const dots = new Float64Array(QB * XB);
  for (let q0 = 0; q0 < nq; q0 += QB) {
    const qb = Math.min(QB, nq - q0);
    for (let x0 = 0; x0 < n; x0 += XB) {
      const xb = Math.min(XB, n - x0);
      for (let a = 0; a < qb; a++) {
        const qo = (q0 + a) * dim;
        for (let b = 0; b < xb; b++) {
          const xo = (x0 + b) * dim;
          let s = 0;
          for (let c = 0; c < dim; c++) s += queries[qo + c] * vectors[xo + c];
          dots[a * XB + b] = s;
        }
      }
      for (let a = 0; a < qb; a++) {
        const h = heaps[a];
        for (let b = 0; b < xb; b++) {
          const s = Math.fround(dots[a * XB + b]);
          const id = ids ? ids[x0 + b] : x0 + b;
          if (!h.rejects(s, id)) h.push(s, id);
        }
      }
    }
    for (let a = 0; a < qb; a++) heaps[a].drain(outIds, outSims, (q0 + a) * kk);
  }
  return { ids: outIds, sims: outSims, k: kk, queries: nq };
}

/**
 * Merge a block's sorted top list into a running sorted top list, both ordered by
 * (similarity desc, position asc), keeping the best `k`. The block's positions are all higher
 * than the running list's, so on equal similarity the running entry wins (lower position).
 * runSims/runPos hold `k` slots from `off`, `runCount` of them filled; returns the new count.
 */
export function mergeSortedTopK(
  runSims: Float32Array,
  runPos: Int32Array,
  off: number,
  runCount: number,
  k: number,
  blkSims: Float32Array,
  blkPos: Int32Array,
  blkOff: number,
  blkCount: number,
  tmpSims: Float32Array,
  tmpPos: Int32Array,
): number {
  const total = Math.min(k, runCount + blkCount);
  let i = 0,
    j = 0;
  for (let o = 0; o < total; o++) {
    if (j >= blkCount || (i < runCount && runSims[off + i] >= blkSims[blkOff + j])) {
      tmpSims[o] = runSims[off + i];
      tmpPos[o] = runPos[off + i];
      i++;
    } else {
      tmpSims[o] = blkSims[blkOff + j];
      tmpPos[o] = blkPos[blkOff + j];
      j++;
    }
  }
  runSims.set(tmpSims.subarray(0, total), off);
  runPos.set(tmpPos.subarray(0, total), off);
  return total;
}
