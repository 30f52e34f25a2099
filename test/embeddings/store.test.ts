import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/datasets.js';
import {
  writeEmbeddings,
  openEmbeddings,
  embeddingsInfo,
  computeContentHash,
  StoreWriter,
} from '../../src/workbench/embeddings/store.js';
import { CbirError } from '../../src/workbench/errors.js';

const fields = { modelId: 'm', fingerprint: 'f'.repeat(64), manifestHash: 'a'.repeat(64) };

function matrix(n: number, dim: number): Float32Array {
  const x = new Float32Array(n * dim);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  return x;
}

test('write, open, readAll, rows and the content hash definition', async () => {
  const t = tempDir();
  try {
    const dim = 5;
    const x = matrix(11, dim);
    const ids = Array.from({ length: 11 }, (_, i) => `ds/img ${i}.png`);
    const meta = await writeEmbeddings(t.dir, x, ids, dim, fields);
    // contentHash = sha256(vectors.f32 ‖ ids.txt)
    const expect = createHash('sha256')
      .update(new Uint8Array(x.buffer))
      .update(ids.join('\n') + '\n')
      .digest('hex');
    assert.equal(meta.contentHash, expect);
    assert.equal(await computeContentHash(t.dir), expect);
    const s = await openEmbeddings(t.dir);
    assert.equal(s.count, 11);
    assert.equal(s.dim, dim);
    assert.deepEqual(s.ids, ids);
    assert.deepEqual(await s.readAll(), x);
    const blocks: number[] = [];
    const joined = new Float32Array(x.length);
    for await (const { start, data } of s.rows(4)) {
      assert.ok(data instanceof Float32Array);
      blocks.push(start);
      joined.set(data, start * dim);
    }
    assert.deepEqual(blocks, [0, 4, 8]);
    assert.deepEqual(joined, x);
    // the bytes on disk are little-endian float32, row-major
    const raw = readFileSync(join(t.dir, 'vectors.f32'));
    assert.equal(raw.readFloatLE(4 * (2 * dim + 3)), x[2 * dim + 3]);
    const info = await embeddingsInfo(t.dir, { verify: true });
    assert.equal(info.verified, true);
    assert.equal(info.count, 11);
    assert.equal(info.modelId, 'm');
  } finally {
    t.cleanup();
  }
});

test('a damaged or incomplete store is reported with what to do', async () => {
  const t = tempDir();
  try {
    await writeEmbeddings(t.dir, matrix(3, 2), ['a', 'b', 'c'], 2, fields);
    const v = join(t.dir, 'vectors.f32');
    const bytes = readFileSync(v);
    bytes[0] ^= 1;
    writeFileSync(v, bytes);
    await assert.rejects(embeddingsInfo(t.dir, { verify: true }), /content hash mismatch/);
    writeFileSync(v, bytes.subarray(0, 8));
    await assert.rejects(
      openEmbeddings(t.dir),
      (e: CbirError) => e instanceof CbirError && /expected 24/.test(e.message) && e.file === v,
    );
    rmSync(join(t.dir, 'meta.json'));
    await assert.rejects(openEmbeddings(t.dir), /not an embedding store/);
    mkdirSync(join(t.dir, 'partial'));
    await assert.rejects(openEmbeddings(t.dir), /run the same embedding again: it resumes/);
    await assert.rejects(openEmbeddings(join(t.dir, 'nope')), /not found/);
  } finally {
    t.cleanup();
  }
});

test('StoreWriter streams blocks; ids with line breaks are refused; abort leaves no store', async () => {
  const t = tempDir();
  try {
    const w = await StoreWriter.create(t.dir, 3);
    await w.append(matrix(2, 3));
    await w.append(matrix(1, 3));
    await assert.rejects(w.finish(['a', 'b\nc', 'd'], fields), /line break/);
    await w.abort();
    await assert.rejects(openEmbeddings(t.dir), /no meta\.json/);
    const w2 = await StoreWriter.create(t.dir, 3);
    await w2.append(matrix(2, 3));
    const m = await w2.finish(['x', 'y'], fields);
    assert.equal(m.count, 2);
    assert.equal((await openEmbeddings(t.dir)).ids[1], 'y');
  } finally {
    t.cleanup();
  }
});
