import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/datasets.js';
import { makeDataset, FakeExtractor } from './fixtures.js';
import type { Manifest } from '../../src/workbench/data/manifest.js';
import { embedManifest } from '../../src/workbench/embeddings/pipeline.js';
import { openEmbeddings, computeContentHash } from '../../src/workbench/embeddings/store.js';
import { createDescriptor } from '../../src/workbench/models/descriptors/index.js';
import { loadExtractor } from '../../src/workbench/models/registry.js';

// Worker threads start with tsx's register() (see worker-entry.mjs); this file runs under
// `node --import tsx`, cli.test.ts covers bin/cbir.js.
let tmp: { dir: string; cleanup: () => void };
let manifest: Manifest;

before(async () => {
  tmp = tempDir('cbir-workers-');
  manifest = await makeDataset(tmp.dir, { count: 20, size: 40 });
});
after(() => tmp.cleanup());

const out = (name: string) => join(tmp.dir, 'out', name);

test('worker threads give the same store as the main thread (descriptor, decode and ONNX preprocessing paths)', async () => {
  const tiny = await loadExtractor('tiny-vit');
  try {
    for (const [name, make] of [
      ['classic', () => createDescriptor('classic')],
      ['fake', () => new FakeExtractor()],
      ['tiny-vit', () => tiny],
    ] as const) {
      const a = await embedManifest({ manifest, extractor: make(), out: out(`${name}-w0`), batchSize: 4, workers: 0 });
      const b = await embedManifest({ manifest, extractor: make(), out: out(`${name}-w2`), batchSize: 4, workers: 2 });
      assert.equal(a.meta.count, manifest.size);
      assert.equal(b.meta.contentHash, a.meta.contentHash, `${name}: workers=2 and workers=0 differ`);
      assert.equal(a.meta.contentHash, await computeContentHash(out(`${name}-w0`)));
      const s = await openEmbeddings(out(`${name}-w2`));
      assert.deepEqual(s.ids, manifest.filepaths);
      const all = await s.readAll();
      for (let i = 0; i < s.count; i++) {
        let n = 0;
        for (let k = 0; k < s.dim; k++) n += all[i * s.dim + k] ** 2;
        assert.ok(Math.abs(n - 1) < 1e-5, `${name}: row ${i} has norm² ${n}`);
      }
      assert.equal(existsSync(join(out(`${name}-w2`), 'partial')), false, 'partial run removed after completion');
    }
  } finally {
    await tiny.close();
  }
});
