/** A small phantom dataset embedded with a built-in descriptor, for the saved-index and search tests. */
import { join } from 'node:path';
import { generatePhantom } from '../../src/workbench/data/phantom.js';
import type { Manifest } from '../../src/workbench/data/manifest.js';
import { embedManifest } from '../../src/workbench/embeddings/pipeline.js';
import { openEmbeddings, type EmbeddingStore } from '../../src/workbench/embeddings/store.js';
import { loadExtractor } from '../../src/workbench/models/registry.js';
import { tempDir } from '../helpers/datasets.js';

export interface SearchFixture {
  dir: string;
  data: string;
  manifest: Manifest;
  storeDir: string;
  store: EmbeddingStore;
  /** The whole store, row-major (count × dim). */
  vectors: Float32Array;
  model: string;
  cleanup: () => void;
}

/** Phantom (scale 0.05, 32 px: ~160 images in 24 classes) embedded with hog4x4x9 (no download). */
export async function searchFixture(prefix: string, model = 'hog4x4x9'): Promise<SearchFixture> {
  const { dir, cleanup } = tempDir(prefix);
  const data = join(dir, 'data');
  const manifest = await generatePhantom({ out: data, scale: 0.05, size: 32, seed: 5 });
  const storeDir = join(dir, 'emb');
  const extractor = await loadExtractor(model);
  try {
    await embedManifest({ manifest, extractor, out: storeDir, batchSize: 16, workers: 0 });
  } finally {
    await extractor.close();
  }
  const store = await openEmbeddings(storeDir);
  return { dir, data, manifest, storeDir, store, vectors: await store.readAll(), model, cleanup };
}
