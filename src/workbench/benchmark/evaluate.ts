import { basename, dirname, resolve } from 'node:path';
import { CbirError } from '../errors.js';
import { readManifest, type Manifest } from '../data/manifest.js';
import { dataNotes } from '../data/audit.js';
import {
  knnTablesCached,
  indexSizeAblation,
  readStudyKnnCsvSplits,
  type KnnTable,
  type IndexSizeResult,
} from '../knn/index.js';
import { studyTables } from './tables.js';
import { buildReport } from '../report/build.js';
import type { ReportProtocol, ReportStore } from '../report/types.js';
import type { ReportRun } from './report.js';
import type { IndexParams } from '../search/index.js';
import {
  precisionAtN,
  groupedPrecision,
  perClassPrecision,
  column,
  bootstrapPrecision,
  knnClassification,
  runProbe,
  chancePrecisionAtN,
  majorityBaseline,
  type PrecisionAtN,
  type PrecisionBootstrap,
  type GroupPrecision,
  type ClassPrecisionRow,
  type KnnClassificationResult,
  type PrecisionDefinition,
  type LinearProbeOptions,
  type LogisticProbeOptions,
  type ProbeOutcome,
  type ProbeProtocol,
  type ProbeRequest,
  type ChancePrecision,
  type MajorityBaseline,
} from '../metrics/index.js';
import { withContext, type ProgressListener } from '../util/progress.js';
import { RowCheck, degenerateError, readImageRecords, type EmbeddingStore } from '../embeddings/index.js';
import { HASH_BYTES } from '../embeddings/content.js';
import { blockRows } from '../embeddings/store.js';
import {
  BOOTSTRAP_SEED,
  LOGISTIC_PROBE,
  STUDY_K,
  STUDY_PROBE,
  STUDY_REPLICATES,
  type IndexSizeOptions,
} from '../study.js';

export type { IndexSizeOptions };

/**
 * Which linear probe runs: 'logistic' (default: L2 logistic regression, L-BFGS, C chosen on val),
 * 'study' (the study's AdamW protocol), 'both', false (none), or a ProbeRequest with options. A
 * plain object of AdamW options (no `protocols`) means the study's protocol with those options.
 */
export type ProbeSetting = ProbeProtocol | 'both' | false | ProbeRequest | LinearProbeOptions;

/** The probes a setting asks for, with their options (null = no probe). */
export function resolveProbe(setting: ProbeSetting | undefined): ProbeRequest | null {
  if (setting === false) return null;
  if (setting === undefined || setting === 'logistic') return { protocols: ['logistic'] };
  if (setting === 'study') return { protocols: ['study'] };
  if (setting === 'both') return { protocols: ['logistic', 'study'] };
  if ('protocols' in setting) return setting;
  return { protocols: ['study'], study: setting };
}

/** The probe settings as applied, for the report's protocol (numbers and strings only). */
export function probeProtocolRecord(setting: ProbeSetting | undefined): Record<string, number | string> | false {
  const req = resolveProbe(setting);
  if (!req) return false;
  const out: Record<string, number | string> = { protocol: req.protocols.join('+') };
  const add = (prefix: string, o: object) => {
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'number' || typeof v === 'string') out[prefix + k] = v;
      else if (Array.isArray(v) && v.every((x) => typeof x === 'number')) out[prefix + k] = v.join(',');
    }
  };
  const both = req.protocols.length > 1;
  if (req.protocols.includes('logistic')) {
    add(both ? 'logistic.' : '', { ...LOGISTIC_PROBE, standardize: 'train mean/std', select: 'val accuracy' });
    add(both ? 'logistic.' : '', req.logistic ?? {});
  }
  if (req.protocols.includes('study')) {
    add(both ? 'study.' : '', STUDY_PROBE);
    add(both ? 'study.' : '', req.study ?? {});
  }
  return out;
}

export interface EvaluateOptions {
  manifest: Manifest;
  /** Embeddings, one L2-normalised row per manifest row, in manifest order. */
  vectors: Float32Array;
  dim: number;
  /** Content hash of the embedding store (cache key of the k-NN tables). */
  embeddingsHash: string;
  modelId: string;
  /** Folder for cached k-NN tables. */
  cacheDir: string;
  /** Neighbours per query in the k-NN table; default 100. */
  k?: number;
  index?: IndexParams;
  /** P@N definition; default the study's. */
  definition?: PrecisionDefinition;
  /** Bootstrap replicates for the P@N intervals; default 1000 (0 = no intervals). */
  replicates?: number;
  /** Which linear probe(s) to run (default 'logistic'), or false to skip probing. */
  probe?: ProbeSetting;
  /** Index-size ablation, or false to skip it. */
  indexSize?: IndexSizeOptions | false;
  threads?: number;
  onProgress?: ProgressListener;
  /** Print one line per step. */
  log?: (line: string) => void;
}

/** Everything measured for one model on one dataset. */
export interface ModelEvaluation {
  modelId: string;
  /** Test queries against the train index. */
  table: KnnTable;
  precision: PrecisionAtN;
  intervals: PrecisionBootstrap | null;
  /** Query class codes (test split), in table row order. */
  queryLabels: Uint16Array;
  byModality: GroupPrecision[];
  byDataset: GroupPrecision[];
  /** Group code = modality × 2 + (0 anatomical, 1 pathological). */
  byModalityKind: GroupPrecision[];
  knn: KnnClassificationResult;
  /** The first probe run (the default protocol's when both ran), or null when probing was skipped. */
  probe: ProbeOutcome | null;
  /** Every probe run, in the order asked (Table 5 rows `linear_probe`, `linear_probe_study`). */
  probes: ProbeOutcome[];
  /** Chance P@N and the majority-class classifier on the same queries (the same for every model). */
  baselines: Baselines;
  perClass: ClassPrecisionRow[];
  indexSize: IndexSizeResult | null;
  indexSizeSkipped?: string;
  /** The cached k-NN table folders (test and val queries). */
  knnDirs: { test: string; val: string };
  /** Things the reader should know (queries skipped, …). */
  notes: string[];
}

/** The baselines every table is read against. */
export interface Baselines {
  /** E[P@N] of a random ranking, for the scored test queries (the ns of `precision`). */
  chance: ChancePrecision;
  chanceByModality: GroupPrecision[];
  chanceByDataset: GroupPrecision[];
  chanceByModalityKind: GroupPrecision[];
  /** The most frequent train class, predicted for every test image. */
  majority: MajorityBaseline;
}

/**
 * The store's vectors, after checking that its rows are the manifest's rows in manifest order
 * (evaluation indexes embeddings by manifest row). The error names the first row that differs.
 */
export async function manifestVectors(store: EmbeddingStore, m: Manifest, hint: string): Promise<Float32Array> {
  const n = Math.max(store.count, m.size);
  for (let i = 0; i < n; i++) {
    if (store.ids[i] !== m.filepaths[i]) {
      const what =
        i >= store.count
          ? `the store ends after ${store.count} rows, the manifest has ${m.size}`
          : i >= m.size
            ? `the store has ${store.count} rows, the manifest ${m.size}`
            : `embedding row ${i} is "${store.ids[i]}", the manifest row is "${m.filepaths[i]}"`;
      throw new CbirError(`the embedding store does not line up with the manifest: ${what}`, {
        file: store.dir,
        hint,
        code: 'benchmark/store-mismatch',
      });
    }
  }
  const vectors = await store.readAll();
  await checkStoreRows(store, vectors);
  return vectors;
}

/**
 * The degenerate-output check of `embed` on a store read for evaluation (one given with
 * --embeddings was maybe never checked): NaN/Inf rows, zero-norm rows, or the same vector for
 * images whose contents differ (by the store's image records; all rows when it has none).
 */
async function checkStoreRows(store: EmbeddingStore, vectors: Float32Array): Promise<void> {
  const { dim, count } = store;
  const check = new RowCheck(dim);
  const size = blockRows(); // blocks are views of the vectors just read, never a copy
  for (let s = 0; s < count; s += size) check.add(vectors.subarray(s * dim, Math.min(count, s + size) * dim), s);
  const records = check.allSame && check.valid >= 2 ? await readImageRecords(store.dir, count) : null;
  const distinct = !records || records.sha1.some((b, i) => b !== records.sha1[i % HASH_BYTES]);
  const f = check.finding(distinct);
  if (!f) return;
  throw degenerateError(f, {
    source: `the embedding store (model "${store.meta.modelId}")`,
    label: (i) => `row ${i + 1} ("${store.ids[i]}")`,
    file: () => store.dir,
    codePrefix: 'embed',
    total: `${count} rows`,
    note: 'nothing was evaluated and the store was left as it was; embed this manifest again with the fixed model (replacing the store), or import the vectors again',
  });
}

function codesOf(src: Uint16Array, rows: Int32Array): Uint16Array {
  const out = new Uint16Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = src[rows[i]];
  return out;
}

/** The splits' rows, after checking the embeddings cover the manifest and no split is empty. */
function checkInputs(o: EvaluateOptions): { train: Int32Array; val: Int32Array; test: Int32Array } {
  const m = o.manifest;
  if (o.vectors.length !== m.size * o.dim) {
    throw new CbirError(`embeddings have ${o.vectors.length / o.dim} rows, the manifest ${m.size}`, {
      file: m.dir,
      hint: 'embed this exact manifest before evaluating it',
      code: 'benchmark/row-mismatch',
    });
  }
  return checkSplits(m, true);
}

/** The splits' rows, after checking that none is empty (val may be when `needVal` is false). */
function checkSplits(m: Manifest, needVal: boolean): { train: Int32Array; val: Int32Array; test: Int32Array } {
  const rows = { train: m.indicesOf('train'), val: m.indicesOf('val'), test: m.indicesOf('test') };
  for (const [name, r] of Object.entries(rows)) {
    if (r.length === 0 && (needVal || name !== 'val')) {
      throw new CbirError(`the ${name} split is empty`, {
        file: m.dir,
        hint: 'the study needs train (index), val (model selection) and test (queries) images; prepare the dataset again with non-zero split ratios',
        code: 'benchmark/empty-split',
      });
    }
  }
  return rows;
}

/** What scoring k-NN tables reads of the options. */
type TableScoring = Pick<EvaluateOptions, 'manifest' | 'modelId' | 'definition' | 'replicates' | 'log'>;

interface Retrieval {
  precision: PrecisionAtN;
  intervals: PrecisionBootstrap | null;
  queryLabels: Uint16Array;
  byModality: GroupPrecision[];
  byDataset: GroupPrecision[];
  byModalityKind: GroupPrecision[];
  perClass: ClassPrecisionRow[];
  skipped: number;
  chance: Pick<Baselines, 'chance' | 'chanceByModality' | 'chanceByDataset' | 'chanceByModalityKind'>;
}

/**
 * Retrieval precision of the test queries: P@1…k micro and macro with bootstrap intervals, by
 * modality, dataset and modality × anatomical/pathological, and per-class P@1 (Fig. 5). Queries
 * of classes with no index image cannot be scored by the study's P@N (0/0): they are dropped.
 */
function retrieval(o: TableScoring, test: Int32Array, table: KnnTable, source: string): Retrieval {
  const m = o.manifest;
  const k = table.k;
  const indexClassCounts = m.classCounts('train');
  const scored = test.filter((r) => indexClassCounts[m.classIndex[r]] > 0);
  const pos = new Map<number, number>();
  table.queryRows.forEach((r, i) => pos.set(r, i));
  const neighbors = new Int32Array(scored.length * k);
  scored.forEach((r, i) => {
    const p = pos.get(r)!;
    neighbors.set(table.ids.subarray(p * k, p * k + k), i * k);
  });
  const queryLabels = codesOf(m.classIndex, scored);
  const definition = o.definition ?? 'study';
  const precision = precisionAtN(neighbors, queryLabels, m.classIndex, indexClassCounts, { definition, source });
  const replicates = o.replicates ?? STUDY_REPLICATES;
  const intervals =
    replicates > 0 ? bootstrapPrecision(precision.perQuery, queryLabels, { replicates, seed: BOOTSTRAP_SEED }) : null;
  const C = m.classes.length;
  const groups = (codes: Uint16Array, n: number) =>
    groupedPrecision(precision.perQuery, codes, queryLabels, { nGroups: n, nClasses: C });
  const mk = new Uint16Array(scored.length);
  scored.forEach((r, i) => {
    mk[i] = m.modalityIndex[r] * 2 + (m.classes[m.classIndex[r]].kind === 'anatomical' ? 0 : 1);
  });
  const p1 = column(precision.perQuery, precision.ns.length, 0);
  const modalityCodes = codesOf(m.modalityIndex, scored),
    datasetCodes = codesOf(m.datasetIndex, scored);
  // chance level under the same definition, for the same queries and groups
  const chance = chancePrecisionAtN(queryLabels, indexClassCounts, { ns: precision.ns, definition, source });
  const chanceGroups = (codes: Uint16Array, n: number) =>
    groupedPrecision(chance.perQuery, codes, queryLabels, { nGroups: n, nClasses: C });
  return {
    chance: {
      chance,
      chanceByModality: chanceGroups(modalityCodes, m.modalities.length),
      chanceByDataset: chanceGroups(datasetCodes, m.datasets.length),
      chanceByModalityKind: chanceGroups(mk, m.modalities.length * 2),
    },
    precision,
    intervals,
    queryLabels,
    byModality: groups(modalityCodes, m.modalities.length),
    byDataset: groups(datasetCodes, m.datasets.length),
    byModalityKind: groups(mk, m.modalities.length * 2),
    perClass: perClassPrecision(
      p1,
      queryLabels,
      indexClassCounts,
      m.classes.map((c) => c.kind),
    ),
    skipped: test.length - scored.length,
  };
}

/** The probes asked for, each trained on train, its setting chosen on val, scored on test, and flagged. */
async function probeStep(
  o: EvaluateOptions,
  req: ProbeRequest,
  rows: { train: Int32Array; val: Int32Array; test: Int32Array },
  majorityAccuracy: number,
): Promise<ProbeOutcome[]> {
  const m = o.manifest;
  // rows of the store's vectors, not copies: the study probe gathers one mini-batch at a time
  const split = (r: Int32Array) => ({ x: o.vectors, rows: r, labels: codesOf(m.classIndex, r) });
  const splits = { train: split(rows.train), val: split(rows.val), test: split(rows.test) };
  const out: ProbeOutcome[] = [];
  for (const protocol of req.protocols) {
    out.push(
      await runProbe(protocol, splits, o.dim, m.classes.length, {
        logistic: req.logistic as LogisticProbeOptions | undefined,
        study: req.study,
        majorityAccuracy,
        progress: withContext(o.onProgress, { step: 'probe', model: o.modelId }),
        source: o.modelId,
      }),
    );
  }
  return out;
}

/** One log line per probe: what it chose, how it stopped, its accuracy and flags. */
function probeLine(p: ProbeOutcome): string {
  const how =
    p.protocol === 'logistic'
      ? `logistic regression C = ${p.C} (${p.iterations}/${p.maxIter} L-BFGS iterations, ${p.status})`
      : `study protocol best epoch ${p.bestEpoch + 1}/${p.epochsRun}`;
  return `linear probe ${how}, accuracy ${p.metrics.accuracy.toFixed(3)}${p.flags.length ? ` — flagged: ${p.flags.join(', ')}` : ''}`;
}

/** The index-size ablation, or why it was skipped (no class has T index images and Q test queries). */
async function indexSizeStep(
  o: EvaluateOptions,
  isz: IndexSizeOptions,
  rows: { train: Int32Array; test: Int32Array },
): Promise<{ result: IndexSizeResult | null; skipped?: string }> {
  const m = o.manifest;
  const indexCounts = m.classCounts('train');
  const testCounts = m.classCounts('test');
  const eligible = Array.from(indexCounts).filter(
    (n, c) => n >= isz.minIndexPerClass && testCounts[c] >= isz.queriesPerClass,
  ).length;
  if (eligible === 0) {
    return {
      result: null,
      skipped: `no class has ≥ ${isz.minIndexPerClass} index images and ≥ ${isz.queriesPerClass} test queries`,
    };
  }
  const result = await indexSizeAblation({
    embeddings: o.vectors,
    dim: o.dim,
    labels: m.classIndex,
    indexRows: rows.train,
    queryRows: rows.test,
    ...isz,
    threads: o.threads,
    onProgress: withContext(o.onProgress, { step: 'index-size', model: o.modelId }),
  });
  return { result };
}

/**
 * Run every experiment of the study for one model on one dataset, reading one cached k-NN table
 * per query split: retrieval precision (P@1…100, micro and macro, with bootstrap intervals and
 * breakdowns by modality, dataset and anatomical vs pathological), k-NN classification (k chosen
 * on val), linear probing, per-class P@1 (Fig. 5) and the index-size ablation (Fig. 2). Returns
 * the results; nothing is written but the k-NN table cache (`saveReport` writes the files).
 */
export async function evaluateModel(o: EvaluateOptions): Promise<ModelEvaluation> {
  const m = o.manifest;
  const log = o.log ?? (() => {});
  const rows = checkInputs(o);
  const k = Math.min(o.k ?? STUDY_K, rows.train.length);
  const common = {
    embeddings: o.vectors,
    dim: o.dim,
    indexRows: rows.train,
    k,
    index: o.index,
    cacheDir: o.cacheDir,
    embeddingsHash: o.embeddingsHash,
    manifestHash: m.hash,
    indexSplit: 'train',
    onProgress: withContext(o.onProgress, { step: 'knn', model: o.modelId }),
  };
  // one index build for both query splits; each table resumes after its last finished block
  const [testKnn, valKnn] = await knnTablesCached({ ...common, log }, [
    { split: 'test', queryRows: rows.test },
    { split: 'val', queryRows: rows.val },
  ]);
  log(
    `${o.modelId}: k-NN tables ${testKnn.cached ? 'from cache' : 'computed'} (${rows.test.length} test, ${rows.val.length} val queries, k = ${k})`,
  );
  const scored = scoreTables(o, rows, testKnn, valKnn);
  const req = resolveProbe(o.probe);
  const probes = req ? await probeStep(o, req, rows, scored.baselines.majority.accuracy) : [];
  for (const p of probes) log(`${o.modelId}: ${probeLine(p)}`);
  const isz = o.indexSize ? await indexSizeStep(o, o.indexSize, rows) : { result: null };
  if (isz.skipped) log(`${o.modelId}: index-size ablation skipped: ${isz.skipped}`);
  return {
    ...scored,
    probe: probes[0] ?? null,
    probes,
    indexSize: isz.result,
    ...(isz.skipped ? { indexSizeSkipped: isz.skipped } : {}),
  };
}

/**
 * What the k-NN tables alone give: retrieval precision with its breakdowns, k-NN classification
 * (k chosen on the val table; on the test table, flagged in the notes, when there is none) and
 * the baselines.
 */
function scoreTables(
  o: TableScoring,
  rows: { train: Int32Array; test: Int32Array },
  test: { table: KnnTable; dir: string },
  val: { table: KnnTable; dir: string } | null,
): Omit<ModelEvaluation, 'probe' | 'probes' | 'indexSize' | 'indexSizeSkipped'> {
  const m = o.manifest;
  const log = o.log ?? (() => {});
  const notes: string[] = [];
  const r = retrieval(o, rows.test, test.table, test.dir);
  if (r.skipped > 0) {
    notes.push(`${r.skipped} test queries skipped: their class has no train image`);
    log(`${o.modelId}: ${notes[notes.length - 1]}`);
  }
  if (!val) {
    notes.push('k-NN classification chose k on the test queries (no val neighbour lists): optimistic');
    log(`${o.modelId}: ${notes[notes.length - 1]}`);
  }
  // k-NN classification: k chosen on val by micro F1, reported on test.
  const queries = (t: KnnTable) => ({ neighbors: t.ids, labels: codesOf(m.classIndex, t.queryRows) });
  const knn = knnClassification(
    queries((val ?? test).table),
    queries(test.table),
    m.classIndex,
    m.classCounts('train'),
    { source: test.dir },
  );
  log(`${o.modelId}: k-NN classification k = ${knn.k}, accuracy ${knn.accuracy.toFixed(3)}`);
  // the majority-class baseline on the same test images as the k-NN classification and the probes
  const majority = majorityBaseline(
    codesOf(m.classIndex, rows.train),
    codesOf(m.classIndex, rows.test),
    m.classes.length,
  );
  const { skipped: _s, chance, ...ret } = r;
  return {
    modelId: o.modelId,
    table: test.table,
    ...ret,
    knn,
    baselines: { ...chance, majority },
    knnDirs: { test: test.dir, val: (val ?? test).dir },
    notes,
  };
}

/** Options of `evaluateKnnCsv`. */
export interface KnnCsvEvaluateOptions {
  /** Manifest folder (or CSV), or a Manifest already read: the dataset the knn.csv was computed on. */
  data: string | Manifest;
  /** The study's knn.csv (an experiment folder's): header `query,1,…,k`, test (and val) rows. */
  file: string;
  /** Model name in the tables; default the knn.csv's folder name (the study's experiment). */
  modelId?: string;
  definition?: PrecisionDefinition;
  /** Bootstrap replicates for the P@N intervals; default 1000 (0 = no intervals). */
  replicates?: number;
  onProgress?: ProgressListener;
  log?: (line: string) => void;
}

/**
 * The study's tables from the study's own neighbour lists, without embedding or searching: the
 * knn.csv's test rows give Table 3 (P@N micro/macro with intervals) and its breakdowns, its val
 * rows (when present) choose k of the k-NN classification. The probe and the index-size ablation
 * need vectors: they are not run. Returns the report, in memory, as `runReport` does.
 */
export async function evaluateKnnCsv(o: KnnCsvEvaluateOptions): Promise<ReportRun> {
  const manifest =
    typeof o.data === 'string'
      ? await readManifest(o.data, { onProgress: withContext(o.onProgress, { step: 'data' }) })
      : o.data;
  const file = resolve(o.file);
  const modelId = o.modelId ?? (basename(dirname(file)) || 'knn-csv');
  const rows = checkSplits(manifest, false);
  const [test, val] = await readStudyKnnCsvSplits(file, manifest, ['test', 'val'], {
    optional: ['val'],
    onProgress: withContext(o.onProgress, { step: 'knn', model: modelId }),
  });
  const log = o.log ?? (() => {});
  log(
    `${modelId}: neighbour lists from ${file} (${rows.test.length} test, ${val ? rows.val.length : 0} val queries, k = ${test!.k})`,
  );
  const scored = scoreTables(
    { ...o, manifest, modelId },
    rows,
    { table: test!, dir: file },
    val && { table: val, dir: file },
  );
  const e: ModelEvaluation = {
    ...scored,
    probe: null,
    probes: [],
    indexSize: null,
    indexSizeSkipped: 'scored from a knn.csv: no vectors',
  };
  e.notes.push(
    `scored from the neighbour lists of ${file}: no embeddings, so no linear probe and no index-size ablation`,
  );
  for (const n of dataNotes(manifest, null)) {
    e.notes.push(n);
    log(n);
  }
  const protocol: ReportProtocol = {
    k: test!.k,
    definition: o.definition ?? 'study',
    replicates: o.replicates ?? STUDY_REPLICATES,
    bootstrapSeed: BOOTSTRAP_SEED,
    index: { kind: 'study-knn-csv', file },
    probe: false,
    indexSizeRule: 'off',
    indexSize: false,
  };
  const store: ReportStore = {
    dir: file,
    source: 'knn-csv',
    from: file,
    contentHash: '',
    dim: 0,
    count: test!.queryRows.length,
  };
  const tables = studyTables([e], manifest);
  const report = buildReport({ manifest, evaluations: [e], stores: [store], protocol, tables, work: dirname(file) });
  return { report, evaluations: [e], manifest };
}
