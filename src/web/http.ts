/**
 * The HTTP plumbing of `cbir serve`: bounded request bodies, JSON answers, and errors as
 * `{ error, hint, code }` with a 4xx/5xx status. No answer ever carries a stack trace: a
 * `CbirError` gives its message and hint, anything else a one-line message.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage, isCbirError } from '../workbench/index.js';

/** An error with the HTTP status it answers with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
    readonly code?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The body of an error answer. */
export interface ErrorBody {
  error: string;
  hint?: string;
  code?: string;
}

/** Core error codes that are the request's fault (400), not the server's. */
const CLIENT_CODES = /^(search\/bad-|image\/|dicom\/|search\/non-finite|search\/not-found)/;

/** The status and body of anything thrown while answering. */
export function errorAnswer(e: unknown): { status: number; body: ErrorBody; headers: Record<string, string> } {
  if (e instanceof HttpError)
    return { status: e.status, body: clean({ error: e.message, hint: e.hint, code: e.code }), headers: e.headers };
  if (isCbirError(e)) {
    // a CbirError's message ends with "\n  → <hint>": the hint is its own field here
    const message = e.message.split('\n  → ')[0];
    const status = e.code && CLIENT_CODES.test(e.code) ? 400 : 500;
    return { status, body: clean({ error: message, hint: e.hint, code: e.code }), headers: {} };
  }
  const first = errorMessage(e).split('\n')[0];
  return {
    status: 500,
    body: {
      error: `internal error: ${first}`,
      hint: 'see the server log; the server keeps running',
      code: 'web/internal',
    },
    headers: {},
  };
}

function clean(b: ErrorBody): ErrorBody {
  const out: ErrorBody = { error: b.error };
  if (b.hint) out.hint = b.hint;
  if (b.code) out.code = b.code;
  return out;
}

/** Answer with JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Answer with an error (status from `errorAnswer`), unless an answer was already started. */
export function sendError(res: ServerResponse, e: unknown): number {
  const a = errorAnswer(e);
  if (res.headersSent) {
    res.destroy();
    return a.status;
  }
  sendJson(res, a.status, a.body, a.headers);
  return a.status;
}

/** Answer with bytes. */
export function sendBytes(res: ServerResponse, type: string, bytes: Uint8Array, cache = 'no-cache') {
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': bytes.byteLength, 'Cache-Control': cache });
  res.end(bytes);
}

/** A human size: 50 MB, 1.5 GB, 512 kB. */
export function formatBytes(n: number): string {
  if (n >= 1e9) return `${+(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(2)} kB`;
  return `${n} bytes`;
}

function tooLarge(limit: number): HttpError {
  return new HttpError(
    413,
    `the upload is larger than the server's limit of ${formatBytes(limit)}`,
    'send a smaller image, or start the server with a larger upload limit',
    'web/too-large',
    { Connection: 'close' },
  );
}

/**
 * Read a request body of at most `limit` bytes. A larger body is refused (413): a declared
 * Content-Length at once, otherwise as soon as the limit is passed; what is sent beyond it is
 * discarded, not held (up to `drain` bytes, then the connection is closed), so that the client
 * still reads the answer and memory stays bounded.
 */
export function readBody(req: IncomingMessage, limit: number, drain = Math.max(limit, 64 << 20)): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      discard(req, drain);
      return reject(tooLarge(limit));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= limit) return void chunks.push(c);
      req.off('data', onData);
      chunks.length = 0;
      discard(req, drain);
      reject(tooLarge(limit));
    };
    req.on('data', onData);
    req.on('end', () => size <= limit && resolve(Buffer.concat(chunks, size)));
    req.on('error', (e) => reject(new HttpError(400, `the upload was interrupted (${errorMessage(e)})`)));
  });
}

/** Read and drop the rest of a request body, closing the connection after `max` bytes. */
function discard(req: IncomingMessage, max: number): void {
  let seen = 0;
  req.on('data', (c: Buffer) => {
    seen += c.length;
    if (seen > max) req.destroy();
  });
  req.resume();
}

/** The integer query parameter `name` (default `def`), checked against [min, max]. */
export function intParam(url: URL, name: string, def: number | undefined, min: number, max: number): number {
  const v = url.searchParams.get(name);
  if (v === null || v === '') {
    if (def === undefined)
      throw new HttpError(400, `the parameter "${name}" is required`, `add ?${name}=<integer>`, 'web/bad-parameter');
    return def;
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new HttpError(
      400,
      `the parameter "${name}" must be an integer from ${min} to ${max}, got "${v}"`,
      `e.g. ?${name}=${Math.min(max, Math.max(min, 10))}`,
      'web/bad-parameter',
    );
  return n;
}

/** A yes/no query parameter: 1, true, yes, on (and their opposites). */
export function boolParam(url: URL, name: string, def = false): boolean {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return def;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new HttpError(
    400,
    `the parameter "${name}" must be 1 or 0, got "${v}"`,
    `e.g. ?${name}=1`,
    'web/bad-parameter',
  );
}
