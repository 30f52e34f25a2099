import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/datasets.js';
import { makeDataset, FakeExtractor } from './fixtures.js';
import type { Manifest } from '../../src/workbench/data/manifest.js';
import {
  embedManifest,
  shardRange,
  parseShard,
  l2NormalizeRows,
  firstNonFiniteRow,
} from '../../src/workbench/embeddings/pipeline.js';
import { mergeShards } from '../../src/workbench/embeddings/merge.js';
import { openEmbeddings, computeContentHash } from '../../src/workbench/embeddings/store.js';
import { createDescriptor } from '../../src/workbench/models/descriptors/index.js';
import { CbirError } from '../../src/workbench/errors.js';

let tmp: { dir: string; cleanup: () => void };
let manifest: Manifest;

before(async () => {
  tmp = tempDir('cbir-embed-');
  manifest = await makeDataset(tmp.dir, { count: 30, size: 40 });
});
after(() => tmp.cleanup());

const out = (name: string) => join(tmp.dir, 'out', name);

test('shardRange tiles the manifest on batch boundaries', () => {
  for (const [total, batch, n] of [
    [30, 4, 3],
    [30, 4, 7],
    [5, 8, 3],
    [100, 1, 10],
  ]) {
    let next = 0;
    for (let i = 0; i < n; i++) {
      const r = shardRange(total, batch, { index: i, count: n });
      assert.equal(r.start, next, `shard ${i}/${n} of ${total} starts where the last ended`);
      assert.ok(r.start % batch === 0 || r.start === total);
      next = r.end;
    }
    assert.equal(next, total);
  }
  assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 });
  assert.throws(() => parseShard('5/5'), /0 ≤ i < n/);
  assert.throws(() => parseShard('1-4'), CbirError);
});

test('l2NormalizeRows and firstNonFiniteRow', () => {
  const x = Float32Array.from([3, 4, 0, 0, 0, 0]);
  l2NormalizeRows(x, 2);
  assert.deepEqual([...x], [0.6000000238418579, 0.800000011920929, 0, 0, 0, 0]);
  assert.equal(firstNonFiniteRow(Float32Array.from([1, 2, 3, Infinity]), 2), 1);
  assert.equal(firstNonFiniteRow(Float32Array.from([1, 2, 3, 4]), 2), -1);
});

test('rerunning a complete store does nothing; another manifest or model is refused; --force replaces', async () => {
  const dir = out('refuse');
  const first = await embedManifest({ manifest, extractor: new FakeExtractor(), out: dir, batchSize: 4, workers: 0 });
  const again = await embedManifest({ manifest, extractor: new FakeExtractor(), out: dir, batchSize: 4, workers: 0 });
  assert.equal(again.alreadyComplete, true);
  assert.equal(again.embedded, 0);
  assert.equal(again.meta.contentHash, first.meta.contentHash);

  const other = await makeDataset(join(tmp.dir, 'other'), { count: 12, size: 40, seed: 9 });
  await assert.rejects(
    embedManifest({ manifest: other, extractor: new FakeExtractor(), out: dir, batchSize: 4, workers: 0 }),
    (e: CbirError) => {
      assert.ok(e instanceof CbirError);
      assert.match(e.message, /different manifest/);
      assert.match(e.message, /write to a new output folder, or start again from scratch/);
      assert.doesNotMatch(e.hint ?? '', /--[a-z]/);
      assert.match(e.message, /meta\.json/);
      return true;
    },
  );
  await assert.rejects(
    embedManifest({ manifest, extractor: createDescriptor('tiny16'), out: dir, batchSize: 4, workers: 0 }),
    /another model/,
  );
  await assert.rejects(
    embedManifest({ manifest, extractor: new FakeExtractor(), out: dir, batchSize: 8, workers: 0 }),
    /--batch 4/,
  );
  const forced = await embedManifest({
    manifest: other,
    extractor: new FakeExtractor(),
    out: dir,
    batchSize: 4,
    workers: 0,
    force: true,
  });
  assert.equal(forced.meta.count, 12);
  assert.equal(forced.meta.manifestHash, other.hash);
});

test('a partial run of another manifest is refused too', async () => {
  const dir = out('refuse-partial');
  await assert.rejects(
    embedManifest({
      manifest,
      extractor: new FakeExtractor(),
      out: dir,
      batchSize: 4,
      workers: 0,
      onStage: (s) => {
        if (s === 'batch-recorded') throw new Error('stop');
      },
    }),
    /stop/,
  );
  assert.ok(existsSync(join(dir, 'partial', 'journal.jsonl')));
  const other = await makeDataset(join(tmp.dir, 'other2'), { count: 8, size: 40, seed: 3 });
  await assert.rejects(
    embedManifest({ manifest: other, extractor: new FakeExtractor(), out: dir, batchSize: 4, workers: 0 }),
    /different manifest/,
  );
});

test('NaN from the model stops with an error naming the image; earlier batches are kept and the run resumes', async () => {
  const dir = out('nan');
  const bad = 13; // in the 4th batch of 4
  const target = manifest.resolvePath(bad);
  let nanImage: Uint8Array | null = null;
  const { decodeImage } = await import('../../src/workbench/images/decode.js');
  nanImage = (await decodeImage(target)).data;
  const isBad = (img: { data: Uint8Array }) =>
    img.data.length === nanImage!.length && Buffer.compare(Buffer.from(img.data), Buffer.from(nanImage!)) === 0;
  for (const workers of [0, 1]) {
    await assert.rejects(
      embedManifest({
        manifest,
        extractor: new FakeExtractor({ nanFor: isBad }),
        out: dir,
        batchSize: 4,
        workers,
        force: true,
      }),
      (e: CbirError) => {
        assert.ok(e instanceof CbirError);
        assert.equal(e.file, target);
        assert.match(e.message, /NaN or Inf/);
        assert.match(e.message, new RegExp(`row ${bad + 1} of ${manifest.size}`));
        return true;
      },
    );
    const journal = readFileSync(join(dir, 'partial', 'journal.jsonl'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(journal.length, 3, 'the three batches before the bad one are recorded');
  }
  // fixing the model and rerunning resumes after those batches
  const fake = new FakeExtractor();
  const r = await embedManifest({ manifest, extractor: fake, out: dir, batchSize: 4, workers: 0 });
  assert.equal(r.resumed, 12);
  assert.equal(r.embedded, manifest.size - 12);
  const clean = await embedManifest({
    manifest,
    extractor: new FakeExtractor(),
    out: out('nan-clean'),
    batchSize: 4,
    workers: 0,
  });
  assert.equal(r.meta.contentHash, clean.meta.contentHash);
});

test('an unreadable image stops with an error naming it, and the partial work stays resumable', async () => {
  const t = tempDir('cbir-embed-bad-');
  try {
    const m = await makeDataset(t.dir, { count: 12, size: 32 });
    const victim = m.resolvePath(9);
    const good = readFileSync(victim);
    writeFileSync(victim, good.subarray(0, 40)); // truncated PNG
    const dir = join(t.dir, 'store');
    for (const workers of [0, 1]) {
      await assert.rejects(
        embedManifest({ manifest: m, extractor: createDescriptor('hist64'), out: dir, batchSize: 3, workers }),
        (e: CbirError) => {
          assert.ok(e instanceof CbirError, String(e));
          assert.equal(e.file, victim);
          assert.ok(e.message.includes(victim));
          assert.ok(e.hint && e.hint.length > 0);
          return true;
        },
      );
    }
    writeFileSync(victim, good);
    const r = await embedManifest({
      manifest: m,
      extractor: createDescriptor('hist64'),
      out: dir,
      batchSize: 3,
      workers: 0,
    });
    assert.equal(r.resumed, 9);
    const ref = await embedManifest({
      manifest: m,
      extractor: createDescriptor('hist64'),
      out: join(t.dir, 'ref'),
      batchSize: 3,
      workers: 0,
    });
    assert.equal(r.meta.contentHash, ref.meta.contentHash);
  } finally {
    t.cleanup();
  }
});

test('shards merged are identical to an unsharded run; merge checks completeness', async () => {
  const full = await embedManifest({
    manifest,
    extractor: createDescriptor('tiny16'),
    out: out('full'),
    batchSize: 4,
    workers: 0,
  });
  const n = 3;
  const dirs: string[] = [];
  for (let i = n - 1; i >= 0; i--) {
    const d = out(`shard-${i}`);
    const r = await embedManifest({
      manifest,
      extractor: createDescriptor('tiny16'),
      out: d,
      batchSize: 4,
      shard: { index: i, count: n },
      workers: 0,
    });
    assert.equal(r.meta.shard?.index, i);
    dirs.unshift(d);
  }
  const merged = await mergeShards(dirs.slice().reverse(), out('merged'));
  assert.equal(merged.contentHash, full.meta.contentHash);
  assert.equal(merged.count, manifest.size);
  assert.equal(merged.shard, undefined);
  assert.deepEqual(readFileSync(join(out('merged'), 'vectors.f32')), readFileSync(join(out('full'), 'vectors.f32')));

  await assert.rejects(mergeShards([dirs[0], dirs[2]], out('merged-missing')), /1 of 3 shards are missing: 1\/3/);
  await assert.rejects(mergeShards([dirs[0], dirs[0], dirs[1], dirs[2]], out('merged-dup')), /given twice/);
  await assert.rejects(mergeShards([out('full')], out('merged-x')), /not a shard/);
  const otherModel = out('shard-other');
  await embedManifest({
    manifest,
    extractor: createDescriptor('hist64'),
    out: otherModel,
    batchSize: 4,
    shard: { index: 1, count: n },
    workers: 0,
  });
  await assert.rejects(mergeShards([dirs[0], otherModel, dirs[2]], out('merged-y')), /do not belong together/);
  await assert.rejects(mergeShards(dirs, out('merged')), /already exists/);
  // a damaged shard is detected
  const v = join(dirs[1], 'vectors.f32');
  const bytes = readFileSync(v);
  bytes[5] ^= 0xff;
  writeFileSync(v, bytes);
  await assert.rejects(mergeShards(dirs, out('merged-z')), /content hash/);
});

test('resuming from every crash window (in-process stops) gives the uninterrupted store', async () => {
  const ref = await embedManifest({
    manifest,
    extractor: new FakeExtractor(),
    out: out('ref-stages'),
    batchSize: 3,
    workers: 0,
  });
  for (const stage of ['batch-written', 'batch-recorded', 'before-finalize', 'before-meta', 'after-meta'] as const) {
    const dir = out(`stage-${stage}`);
    let n = 0;
    await assert.rejects(
      embedManifest({
        manifest,
        extractor: new FakeExtractor(),
        out: dir,
        batchSize: 3,
        workers: 0,
        chunkRows: 7,
        onStage: (s) => {
          if (s === stage && ++n === (stage.startsWith('batch') ? 4 : 1)) throw new Error('crash');
        },
      }),
      /crash/,
    );
    const r = await embedManifest({
      manifest,
      extractor: new FakeExtractor(),
      out: dir,
      batchSize: 3,
      workers: 0,
      chunkRows: 7,
    });
    assert.equal(r.meta.contentHash, ref.meta.contentHash, `after a stop at ${stage}`);
    assert.equal(readdirSync(dir).includes('partial'), false);
  }
});

test('the partial run is locked against a second live run; stale locks are taken over', async () => {
  const { hostname } = await import('node:os');
  const { mkdirSync, utimesSync } = await import('node:fs');
  const dir = out('locked');
  const lock = join(dir, 'partial', 'lock');
  mkdirSync(join(dir, 'partial'), { recursive: true });
  const run = () => embedManifest({ manifest, extractor: new FakeExtractor(), out: dir, batchSize: 4, workers: 0 });
  // a live process on this host (the test runner's parent) holds it
  writeFileSync(lock, JSON.stringify({ pid: process.ppid, host: hostname() }));
  await assert.rejects(
    run(),
    (e: CbirError) => e instanceof CbirError && e.file === lock && /another embedding run/.test(e.message),
  );
  // a fresh lock from another node: refused; the same lock not refreshed for minutes: taken over
  writeFileSync(lock, JSON.stringify({ pid: 12345, host: 'some-other-node' }));
  await assert.rejects(run(), /another embedding run \(pid 12345 on some-other-node\)/);
  const old = new Date(Date.now() - 10 * 60_000);
  utimesSync(lock, old, old);
  const r = await run();
  assert.equal(r.meta.count, manifest.size);
  assert.equal(existsSync(lock), false);
});
