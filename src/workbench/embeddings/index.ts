/** Embeddings: the store, the resumable/shardable pipeline, shard merging and the study's HDF5 layout. */
export {
  openEmbeddings,
  embeddingsInfo,
  readMeta,
  writeEmbeddings,
  computeContentHash,
  readImageRecords,
  StoreWriter,
  VECTORS_FILE,
  IDS_FILE,
  META_FILE,
  PARTIAL_DIR,
} from './store.js';
export type { EmbeddingStore, EmbeddingsMeta, EmbeddingsInfo, ShardInfo, MetaFields } from './store.js';
export { embedManifest, shardRange, parseShard, l2NormalizeRows, firstNonFiniteRow } from './pipeline.js';
export { IMAGES_FILE, checkImages, readImageFile, type ImageRecords } from './content.js';
export { checkEmbeddingRows, degenerateError, RowCheck, ZERO_NORM, CONSTANT_TOL } from './degenerate.js';
export type { DegenerateFinding, DegenerateKind, DegenerateContext } from './degenerate.js';
export { fsError, withFsErrors } from '../util/fserrors.js';
export type { EmbedOptions, EmbedResult, EmbedStage } from './pipeline.js';
export { mergeShards } from './merge.js';
export { shardFromEnv, SHARD_ENV_VARS } from './shardEnv.js';
export type { EnvShard, Scheduler, ShardEnv } from './shardEnv.js';
export { exportH5, importH5, h5NameProblem, h5Keys, checkHdf5File, SUBSET_MANIFEST_DIR, MISSING_LIST } from './hdf5.js';
export type { ExportH5Options, ExportH5Result, ImportH5Options, ImportH5Report } from './hdf5.js';
export { defaultWorkers } from './pool.js';
