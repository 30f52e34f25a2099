import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { builtinCard, builtinGraphBytes } from '../../src/workbench/models/builtin/index.js';
import { pullModel, verifyModel } from '../../src/workbench/models/pull.js';
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

interface Server {
  url: string;
  requests: { range?: string }[];
  mode: { cutAfter?: number; ignoreRange?: boolean; status?: number };
  close(): Promise<void>;
}

/** Serves BYTES at /model.onnx with Range support; `mode.cutAfter` drops the connection midway once. */
async function serve(): Promise<Server> {
  const requests: { range?: string }[] = [];
  const mode: Server['mode'] = {};
  const srv = http.createServer((req, res) => {
    requests.push({ range: req.headers.range });
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
