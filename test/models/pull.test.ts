import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { builtinCard, builtinGraphBytes } from '../../src/workbench/models/builtin/index.js';
import { hubUrl, pullModel, verifyModel } from '../../src/workbench/models/pull.js';
import { lockPath, readLock } from '../../src/workbench/models/lock.js';
import type { ModelCard } from '../../src/workbench/models/types.js';
import { CbirError } from '../../src/workbench/errors.js';
import { sha256 } from '../../src/workbench/util/fsx.js';
import { tempDir } from '../helpers/datasets.js';

const BYTES = Buffer.from(builtinGraphBytes('tiny-cnn'));
const SHA = sha256(BYTES);

/** A study-style card for the project-built CNN graph. */
function card(patch: Partial<ModelCard['onnx']> = {}): ModelCard {
  const b = builtinCard('tiny-cnn')!;
  return {
    ...b,
    id: 'test-cnn',
    builtin: undefined,
    onnx: { ...b.onnx, file: 'test-cnn.onnx', sha256: SHA, ...patch },
  };
}

const HTML = Buffer.from('<!DOCTYPE html><html><body><form action="/login">Proxy login</form></body></html>\n');
const OTHER_MODEL = Buffer.from(builtinGraphBytes('tiny-vit'));

interface Server {
  url: string;
  requests: { url?: string; range?: string }[];
  mode: { cutAfter?: number; ignoreRange?: boolean; status?: number; body?: Buffer };
  close(): Promise<void>;
}

/** Serves BYTES at /model.onnx with Range support; `mode.cutAfter` drops the connection midway once. */
async function serve(): Promise<Server> {
  const requests: { url?: string; range?: string }[] = [];
  const mode: Server['mode'] = {};
  const srv = http.createServer((req, res) => {
    requests.push({ url: req.url, range: req.headers.range });
    if (req.url === '/login.onnx') {
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': HTML.length });
      res.end(HTML);
      return;
    }
    if (
      req.url === '/org/repo/resolve/main/test-cnn.onnx' ||
      req.url === '/org/repo/resolve/v1.0/onnx/model%20a.onnx'
    ) {
      const body = mode.body ?? BYTES;
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
      return;
    }
    if (req.url === '/moved') {
      res.writeHead(302, { location: '/model.onnx' });
      res.end();
      return;
    }
    if (req.url !== '/model.onnx') {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    if (mode.status) {
      res.writeHead(mode.status);
      res.end();
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && !mode.ignoreRange) {
      start = Number(m[1]);
      if (start >= BYTES.length) {
        res.writeHead(416, { 'content-range': `bytes */${BYTES.length}` });
        res.end();
        return;
      }
      res.writeHead(206, {
        'content-length': BYTES.length - start,
        'content-range': `bytes ${start}-${BYTES.length - 1}/${BYTES.length}`,
        'accept-ranges': 'bytes',
      });
    } else {
      res.writeHead(200, { 'content-length': BYTES.length, 'accept-ranges': 'bytes' });
    }
    const body = BYTES.subarray(start);
    if (mode.cutAfter !== undefined) {
      const n = mode.cutAfter;
      mode.cutAfter = undefined;
      res.write(body.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    mode,
    close: () =>
      new Promise((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

test('pull downloads, checks the sha256, renames into place, and verify accepts the file', async () => {
  const s = await serve();
  const { dir, cleanup } = tempDir();
  try {
    const dest = join(dir, 'w', 'test-cnn.onnx');
    const events: number[] = [];
    const r = await pullModel(card(), { url: `${s.url}/moved`, dest, onProgress: (e) => events.push(e.done) });
    assert.equal(r.path, dest);
    assert.equal(r.sha256, SHA);
    assert.equal(r.verified, true);
    assert.equal(r.downloaded, BYTES.length);
    assert.equal(r.resumedFrom, 0);
    assert.ok(readFileSync(dest).equals(BYTES));
    assert.ok(!existsSync(`${dest}.part`));
    assert.equal(events.at(-1), BYTES.length);
    const v = await verifyModel(card(), { modelPath: dest });
    assert.equal(v.ok, true, v.problems.join('; '));
    assert.equal(v.sha256, SHA);
  } finally {
    await s.close();
    cleanup();
  }
});

test('an interrupted download keeps only .part and the next pull resumes it with Range', async () => {
  const s = await serve();
  const { dir, cleanup } = tempDir();
  try {
    const dest = join(dir, 'test-cnn.onnx');
    const cut = Math.floor(BYTES.length / 3);
    s.mode.cutAfter = cut;
    await assert.rejects(pullModel(card(), { url: `${s.url}/model.onnx`, dest }), (e: unknown) => {
      assert.ok(e instanceof CbirError);
      assert.equal(e.code, 'pull/interrupted');
      assert.match(e.message, /partial file is kept/);
      assert.match(e.hint ?? '', /again to resume/);
      return true;
    });
    assert.ok(!existsSync(dest), 'nothing at the destination');
    const partSize = statSync(`${dest}.part`).size;
    assert.equal(partSize, cut);
    const r = await pullModel(card(), { url: `${s.url}/model.onnx`, dest });
    assert.equal(s.requests.at(-1)!.range, `bytes=${cut}-`);
    assert.equal(r.resumedFrom, cut);
    assert.equal(r.downloaded, BYTES.length - cut);
    assert.ok(readFileSync(dest).equals(BYTES));
    assert.ok(!existsSync(`${dest}.part`));
  } finally {
    await s.close();
    cleanup();
  }
});

test('a server that ignores Range makes the pull start over; a complete .part is accepted (416)', async () => {
  const s = await serve();
  const { dir, cleanup } = tempDir();
  try {
    const dest = join(dir, 'test-cnn.onnx');
    writeFileSync(`${dest}.part`, BYTES.subarray(0, 100));
    s.mode.ignoreRange = true;
    const r = await pullModel(card(), { url: `${s.url}/model.onnx`, dest });
    assert.equal(r.resumedFrom, 0);
    assert.ok(readFileSync(dest).equals(BYTES));
    s.mode.ignoreRange = false;
    const dest2 = join(dir, 'again.onnx');
    writeFileSync(`${dest2}.part`, BYTES);
    const r2 = await pullModel(card(), { url: `${s.url}/model.onnx`, dest: dest2 });
    assert.equal(r2.downloaded, 0);
    assert.ok(readFileSync(dest2).equals(BYTES));
  } finally {
    await s.close();
    cleanup();
  }
});

test('a checksum mismatch deletes the download and says what to do', async () => {
  const s = await serve();
  const { dir, cleanup } = tempDir();
  try {
    const dest = join(dir, 'test-cnn.onnx');
    await assert.rejects(
      pullModel(card({ sha256: '0'.repeat(64) }), { url: `${s.url}/model.onnx`, dest }),
      (e: unknown) => {
        assert.ok(e instanceof CbirError);
        assert.equal(e.code, 'pull/checksum');
        assert.ok(e.message.includes(SHA) && e.message.includes('0'.repeat(64)), e.message);
        return true;
      },
    );
    assert.ok(!existsSync(dest) && !existsSync(`${dest}.part`), 'nothing corrupt is kept');
  } finally {
    await s.close();
    cleanup();
  }
});

test('offline, HTTP errors and a missing URL give clear errors', async () => {
  const s = await serve();
  const { dir, cleanup } = tempDir();
  const dest = join(dir, 'test-cnn.onnx');
  try {
    await assert.rejects(pullModel(card(), { url: `${s.url}/nothing.onnx`, dest }), /HTTP 404/);
    s.mode.status = 503;
    await assert.rejects(pullModel(card(), { url: `${s.url}/model.onnx`, dest }), /HTTP 503/);
    await assert.rejects(
      pullModel(card(), { dest }),
      (e: unknown) =>
        e instanceof CbirError &&
        e.code === 'pull/no-url' &&
        /give a download URL/.test(e.hint ?? '') &&
        !/--url/.test(e.hint ?? ''),
    );
  } finally {
    await s.close();
  }
  try {
    // the server is closed now: connection refused, as on a machine without network
    await assert.rejects(pullModel(card(), { url: `${s.url}/model.onnx`, dest }), (e: unknown) => {
      assert.ok(e instanceof CbirError);
      assert.equal(e.code, 'pull/offline');
      assert.match(e.message, /offline/);
      assert.ok((e.hint ?? '').includes(dest) && /by hand|copy it to/.test(e.hint ?? ''), e.hint);
      return true;
    });
  } finally {
    cleanup();
  }
});

test('verify reports a missing file, a wrong checksum and a file that is not a model', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const missing = await verifyModel(card(), { modelPath: join(dir, 'nope.onnx') });
    assert.equal(missing.ok, false);
    assert.match(missing.problems[0], /not found/);
    const good = join(dir, 'good.onnx');
    writeFileSync(good, BYTES);
    const wrongSha = await verifyModel(card({ sha256: 'f'.repeat(64) }), { modelPath: good });
    assert.equal(wrongSha.ok, false);
    assert.ok(wrongSha.problems.some((p) => /sha256 .* differs/.test(p)));
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, 'not a model');
    const bad = await verifyModel(card({ sha256: null }), { modelPath: junk });
    assert.equal(bad.ok, false);
    assert.ok(
      bad.problems.some((p) => /cannot load/.test(p)),
      bad.problems.join('; '),
    );
    assert.ok(bad.warnings.some((w) => /no sha256/.test(w)));
    const mismatch = await verifyModel({ ...card(), dim: 11 }, { modelPath: good });
    assert.ok(
      mismatch.problems.some((p) => /disagree.*dim 11/.test(p)),
      mismatch.problems.join('; '),
    );
  } finally {
    cleanup();
  }
});

test('a 200 HTML page (a proxy login) or a graph that does not fit the card never replaces a good file', async () => {
  const s = await serve();
  const { dir, cleanup } = tempDir();
  try {
    const dest = join(dir, 'test-cnn.onnx');
    writeFileSync(dest, BYTES);
    for (const c of [card(), card({ sha256: null })]) {
      await assert.rejects(pullModel(c, { url: `${s.url}/login.onnx`, dest }), (e: unknown) => {
        assert.ok(e instanceof CbirError);
        // with a pinned sha256 the checksum catches it first; without one the model check does
        assert.equal(e.code, c.onnx.sha256 ? 'pull/checksum' : 'pull/not-a-model', e.message);
        if (!c.onnx.sha256) assert.match(e.message, /HTML page.*left as it was/);
        return true;
      });
      assert.ok(readFileSync(dest).equals(BYTES), 'the good file is still in place');
      assert.ok(!existsSync(`${dest}.part`), 'the bad download is deleted');
    }
    // a real ONNX model, but not the card's: onnxruntime loads it, the card check refuses it
    s.mode.body = OTHER_MODEL;
    await assert.rejects(
      pullModel(card({ sha256: null }), {
        url: `${s.url}/org/repo/resolve/main/test-cnn.onnx`,
        dest: join(dir, 'b.onnx'),
      }),
      (e: unknown) => e instanceof CbirError && e.code === 'pull/not-a-model' && /disagree/.test(e.message),
    );
    assert.ok(!existsSync(join(dir, 'b.onnx')) && !existsSync(join(dir, 'b.onnx.part')));
    assert.ok(readFileSync(dest).equals(BYTES));
    assert.equal(readLock(dir).models['test-cnn'], undefined, 'no hash recorded for a rejected download');
  } finally {
    await s.close();
    cleanup();
  }
});

test('hub pulls: the URL is <hub>/<org/repo>/resolve/<revision>/<file>, and CBIR_HUB_URL moves the hub', async () => {
  const c = card();
  assert.equal(
    hubUrl(c, { repo: 'org/repo' }, 'https://hub.test'),
    'https://hub.test/org/repo/resolve/main/test-cnn.onnx',
  );
  assert.equal(
    hubUrl(c, { repo: 'org/repo', file: 'onnx/model a.onnx', revision: 'v1.0' }, 'https://hub.test'),
    'https://hub.test/org/repo/resolve/v1.0/onnx/model%20a.onnx',
  );
  for (const hub of [{ repo: 'just-a-name' }, { repo: 'a/b/c' }, { repo: 'org/repo', file: '../secret' }])
    assert.throws(
      () => hubUrl(c, hub, 'https://hub.test'),
      (e: unknown) => e instanceof CbirError && e.code === 'pull/hub',
    );
  const s = await serve();
  const { dir, cleanup } = tempDir();
  const saved = process.env.CBIR_HUB_URL;
  process.env.CBIR_HUB_URL = `${s.url}/`;
  try {
    const r = await pullModel(c, {
      hub: { repo: 'org/repo', file: 'onnx/model a.onnx', revision: 'v1.0' },
      dest: join(dir, 'm.onnx'),
    });
    assert.equal(s.requests.at(-1)!.url, '/org/repo/resolve/v1.0/onnx/model%20a.onnx');
    assert.equal(r.url, `${s.url}/org/repo/resolve/v1.0/onnx/model%20a.onnx`);
    assert.ok(readFileSync(r.path).equals(BYTES));
  } finally {
    if (saved === undefined) delete process.env.CBIR_HUB_URL;
    else process.env.CBIR_HUB_URL = saved;
    await s.close();
    cleanup();
  }
});

test('a card without sha256: the first download records it in the lock file, later pulls and verify check it', async () => {
  const s = await serve();
  const { dir, cleanup } = tempDir();
  try {
    const c = card({ sha256: null });
    const dest = join(dir, 'test-cnn.onnx');
    const first = await pullModel(c, { url: `${s.url}/model.onnx`, dest });
    assert.deepEqual([first.verified, first.pinnedBy, first.recordedIn], [false, null, lockPath(dir)]);
    const pin = readLock(dir).models['test-cnn'];
    assert.equal(pin.sha256, SHA);
    assert.equal(pin.url, `${s.url}/model.onnx`);
    const again = await pullModel(c, { url: `${s.url}/model.onnx`, dest });
    assert.deepEqual([again.verified, again.pinnedBy, again.recordedIn], [true, 'lock', null]);
    assert.ok((await verifyModel(c, { modelPath: dest })).ok);
    // the file at the URL changed: refused against the recorded hash, the good file stays
    s.mode.body = OTHER_MODEL;
    await assert.rejects(
      pullModel(c, { url: `${s.url}/org/repo/resolve/main/test-cnn.onnx`, dest }),
      (e: unknown) =>
        e instanceof CbirError &&
        e.code === 'pull/checksum' &&
        /the lock file says/.test(e.message) &&
        e.message.includes(SHA),
    );
    assert.ok(readFileSync(dest).equals(BYTES));
    // a file replaced by hand: verify names the lock file and what to do
    writeFileSync(dest, OTHER_MODEL);
    const v = await verifyModel(c, { modelPath: dest });
    assert.equal(v.ok, false);
    assert.equal(v.pinnedBy, 'lock');
    assert.ok(
      v.problems.some((p) => p.includes(lockPath(dir)) && /remove the "test-cnn" entry/.test(p)),
      v.problems.join('; '),
    );
  } finally {
    await s.close();
    cleanup();
  }
});
