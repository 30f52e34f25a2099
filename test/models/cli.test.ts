import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { builtinGraphBytes } from '../../src/workbench/models/builtin/index.js';
import { PROJECT_ROOT, tempDir } from '../helpers/datasets.js';

function cbir(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolveP) => {
    execFile(
      process.execPath,
      [join(PROJECT_ROOT, 'bin/cbir.js'), ...args],
      { cwd: PROJECT_ROOT, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        resolveP({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

test('cbir models list --json lists built-ins, descriptors and the 12 study models', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = await cbir(['models', 'list', '--json'], { CBIR_MODELS: dir });
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { id: string; dim: number; builtin: boolean; weightsPresent: boolean }[];
    const ids = list.map((m) => m.id);
    for (const id of [
      'tiny-vit',
      'tiny-vit-mean',
      'tiny-clip',
      'tiny-cnn',
      'tiny-cnn-logits',
      'tiny-sam',
      'resnet50',
      'sam-vitb',
      'raddino-vitb14',
    ])
      assert.ok(ids.includes(id), id);
    assert.equal(list.filter((m) => !m.builtin).length, 12);
    const sam = list.find((m) => m.id === 'sam-vitb')!;
    assert.deepEqual([sam.dim, sam.builtin], [256, false]);
    assert.ok(list.filter((m) => m.builtin).every((m) => m.weightsPresent));
    for (const m of list)
      assert.deepEqual(Object.keys(m).slice(0, 5), ['id', 'name', 'dim', 'builtin', 'weightsPresent']);
  } finally {
    cleanup();
  }
});

test('cbir models verify / pull: built-in OK, missing URL explained, a mismatching download is refused', async () => {
  const { dir, cleanup } = tempDir();
  const bytes = Buffer.from(builtinGraphBytes('tiny-cnn'));
  const urls: string[] = [];
  const srv = http.createServer((req, res) => {
    urls.push(req.url ?? '');
    res.writeHead(200, { 'content-length': bytes.length });
    res.end(bytes);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const ok = await cbir(['models', 'verify', 'tiny-cnn']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /tiny-cnn: OK/);
    const noUrl = await cbir(['models', 'pull', 'resnet50'], { CBIR_MODELS: dir });
    assert.equal(noUrl.code, 1);
    assert.match(noUrl.stderr, /no download URL.*\n.*give a download URL/);
    assert.match(noUrl.stderr, /\n {2}→ in the CLI: pass --url <url> to `cbir models pull resnet50`/);
    const missing = await cbir(['models', 'verify', 'vit-b16'], { CBIR_MODELS: dir });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found/);
    // a file that is not what the resnet50 card describes: downloaded, rejected before it is put in place
    const { port } = srv.address() as AddressInfo;
    const wrong = await cbir(['models', 'pull', 'resnet50', '--url', `http://127.0.0.1:${port}/resnet50.onnx`], {
      CBIR_MODELS: dir,
    });
    assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
    assert.ok(!existsSync(join(dir, 'resnet50.onnx')) && !existsSync(join(dir, 'resnet50.onnx.part')));
    assert.match(wrong.stderr, /not a usable ONNX model/);
    assert.match(wrong.stderr, /resnet50\.json.*disagree|disagree.*resnet50\.json/);
    assert.ok(!existsSync(join(dir, 'models.lock.json')), 'a rejected download records no sha256');
    const hub = await cbir(['models', 'pull', 'resnet50', '--hub', 'org/repo', '--revision', 'v2'], {
      CBIR_MODELS: dir,
      CBIR_HUB_URL: `http://127.0.0.1:${port}`,
    });
    assert.equal(hub.code, 1);
    assert.equal(urls.at(-1), '/org/repo/resolve/v2/resnet50.onnx');
    assert.match(hub.stderr, /not a usable ONNX model/);
    const both = await cbir(['models', 'pull', 'resnet50', '--hub', 'org/repo', '--url', 'http://127.0.0.1:1/x']);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /either --url or --hub/);
    const unknown = await cbir(['models', 'pull', 'nope']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no model card for "nope"/);
  } finally {
    srv.close();
    cleanup();
  }
});

const py = spawnSync('python3', ['--version']);
test(
  'models/export/export_onnx.py --help and --list run without torch',
  { skip: py.status === 0 ? false : 'python3 not installed' },
  () => {
    const script = join(PROJECT_ROOT, 'models/export/export_onnx.py');
    const help = spawnSync('python3', [script, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /--model/);
    assert.match(help.stdout, /--medsam-checkpoint/);
    const list = spawnSync('python3', [script, '--list'], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const ids = list.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[0]);
    assert.equal(ids.length, 12);
    assert.ok(!list.stdout.includes('[no card]'), 'every recipe has a card');
    const bad = spawnSync('python3', [script, '--model', 'nope'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
  },
);
