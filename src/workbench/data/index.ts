/**
 * Datasets → manifest: source specs and recipes, scanning, exact-duplicate removal, seeded
 * stratified grouped splits, `prepareDataset` (what `cbir data prepare` runs) and
 * `datasetStats` / `formatStats` (what `cbir data stats` prints).
 */
export {
  Manifest,
  readManifest,
  writeManifest,
  readClassTable,
  parseSplit,
  parseClassName,
  classInfoFromName,
  manifestCsvLines,
  classTableCsv,
  SPLITS,
  SPLIT_CODE,
  FIXED_COLUMNS,
  NORMAL_LABEL,
  type Split,
  type ClassInfo,
  type ClassKind,
  type ManifestEntry,
  type ExcludedRow,
  type DatasetMeta,
  type ReadManifestOptions,
} from './manifest.js';
export {
  parseSourceSpec,
  validateSource,
  loadRecipe,
  expandVars,
  datasetsDir,
  checkRatios,
  checkFraction,
  checkMad,
  SOURCE_TYPES,
  type SourceSpec,
  type SourceType,
  type Recipe,
} from './sources.js';
export {
  scanSource,
  readLabelTable,
  matchLabels,
  groupOf,
  IMAGE_EXTENSIONS,
  type Candidate,
  type ScanResult,
  type LabelTable,
} from './scan.js';
export {
  findDuplicates,
  findNearDuplicates,
  type DuplicateItem,
  type NearItem,
  type DuplicateGroup,
  type DuplicateResult,
} from './duplicates.js';
export {
  thumbnail16,
  thumbL1,
  findNearPairs,
  forEachNearPair,
  NEAR_DUPLICATE_MAD,
  SIMILAR_MAD,
  THUMB_SIDE,
  THUMB_PIXELS,
  type NearPairs,
} from './thumbs.js';
export {
  readImageBytes,
  imageContents,
  openContentCache,
  contentOf,
  isUnreadable,
  MAX_IMAGE_BYTES,
  type ContentCache,
  type ContentTable,
  type ImageContent,
} from './content.js';
export { SIMILAR_ROWS, type SimilarCount } from './near.js';
export {
  assignSplits,
  splitQuotas,
  SPLIT_METHOD,
  type SplitItem,
  type SplitOptions,
  type SplitAssignment,
  type SplitMethod,
} from './splits.js';
export {
  prepareDataset,
  formatPrepareSummary,
  pixelHash,
  HASH_CACHE,
  type PrepareOptions,
  type PrepareResult,
} from './prepare.js';
export {
  writeReport,
  renderReportMd,
  countKinds,
  DUPLICATE_POLICY,
  REPORT_COLUMNS,
  REPORT_KINDS,
  type ReportRow,
  type ReportContext,
  type ReportSummaryRow,
} from './report.js';
export {
  datasetStats,
  formatStats,
  logBinEdges,
  type DatasetStats,
  type CountRow,
  type ClassCountRow,
  type ImbalanceBin,
} from './stats.js';
