/**
 * The report contract: one typed, versioned object that holds what a benchmark run measured.
 * `runReport` computes it, `saveReport` writes it as `<report>/report.json` (next to the CSV and
 * Markdown tables made from it), `openReport` loads and checks it. The CLI, TUI, figures and
 * notebooks read a report only through this object.
 *
 * In memory every path is absolute; in report.json paths inside the report folder are stored
 * relative to it, so a report folder can be moved with its work folder.
 */
import type { Table } from '../tables/write.js';
import type { IndexSizeOptions } from '../study.js';
import type { PrecisionDefinition } from '../metrics/index.js';

/** `format` of report.json. */
export const REPORT_FORMAT = 'radcbir-report';
/** Version of report.json's layout; bumped when a field changes meaning or a required field is added. */
export const REPORT_VERSION = 1;

/** The dataset a report was made on (the manifest folder and its content hash). */
export interface ReportDataset {
  /** Manifest folder. */
  dir: string;
  /** sha256 of the manifest (rows, splits, classes). */
  hash: string;
  images: number;
  classes: number;
  anatomical: number;
  pathological: number;
  modalities: string[];
  datasets: string[];
  splits: { train: number; val: number; test: number };
}

/** How the numbers were made: the protocol settings after defaults were applied. */
export interface ReportProtocol {
  /** Neighbours per query in the k-NN tables. */
  k: number;
  definition: PrecisionDefinition;
  /** Bootstrap replicates of the P@N intervals (0 = none). */
  replicates: number;
  bootstrapSeed: number;
  /** Search: 'exact' (the study's flat inner product) or 'hnsw', with its parameters. */
  index: Record<string, string | number | boolean>;
  /** Linear probe settings (`protocol`: logistic, study or logistic+study, then its settings), or false when it was skipped. */
  probe: Record<string, number | string> | false;
  /** The rule that chose the index-size setting, and the setting it chose (false = skipped). */
  indexSizeRule: 'auto' | 'study' | 'custom' | 'off';
  indexSize: IndexSizeOptions | false;
}

/** Where one model's embeddings came from. */
export interface ReportStore {
  /** Embedding store folder. */
  dir: string;
  /**
   * 'embedded': made by this run (or reused from the work folder); 'store': given; 'hdf5': imported
   * from the study's files; 'knn-csv': no vectors, the neighbour lists of a study `knn.csv` (`dir`).
   */
  source: 'embedded' | 'store' | 'hdf5' | 'knn-csv';
  /** The HDF5 file or folder, for imported stores. */
  from?: string;
  contentHash: string;
  dim: number;
  count: number;
}

/** One linear probe of a model: which protocol ran, what it chose, and whether it is flagged as degenerate. */
export interface ReportProbe {
  /** Table 5's method: `linear_probe` (the default logistic-regression probe) or `linear_probe_study`. */
  method: string;
  protocol: 'logistic' | 'study';
  /** single_class, iteration_cap, line_search, majority_level (empty when the probe looks sound). */
  flags: string[];
  /** Test accuracy. */
  accuracy: number;
  /** What validation chose: `C = 0.1` or `best epoch 3`. */
  setting: string;
  /** L-BFGS iterations or epochs run, and the cap. */
  steps: number;
  maxSteps: number;
}

/** One model's results. */
export interface ReportModel {
  modelId: string;
  store: ReportStore;
  /** Cached k-NN table folders (test and val queries against the train index). */
  knn: { test: string; val: string; k: number };
  /** P@N for every N with 95 % bootstrap intervals (precision_at_n.csv). */
  precision: Table;
  /** k-NN classification (knn_classification.csv). */
  knnClassification: Table;
  /** Linear probing (linear_probing.csv), or null when skipped. */
  probe: Table | null;
  /** The probes that ran, with their flags (absent in reports written before probes were flagged). */
  probes?: ReportProbe[];
  /** Why the index-size ablation was skipped for this model, if it was. */
  indexSizeSkipped: string | null;
  /** Things the reader should know (queries skipped, …). */
  notes: string[];
  /** Files written for this model, relative to the report folder. */
  files: string[];
}

/** One written figure (paths relative to the report folder). */
export interface FigureFile {
  name: string;
  title: string;
  /** The HTML page showing it (several figures may share a page). */
  html?: string;
  png?: string;
  /** The plotly spec as JSON (plotly figures only). */
  json?: string;
}

/** The figures of a report and what was skipped. */
export interface ReportFigures {
  files: FigureFile[];
  notes: string[];
}

/** Names of the study tables a report holds (each is also written as `<name>.csv/.md/.json`). */
export const REPORT_TABLES = [
  'table3_retrieval',
  'comparison',
  'table4_modality',
  'table9_anatomy_pathology',
  'table10_dataset',
  'table5_embedding_quality',
  'per_class_p1',
  'index_size',
] as const;
export type ReportTableName = (typeof REPORT_TABLES)[number];

/** Version of the `beyond` field's layout (the field is absent in reports written before it). */
export const BEYOND_VERSION = 1;

/**
 * Beyond the study (issue #14): ranking metrics with graded relevance from the same k-NN tables,
 * and, when asked (`rerank`), re-ranking and query expansion against plain search.
 */
export interface ReportBeyond {
  version: typeof BEYOND_VERSION;
  /** k of the ranking metrics (at most the k-NN tables' k). */
  k: number;
  /** Label orders per `MODALITY/region` from the manifest folder's relevance.json ({} when none). */
  ordinal: Record<string, string[]>;
  /**
   * Datasets scored with multi-label relevance ("multi-label (Jaccard)" rows: label sets
   * intersect, Jaccard gain), as relevance.json declares them; absent when none.
   */
  multiLabel?: string[];
  /** mAP@k, recall@k, R-precision, nDCG@k (binary, hierarchical, ordinal) and majority vote, per model. */
  ranking: Table;
  /** αQE, DBA and k-reciprocal against plain search, with intervals; null when re-ranking was not asked. */
  rerank: Table | null;
  /** What the reader should know (an ordinal scale no class matches, …). */
  notes: string[];
}

/** A benchmark report. */
export interface ReportData {
  format: typeof REPORT_FORMAT;
  version: typeof REPORT_VERSION;
  /** ISO time the numbers were computed. */
  createdAt: string;
  /** The radcbir version that computed them. */
  tool: { name: 'radcbir'; version: string };
  /** Absolute report folder once saved or opened; null for a report only in memory. */
  dir: string | null;
  /** Folder of the embeddings and k-NN caches. */
  work: string;
  dataset: ReportDataset;
  protocol: ReportProtocol;
  models: ReportModel[];
  /** The study's tables over all models (comparison only with two or more models). */
  tables: Partial<Record<ReportTableName, Table>>;
  figures: ReportFigures | null;
  /** Ranking metrics and re-ranking beyond the study (absent in reports written before them). */
  beyond?: ReportBeyond;
  /** Every file of the report, relative to its folder (report.json last). */
  files: string[];
}
