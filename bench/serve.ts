/**
 * Loopback load test of `cbir serve` (issue #12): C concurrent HTTP clients send query vectors to
 * POST /api/search-vector?k=10 of a running server over an HNSW index (embedding excluded), and
 * the queries/s it answers are measured. The clients run in a child process (so they do not share
 * the server's event loop), over keep-alive connections.
 *
 * Anchor: the same queries through `IndexSearcher.searchVectors` in the server's process, with
 * the same number of searches in flight (no HTTP). The two alternate in ≥ 5 rounds (A B A B …);
 * each figure is the median over rounds with the range, with the load average before and after.
 *
 *   node --import tsx bench/serve.ts                          # 50,000 × 768, 8 clients, 5 rounds
 *   node --import tsx bench/serve.ts --size 20000 --queries 500 --clients 4
 *
 * Target (issue #12): ≥ 50 queries/s on 2 cores with HNSW, embedding excluded.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clusteredVectors } from './search.js';
import { GEN, load, median, quantile, savedOf, vectorBlocks } from './latency.js';
import { HnswIndex } from '../src/workbench/search/index.js';
import { IndexSearcher } from '../src/workbench/search/query.js';
import type { Extractor } from '../src/workbench/models/types.js';
import { startServer } from '../src/web/index.js';

const TARGET_QPS = 50;

interface Options {
  size: number;
  dim: number;
  clients: number;
  queries: number;
  rounds: number;
  seed: number;
}

/** What a client round reports. */
interface ClientRound {
  seconds: number;
  ok: number;
  failed: number;
  latencies: number[];
}

const range = (v: number[], d = 0) => `${Math.min(...v).toFixed(d)}–${Math.max(...v).toFixed(d)}`;

/** Query vectors, seeded (the client and the anchor draw the same ones). */
function queryVectors(o: Options): Float32Array {
  return clusteredVectors(o.queries, o.dim, { ...GEN, seed: o.seed + 777, centresSeed: o.seed + 1 });
}

/** A searcher over an in-memory HNSW index of synthetic rows; its model is never called (vectors only). */
async function syntheticSearcher(o: Options): Promise<{ searcher: IndexSearcher; build: number }> {
  const t0 = performance.now();
  const index = await HnswIndex.fromRowBlocks(o.dim, o.size, vectorBlocks(o.size, o.dim, o.seed), { threads: 2 });
  const build = (performance.now() - t0) / 1000;
  const modality = ['CT', 'MR', 'XR', 'US'];
  const extractor: Extractor = {
    id: 'bench-synthetic',
    dim: o.dim,
    fingerprint: 'bench-synthetic',
    embed: () => Promise.reject(new Error('the load test searches by vector only')),
    close: async () => {},
  };
  const saved = savedOf(index, extractor, 'unknown', (p) => ({
    path: `synthetic/${p}.png`,
    class: `c${p % 40}`,
    modality: modality[p % 4],
  }));
  return { searcher: new IndexSearcher(saved, extractor), build };
}

/** The anchor: the same queries straight through the searcher, `inFlight` at a time. */
async function anchorRound(searcher: IndexSearcher, q: Float32Array, o: Options): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < o.queries) {
      const i = next++;
      await searcher.searchVectors(q.slice(i * o.dim, (i + 1) * o.dim), { k: 10 });
    }
  };
  await Promise.all(Array.from({ length: o.clients }, worker));
  return o.queries / ((performance.now() - t0) / 1000);
}

/** One HTTP round in the client process. */
function clientRound(child: ChildProcess, url: string): Promise<ClientRound> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as ClientRound));
    child.once('exit', (code) => reject(new Error(`the client process exited (${code})`)));
    child.send({ url });
  });
}

/** The client process: on each message, send all queries with `clients` in flight and report. */
function runClient(o: Options): void {
  const q = queryVectors(o);
  const agent = new Agent({ keepAlive: true, maxSockets: o.clients });
  const post = (url: URL, body: Buffer) =>
    new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'POST', agent, headers: { 'Content-Length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
  process.on('message', async (m: { url: string }) => {
    const url = new URL('/api/search-vector?k=10', m.url);
    const latencies: number[] = [];
    let ok = 0;
    let failed = 0;
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (next < o.queries) {
        const i = next++;
        const body = Buffer.from(q.buffer, i * o.dim * 4, o.dim * 4);
        const s = performance.now();
        const status = await post(url, body).catch(() => 0);
        latencies.push(performance.now() - s);
        if (status === 200) ok++;
        else failed++;
      }
    };
    await Promise.all(Array.from({ length: o.clients }, worker));
    process.send!({ seconds: (performance.now() - t0) / 1000, ok, failed, latencies } satisfies ClientRound);
  });
}

function options(): Options & { client: boolean } {
  const { values } = parseArgs({
    options: {
      size: { type: 'string' },
      dim: { type: 'string' },
      clients: { type: 'string' },
      queries: { type: 'string' },
      rounds: { type: 'string' },
      client: { type: 'boolean' },
    },
  });
  const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
  return {
    size: num(values.size, 50_000),
    dim: num(values.dim, 768),
    clients: num(values.clients, 8),
    queries: num(values.queries, 1000),
    rounds: Math.max(5, num(values.rounds, 5)),
    seed: 3,
    client: !!values.client,
  };
}

async function main(o: Options): Promise<void> {
  const load0 = load();
  const { searcher, build } = await syntheticSearcher(o);
  const server = await startServer({ searcher, host: '127.0.0.1', port: 0, concurrency: 2, maxQueued: 4 * o.clients });
  const args = [
    '--client',
    ...['size', 'dim', 'clients', 'queries'].flatMap((k) => [`--${k}`, String(o[k as keyof Options])]),
  ];
  const child = fork(fileURLToPath(import.meta.url), args, { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const q = queryVectors(o);
  const anchor: number[] = [];
  const http: ClientRound[] = [];
  try {
    await clientRound(child, server.url); // warm-up: connections, JIT
    await anchorRound(searcher, q, o);
    for (let r = 0; r < o.rounds; r++) {
      anchor.push(await anchorRound(searcher, q, o));
      http.push(await clientRound(child, server.url));
    }
  } finally {
    child.kill();
    await server.close();
    await searcher.close();
  }
  const qps = http.map((h) => h.ok / h.seconds);
  const ratio = qps.map((v, i) => v / anchor[i]);
  const lat = http.flatMap((h) => h.latencies);
  const failed = http.reduce((a, h) => a + h.failed, 0);
  console.log(
    [
      `Loopback load test of \`cbir serve\`: POST /api/search-vector?k=10, HNSW (M 16, ef 128, f32) over ${o.size.toLocaleString('en')} × ${o.dim} synthetic clustered unit vectors (built in ${build.toFixed(1)} s), ${o.clients} concurrent keep-alive clients in a child process, ${o.queries} queries per round, ${o.rounds} interleaved rounds (anchor, HTTP, …).`,
      '',
      `- ${cpus().length} × ${cpus()[0]?.model ?? '?'}; load average before: ${load0}, after: ${load()}`,
      '',
      '| measure | median | range over rounds |',
      '|---|---|---|',
      `| server over HTTP, queries/s | **${median(qps).toFixed(0)}** | ${range(qps)} |`,
      `| anchor: searchVectors in-process, queries/s | ${median(anchor).toFixed(0)} | ${range(anchor)} |`,
      `| HTTP / anchor | ${median(ratio).toFixed(2)} | ${range(ratio, 2)} |`,
      `| request latency p50 / p95, ms | ${quantile(lat, 0.5).toFixed(1)} / ${quantile(lat, 0.95).toFixed(1)} | |`,
      '',
      `Failed requests: ${failed}. Target ≥ ${TARGET_QPS} queries/s: ${median(qps) >= TARGET_QPS ? 'met' : 'NOT met'}.`,
    ].join('\n'),
  );
}

const o = options();
if (o.client) runClient(o);
else await main(o);
