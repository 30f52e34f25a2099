/**
 * The k-NN table (top-k neighbours of every query, cached on disk), its knn.csv export, and the
 * index-size ablation.
 */
export {
  computeKnnTable,
  knnTableCached,
  knnTablesCached,
  readKnnTable,
  writeKnnTable,
  knnCacheKey,
  resultParams,
  embeddingRows,
  type KnnTable,
  type KnnMeta,
  type KnnInput,
  type KnnCachedInput,
  type KnnSplit,
  type CachedKnnTable,
} from './table.js';
export { writeKnnCsv } from './csv.js';
export {
  indexSizeAblation,
  DEFAULT_INDEX_SIZES,
  type IndexSizeInput,
  type IndexSizeResult,
  type IndexSizePoint,
} from './indexSize.js';
export {
  queryExpansion,
  databaseAugmentation,
  kReciprocalRerank,
  type ExpansionOptions,
  type KReciprocalOptions,
} from './rerank.js';
export { readStudyKnnCsv, readStudyKnnCsvSplits, type StudyKnnCsvOptions } from './studyCsv.js';
