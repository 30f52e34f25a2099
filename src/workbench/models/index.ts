/**
 * Models: cards, preprocessing, the onnxruntime extractor, built-in ONNX graphs, the registry
 * of every model, and pull/verify of study weights. (Built-in descriptors: ./descriptors.)
 */
export type { Extractor, ModelCard, Pooling, PreprocessSpec } from './types.js';
export { GraphBuilder, type OnnxAttr, type OnnxElemType } from '../onnx/builder.js';
export { cardSource, jsonErrorOffset, loadCard, loadCards, validateCard } from './cards.js';
export { preprocessedLength, preprocessImage, resizedSize } from './preprocess.js';
export { resizePil, type ResampleFilter } from './resample.js';
export { poolOutput, pooledAxis, poolingRank } from './pooling.js';
export {
  checkSessionAgainstCard,
  cudaAvailable,
  findWeights,
  loadOnnxExtractor,
  OnnxExtractor,
  resolveModelPath,
  weightsCandidates,
  type OnnxExtractorOptions,
} from './onnx/extractor.js';
export {
  BUILTIN_CARDS,
  BUILTIN_GRAPHS,
  builtinCard,
  builtinGraphBytes,
  builtinGraphOf,
  ensureBuiltinGraph,
  type BuiltinGraphId,
} from './builtin/index.js';
export { findCard, listModels, loadExtractor, studyCards, type ModelInfo } from './registry.js';
export {
  hubUrl,
  pullModel,
  verifyModel,
  type HubFile,
  type PullOptions,
  type PullResult,
  type VerifyResult,
} from './pull.js';
export {
  cachedReferenceCheck,
  checkReference,
  lastReferenceCheck,
  readReference,
  recordReferenceCheck,
  referencePath,
  PREPROCESS_TOLERANCE,
  REFERENCE_MIN_COSINE,
  STATS_TOLERANCE,
  type ReferenceCheck,
  type ReferenceFile,
} from './reference.js';
export { LOCK_FILE, lockPath, readLock, updateLock, type LockCheck, type LockPin, type ModelsLock } from './lock.js';
export { BUILTIN_CACHE_DIR, CARDS_DIR, PROJECT_ROOT, defaultWeightsDir, weightsDirs } from './paths.js';
