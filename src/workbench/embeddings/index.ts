/** Embeddings: the store, the resumable/shardable pipeline, shard merging and the study's HDF5 layout. */
export {
  openEmbeddings,
  embeddingsInfo,
  readMeta,
  writeEmbeddings,
  computeContentHash,
  StoreWriter,
  VECTORS_FILE,
  IDS_FILE,
  META_FILE,
  PARTIAL_DIR,
} from './store.js';
export type { EmbeddingStore, EmbeddingsMeta, EmbeddingsInfo, ShardInfo, MetaFields } from './store.js';
export { embedManifest, shardRange, parseShard, l2NormalizeRows, firstNonFiniteRow } from './pipeline.js';
export type { EmbedOptions, EmbedResult, EmbedStage } from './pipeline.js';
export { mergeShards } from './merge.js';
export { exportH5, importH5, h5NameProblem } from './hdf5.js';
export type { ExportH5Options, ExportH5Result, ImportH5Options, ImportH5Report } from './hdf5.js';
export { defaultWorkers } from './pool.js';
