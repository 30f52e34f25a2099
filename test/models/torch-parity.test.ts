/**
 * Real architectures against PyTorch: export_onnx.py --random-init exports torchvision's
 * ResNet-50 and ViT-B/16 with seeded weights and writes each model's torch reference embeddings
 * of 16 generated images; `cbir models verify` must reproduce every one at cosine ≥ 0.9999 with
 * radcbir's preprocessing and onnxruntime, locate a deliberate departure, and `cbir embed`
 * must check each file once and then embed the phantom. Needs Debian's /usr/bin/python3 with
 * torch, torchvision and onnx (python3-torch python3-torchvision python3-onnx); skipped without.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ensurePhantom } from '../../src/workbench/data/phantom.js';
import { openEmbeddings } from '../../src/workbench/embeddings/store.js';
import { loadCard } from '../../src/workbench/models/cards.js';
import { readLock } from '../../src/workbench/models/lock.js';
import { loadOnnxExtractor } from '../../src/workbench/models/onnx/extractor.js';
import { checkReference, type ReferenceFile } from '../../src/workbench/models/reference.js';
import type { ModelCard } from '../../src/workbench/models/types.js';
import { PROJECT_ROOT, tempDir } from '../helpers/datasets.js';

const PY = '/usr/bin/python3';
const MODELS = ['resnet50', 'vit-b16'] as const;

function torchMissing(): false | string {
  if (!existsSync(PY)) return `${PY} not found (install python3-torch python3-torchvision python3-onnx)`;
  const r = spawnSync(PY, ['-c', 'import torch, torchvision, onnx'], { encoding: 'utf8' });
  return r.status === 0
    ? false
    : `${PY} lacks torch/torchvision/onnx (apt-get install python3-torch python3-torchvision python3-onnx): ${r.stderr.trim().split('\n').at(-1)}`;
}
const skip = torchMissing();

function cbir(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolveP) => {
    execFile(
      process.execPath,
      [join(PROJECT_ROOT, 'bin/cbir.js'), ...args],
      { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) =>
        resolveP({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

let dir = '';
let cleanup = () => {};
let exportSeconds = 0;

before(
  () => {
    if (skip) return;
    ({ dir, cleanup } = tempDir('cbir-torch-'));
    const t0 = Date.now();
    const script = join(PROJECT_ROOT, 'models/export/export_onnx.py');
    const r = spawnSync(PY, [script, '--model', ...MODELS, '--random-init', '--seed', '0', '--out', dir], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    exportSeconds = (Date.now() - t0) / 1000;
    assert.equal(r.status, 0, `export failed:\n${r.stdout}\n${r.stderr}`);
    for (const id of MODELS) assert.match(r.stdout, new RegExp(`reference: 16 images .*${id}\\.reference\\.json`));
  },
  { timeout: 600_000 },
);
after(() => cleanup());

test(
  'cbir models verify reproduces the torch reference of resnet50 and vit-b16 at cosine ≥ 0.9999 on every image',
  { skip, timeout: 300_000 },
  async (t) => {
    t.diagnostic(`export of ${MODELS.join(' + ')} with references: ${exportSeconds.toFixed(0)} s`);
    for (const id of MODELS) {
      const r = await cbir(['models', 'verify', id, '--json'], { CBIR_MODELS: dir });
      const v = JSON.parse(r.stdout) as {
        id: string;
        ok: boolean;
        problems: string[];
        reference: {
          images: number;
          minCosine: number;
          maxAbsDiff: number;
          preprocessMaxAbsDiff: number;
          graphCosine: number;
          stage: string;
          perImage: { name: string; cosine: number }[];
        };
      };
      assert.equal(r.code, 0, `${id}: ${v.problems.join('; ')}`);
      assert.deepEqual([v.id, v.ok, v.reference.images, v.reference.stage], [id, true, 16, 'none']);
      assert.equal(v.reference.perImage.length, 16);
      for (const im of v.reference.perImage) assert.ok(im.cosine >= 0.9999, `${id} ${im.name}: cosine ${im.cosine}`);
      assert.ok(v.reference.minCosine >= 0.9999 && v.reference.graphCosine >= 0.9999);
      assert.ok(v.reference.maxAbsDiff < 1e-3 && v.reference.preprocessMaxAbsDiff < 1e-4, JSON.stringify(v.reference));
      // the check means something only if the model tells the reference images apart
      const ref = JSON.parse(readFileSync(join(dir, `${id}.reference.json`), 'utf8')) as ReferenceFile;
      let apart = 1;
      for (let i = 0; i < 16; i++)
        for (let j = 0; j < i; j++)
          apart = Math.min(
            apart,
            ref.embeddings[i].reduce((s, x, k) => s + x * ref.embeddings[j][k], 0),
          );
      assert.ok(apart < 0.99, `${id}: the least similar reference pair has cosine ${apart}`);
      t.diagnostic(`${id}: min cosine ${v.reference.minCosine}, least similar reference pair ${apart.toFixed(3)}`);
    }
    const list = await cbir(['models', 'list', '--json'], { CBIR_MODELS: dir });
    const rows = JSON.parse(list.stdout) as { id: string; referenceCheck: string | null }[];
    for (const id of MODELS) assert.equal(rows.find((m) => m.id === id)?.referenceCheck, 'passed', id);
    assert.equal(rows.find((m) => m.id === 'sam-vitb')?.referenceCheck, null);
  },
);

test(
  'a departure from the reference is caught and located: preprocessing vs graph',
  { skip, timeout: 300_000 },
  async () => {
    const card = loadCard(join(PROJECT_ROOT, 'models', 'resnet50.json'));
    const modelPath = join(dir, 'resnet50.onnx');
    const file = join(dir, 'resnet50.reference.json');
    const run = async (c: ModelCard) => {
      const ex = await loadOnnxExtractor(c, { modelPath, referenceCheck: false });
      try {
        return await checkReference(c, ex, file);
      } finally {
        await ex.close();
      }
    };
    // bilinear instead of the card's bicubic: the graph is right, radcbir's tensors are not
    const pre = await run({ ...card, preprocess: { ...card.preprocess, interpolation: 'bilinear' } });
    assert.equal(pre.ok, false);
    assert.equal(pre.stage, 'preprocess');
    assert.ok(pre.graphCosine >= 0.9999 && pre.preprocessMaxAbsDiff > 1e-2, JSON.stringify(pre));
    assert.ok(pre.problems.some((p) => /the preprocessing differs/.test(p) && /resnet50/.test(p)));
    // a second output unit of the logits treated as the embedding's first: same input, other graph output
    const vit = loadCard(join(PROJECT_ROOT, 'models', 'vit-b16.json'));
    const ex = await loadOnnxExtractor(vit, { modelPath: join(dir, 'vit-b16.onnx'), referenceCheck: false });
    try {
      const shifted = await checkReference(
        vit,
        { embedTensor: async (x, n) => (await ex.embedTensor(x, n)).map((v, i, a) => a[(i + 1) % a.length]) },
        join(dir, 'vit-b16.reference.json'),
      );
      assert.equal(shifted.ok, false);
      assert.equal(shifted.stage, 'graph');
      assert.ok(shifted.preprocessMaxAbsDiff < 1e-4 && shifted.graphCosine < 0.9999, JSON.stringify(shifted));
      assert.ok(shifted.problems.some((p) => /the graph output differs/.test(p)));
    } finally {
      await ex.close();
    }
  },
);

test(
  'cbir embed checks each file once (cached by sha256) and embeds the phantom with both models',
  { skip, timeout: 600_000 },
  async (t) => {
    const phantom = await ensurePhantom();
    for (const id of MODELS) {
      const sha = Object.entries(readLock(dir).checks).find(([, c]) => c.id === id)![0];
      const before = readLock(dir).checks[sha].checkedAt;
      const out = join(dir, `emb-${id}`);
      const t0 = Date.now();
      const r = await cbir(
        ['embed', '--data', phantom.dir, '--model', id, '--batch', '8', '--shard', '0/120', '--out', out, '--quiet'],
        {
          CBIR_MODELS: dir,
        },
      );
      assert.equal(r.code, 0, r.stderr);
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      assert.equal(readLock(dir).checks[sha].checkedAt, before, 'the recorded check was reused, not rerun');
      const store = await openEmbeddings(out);
      t.diagnostic(`${id}: embedded shard 0/120 of the phantom (${store.count} images) in ${seconds} s`);
      assert.equal(store.dim, id === 'resnet50' ? 1000 : 768);
      assert.ok(store.count >= 8, `${store.count} rows`);
      const v = await store.readAll();
      for (let i = 0; i < store.count; i++) {
        let n = 0;
        for (let d = 0; d < store.dim; d++) n += v[i * store.dim + d] ** 2;
        assert.ok(Math.abs(n - 1) < 1e-4, `row ${i} norm² ${n}`);
      }
      assert.ok(v.every(Number.isFinite));
    }
    // a reference the file does not reproduce: embed refuses the model and says why
    const ref = JSON.parse(readFileSync(join(dir, 'resnet50.reference.json'), 'utf8')) as ReferenceFile;
    [ref.embeddings[0], ref.embeddings[1]] = [ref.embeddings[1], ref.embeddings[0]];
    writeFileSync(join(dir, 'resnet50.reference.json'), JSON.stringify(ref));
    const bad = await cbir(
      [
        'embed',
        '--data',
        phantom.dir,
        '--model',
        'resnet50',
        '--batch',
        '8',
        '--shard',
        '1/120',
        '--out',
        join(dir, 'emb-bad'),
      ],
      {
        CBIR_MODELS: dir,
      },
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /does not reproduce its reference embeddings/);
    assert.ok(!existsSync(join(dir, 'emb-bad', 'meta.json')));
  },
);

test(
  'cbir models pull --hub of an export: put in place, sha256 recorded in the lock file, then checked',
  { skip, timeout: 300_000 },
  async () => {
    const src = join(dir, 'resnet50.onnx');
    const size = statSync(src).size;
    const srv = http.createServer((req, res) => {
      if (req.url !== '/lab/radcbir-exports/resolve/main/resnet50.onnx') {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-length': size });
      createReadStream(src).pipe(res);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const { dir: w, cleanup: done } = tempDir('cbir-hub-');
    try {
      const { port } = srv.address() as AddressInfo;
      for (const f of ['resnet50.reference.json']) copyFileSync(join(dir, f), join(w, f));
      const env = { CBIR_MODELS: w, CBIR_HUB_URL: `http://127.0.0.1:${port}` };
      const r = await cbir(['models', 'pull', 'resnet50', '--hub', 'lab/radcbir-exports'], env);
      assert.equal(r.code, 1, 'no reference images copied: verify says so');
      assert.match(r.stdout, /recorded [0-9a-f]{64} in .*models\.lock\.json/);
      assert.ok(readFileSync(join(w, 'resnet50.onnx')).equals(readFileSync(src)));
      assert.match(r.stderr, /reference-images/);
      const again = await cbir(['models', 'pull', 'resnet50', '--hub', 'lab/radcbir-exports'], env);
      assert.match(again.stdout, /matches the lock file/);
    } finally {
      srv.closeAllConnections();
      srv.close();
      done();
    }
  },
);
