/**
 * Single-image query latency of a saved index (issue #12): one query at a time, top-10, exact and
 * HNSW, at 10,000 and 200,000 index rows × 768 (and 1.3 M with --full, ~9 GB: the exact vectors
 * and the HNSW graph are both held), seeded clustered unit vectors as in bench/search.ts:
 *
 * - search only: a query vector → `VectorIndex.search(q, 10)`;
 * - with embedding: PNG bytes (512 × 512) → decode → CLIP preprocessing → a ViT-B/16-sized ONNX
 *   graph (random weights, 768-d, as bench/embed.ts) → L2 normalisation → search → labelled hits,
 *   i.e. `IndexSearcher.searchBytes`, the call an HTTP handler makes;
 * - HNSW recall@10 against the exact top-10 of the same queries.
 *
 * Exact and HNSW alternate in ≥ 5 rounds (A B A B …); each figure is the median over rounds of the
 * per-round median, with the range over rounds, and the load average before and after.
 *
 *   node --import tsx bench/latency.ts                       # 10k and 200k (minutes: the HNSW build)
 *   node --import tsx bench/latency.ts --sizes 10000 --queries 50
 *   node --import tsx bench/latency.ts --full                # also 1.3 M × 768 (needs ~9 GB)
 *   node --import tsx bench/latency.ts --sizes 1300000 --ef-sweep 256,512   # the same graph at other ef
 *
 * Targets (issue #12): HNSW ≤ 10 ms per query at 1.3 M with recall@10 ≥ 0.99; exact ≤ 300 ms per
 * query at 1.3 M × 768.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { clusteredVectors } from './search.js';
import { ExactIndex, HnswIndex, releaseExactSessions, type VectorIndex } from '../src/workbench/search/index.js';
import { IndexRows } from '../src/workbench/search/rows.js';
import { IndexSearcher } from '../src/workbench/search/query.js';
import type { SavedIndex, SavedIndexModel } from '../src/workbench/search/saved.js';
import { buildTinyVit } from '../src/workbench/models/builtin/graphs.js';
import { loadOnnxExtractor } from '../src/workbench/models/onnx/extractor.js';
import type { Extractor, ModelCard } from '../src/workbench/models/types.js';
import { knnIntersection } from '../src/workbench/metrics/index.js';
import { Rng } from '../src/workbench/util/rng.js';

export interface LatencyBenchOptions {
  sizes?: number[];
  dim?: number;
  /** Queries per round for search only (default 40). */
  queries?: number;
  /** Queries per round with embedding (default 4). */
  embedQueries?: number;
  /** Interleaved rounds (default 5). */
  rounds?: number;
  threads?: number;
  connectivity?: number;
  expansionAdd?: number;
  expansionSearch?: number;
  seed?: number;
  /** Skip the with-embedding measurement. */
  noEmbed?: boolean;
  /** Further ef values measured on the same HNSW graph (saved once, reopened with each ef), search only. */
  efSweep?: number[];
  log?: (line: string) => void;
}

/** The synthetic vectors' generator settings (bench/serve.ts draws its queries with them too). */
export const GEN = { clusters: 1000, latent: 32, spread: 0.5, noise: 0.15 };
const BLOCK = 16384;

/** Seeded clustered unit vectors in blocks (one block in memory at a time). */
export function* vectorBlocks(n: number, dim: number, seed: number): Generator<Float32Array> {
  for (let s = 0, b = 0; s < n; s += BLOCK, b++)
    yield clusteredVectors(Math.min(BLOCK, n - s), dim, { ...GEN, seed: seed * 100_003 + b, centresSeed: seed + 1 });
}

export const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
export const quantile = (v: number[], p: number) =>
  [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(p * v.length))];
const f2 = (v: number) => v.toFixed(2);
const f1 = (v: number) => v.toFixed(1);
export const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');

/** Per-round medians of single-query search latency (ms), for the given query range of this round. */
async function timeQueries(index: VectorIndex, q: Float32Array, dim: number, from: number, count: number) {
  const ms: number[] = [];
  for (let i = from; i < from + count; i++) {
    const t0 = performance.now();
    await index.search(q.subarray(i * dim, (i + 1) * dim), 10);
    ms.push(performance.now() - t0);
  }
  return ms;
}

/** A saved index in memory over synthetic rows (`row` labels row p; default: cluster-free, 'synthetic'). */
export function savedOf(
  index: VectorIndex,
  extractor: Extractor,
  kind: SavedIndexModel['kind'] = 'onnx',
  row: Parameters<typeof IndexRows.build>[1] = (p) => ({
    path: `synthetic/${p}.png`,
    class: 'synthetic',
    modality: 'XR',
  }),
): SavedIndex {
  const rows = IndexRows.build(index.size, row);
  return {
    index,
    rows,
    dir: null,
    imagesRoot: null,
    info: {
      format: 'radcbir-index',
      version: 1,
      kind: index.kind,
      size: index.size,
      dim: index.dim,
      metric: 'ip',
      params: { ...index.params },
      model: {
        id: extractor.id,
        fingerprint: extractor.fingerprint,
        cardHash: null,
        kind,
        preprocess: null,
        dim: extractor.dim,
      },
      images: { root: null, absoluteRoot: null },
      manifest: null,
      source: { kind: 'embeddings', dir: '', absoluteDir: '', contentHash: '', manifestHash: '' },
      files: { vectors: 'vectors.index', rows: 'rows.csv' },
      created: new Date().toISOString(),
    },
  };
}

/** The ViT-B/16-sized extractor (random weights) and 512 × 512 PNG query images. */
async function embedSetup(tmp: string, count: number, threads: number): Promise<{ ex: Extractor; pngs: Buffer[] }> {
  const cfg = { size: 224, patch: 16, dim: 768, heads: 12, mlp: 3072, depth: 12, projDim: 512, seed: 16 };
  await writeFile(join(tmp, 'vit.onnx'), buildTinyVit(cfg).bytes);
  const card: ModelCard = {
    id: 'bench-vit-b16',
    name: 'ViT-B/16-sized graph (random weights)',
    architecture: 'ViT',
    source: { checkpoint: 'random weights (bench/latency.ts)', licence: 'MIT (this project)' },
    onnx: { file: 'vit.onnx', input: 'pixel_values', output: 'last_hidden_state' },
    preprocess: {
      size: [224, 224],
      resize: 'shortest-edge',
      resizeTo: 224,
      interpolation: 'bicubic',
      crop: 'center',
      rescale: 1 / 255,
      mean: [0.48145466, 0.4578275, 0.40821073],
      std: [0.26862954, 0.26130258, 0.27577711],
      channels: 'rgb',
    },
    pooling: 'cls-token',
    dim: 768,
  };
  const ex = await loadOnnxExtractor(card, { modelPath: join(tmp, 'vit.onnx'), intraOpThreads: threads, batchSize: 1 });
  const rng = new Rng(9);
  const pngs: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const px = Buffer.alloc(512 * 512);
    const f = 4 + rng.next() * 20;
    for (let p = 0; p < px.length; p++) px[p] = 127 + Math.round(100 * Math.sin((p % 512) / f) * Math.cos(p / 512 / f));
    pngs.push(
      await sharp(px, { raw: { width: 512, height: 512, channels: 1 } })
        .png()
        .toBuffer(),
    );
  }
  return { ex, pngs };
}

interface Engine {
  name: string;
  index: VectorIndex;
  build: number;
  rounds: number[][];
  embedRounds: number[][];
  recall?: number;
}

/** Build the exact and HNSW indices of n rows (generated twice, block by block: one copy each). */
async function buildEngines(n: number, o: Required<LatencyBenchOptions>): Promise<Engine[]> {
  const t0 = performance.now();
  const exact = await ExactIndex.fromRowBlocks(o.dim, n, vectorBlocks(n, o.dim, o.seed), {
    backend: 'onnx',
    threads: o.threads,
  });
  const t1 = performance.now();
  const hnsw = await HnswIndex.fromRowBlocks(o.dim, n, vectorBlocks(n, o.dim, o.seed), {
    connectivity: o.connectivity,
    expansionAdd: o.expansionAdd,
    expansionSearch: o.expansionSearch,
    threads: o.threads,
  });
  const t2 = performance.now();
  return [
    { name: 'exact', index: exact, build: (t1 - t0) / 1000, rounds: [], embedRounds: [] },
    {
      name: `HNSW (M ${o.connectivity}, efConstruction ${o.expansionAdd}, ef ${o.expansionSearch}, f32)`,
      index: hnsw,
      build: (t2 - t1) / 1000,
      rounds: [],
      embedRounds: [],
    },
  ];
}

/** Interleaved rounds: per round, each engine searches the round's queries one at a time (A B A B …). */
async function measure(engines: Engine[], q: Float32Array, o: Required<LatencyBenchOptions>, emb: EmbedKit | null) {
  for (const e of engines) await timeQueries(e.index, q, o.dim, 0, Math.min(5, o.queries)); // warm-up
  const searchers = emb ? engines.map((e) => new IndexSearcher(savedOf(e.index, emb.ex), emb.ex)) : [];
  if (emb) for (const s of searchers) await s.searchBytes(emb.pngs[0], { k: 10 }); // warm-up
  for (let r = 0; r < o.rounds; r++) {
    for (let i = 0; i < engines.length; i++) {
      const e = engines[(i + r) % engines.length]; // alternate who goes first
      e.rounds.push(await timeQueries(e.index, q, o.dim, r * o.queries, o.queries));
      if (emb) {
        const s = searchers[(i + r) % engines.length];
        const ms: number[] = [];
        for (let j = 0; j < o.embedQueries; j++) {
          const t0 = performance.now();
          await s.searchBytes(emb.pngs[(r * o.embedQueries + j) % emb.pngs.length], { k: 10 });
          ms.push(performance.now() - t0);
        }
        e.embedRounds.push(ms);
      }
    }
  }
  const all = q.subarray(0, o.rounds * o.queries * o.dim);
  const ref = await engines[0].index.search(all, 10);
  for (const e of engines.slice(1)) {
    const got = await e.index.search(all, 10);
    e.recall = knnIntersection(ref, { ids: got.ids, k: got.k }, 10);
  }
}

/**
 * The same HNSW graph at other ef values: saved once, reopened (memory-mapped) with each ef, and
 * measured search-only in interleaved rounds against exact search, with recall@10 against it.
 */
async function sweepEf(engines: Engine[], q: Float32Array, o: Required<LatencyBenchOptions>, file: string) {
  if (o.efSweep.length === 0) return [];
  const [exact, hnsw] = engines;
  await (hnsw.index as HnswIndex).save(file);
  const rows: string[] = [];
  for (const ef of o.efSweep) {
    o.log(`  ef ${ef}: measuring…`);
    const swept: Engine = {
      name: `HNSW, same graph, ef ${ef}`,
      index: await HnswIndex.load(file, { view: true, expansionSearch: ef, threads: o.threads }),
      build: 0,
      rounds: [],
      embedRounds: [],
    };
    const anchor: Engine = { ...exact, rounds: [], embedRounds: [] };
    await measure([anchor, swept], q, o, null);
    const n = exact.index.size;
    rows.push(...rowsOf(n, [anchor, swept]).slice(1));
    await swept.index.close();
  }
  return rows;
}

interface EmbedKit {
  ex: Extractor;
  pngs: Buffer[];
}

/** The Markdown rows of one index size. */
function rowsOf(n: number, engines: Engine[]): string[] {
  const per = (rounds: number[][]) => rounds.map(median);
  const cell = (rounds: number[][]) => {
    if (rounds.length === 0) return '—';
    const m = per(rounds);
    return `${f2(median(m))} (${f2(Math.min(...m))}–${f2(Math.max(...m))})`;
  };
  const lines = engines.map(
    (e) =>
      `| ${n.toLocaleString('en')} | ${e.name} | ${f1(e.build)} s | ${cell(e.rounds)} | ${f2(quantile(e.rounds.flat(), 0.95))} | ${cell(e.embedRounds)} | ${e.recall === undefined ? '—' : e.recall.toFixed(3)} |`,
  );
  const ratios = engines[0].rounds.map((r, i) => median(r) / median(engines[1].rounds[i]));
  lines.push(
    `| ${n.toLocaleString('en')} | exact ÷ HNSW latency (per round) | | ${f1(median(ratios))}× (${f1(Math.min(...ratios))}–${f1(Math.max(...ratios))}×) | | | |`,
  );
  return lines;
}

/** Run the benchmark and return a Markdown report. */
export async function run(opts: LatencyBenchOptions = {}): Promise<string> {
  const o: Required<LatencyBenchOptions> = {
    sizes: opts.sizes ?? [10_000, 200_000],
    dim: opts.dim ?? 768,
    queries: opts.queries ?? 40,
    embedQueries: opts.embedQueries ?? 4,
    rounds: Math.max(5, opts.rounds ?? 5),
    threads: opts.threads ?? 2,
    connectivity: opts.connectivity ?? 16,
    expansionAdd: opts.expansionAdd ?? 128,
    expansionSearch: opts.expansionSearch ?? 128,
    seed: opts.seed ?? 0,
    noEmbed: opts.noEmbed ?? false,
    efSweep: opts.efSweep ?? [],
    log: opts.log ?? ((s: string) => process.stderr.write(s + '\n')),
  };
  const tmp = mkdtempSync(join(tmpdir(), 'cbir-bench-latency-'));
  const load0 = load();
  const out: string[] = [
    '## Single-image query latency (saved index, top-10, one query at a time)',
    '',
    `- ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${o.threads} threads; load average before: ${load0}`,
    `- ${o.dim}-d seeded clustered unit vectors (bench/search.ts's generator); ${o.rounds} interleaved rounds of ${o.queries} queries (search only) and ${o.embedQueries} images (with embedding)`,
    '- with embedding: 512 × 512 PNG bytes → decode → CLIP preprocessing → ViT-B/16-sized ONNX graph (random weights) → normalise → search → labelled hits (`IndexSearcher.searchBytes`)',
    '',
    '| index rows | engine | build | search only, ms: median (range over rounds) | p95 ms | with embedding, ms | recall@10 |',
    '|---:|---|---:|---:|---:|---:|---:|',
  ];
  const emb = o.noEmbed ? null : await embedSetup(tmp, 8, o.threads);
  try {
    const q = clusteredVectors(o.rounds * o.queries + 5, o.dim, { ...GEN, seed: 7919, centresSeed: o.seed + 1 });
    for (const n of o.sizes) {
      o.log(`${n} rows: building exact and HNSW…`);
      const engines = await buildEngines(n, o);
      o.log(`  built in ${f1(engines[0].build)} s / ${f1(engines[1].build)} s; measuring…`);
      await measure(engines, q, o, emb);
      out.push(...rowsOf(n, engines));
      for (const row of await sweepEf(engines, q, o, join(tmp, `hnsw-${n}.usearch`))) out.push(row);
      for (const e of engines) await e.index.close();
    }
  } finally {
    await emb?.ex.close();
    await releaseExactSessions();
    rmSync(tmp, { recursive: true, force: true });
  }
  out.push('', `Load average after: ${load()}.`);
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string' },
      full: { type: 'boolean' },
      dim: { type: 'string' },
      queries: { type: 'string' },
      'embed-queries': { type: 'string' },
      rounds: { type: 'string' },
      threads: { type: 'string' },
      connectivity: { type: 'string' },
      'expansion-add': { type: 'string' },
      ef: { type: 'string' },
      'no-embed': { type: 'boolean' },
      'ef-sweep': { type: 'string' },
    },
  });
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  const sizes = values.sizes?.split(',').map(Number) ?? [10_000, 200_000, ...(values.full ? [1_300_000] : [])];
  const md = await run({
    sizes,
    dim: num(values.dim),
    queries: num(values.queries),
    embedQueries: num(values['embed-queries']),
    rounds: num(values.rounds),
    threads: num(values.threads),
    connectivity: num(values.connectivity),
    expansionAdd: num(values['expansion-add']),
    expansionSearch: num(values.ef),
    noEmbed: values['no-embed'],
    efSweep: values['ef-sweep']?.split(',').map(Number),
  });
  process.stdout.write(md + '\n');
}
