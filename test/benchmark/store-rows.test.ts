import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Manifest, classInfoFromName } from '../../src/workbench/data/manifest.js';
import { writeEmbeddings, openEmbeddings } from '../../src/workbench/embeddings/index.js';
import { manifestVectors } from '../../src/workbench/benchmark/evaluate.js';
import { rejectsCbir } from '../helpers/assert.js';
import { tempDir } from '../helpers/datasets.js';

const cls = [classInfoFromName('MR/brain/normal')];
const manifest = (paths: string[]) =>
  Manifest.fromEntries(
    paths.map((filepath, i) => ({
      filepath,
      dataset: 'd',
      split: (['train', 'val', 'test'] as const)[i % 3],
      modality: 'MR',
      anatomicRegion: 'brain',
      className: 'MR/brain/normal',
    })),
    cls,
  );

test('manifestVectors returns the vectors of a store whose rows are the manifest rows, and names the first row that differs', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const vectors = new Float32Array([1, 0, 0, 1, 0.6, 0.8]);
    await writeEmbeddings(join(dir, 's'), vectors, ['a.png', 'b.png', 'c.png'], 2, {
      modelId: 'm',
      fingerprint: 'f',
      manifestHash: 'h',
    });
    const store = await openEmbeddings(join(dir, 's'));
    assert.deepEqual(
      Array.from(await manifestVectors(store, manifest(['a.png', 'b.png', 'c.png']), 'fix it')),
      Array.from(vectors),
    );
    await rejectsCbir(
      manifestVectors(store, manifest(['a.png', 'x.png', 'c.png']), 'fix it'),
      /row 1 is "b\.png", the manifest row is "x\.png"[\s\S]*fix it/,
      'benchmark/store-mismatch',
    );
    await rejectsCbir(
      manifestVectors(store, manifest(['a.png', 'b.png', 'c.png', 'd.png']), 'fix it'),
      /store ends after 3 rows, the manifest has 4/,
    );
    await rejectsCbir(
      manifestVectors(store, manifest(['a.png', 'b.png']), 'fix it'),
      /store has 3 rows, the manifest 2/,
    );
  } finally {
    cleanup();
  }
});
