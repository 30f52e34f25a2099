import { CbirError, IndexSearcher, isCbirError } from '../../workbench/index.js';
import { DEFAULT_MAX_UPLOAD, ReportBrowser, formatBytes, parseByteSize, startServer } from '../../web/index.js';
import { epOption, intOption, missingOption, parseOptions } from '../options.js';

export const summary = 'a local web page to search a saved index (and browse a report)';

export const usage = `usage:
  cbir serve --index <index dir> [--report <report dir>] [--data <manifest dir>]
             [--port 8080] [--host 127.0.0.1] [--max-upload 50MB] [--k 10]
             [--concurrency 2] [--queue 32] [--threads n] [--ep cpu|cuda]

Serves a search page: drop or pick an image (PNG, JPEG, DICOM) to see its top-k neighbours in the
index (made by \`cbir index build\` or \`cbir index import-faiss\`), filter by modality and dataset,
click a result to search with it. With --report (a finished \`cbir report\` folder) the page also
browses the report: Tables 3 and 4, every test query with its neighbours, a t-SNE map.

  --host         interface to listen on (default 127.0.0.1: this machine only)
  --port         0 picks a free port; the URL actually bound is printed
  --max-upload   largest accepted image (default 50MB); larger uploads get 413
  --k            neighbours per query when the page asks for none (default 10)
  --concurrency  searches embedded at once (default 2); --queue: waiting at most (default 32),
                 beyond that the server answers 503 with Retry-After
  --data         the report's manifest folder, if it moved
  --ef           HNSW index: search beam width instead of the saved one (recall/latency trade-off;
                 ≈ 1 M rows need 256 for recall@10 ≥ 0.99, see BENCHMARKS.md)

JSON API: POST /api/search?k=10 with the image bytes as the body answers what
\`cbir search --json\` prints; GET /api/index describes the index. Stop with Ctrl-C.`;

const OPTIONS = {
  index: { type: 'string' },
  report: { type: 'string' },
  data: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  'max-upload': { type: 'string' },
  k: { type: 'string' },
  concurrency: { type: 'string' },
  queue: { type: 'string' },
  threads: { type: 'string' },
  ef: { type: 'string' },
  ep: { type: 'string' },
} as const;

/** The web layer's errors say what to do in words; here the flag to use is added. */
function withFlag(e: unknown, cli: string): unknown {
  if (!isCbirError(e)) return e;
  const message = e.message.split('\n  → ')[0];
  return new CbirError(message, { hint: `${e.hint ? `${e.hint}\n  → in the CLI: ` : ''}${cli}`, code: e.code });
}

function flagged<T>(f: () => T, cli: string): T {
  try {
    return f();
  } catch (e) {
    throw withFlag(e, cli);
  }
}

async function flaggedAsync<T>(p: Promise<T>, cli: string): Promise<T> {
  return p.catch((e) => {
    throw withFlag(e, cli);
  });
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilStopped(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (sig: string) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(sig);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export async function run(args: string[]): Promise<number> {
  const { values: v } = parseOptions('serve', { args, options: OPTIONS, allowPositionals: false });
  if (!v.index) throw missingOption('--index is required', usage);
  const port = intOption(v.port, 'port', 0) ?? 8080;
  if (port > 65535)
    throw new CbirError(`--port must be at most 65535, got ${port}`, {
      hint: 'e.g. --port 8080',
      code: 'cli/bad-option',
    });
  const maxUpload = v['max-upload']
    ? flagged(() => parseByteSize(v['max-upload']!), 'e.g. --max-upload 50MB')
    : DEFAULT_MAX_UPLOAD;
  const report = v.report ? await ReportBrowser.open(v.report, { manifest: v.data }) : null;
  if (report?.warning) console.error(`warning: ${report.warning}`);
  const searcher = await IndexSearcher.open(v.index, {
    threads: intOption(v.threads, 'threads', 1),
    expansionSearch: intOption(v.ef, 'ef', 1),
    executionProvider: epOption(v.ep),
  });
  try {
    const server = await flaggedAsync(
      startServer({
        searcher,
        report,
        host: v.host ?? '127.0.0.1',
        port,
        maxUpload,
        k: intOption(v.k, 'k', 1) ?? 10,
        concurrency: intOption(v.concurrency, 'concurrency', 1),
        maxQueued: intOption(v.queue, 'queue', 0),
        log: (line) => console.error(`error: ${line}`),
      }),
      'pass another --port (--port 0 picks a free one), or another --host',
    );
    const s = searcher.summary();
    console.log(`radcbir search page: ${server.url}`);
    console.log(
      `  index ${s.dir} (${s.kind}, ${s.size} images, model ${searcher.saved.info.model.id}); uploads up to ${formatBytes(maxUpload)}`,
    );
    if (report) console.log(`  report browser: ${server.url}#report (${report.report.dir})`);
    console.log('  stop with Ctrl-C');
    await untilStopped();
    await server.close();
    return 0;
  } finally {
    await searcher.close();
  }
}
