/**
 * `cbir serve`'s JSON API over a real HTTP server on 127.0.0.1: search by upload (the same JSON
 * as `cbir search --json`), by index row and by vector, filters, images, the size limit, bad
 * uploads, the bounded queue, and that the server keeps answering after every failure.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { decodeImage, toGray, type SearchResponse } from '../../src/workbench/index.js';
import { PROJECT_ROOT } from '../helpers/datasets.js';
import { dicomBytes } from '../helpers/dicom.js';
import type { QueueStats } from '../../src/web/index.js';
import { MODEL, serve, slowExtractor, webFixture, type Served, type WebFixture } from './fixture.js';

let fx: WebFixture;
let srv: Served;
/** Every error body seen, checked at the end for stack traces. */
const errorBodies: string[] = [];

before(async () => {
  fx = await webFixture('cbir-web-api-');
  srv = await serve(fx, { maxUpload: 200_000 });
});
after(async () => {
  await srv?.close();
  fx?.cleanup();
});

const testRows = () => fx.manifest.indicesOf('test');
const fileOf = (row: number) => fx.manifest.resolvePath(row);

async function call(path: string, init?: RequestInit, base = srv.url) {
  const res = await fetch(new URL(path, base), init);
  const text = await res.text();
  if (!res.ok) errorBodies.push(text);
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

async function upload(path: string, body: Uint8Array, base = srv.url) {
  return call(path, { method: 'POST', body }, base);
}

test('GET /api/index: the summary, and modality/dataset counts that match the train split', async () => {
  const r = await call('/api/index');
  assert.equal(r.status, 200);
  const info = r.json();
  const train = fx.manifest.indicesOf('train');
  assert.equal(info.index.size, train.length);
  assert.equal(info.index.split, 'train');
  assert.equal(info.model.id, MODEL);
  assert.equal(info.maxUpload, 200_000);
  const count = (key: 'modality' | 'dataset') => {
    const out: Record<string, number> = {};
    for (const row of train) {
      const v = fx.manifest.entry(row)[key];
      out[v] = (out[v] ?? 0) + 1;
    }
    return out;
  };
  assert.deepEqual(info.facets.modality, count('modality'));
  assert.deepEqual(info.facets.dataset, count('dataset'));
  assert.ok(Object.keys(info.facets.modality).length > 1);
});

test('POST /api/search answers what `cbir search --json` prints, and knows the class of a manifest image', async () => {
  const row = testRows()[2];
  const file = fileOf(row);
  const cli = spawnSync(
    process.execPath,
    [join(PROJECT_ROOT, 'bin', 'cbir.js'), 'search', '--index', fx.indexDir, '--k', '7', '--json', file],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(cli.status, 0, cli.stderr);
  const expected: SearchResponse = JSON.parse(cli.stdout);
  const r = await upload(`/api/search?k=7&name=${encodeURIComponent(file.split('/').pop()!)}`, readFileSync(file));
  assert.equal(r.status, 200, r.text);
  const got: SearchResponse = r.json();
  assert.deepEqual(got.index, expected.index);
  assert.equal(got.model, expected.model);
  assert.equal(got.k, 7);
  assert.deepEqual(got.queries[0].results, expected.queries[0].results);
  assert.equal(got.queries[0].results.length, 7);
  assert.equal(got.queries[0].class, fx.manifest.entry(row).className);
  assert.equal(expected.queries[0].class, got.queries[0].class);
  // without the file name the upload is anonymous: no class
  const anon = (await upload('/api/search?k=7', readFileSync(file))).json();
  assert.equal(anon.queries[0].class, undefined);
  assert.deepEqual(anon.queries[0].results, expected.queries[0].results);
});

test('filters by modality and dataset keep only those rows; an unknown value is a 400 with a hint', async () => {
  const bytes = readFileSync(fileOf(testRows()[0]));
  const mr = (await upload('/api/search?k=5&modality=MR', bytes)).json() as SearchResponse;
  assert.ok(mr.queries[0].results.length > 0);
  assert.ok(mr.queries[0].results.every((h) => h.modality === 'MR'));
  assert.deepEqual(mr.filter, { modality: ['MR'] });
  const ds = fx.manifest.entry(fx.manifest.indicesOf('train')[0]).dataset;
  const both = (await upload(`/api/search?k=50&dataset=${ds}&modality=CT|MR`, bytes)).json() as SearchResponse;
  assert.ok(both.queries[0].results.every((h) => h.dataset === ds && (h.modality === 'CT' || h.modality === 'MR')));
  const bad = await upload('/api/search?modality=PET', bytes);
  assert.equal(bad.status, 400);
  assert.match(bad.json().error, /modality "PET"/);
  assert.match(bad.json().hint, /modality values in this index: .*CT/);
  for (const q of ['k=0', 'k=abc', 'excludeSelf=maybe']) {
    const r = await upload(`/api/search?${q}`, bytes);
    assert.equal(r.status, 400, q);
    assert.ok(r.json().error && r.json().hint, q);
  }
});

test('search by index row (click-through): the row itself comes first, or is left out with excludeSelf', async () => {
  const p = 4;
  const plain = (await call(`/api/search?row=${p}&k=3`)).json() as SearchResponse;
  assert.equal(plain.queries[0].results[0].row, p);
  assert.ok(Math.abs(plain.queries[0].results[0].similarity - 1) < 1e-5);
  const own = srv.searcher.saved.rows;
  assert.equal(plain.queries[0].class, own.labels(p).class);
  assert.equal(plain.queries[0].query, own.paths[p]);
  const post = (await call(`/api/search?row=${p}&k=3&excludeSelf=1`, { method: 'POST' })).json() as SearchResponse;
  assert.ok(post.queries[0].results.every((h) => h.row !== p));
  assert.deepEqual(
    post.queries[0].results.slice(0, 2),
    plain.queries[0].results.slice(1, 3).map((h, i) => ({ ...h, rank: i + 1 })),
  );
  for (const row of ['-1', String(own.size), '../../etc/passwd', '']) {
    const r = await call(`/api/search?row=${encodeURIComponent(row)}`);
    assert.equal(r.status, 400, row);
  }
});

test('POST /api/search-vector searches without embedding and gives the results of the image it was embedded from', async () => {
  const file = fileOf(testRows()[1]);
  const [v] = [await srv.searcher.embed([await decodeImage(file)])];
  const r = await upload('/api/search-vector?k=6', new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  assert.equal(r.status, 200, r.text);
  const byImage = (await upload('/api/search?k=6', readFileSync(file))).json() as SearchResponse;
  assert.deepEqual(
    (r.json() as SearchResponse).queries[0].results.map((h) => h.row),
    byImage.queries[0].results.map((h) => h.row),
  );
  const short = await upload('/api/search-vector', new Uint8Array(12));
  assert.equal(short.status, 400);
  assert.match(short.json().error, new RegExp(`${v.length} float32`));
  const zero = await upload('/api/search-vector', new Uint8Array(v.byteLength));
  assert.equal(zero.status, 400);
});

test('a DICOM upload gives the results of the same pixels as PNG, and /api/preview shows it as PNG', async () => {
  const row = testRows()[3];
  const img = await decodeImage(fileOf(row));
  const dcm = dicomBytes({ rows: img.height, cols: img.width, pixels: toGray(img), bitsAllocated: 8, modality: 'CT' });
  const a = (await upload('/api/search?k=5&name=scan.dcm', dcm)).json() as SearchResponse;
  const b = (await upload('/api/search?k=5', readFileSync(fileOf(row)))).json() as SearchResponse;
  assert.deepEqual(a.queries[0].results, b.queries[0].results);
  const res = await fetch(new URL('/api/preview', srv.url), { method: 'POST', body: dcm });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
  const png = await decodeImage(new Uint8Array(await res.arrayBuffer()));
  assert.deepEqual([png.width, png.height], [img.width, img.height]);
});

test('GET /api/image serves exactly the file the index names for a row, and nothing else', async () => {
  const p = 7;
  const res = await fetch(new URL(`/api/image?row=${p}`, srv.url));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
  const expected = readFileSync(srv.searcher.rowFile(p)!);
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array(expected));
  for (const q of ['row=1e9', 'row=../manifest.csv', 'path=/etc/passwd'])
    assert.equal((await call(`/api/image?${q}`)).status, 400, q);
});

test('a non-image is a 415, a broken image and an empty body a 400, each with {error, hint}', async () => {
  const text = await upload('/api/search', new TextEncoder().encode('this is not an image at all'));
  assert.equal(text.status, 415);
  assert.match(text.json().error, /not an image/);
  assert.match(text.json().hint, /PNG, JPEG or DICOM/);
  const png = readFileSync(fileOf(testRows()[0]));
  const broken = await upload('/api/search', png.subarray(0, 60));
  assert.equal(broken.status, 400);
  assert.match(broken.json().error, /cannot decode image/);
  assert.ok(broken.json().hint);
  const empty = await upload('/api/search', new Uint8Array(0));
  assert.equal(empty.status, 400);
  assert.match(empty.json().error, /empty/);
  const nf = await call('/api/nothing');
  assert.equal(nf.status, 404);
  const method = await call('/api/index', { method: 'DELETE' });
  assert.equal(method.status, 405);
  assert.equal(method.headers.get('allow'), 'GET');
});

/** POST `size` bytes (a PNG signature, then zeros) with http.request; chunked when `chunked`. */
function postLarge(size: number, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL('/api/search', srv.url);
    const headers: Record<string, string | number> = chunked ? {} : { 'Content-Length': size };
    const req = request(url, { method: 'POST', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024);
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1').copy(chunk);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        if (!req.write(chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

test('an upload over the limit is a 413 (declared or streamed), memory stays bounded, the server goes on', async () => {
  for (const chunked of [false, true]) {
    const r = await postLarge(2_000_000, chunked);
    assert.equal(r.status, 413, `chunked ${chunked}`);
    const body = JSON.parse(r.body);
    assert.match(body.error, /larger than the server's limit of 200 kB/);
    assert.ok(body.hint);
    errorBodies.push(r.body);
  }
  assert.equal((await call('/api/index')).status, 200);
});

test('concurrent searches go through a bounded queue: one embeds at a time, the overflow gets 503 + Retry-After', async () => {
  const slow = await slowExtractor(150);
  const busy = await serve(fx, { extractor: slow.extractor, concurrency: 1, maxQueued: 2 });
  try {
    const bytes = readFileSync(fileOf(testRows()[0]));
    const all = await Promise.all(
      Array.from({ length: 10 }, () => fetch(new URL('/api/search?k=3', busy.url), { method: 'POST', body: bytes })),
    );
    const ok = all.filter((r) => r.status === 200);
    const refused = all.filter((r) => r.status === 503);
    assert.equal(ok.length + refused.length, 10, all.map((r) => r.status).join(','));
    assert.ok(ok.length >= 3, `${ok.length} answered`); // one running, two waiting
    assert.ok(refused.length >= 1, `${refused.length} refused`);
    for (const r of refused) {
      assert.equal(r.headers.get('retry-after'), '1');
      const body = (await r.json()) as { error: string };
      assert.match(body.error, /busy/);
      errorBodies.push(JSON.stringify(body));
    }
    for (const r of ok) assert.equal(((await r.json()) as SearchResponse).queries[0].results.length, 3);
    assert.equal(slow.peak(), 1, 'embeds ran at the same time');
    const stats = ((await (await fetch(new URL('/api/status', busy.url))).json()) as { queue: QueueStats }).queue;
    assert.equal(stats.peakRunning, 1);
    assert.ok(stats.peakQueued <= 2);
    assert.equal(stats.rejected, refused.length);
    // once the burst is over, it answers again
    const again = await fetch(new URL('/api/search?k=3', busy.url), { method: 'POST', body: bytes });
    assert.equal(again.status, 200);
  } finally {
    await busy.close();
  }
});

test(
  '`cbir serve --port 0` prints the URL it bound on 127.0.0.1, answers, and stops on SIGTERM',
  { timeout: 60_000 },
  async () => {
    const child = spawn(
      process.execPath,
      [join(PROJECT_ROOT, 'bin', 'cbir.js'), 'serve', '--index', fx.indexDir, '--port', '0', '--max-upload', '1MB'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed:\n${out}\n${err}`)), 45_000);
      child.stdout.on('data', (c) => {
        out += c;
        const m = /radcbir search page: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}\n${err}`)));
    });
    try {
      const info = (await call('/api/index', undefined, url)).json();
      assert.equal(info.maxUpload, 1_000_000);
      assert.match(out, /uploads up to 1 MB/);
      const r = await upload('/api/search?k=2', readFileSync(fileOf(testRows()[0])), url);
      assert.equal(r.status, 200);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, err);
    }
  },
);

test('`cbir serve` refuses a bad --max-upload and a port in use with a message and the flag to change', async () => {
  const bin = join(PROJECT_ROOT, 'bin', 'cbir.js');
  const size = spawnSync(process.execPath, [bin, 'serve', '--index', fx.indexDir, '--max-upload', 'lots'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(size.status, 1);
  assert.match(size.stderr, /"lots" is not a size/);
  assert.match(size.stderr, /in the CLI: e\.g\. --max-upload 50MB/);
  const port = new URL(srv.url).port;
  const used = spawnSync(process.execPath, [bin, 'serve', '--index', fx.indexDir, '--port', port], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(used.status, 1);
  assert.match(used.stderr, /cannot listen on 127\.0\.0\.1:\d+ \(.*EADDRINUSE/);
  assert.match(used.stderr, /--port 0 picks a free one/);
  assert.doesNotMatch(used.stderr, /\n\s+at /);
});

test('no error answer carries a stack trace, and the server still answers', async () => {
  assert.ok(errorBodies.length >= 10, `${errorBodies.length} error bodies`);
  for (const b of errorBodies) {
    const body = JSON.parse(b);
    assert.equal(typeof body.error, 'string');
    assert.doesNotMatch(b, /\bat .+\.(ts|js):\d+/);
  }
  assert.equal((await call('/api/index')).status, 200);
});
