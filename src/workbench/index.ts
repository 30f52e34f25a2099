/**
 * radcbir — the core library. One module per pipeline step:
 * data → images → models → embeddings → index → knn → metrics → tables / figures,
 * plus `benchmark`, which runs the study's experiments end to end.
 *
 * CLI (`cbir`), TUI and notebooks use only what is exported here.
 */
export { CbirError, isCbirError, errorMessage, errorCode } from './errors.js';

// data: manifests (the study's CSV), sources → manifest, the embedded phantom dataset
export {
  Manifest,
  readManifest,
  writeManifest,
  SPLITS,
  type Split,
  type ClassInfo,
  type ClassKind,
  type ManifestEntry,
  type DatasetMeta,
} from './data/manifest.js';
export {
  prepareDataset,
  loadRecipe,
  parseSourceSpec,
  datasetStats,
  formatStats,
  type PrepareOptions,
  type PrepareResult,
  type DatasetStats,
} from './data/index.js';
export { generatePhantom, ensurePhantom, renderPhantom, PHANTOM_CLASSES } from './data/phantom.js';

// images: one internal RGB form for every input (PNG/JPEG, 16-bit, DICOM, MedMNIST .npz)
export { decodeImage, encodePng, toGray, type RgbImage } from './images/decode.js';
export { decodeDicom } from './images/dicom.js';
export { readNpz, npyImage, type NpyArray } from './images/npz.js';

// models: cards, ONNX runtime, built-in extractors
export type { ModelCard, PreprocessSpec, Pooling, Extractor } from './models/types.js';
export { listModels, loadExtractor, type ModelInfo } from './models/registry.js';
export { loadCard, loadCards } from './models/cards.js';
export { preprocessImage } from './models/preprocess.js';
export { pullModel, verifyModel } from './models/pull.js';
export { listDescriptors, createDescriptor } from './models/descriptors/index.js';

// embeddings: resumable, shardable store
export {
  embedManifest,
  openEmbeddings,
  embeddingsInfo,
  mergeShards,
  exportH5,
  importH5,
  type EmbeddingStore,
} from './embeddings/index.js';

// index + knn: exact (the study's FAISS flat IP) and HNSW search, the cached k-NN table
export { buildIndex, loadIndex, type VectorIndex, type IndexParams } from './search/index.js';
export {
  computeKnnTable,
  knnTableCached,
  readKnnTable,
  writeKnnCsv,
  indexSizeAblation,
  type KnnTable,
} from './knn/index.js';

// metrics: precision@N (micro/macro), k-NN classification, linear probe, bootstrap
export * as metrics from './metrics/index.js';
export {
  precisionAtN,
  groupedPrecision,
  knnClassification,
  linearProbe,
  bootstrapPrecision,
  pairedPrecisionTest,
} from './metrics/index.js';

// tables and the benchmark
export { writeTable, tableToMarkdown, tableToCsv, toDataFrame, type Table } from './tables/write.js';
export { readReportedTable } from './tables/reported.js';
export { evaluateModel, type ModelEvaluation } from './benchmark/evaluate.js';
export {
  runReport,
  autoIndexSize,
  STUDY_INDEX_SIZE,
  type ReportOptions,
  type ReportResult,
} from './benchmark/report.js';

// progress
export { ProgressTracker, consoleProgress, type ProgressEvent, type ProgressListener } from './util/progress.js';

// figures (plotly specs, offline HTML, PNG via Chromium, query grids, t-SNE) and notebook helpers
export * as figures from './figures/index.js';
export { writeFigures, showFigure } from './figures/index.js';
export { tsne, pca, stratifiedSample } from './analysis/index.js';
export * as notebook from './notebook.js';
