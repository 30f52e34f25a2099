/**
 * Exact top-k inner-product search (the study's setting, FAISS IndexFlatIP).
 *
 * The index is held as pre-transposed blocks Xt[dim, m] (m = indexBlock vectors each). A block
 * of queries Q[b, dim] meets each index block in one onnxruntime graph, `TopK(MatMul(Q, Xt), k)`,
 * so the similarity matrix is computed by a tuned SGEMM and never leaves native memory; the
 * per-block top-k lists are merged in TS. Tiny searches, and `backend: 'plain'`, use a blocked
 * TS loop over the same blocks instead.
 *
 * Vectors are stored sorted by id, so block order is id order: ONNX TopK puts the lower index
 * first among equal values and the merge keeps the earlier block on ties, which makes ties go to
 * the lower id, exactly as `exactSearchPlain` does.
 *
 * File format (`save`, little-endian): "RCBIRFX1", uint32 header length, JSON header
 * {format, version, dim, size, indexBlock, idsOffset, dataOffset}, ids (int32, ascending) at
 * idsOffset, then the blocks (float32, dim × m each, row c = component c) from dataOffset.
 * `loadIndex(path, { view: true })` reads blocks from the file per search instead of holding them.
 */
import * as ort from 'onnxruntime-node';
import { open, type FileHandle } from 'node:fs/promises';
import { CbirError, errorMessage } from '../errors.js';
import { GraphBuilder } from '../onnx/builder.js';
import {
  bytesOf,
  checkFinite,
  checkMatrix,
  checkPositiveInt,
  defaultThreads,
  resolveRows,
  sortById,
} from './common.js';
import { writeChunksAtomic } from '../util/fsx.js';
import { TopKHeap, mergeSortedTopK } from './topk.js';
import type { BuildOptions, ExactParams, SearchOptions, SearchResult, VectorIndex } from './types.js';

const MAGIC = 'RCBIRFX1';
const FORMAT = 'radcbir-exact-index';
const ALIGN = 64;
/** Below this many multiply-adds (queries × size × dim) 'auto' uses the plain TS loop. */
const PLAIN_WORK_LIMIT = 1 << 23;

/** Runtime options of an exact index (not stored in the file). */
export interface ExactRuntime {
  backend: 'auto' | 'onnx' | 'plain';
  threads: number;
  queryBlock: number;
}

interface Blocks {
  readonly count: number;
  start(i: number): number;
  width(i: number): number;
  get(i: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Blocks held in memory: one Float32Array, block i at [start_i*dim, end_i*dim). */
class MemoryBlocks implements Blocks {
  readonly count: number;
  constructor(
    readonly data: Float32Array,
    readonly dim: number,
    readonly size: number,
    readonly indexBlock: number,
  ) {
    this.count = Math.ceil(size / indexBlock);
  }
  start(i: number): number {
    return i * this.indexBlock;
  }
  width(i: number): number {
    return Math.min(this.indexBlock, this.size - i * this.indexBlock);
  }
  async get(i: number): Promise<Float32Array> {
    const s = this.start(i) * this.dim;
    return this.data.subarray(s, s + this.width(i) * this.dim);
  }
  async close(): Promise<void> {}
}

/** Blocks held in memory as one array per block (no array larger than one block). */
class ListBlocks implements Blocks {
  readonly count: number;
  constructor(
    readonly list: Float32Array[],
    readonly size: number,
    readonly indexBlock: number,
  ) {
    this.count = list.length;
  }
  start(i: number): number {
    return i * this.indexBlock;
  }
  width(i: number): number {
    return Math.min(this.indexBlock, this.size - i * this.indexBlock);
  }
  async get(i: number): Promise<Float32Array> {
    return this.list[i];
  }
  async close(): Promise<void> {}
}

/** Transpose m row-major rows (m × dim) into the block layout Xt[dim, m]. */
function transposeBlock(rows: Float32Array, m: number, dim: number, out: Float32Array): void {
  const T = 32;
  for (let j0 = 0; j0 < m; j0 += T) {
    const j1 = Math.min(m, j0 + T);
    for (let c0 = 0; c0 < dim; c0 += T) {
      const c1 = Math.min(dim, c0 + T);
      for (let j = j0; j < j1; j++) for (let c = c0; c < c1; c++) out[c * m + j] = rows[j * dim + c];
    }
  }
}

/** Blocks read from the index file on demand (view mode): memory is one block. */
class FileBlocks implements Blocks {
  readonly count: number;
  private buf: Float32Array;
  constructor(
    private fh: FileHandle,
    readonly file: string,
    readonly dataOffset: number,
    readonly dim: number,
    readonly size: number,
    readonly indexBlock: number,
  ) {
    this.count = Math.ceil(size / indexBlock);
    this.buf = new Float32Array(Math.min(indexBlock, size) * dim);
  }
  start(i: number): number {
    return i * this.indexBlock;
  }
  width(i: number): number {
    return Math.min(this.indexBlock, this.size - i * this.indexBlock);
  }
  async get(i: number): Promise<Float32Array> {
    const n = this.width(i) * this.dim;
    const out = this.buf.subarray(0, n);
    await readFully(this.fh, bytesOf(out), this.dataOffset + this.start(i) * this.dim * 4, this.file);
    return out;
  }
  async close(): Promise<void> {
    await this.fh.close();
  }
}

async function readFully(fh: FileHandle, into: Uint8Array, position: number, file: string): Promise<void> {
  let off = 0;
  while (off < into.byteLength) {
    const { bytesRead } = await fh.read(into, off, Math.min(into.byteLength - off, 1 << 28), position + off);
    if (bytesRead === 0)
      throw new CbirError(`index file ends early (wanted ${into.byteLength} bytes at ${position})`, {
        file,
        hint: 'the file is truncated; rebuild the index',
        code: 'index/truncated',
      });
    off += bytesRead;
  }
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** The MatMul → TopK graph: inputs Q[b, dim], Xt[dim, m], K int64[1]; outputs V[b, K], I[b, K]. */
export function topKGraph(dim: number): Uint8Array {
  const g = new GraphBuilder('radcbir_exact_topk', 17);
  const q = g.input('Q', 'float32', ['b', dim]);
  const xt = g.input('Xt', 'float32', [dim, 'm']);
  const k = g.input('K', 'int64', [1]);
  g.node('MatMul', [q, xt], ['S']);
  g.node('TopK', ['S', k], ['V', 'I'], { axis: { int: 1 }, largest: { int: 1 }, sorted: { int: 1 } });
  g.output('V', 'float32', ['b', 'k']);
  g.output('I', 'int64', ['b', 'k']);
  return g.toBytes();
}

function session(dim: number, threads: number): Promise<ort.InferenceSession> {
  const key = `${dim}|${threads}`;
  let s = sessions.get(key);
  if (!s) {
    s = ort.InferenceSession.create(topKGraph(dim), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    sessions.set(key, s);
    s.catch(() => sessions.delete(key));
  }
  return s;
}

/** Release the cached onnxruntime sessions (they are shared by all exact indices). */
export async function releaseExactSessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  for (const s of all) await (await s).release();
}

/** Exact inner-product index; build with `ExactIndex.build` or `buildIndex`. */
export class ExactIndex implements VectorIndex {
  readonly kind = 'exact' as const;
  readonly params: Readonly<Record<string, string | number | boolean>> = { metric: 'ip' };
  runtime: ExactRuntime;
  private tensors = new Map<number, ort.Tensor>();

  private constructor(
    readonly dim: number,
    /** Ids in ascending order; position p of the blocks holds id ids[p]. */
    readonly ids: Int32Array,
    private readonly blocks: Blocks,
    readonly indexBlock: number,
    runtime: Partial<ExactRuntime>,
  ) {
    this.runtime = resolveRuntime(runtime);
  }

  get size(): number {
    return this.ids.length;
  }

  /** Build from row-major vectors (n × dim): sort by id and transpose into blocks. */
  static build(
    vectors: Float32Array,
    dim: number,
    params: Omit<ExactParams, 'kind'> = {},
    opts: BuildOptions = {},
  ): ExactIndex {
    const n = checkMatrix('index vectors', vectors, dim);
    const { src, ids } = resolveRows(n, opts);
    const indexBlock = params.indexBlock ?? 16384;
    checkPositiveInt('indexBlock', indexBlock, 'use e.g. 16384 vectors per block');
    const perm = sortById(ids);
    const size = src.length;
    const sortedIds = new Int32Array(size);
    const rowOf = new Int32Array(size);
    for (let p = 0; p < size; p++) {
      sortedIds[p] = ids[perm[p]];
      rowOf[p] = src[perm[p]];
    }
    const data = new Float32Array(size * dim);
    const T = 32;
    for (let s = 0; s < size; s += indexBlock) {
      const m = Math.min(indexBlock, size - s);
      const base = s * dim;
      for (let j0 = 0; j0 < m; j0 += T) {
        const j1 = Math.min(m, j0 + T);
        for (let c0 = 0; c0 < dim; c0 += T) {
          const c1 = Math.min(dim, c0 + T);
          for (let j = j0; j < j1; j++) {
            const ro = rowOf[s + j] * dim;
            for (let c = c0; c < c1; c++) {
              const v = vectors[ro + c];
              if (v - v !== 0) checkFinite('index vectors', vectors.subarray(ro, ro + dim), dim, () => rowOf[s + j]);
              data[base + c * m + j] = v;
            }
          }
        }
      }
      opts.onRows?.(s + m, size);
    }
    return new ExactIndex(dim, sortedIds, new MemoryBlocks(data, dim, size, indexBlock), indexBlock, params);
  }

  /**
   * Build from row blocks streamed in id order (ids 0 … size−1), e.g. an embedding store read
   * block by block: each index block is transposed as soon as its rows are in, so memory holds
   * one copy of the vectors (one array per index block) plus one block of rows.
   */
  static async fromRowBlocks(
    dim: number,
    size: number,
    blocks: AsyncIterable<Float32Array> | Iterable<Float32Array>,
    params: Omit<ExactParams, 'kind'> = {},
    onRows?: (done: number, total: number) => void,
  ): Promise<ExactIndex> {
    checkPositiveInt('dimension', dim, 'pass the embedding dimension (e.g. 768)');
    checkPositiveInt('index size', size, 'pass at least one vector to index');
    const indexBlock = params.indexBlock ?? 16384;
    checkPositiveInt('indexBlock', indexBlock, 'use e.g. 16384 vectors per block');
    const list: Float32Array[] = [];
    const stage = new Float32Array(Math.min(indexBlock, size) * dim);
    let filled = 0; // rows in `stage`
    let done = 0;
    const flush = () => {
      const out = new Float32Array(filled * dim);
      transposeBlock(stage, filled, dim, out);
      list.push(out);
      done += filled;
      filled = 0;
      onRows?.(done, size);
    };
    for await (const block of blocks) {
      const n = checkMatrix('index vectors', block, dim);
      checkFinite('index vectors', block, dim, (r) => done + filled + r);
      for (let r = 0; r < n;) {
        if (done + filled + 1 > size)
          throw new CbirError(`more than the announced ${size} vectors were given`, {
            hint: 'pass the number of rows the blocks hold',
            code: 'index/bad-input',
          });
        const take = Math.min(n - r, Math.min(indexBlock, size - done) - filled);
        stage.set(block.subarray(r * dim, (r + take) * dim), filled * dim);
        filled += take;
        r += take;
        if (filled === Math.min(indexBlock, size - done)) flush();
      }
    }
    if (done + filled !== size)
      throw new CbirError(`${done + filled} vectors were given, ${size} announced`, {
        hint: 'pass the number of rows the blocks hold',
        code: 'index/bad-input',
      });
    const ids = new Int32Array(size);
    for (let i = 0; i < size; i++) ids[i] = i;
    return new ExactIndex(dim, ids, new ListBlocks(list, size, indexBlock), indexBlock, params);
  }

  /** Open an index file written by `save`; `view` keeps the vectors on disk. */
  static async load(file: string, opts: { view?: boolean } & Partial<ExactRuntime> = {}): Promise<ExactIndex> {
    const fh = await open(file, 'r').catch((e) => {
      throw new CbirError(`cannot open index file (${errorMessage(e)})`, {
        file,
        hint: 'check the path; build the index first',
        code: 'index/not-found',
      });
    });
    let keep = false;
    try {
      const head = new Uint8Array(12);
      await readFully(fh, head, 0, file);
      if (new TextDecoder().decode(head.subarray(0, 8)) !== MAGIC)
        throw new CbirError('not a radcbir exact index file', {
          file,
          hint: 'pass a file written by index.save()',
          code: 'index/bad-format',
        });
      const hlen = new DataView(head.buffer).getUint32(8, true);
      const hbytes = new Uint8Array(hlen);
      await readFully(fh, hbytes, 12, file);
      let h: {
        format: string;
        version: number;
        dim: number;
        size: number;
        indexBlock: number;
        idsOffset: number;
        dataOffset: number;
      };
      try {
        h = JSON.parse(new TextDecoder().decode(hbytes));
      } catch {
        throw new CbirError('index file header is not valid JSON', {
          file,
          hint: 'the file is damaged; rebuild the index',
          code: 'index/bad-format',
        });
      }
      if (h.format !== FORMAT || h.version !== 1)
        throw new CbirError(`unsupported index format ${h.format} v${h.version}`, {
          file,
          hint: 'rebuild the index with this version of radcbir',
          code: 'index/bad-format',
        });
      const { size: fsize } = await fh.stat();
      if (fsize < h.dataOffset + h.size * h.dim * 4)
        throw new CbirError(`index file is ${fsize} bytes, expected ${h.dataOffset + h.size * h.dim * 4}`, {
          file,
          hint: 'the file is truncated; rebuild the index',
          code: 'index/truncated',
        });
      const ids = new Int32Array(h.size);
      await readFully(fh, bytesOf(ids), h.idsOffset, file);
      let blocks: Blocks;
      if (opts.view) {
        blocks = new FileBlocks(fh, file, h.dataOffset, h.dim, h.size, h.indexBlock);
        keep = true;
      } else {
        // one array per block: no array grows with the index beyond one block
        const list: Float32Array[] = [];
        for (let s = 0; s < h.size; s += h.indexBlock) {
          const m = Math.min(h.indexBlock, h.size - s);
          const data = new Float32Array(m * h.dim);
          await readFully(fh, bytesOf(data), h.dataOffset + s * h.dim * 4, file);
          list.push(data);
        }
        blocks = new ListBlocks(list, h.size, h.indexBlock);
      }
      return new ExactIndex(h.dim, ids, blocks, h.indexBlock, opts);
    } finally {
      if (!keep) await fh.close();
    }
  }

  /** The stored vectors of `ids` (row-major, ids.length × dim), read block by block; an unknown id is a CbirError. */
  async vectorsOf(ids: Int32Array): Promise<Float32Array> {
    const d = this.dim;
    const out = new Float32Array(ids.length * d);
    const byBlock = new Map<number, number[]>();
    ids.forEach((id, t) => {
      let lo = 0;
      let hi = this.ids.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.ids[mid] < id) lo = mid + 1;
        else hi = mid;
      }
      if (this.ids[lo] !== id)
        throw new CbirError(`id ${id} is not in this index`, {
          hint: 'ask for ids the index holds',
          code: 'index/bad-id',
        });
      const b = Math.floor(lo / this.indexBlock);
      if (!byBlock.has(b)) byBlock.set(b, []);
      byBlock.get(b)!.push(t, lo - this.blocks.start(b));
    });
    for (const [b, list] of byBlock) {
      const block = await this.blocks.get(b);
      const m = this.blocks.width(b);
      for (let i = 0; i < list.length; i += 2)
        for (let c = 0; c < d; c++) out[list[i] * d + c] = block[c * m + list[i + 1]];
    }
    return out;
  }

  /** Top-k by inner product; see the module comment for order and ties. k is clamped to the size. */
  async search(queries: Float32Array, k: number, opts: SearchOptions = {}): Promise<SearchResult> {
    const nq = checkMatrix('queries', queries, this.dim);
    checkPositiveInt('k', k, 'ask for at least one neighbour');
    checkFinite('queries', queries, this.dim);
    const kk = Math.min(k, this.size);
    const { backend } = this.runtime;
    const plain = backend === 'plain' || (backend === 'auto' && nq * this.size * this.dim <= PLAIN_WORK_LIMIT);
    const res = plain ? await this.searchPlain(queries, nq, kk, opts) : await this.searchOnnx(queries, nq, kk, opts);
    return res;
  }

  private async searchOnnx(queries: Float32Array, nq: number, kk: number, opts: SearchOptions): Promise<SearchResult> {
    const d = this.dim;
    const sess = await session(d, this.runtime.threads);
    const qb = Math.max(1, this.runtime.queryBlock);
    const outIds = new Int32Array(nq * kk);
    const outSims = new Float32Array(nq * kk);
    const runSims = new Float32Array(qb * kk);
    const runPos = new Int32Array(qb * kk);
    const tmpSims = new Float32Array(kk);
    const tmpPos = new Int32Array(kk);
    const blkPos = new Int32Array(qb * kk);
    const kTensors = new Map<number, ort.Tensor>();
    const kTensor = (v: number) => {
      let t = kTensors.get(v);
      if (!t) {
        t = new ort.Tensor('int64', BigInt64Array.of(BigInt(v)), [1]);
        kTensors.set(v, t);
      }
      return t;
    };
    for (let q0 = 0; q0 < nq; q0 += qb) {
      const b = Math.min(qb, nq - q0);
      const qt = new ort.Tensor('float32', queries.subarray(q0 * d, (q0 + b) * d), [b, d]);
      let count = 0;
      for (let bi = 0; bi < this.blocks.count; bi++) {
        const m = this.blocks.width(bi);
        const start = this.blocks.start(bi);
        const kb = Math.min(kk, m);
        const out = await sess.run({ Q: qt, Xt: await this.blockTensor(bi), K: kTensor(kb) });
        const V = out.V.data as Float32Array;
        const I = out.I.data as BigInt64Array;
        // Indices are < 2^31: read the low 32-bit words of the little-endian int64s.
        const low = new Int32Array(I.buffer, I.byteOffset, I.length * 2);
        for (let t = 0; t < b * kb; t++) blkPos[t] = low[2 * t] + start;
        let next = count;
        for (let a = 0; a < b; a++)
          next = mergeSortedTopK(runSims, runPos, a * kk, count, kk, V, blkPos, a * kb, kb, tmpSims, tmpPos);
        count = next;
        out.V.dispose?.();
        out.I.dispose?.();
      }
      const ids = this.ids;
      for (let t = 0, o = q0 * kk; t < b * kk; t++, o++) {
        outIds[o] = ids[runPos[t]];
        outSims[o] = runSims[t];
      }
      opts.onQueries?.(q0 + b);
    }
    return { ids: outIds, sims: outSims, k: kk, queries: nq };
  }

  private async blockTensor(i: number): Promise<ort.Tensor> {
    const m = this.blocks.width(i);
    if (!(this.blocks instanceof FileBlocks)) {
      let t = this.tensors.get(i);
      if (!t) {
        t = new ort.Tensor('float32', await this.blocks.get(i), [this.dim, m]);
        this.tensors.set(i, t);
      }
      return t;
    }
    return new ort.Tensor('float32', await this.blocks.get(i), [this.dim, m]);
  }

  private async searchPlain(queries: Float32Array, nq: number, kk: number, opts: SearchOptions): Promise<SearchResult> {
    const d = this.dim;
    const outIds = new Int32Array(nq * kk);
    const outSims = new Float32Array(nq * kk);
    const QB = 64;
    const heaps = Array.from({ length: Math.min(QB, nq) }, () => new TopKHeap(kk));
    const acc = new Float64Array(Math.min(this.indexBlock, this.size));
    for (let q0 = 0; q0 < nq; q0 += QB) {
      const b = Math.min(QB, nq - q0);
      for (let bi = 0; bi < this.blocks.count; bi++) {
        const X = await this.blocks.get(bi);
        const m = this.blocks.width(bi);
        const start = this.blocks.start(bi);
        for (let a = 0; a < b; a++) {
          const qo = (q0 + a) * d;
          acc.fill(0, 0, m);
          for (let c = 0; c < d; c++) {
            const qc = queries[qo + c];
            if (qc === 0) continue;
            const xo = c * m;
            for (let j = 0; j < m; j++) acc[j] += qc * X[xo + j];
          }
          const h = heaps[a];
          for (let j = 0; j < m; j++) {
            const s = Math.fround(acc[j]);
            if (!h.rejects(s, start + j)) h.push(s, start + j);
          }
        }
      }
      for (let a = 0; a < b; a++) {
        const o = (q0 + a) * kk;
        heaps[a].drain(outIds, outSims, o);
        for (let j = 0; j < kk; j++) outIds[o + j] = this.ids[outIds[o + j]];
      }
      opts.onQueries?.(q0 + b);
    }
    return { ids: outIds, sims: outSims, k: kk, queries: nq };
  }

  /** Write the index atomically (see the module comment for the format). */
  async save(file: string): Promise<void> {
    const enc = new TextEncoder();
    const pad = (x: number) => Math.ceil(x / ALIGN) * ALIGN;
    // The header's own length changes the offsets; fix them with a wide enough header.
    let header = '';
    let idsOffset = 0,
      dataOffset = 0;
    for (let guess = 256; ; guess *= 2) {
      idsOffset = pad(12 + guess);
      dataOffset = pad(idsOffset + this.size * 4);
      header = JSON.stringify({
        format: FORMAT,
        version: 1,
        dim: this.dim,
        size: this.size,
        indexBlock: this.indexBlock,
        idsOffset,
        dataOffset,
      });
      if (enc.encode(header).length <= guess) break;
    }
    const hbytes = enc.encode(header);
    const head = new Uint8Array(idsOffset);
    head.set(enc.encode(MAGIC), 0);
    new DataView(head.buffer).setUint32(8, hbytes.length, true);
    head.set(hbytes, 12);
    const self = this;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      yield head;
      yield bytesOf(self.ids);
      yield new Uint8Array(dataOffset - idsOffset - self.size * 4);
      for (let i = 0; i < self.blocks.count; i++) yield bytesOf(await self.blocks.get(i));
    }
    await writeChunksAtomic(file, chunks());
  }

  async close(): Promise<void> {
    this.tensors.clear();
    await this.blocks.close();
  }
}

function resolveRuntime(r: Partial<ExactRuntime>): ExactRuntime {
  const out: ExactRuntime = {
    backend: r.backend ?? 'auto',
    threads: r.threads ?? defaultThreads(),
    queryBlock: r.queryBlock ?? 512,
  };
  if (!['auto', 'onnx', 'plain'].includes(out.backend))
    throw new CbirError(`unknown exact backend "${out.backend}"`, {
      hint: "use 'auto', 'onnx' or 'plain'",
      code: 'index/bad-parameter',
    });
  checkPositiveInt('threads', out.threads, 'use e.g. 2');
  checkPositiveInt('queryBlock', out.queryBlock, 'use e.g. 512 queries per block');
  return out;
}
