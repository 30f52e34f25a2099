/**
 * radcbir — the core library. One folder per pipeline step:
 * data → images → models → embeddings → search → knn → metrics → tables / figures,
 * with `analysis` (PCA, t-SNE), `benchmark` (the study's experiments: `runReport`) and `report`
 * (the typed report every shell reads: `saveReport`, `openReport`).
 *
 * This file is the boundary: the CLI (`cbir`), the TUI and the notebooks import only from it.
 */
export { CbirError, isCbirError, errorMessage, errorCode } from './errors.js';
export { PROJECT_ROOT, CACHE_DIR, datasetsDir, studyDir } from './paths.js';
export * as study from './study.js';
export { STUDY_K, STUDY_NS, STUDY_REPLICATES, STUDY_PROBE, type IndexSizeOptions } from './study.js';

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
  readMultiLabel,
  labelSetClass,
  type LabelSets,
} from './data/manifest.js';
export {
  prepareDataset,
  formatPrepareSummary,
  loadRecipe,
  parseSourceSpec,
  checkRatios,
  checkFraction,
  datasetStats,
  formatStats,
  type SourceSpec,
  type PrepareOptions,
  type PrepareResult,
  type DatasetStats,
} from './data/index.js';
export { generatePhantom, ensurePhantom, renderPhantom, PHANTOM_CLASSES } from './data/phantom.js';
export { generateMultiLabelPhantom, planMultiLabelPhantom, MULTILABEL_FINDINGS } from './data/multilabel.js';
export { chestLabelManifest, CHEST_LABEL_FORMATS, type ChestLabelFormat } from './data/chestLabels.js';

// images: one internal RGB form for every input (PNG/JPEG, 16-bit, DICOM, MedMNIST .npz)
export { decodeImage, encodePng, toGray, type RgbImage } from './images/decode.js';
export { decodeDicom } from './images/dicom.js';
export { readNpz, npyImage, type NpyArray } from './images/npz.js';

// models: cards, ONNX runtime, built-in extractors
export type { ModelCard, PreprocessSpec, Pooling, Extractor } from './models/types.js';
export { listModels, loadExtractor, findCard, type ModelInfo } from './models/registry.js';
export { loadCard, loadCards } from './models/cards.js';
export { CARDS_DIR, weightsDirs } from './models/paths.js';
export { preprocessImage } from './models/preprocess.js';
export { pullModel, verifyModel } from './models/pull.js';
export { hubUrl, type HubFile, type PullOptions, type PullResult, type VerifyResult } from './models/pull.js';
export {
  checkReference,
  readReference,
  referencePath,
  REFERENCE_MIN_COSINE,
  type ReferenceCheck,
  type ReferenceFile,
} from './models/reference.js';
export { LOCK_FILE, lockPath, readLock, type ModelsLock } from './models/lock.js';
export { listDescriptors, createDescriptor } from './models/descriptors/index.js';
export { GraphBuilder } from './onnx/builder.js';

// embeddings: resumable, shardable store
export {
  embedManifest,
  parseShard,
  openEmbeddings,
  embeddingsInfo,
  readMeta,
  mergeShards,
  shardFromEnv,
  type EnvShard,
  exportH5,
  importH5,
  type EmbeddingStore,
} from './embeddings/index.js';
// embeddings: degenerate-output check (embed, import-h5; `models verify` can call it), HDF5 keys and file check
export {
  checkEmbeddingRows,
  degenerateError,
  h5Keys,
  checkHdf5File,
  type DegenerateFinding,
  type ImportH5Report,
} from './embeddings/index.js';

// search + knn: exact (the study's FAISS flat IP) and HNSW search, the cached k-NN table
export { buildIndex, loadIndex, type VectorIndex, type IndexParams } from './search/index.js';
export {
  computeKnnTable,
  knnTableCached,
  knnTablesCached,
  readKnnTable,
  writeKnnCsv,
  indexSizeAblation,
  type KnnTable,
} from './knn/index.js';

// adapt: light adapters on frozen embeddings (beyond the study)
export {
  adaptEmbeddings,
  saveAdaptedStore,
  trainAdapter,
  type AdaptRun,
  type AdapterKind,
  type TrainAdapterOptions,
  type TrainedAdapter,
} from './adapt/index.js';
export {
  queryExpansion,
  databaseAugmentation,
  kReciprocalRerank,
  type ExpansionOptions,
  type KReciprocalOptions,
} from './knn/index.js';

// metrics: precision@N (micro/macro), k-NN classification, linear probe, bootstrap, statistics
export * as metrics from './metrics/index.js';
export {
  precisionAtN,
  groupedPrecision,
  knnClassification,
  linearProbe,
  bootstrapPrecision,
  pairedPrecisionTest,
} from './metrics/index.js';
export { holmAdjust, spearman } from './metrics/stats.js';

// tables
export { writeTable, tableToMarkdown, tableToCsv, toDataFrame, formatCell, type Table } from './tables/write.js';
export { tableHtml, type TableHtmlOptions } from './tables/html.js';
export { readReportedTable } from './tables/reported.js';

// the benchmark (compute) and the report (save, open)
export {
  evaluateModel,
  evaluateKnnCsv,
  manifestVectors,
  type ModelEvaluation,
  type KnnCsvEvaluateOptions,
} from './benchmark/evaluate.js';
export {
  runReport,
  autoIndexSize,
  resolveIndexSize,
  STUDY_INDEX_SIZE,
  type ReportOptions,
  type ReportRun,
  type IndexSizeSetting,
} from './benchmark/report.js';
export { precisionAtNTable, studyTables } from './benchmark/tables.js';
// beyond the study: ranking metrics with graded relevance, re-ranking (report.json `beyond`)
export {
  rankingScores,
  rankingTable,
  rerankAndAdapt,
  rerankTable,
  readRelevanceConfig,
  gradeErrorOfTable,
  tableRelevance,
  beyondOfReport,
  ordinalNotes,
  RANKING_K,
  type RankingRow,
  type MethodRow,
  type BeyondInput,
  type BeyondModel,
  type OrdinalOrders,
  type RelevanceConfig,
} from './benchmark/beyond.js';
export { pairwiseComparison } from './benchmark/compare.js';
export {
  saveReport,
  openReport,
  openReportManifest,
  addFigures,
  renderSummary,
  toolVersion,
  REPORT_FILE,
  REPORT_FORMAT,
  REPORT_VERSION,
  REPORT_TABLES,
  BEYOND_VERSION,
  type ReportBeyond,
  type ReportData,
  type ReportModel,
  type ReportStore,
  type ReportDataset,
  type ReportProtocol,
  type ReportTableName,
  type FigureFile,
  type SaveReportOptions,
} from './report/index.js';

// progress
export {
  ProgressTracker,
  consoleProgress,
  formatDuration,
  withContext,
  type ProgressEvent,
  type ProgressListener,
  type ProgressStep,
} from './util/progress.js';

// small utilities the shells share
export { parseCsv, readCsvRecords } from './util/csv.js';
export { writeFileAtomic } from './util/fsx.js';
export { closest, editDistance } from './util/closest.js';

// figures (plotly specs, offline HTML, PNG via Chromium, query grids), analysis (t-SNE, PCA), notebook helpers
export * as figures from './figures/index.js';
export { writeFigures, showFigure, type WriteFiguresOptions, type WriteFiguresResult } from './figures/index.js';
export * as analysis from './analysis/index.js';
export { tsne, pca, stratifiedSample } from './analysis/index.js';
export * as notebook from './notebook.js';

// saved indices and image search (`cbir index`, `cbir search`; the web server builds on IndexSearcher)
export {
  buildSavedIndex,
  importFaissIndex,
  saveSavedIndex,
  openSavedIndex,
  readSavedIndexInfo,
  savedIndexSummary,
  closeSavedIndex,
  rowFile,
  INDEX_FORMAT,
  INDEX_VERSION,
  type SavedIndex,
  type SavedIndexInfo,
  type SavedIndexModel,
  type SavedIndexSummary,
  type BuildSavedIndexOptions,
  type ImportFaissOptions,
} from './search/saved.js';
export { readFaissHeader, readFaissMetadata, type FaissFlatHeader } from './search/faiss.js';
export { IndexRows, type RowLabels, type RowColumn } from './search/rows.js';
export { parseSearchFilter, filterText, type SearchFilter } from './search/filter.js';
export {
  IndexSearcher,
  checkQueryModel,
  decodeQueryImage,
  type SearchHit,
  type QueryResult,
  type SearchResponse,
  type IndexSummary,
  type QueryOptions,
  type FileSearchOptions,
  type QueryFile,
} from './search/query.js';
export { SearchJournal } from './search/journal.js';
export {
  collectQueryFiles,
  writeSearchCsv,
  longCsvPath,
  searchGridData,
  type SearchGridData,
} from './search/results.js';
export {
  evaluateSearch,
  manifestQueries,
  withQueryClasses,
  topOfResponse,
  EVAL_K,
  EVAL_DEPTH,
  EVAL_METRICS,
  type SearchEvaluation,
  type MetricMeans,
  type EvalMetric,
} from './search/evaluate.js';
export {
  searchReranker,
  rerankLabel,
  DBA_MAX_ROWS,
  RERANK_METHODS,
  type SearchRerankOptions,
  type SearchReranker,
} from './search/rerank.js';

// linear probes (default: L2 logistic regression by L-BFGS; the study's AdamW protocol) and baselines
export {
  logisticProbe,
  fitLogisticRegression,
  lbfgs,
  runProbe,
  probeFlags,
  chancePrecisionAtN,
  majorityBaseline,
  type LogisticProbeOptions,
  type LogisticProbeResult,
  type ProbeOutcome,
  type ProbeFlag,
  type ProbeProtocol,
  type ChancePrecision,
  type MajorityBaseline,
} from './metrics/index.js';
export { resolveProbe, type ProbeSetting, type Baselines } from './benchmark/evaluate.js';
export { PROBE_FLAG_TEXT } from './benchmark/tables.js';
export { LOGISTIC_PROBE } from './study.js';
export type { ReportProbe } from './report/types.js';

// data: near-duplicates and leakage (thumbnails, `cbir data audit`, the report's copy check)
export {
  thumbnail16,
  findNearPairs,
  forEachNearPair,
  findNearDuplicates,
  imageContents,
  readImageBytes,
  checkMad,
  NEAR_DUPLICATE_MAD,
  SIMILAR_MAD,
  MAX_IMAGE_BYTES,
  type NearPairs,
  type ContentTable,
} from './data/index.js';
export {
  auditManifest,
  formatAudit,
  auditCsvLines,
  dataNotes,
  AUDIT_KINDS,
  DATA_NOTE_PREFIX,
  type AuditKind,
  type AuditPair,
  type AuditCount,
  type AuditResult,
  type AuditOptions,
} from './data/audit.js';
export { auditDataset, cosinePairs, AUDIT_COSINE, type AuditDatasetOptions } from './benchmark/audit.js';
