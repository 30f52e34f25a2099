/**
 * `cbir serve`: a local search page over a real HTTP server (node:http, no framework).
 *
 *   GET  /                      the page (src/web/page: HTML, CSS, plain DOM JavaScript)
 *   GET  /api/index             the index summary, its model, the modalities and datasets to filter by
 *   POST /api/search?k=10       body: image bytes (PNG, JPEG, DICOM, …) → the `cbir search --json` object;
 *                               filters ?modality=CT&dataset=…, ?excludeSelf=1, ?name=<file name>
 *   GET|POST /api/search?row=N  search with index row N's image (click-through)
 *   POST /api/search-vector     body: dim float32 (little-endian) → the same JSON, no embedding (load tests)
 *   GET  /api/image?row=N       index row N's image (PNG/JPEG as stored; DICOM/TIFF as PNG)
 *   POST /api/preview           an upload as PNG, for showing a DICOM query
 *   GET  /api/status            the queue's counters
 *   GET  /api/report, /api/report/queries, /api/report/image, /api/report/tsne   with a report
 *
 * It listens on 127.0.0.1 unless told otherwise. Bodies are bounded (413 over the limit), searches
 * go through a bounded queue (503 + Retry-After when full), and every error is JSON
 * `{ error, hint, code }` without a stack trace; the server keeps running.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CbirError, errorMessage, type IndexSearcher } from '../workbench/index.js';
import { HttpError, readBody, sendBytes, sendError, sendJson } from './http.js';
import type { ReportBrowser } from './report.js';
import { SearchService, type SearchServiceOptions } from './search.js';

/** Options of `startServer`. */
export interface ServeOptions extends SearchServiceOptions {
  searcher: IndexSearcher;
  report?: ReportBrowser | null;
  /** Interface to listen on (default 127.0.0.1); port 0 picks a free one (default 8080). */
  host?: string;
  port?: number;
  /** Largest accepted upload in bytes (default 50 MB). */
  maxUpload?: number;
  /** Called with one line per failed request (default: nothing). */
  log?: (line: string) => void;
}

/** A running server. */
export interface SearchServer {
  server: Server;
  url: string;
  host: string;
  port: number;
  service: SearchService;
  /** Stop listening and close open connections (the searcher stays open: its owner closes it). */
  close(): Promise<void>;
}

export const DEFAULT_MAX_UPLOAD = 50_000_000;

const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'page');
const ASSETS: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/report.js': ['report.js', 'text/javascript; charset=utf-8'],
  '/dom.js': ['dom.js', 'text/javascript; charset=utf-8'],
};

/** The page's files, read once. */
function loadAssets(): Map<string, { type: string; bytes: Buffer }> {
  const out = new Map<string, { type: string; bytes: Buffer }>();
  for (const [route, [file, type]] of Object.entries(ASSETS))
    out.set(route, { type, bytes: readFileSync(join(PAGE_DIR, file)) });
  return out;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

function notFound(path: string): HttpError {
  return new HttpError(404, `no such page or endpoint: ${path}`, 'open the search page at /', 'web/not-found');
}

function methodNotAllowed(method: string | undefined, path: string, allowed: string): HttpError {
  return new HttpError(405, `${method} is not allowed on ${path}`, `use ${allowed}`, 'web/method', { Allow: allowed });
}

/** The API routes: path → method → handler. */
function routes(o: ServeOptions, service: SearchService): Record<string, Record<string, Handler>> {
  const maxUpload = o.maxUpload ?? DEFAULT_MAX_UPLOAD;
  const json = (f: (req: IncomingMessage, url: URL) => Promise<unknown> | unknown): Handler => {
    return async (req, res, url) => sendJson(res, 200, await f(req, url));
  };
  const search = json(async (req, url) =>
    url.searchParams.has('row') ? service.searchRow(url) : service.searchUpload(await readBody(req, maxUpload), url),
  );
  const report = (): ReportBrowser => {
    if (!o.report)
      throw new HttpError(
        404,
        'this server has no report',
        'start the server with a finished report folder',
        'web/no-report',
      );
    return o.report;
  };
  return {
    '/api/index': { GET: json(() => ({ ...service.info(), maxUpload, report: !!o.report })) },
    '/api/status': { GET: json(() => ({ queue: service.queue.stats() })) },
    '/api/search': { POST: search, GET: search },
    '/api/search-vector': { POST: json(async (req, url) => service.searchVector(await readBody(req, 1 << 20), url)) },
    '/api/image': { GET: async (_q, res, url) => image(res, await service.image(url)) },
    '/api/preview': { POST: async (req, res) => image(res, await service.preview(await readBody(req, maxUpload))) },
    '/api/report': { GET: json(() => report().summary()) },
    '/api/report/queries': { GET: json((_q, url) => report().queries(url)) },
    '/api/report/image': { GET: async (_q, res, url) => image(res, await report().image(url)) },
    '/api/report/tsne': { GET: json((_q, url) => report().tsne(url)) },
  };
}

function image(res: ServerResponse, a: { type: string; bytes: Uint8Array }) {
  sendBytes(res, a.type, a.bytes, 'private, max-age=600');
}

/** The request handler: static page files, then the API; errors become JSON answers. */
export function requestHandler(o: ServeOptions, service: SearchService) {
  const assets = loadAssets();
  const api = routes(o, service);
  return async (req: IncomingMessage, res: ServerResponse) => {
    let path = '?';
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      path = url.pathname;
      if (path === '/favicon.ico') return void res.writeHead(204).end();
      const asset = assets.get(path);
      if (asset && (req.method === 'GET' || req.method === 'HEAD'))
        return sendBytes(res, asset.type, asset.bytes, 'no-cache');
      const route = api[path];
      if (!route) throw notFound(path);
      const h = route[req.method ?? ''];
      if (!h) throw methodNotAllowed(req.method, path, Object.keys(route).join(', '));
      await h(req, res, url);
    } catch (e) {
      const status = sendError(res, e);
      if (status >= 500 && status !== 503) o.log?.(`${req.method} ${path}: ${errorMessage(e).split('\n')[0]}`);
    }
  };
}

/** Start the server; resolves once it listens (the URL actually bound, e.g. with port 0). */
export async function startServer(o: ServeOptions): Promise<SearchServer> {
  const service = new SearchService(o.searcher, o);
  const server = createServer({ keepAliveTimeout: 5000 }, requestHandler(o, service));
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(
        new CbirError(`cannot listen on ${host}:${o.port ?? 8080} (${errorMessage(e)})`, {
          hint: 'choose another port (0 picks a free one), or stop the program that holds it',
          code: 'web/listen',
        }),
      ),
    );
    server.listen(o.port ?? 8080, host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    service,
    host: addr.address,
    port: addr.port,
    url: `http://${shown}:${addr.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
