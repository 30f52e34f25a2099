/**
 * `runReport`: the one evaluation entry point. It embeds the dataset with each model (resumable,
 * cached in the work folder) or opens the embedding stores given (including the study's HDF5
 * files, imported once), builds the k-NN tables (cached), runs every experiment and returns the
 * report, in memory. `saveReport` (report/save.ts) writes it.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { CbirError } from '../errors.js';
import { readManifest, type Manifest } from '../data/manifest.js';
import { listModels, loadExtractor } from '../models/registry.js';
import { embedManifest, importH5, openEmbeddings, type EmbeddingStore } from '../embeddings/index.js';
import { withContext, type ProgressListener } from '../util/progress.js';
import {
  evaluateModel,
  manifestVectors,
  probeProtocolRecord,
  type ModelEvaluation,
  type ProbeSetting,
} from './evaluate.js';
import type { PrecisionDefinition } from '../metrics/index.js';
import type { IndexParams } from '../search/index.js';
import { studyTables } from './tables.js';
import * as STUDY from '../study.js';
import type { IndexSizeOptions } from '../study.js';
import { buildReport } from '../report/build.js';
import { auditManifest, dataNotes } from '../data/audit.js';
import { readKnnTable } from '../knn/table.js';
import {
  beyondOfReport,
  ordinalNotes,
  rankingScores,
  readRelevanceConfig,
  rerankAndAdapt,
  RANKING_K,
  type BeyondModel,
  type OrdinalOrders,
  type RelevanceConfig,
} from './beyond.js';
import type { ReportData, ReportProtocol, ReportStore } from '../report/types.js';

/** The study's index-size ablation: classes with ≥ 3000 index images, 38 queries each, N = 5 … 3000. */
export const STUDY_INDEX_SIZE: IndexSizeOptions = {
  ...STUDY.STUDY_INDEX_SIZE,
  sizes: [...STUDY.STUDY_INDEX_SIZE.sizes],
  seeds: [...STUDY.STUDY_INDEX_SIZE.seeds],
};

/**
 * Index-size settings scaled to a dataset: the study's when at least three classes have 3000
 * index images; otherwise T = the index count of the ⌈C/2⌉-th largest class (at least 3 classes),
 * so that about half of the classes take part — with only a handful of classes, often from
 * different modalities, the task would be trivially easy — Q = the fewest test images among
 * those classes (at most 38), and N on a 1-2-5 ladder up to T.
 */
export function autoIndexSize(m: Manifest): IndexSizeOptions {
  const trainCounts = m.classCounts('train');
  const testCounts = m.classCounts('test');
  const order = Array.from(trainCounts.keys()).sort((a, b) => trainCounts[b] - trainCounts[a]);
  if (order.length >= 3 && trainCounts[order[2]] >= 3000) return STUDY_INDEX_SIZE;
  const k = Math.min(order.length, Math.max(3, Math.ceil(order.length / 2)));
  const chosen = order.slice(0, k);
  const T = Math.max(1, trainCounts[chosen[k - 1]]);
  const Q = Math.max(1, Math.min(38, ...chosen.map((c) => testCounts[c])));
  const sizes = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000].filter((n) => n < T);
  sizes.push(T);
  return { minIndexPerClass: T, queriesPerClass: Q, sizes, seeds: [0, 1, 2] };
}

/** The index-size setting as a report option: the rule, or explicit options. */
export type IndexSizeSetting = IndexSizeOptions | 'auto' | 'study' | false;

/** The one rule that turns the index-size setting into options (false = skip the ablation). */
export function resolveIndexSize(
  setting: IndexSizeSetting | undefined,
  m: Manifest,
): { rule: ReportProtocol['indexSizeRule']; options: IndexSizeOptions | false } {
  if (setting === undefined || setting === 'auto') return { rule: 'auto', options: autoIndexSize(m) };
  if (setting === 'study') return { rule: 'study', options: STUDY_INDEX_SIZE };
  if (setting === false) return { rule: 'off', options: false };
  return { rule: 'custom', options: setting };
}

export interface ReportOptions {
  /** Manifest folder (or CSV), or a Manifest already read. */
  data: string | Manifest;
  /** Model ids to embed with (`listModels()`); embeddings are cached in `<work>/embeddings/<id>`. */
  models?: string[];
  /**
   * Finished embeddings, evaluated without re-embedding: store folders (`embedManifest`,
   * `importH5`), or the study's HDF5 layout (a `<model>.h5` file or a `<model>/` folder of
   * `<dataset>.h5` files), imported once into `<work>/embeddings-h5/<model>`.
   */
  stores?: string[];
  /** Folder for embeddings and k-NN tables, reused across runs. */
  workDir: string;
  /** Folder of the cached k-NN tables; default `<work>/knn`. */
  knnCacheDir?: string;
  batchSize?: number;
  workers?: number;
  threads?: number;
  executionProvider?: 'cpu' | 'cuda';
  k?: number;
  index?: IndexParams;
  definition?: PrecisionDefinition;
  replicates?: number;
  /** 'logistic' (default), 'study' (the study's AdamW protocol), 'both', or false to skip probing. */
  probe?: ProbeSetting;
  /** 'auto' (default) scales the study's setting to the dataset; 'study' is the paper's; false skips it. */
  indexSize?: IndexSizeSetting;
  /**
   * Check test queries for copies in the index (same path, same bytes, near-identical thumbnail)
   * and record what it finds in the report's notes (default true; thumbnails cached in the work folder).
   */
  contentCheck?: boolean;
  /**
   * Re-ranking and query expansion (αQE, DBA, k-reciprocal) against plain search, each with its
   * parameters chosen on val, scored on test with intervals (default false: the ranking metrics only).
   */
  rerank?: boolean;
  /** Graded relevance; default: `<manifest dir>/relevance.json` when there is one. */
  relevance?: RelevanceConfig;
  onProgress?: ProgressListener;
  log?: (line: string) => void;
}

/** A computed report: the typed report, and what only memory holds (k-NN tables, per-query values). */
export interface ReportRun {
  report: ReportData;
  evaluations: ModelEvaluation[];
  manifest: Manifest;
}

function isStore(dir: string): boolean {
  return existsSync(join(dir, 'meta.json'));
}

function isH5(p: string): boolean {
  if (!existsSync(p)) return false;
  if (statSync(p).isDirectory()) return readdirSync(p).some((f) => /\.(h5|hdf5)$/i.test(f));
  return /\.(h5|hdf5)$/i.test(p);
}

/** Where a model's embeddings come from; the rest of its ReportStore is read from the store. */
type StoreRef = Pick<ReportStore, 'dir' | 'source' | 'from'>;

/** Embed the manifest with one model (resumable; reused when complete). */
async function embedModel(o: ReportOptions, manifest: Manifest, modelId: string): Promise<StoreRef> {
  const log = o.log ?? (() => {});
  const extractor = await loadExtractor(modelId, { executionProvider: o.executionProvider, intraOpThreads: o.threads });
  const dir = join(resolve(o.workDir), 'embeddings', modelId);
  let res;
  try {
    res = await embedManifest({
      manifest,
      extractor,
      out: dir,
      batchSize: o.batchSize,
      workers: o.workers,
      onProgress: withContext(o.onProgress, { step: 'embed', model: modelId }),
    });
  } finally {
    await extractor.close();
  }
  const what = res.alreadyComplete ? 'reused' : `computed (${res.embedded} new, ${res.resumed} resumed)`;
  log(`${modelId}: embeddings ${what} in ${relative(process.cwd(), dir) || '.'}`);
  return { dir, source: 'embedded' };
}

/** A given store folder, or the study's HDF5 files imported once into the work folder. */
async function givenStore(o: ReportOptions, manifest: Manifest, given: string): Promise<StoreRef> {
  const p = resolve(given);
  if (isStore(p)) return { dir: p, source: 'store' };
  if (!isH5(p)) {
    throw new CbirError('not an embedding store (no meta.json) nor HDF5 files', {
      file: given,
      hint: "give the folder of an embedding store, or a folder of the study's `<dataset>.h5` files",
      code: 'report/bad-store',
    });
  }
  const modelId = basename(p).replace(/\.(h5|hdf5)$/i, '');
  const dir = join(resolve(o.workDir), 'embeddings-h5', modelId);
  if (!isStore(dir)) {
    const r = await importH5({
      manifest,
      from: p,
      out: dir,
      onProgress: withContext(o.onProgress, { step: 'embed', model: modelId }),
    });
    (o.log ?? (() => {}))(
      `${r.meta.modelId}: imported ${r.found} vectors from ${r.files.length} HDF5 file(s)${r.renormalized ? ` (${r.renormalized} re-normalised)` : ''}`,
    );
  }
  return { dir, source: 'hdf5', from: p };
}

/**
 * Before any work: every model id must be known and able to run (weights present), so a typo or
 * a missing download in the last model does not fail the run after the first ones were embedded.
 * The failing ones are loaded, which throws the registry's own error (unknown id, missing weights).
 */
async function checkModels(ids: readonly string[]): Promise<void> {
  const ready = new Set((await listModels()).filter((m) => m.weightsPresent).map((m) => m.id));
  for (const id of ids) {
    if (ready.has(id)) continue;
    const extractor = await loadExtractor(id);
    await extractor.close();
  }
}

/** Evaluate one store (its rows must be the manifest's, in order), then the ranking metrics beyond the study. */
async function evaluateStore(
  o: ReportOptions,
  manifest: Manifest,
  store: EmbeddingStore,
  indexSize: IndexSizeOptions | false,
  orders: OrdinalOrders,
): Promise<{ evaluation: ModelEvaluation; beyond: BeyondModel }> {
  const vectors = await manifestVectors(
    store,
    manifest,
    'embed (or import) the embeddings with this manifest: the dataset and the embeddings must belong together',
  );
  const evaluation = await evaluateModel({
    manifest,
    vectors,
    dim: store.dim,
    embeddingsHash: store.meta.contentHash,
    modelId: store.meta.modelId,
    cacheDir: o.knnCacheDir ?? join(resolve(o.workDir), 'knn'),
    k: o.k,
    index: o.index,
    definition: o.definition,
    replicates: o.replicates,
    probe: o.probe,
    indexSize,
    threads: o.threads,
    onProgress: o.onProgress,
    log: o.log,
  });
  return { evaluation, beyond: await beyondModel(o, manifest, evaluation, vectors, store.dim, orders) };
}

/**
 * Ranking metrics from the model's test k-NN table (no new search) and, with `rerank`, the
 * re-ranking methods, their parameters chosen on the cached val table.
 */
async function beyondModel(
  o: ReportOptions,
  manifest: Manifest,
  e: ModelEvaluation,
  vectors: Float32Array,
  dim: number,
  orders: OrdinalOrders,
): Promise<BeyondModel> {
  const ranking = rankingScores(manifest, e.table, RANKING_K, orders);
  if (!o.rerank) return { model: e.modelId, ranking, rerank: null };
  const rerank = await rerankAndAdapt({
    manifest,
    vectors,
    dim,
    tables: { test: e.table, val: await readKnnTable(e.knnDirs.val) },
    k: RANKING_K,
    index: o.index,
    replicates: o.replicates,
    adapter: false,
    log: (l) => o.log?.(`${e.modelId}: ${l}`),
  });
  return { model: e.modelId, ranking, rerank };
}

/** The report's notes about its data (copies of test queries in the index, excluded rows), logged as found. */
async function reportDataNotes(o: ReportOptions, manifest: Manifest): Promise<string[]> {
  const audit =
    o.contentCheck === false
      ? null
      : await auditManifest(manifest, {
          similarMad: 0,
          querySplits: ['test'],
          cacheFile: join(resolve(o.workDir), 'content-cache.csv'),
          onProgress: withContext(o.onProgress, { step: 'data' }),
        });
  const notes = dataNotes(manifest, audit);
  for (const n of notes) (o.log ?? (() => {}))(n);
  return notes;
}

/**
 * The whole benchmark for several models on one dataset, computed: every experiment of the study
 * for each model id (embedded, cached) and each given store, then the study's tables over all of
 * them. Returns the report; nothing is written but the caches in the work folder.
 */
export async function runReport(o: ReportOptions): Promise<ReportRun> {
  const models = o.models ?? [];
  const given = o.stores ?? [];
  if (models.length === 0 && given.length === 0) {
    throw new CbirError('no models and no embeddings given', {
      hint: 'name one or more model ids (see the model list), or embedding stores to evaluate',
      code: 'report/no-models',
    });
  }
  const twice = models.find((id, i) => models.indexOf(id) !== i);
  if (twice !== undefined)
    throw new CbirError(`model "${twice}" is given twice`, {
      hint: 'name each model once',
      code: 'report/duplicate-model',
    });
  await checkModels(models);
  const manifest =
    typeof o.data === 'string'
      ? await readManifest(o.data, { onProgress: withContext(o.onProgress, { step: 'data' }) })
      : o.data;
  const orders: OrdinalOrders = (o.relevance ?? readRelevanceConfig(manifest.dir)).ordinal ?? {};
  const relevanceNotes = ordinalNotes(manifest, orders);
  for (const n of relevanceNotes) (o.log ?? (() => {}))(n);
  const notes = await reportDataNotes(o, manifest);
  const indexSize = resolveIndexSize(o.indexSize, manifest);
  const beyond: BeyondModel[] = [];
  const evaluations: ModelEvaluation[] = [];
  const stores: ReportStore[] = [];
  const sources = [...models.map((id) => ({ id })), ...given.map((path) => ({ path }))];
  for (const src of sources) {
    const ref = 'id' in src ? await embedModel(o, manifest, src.id) : await givenStore(o, manifest, src.path);
    const store = await openEmbeddings(ref.dir);
    const modelId = store.meta.modelId;
    if (evaluations.some((e) => e.modelId === modelId)) {
      throw new CbirError(`model "${modelId}" is given twice`, {
        file: ref.dir,
        hint: 'each model may appear once among the models and the embedding stores',
        code: 'report/duplicate-model',
      });
    }
    const ev = await evaluateStore(o, manifest, store, indexSize.options, orders);
    evaluations.push(ev.evaluation);
    beyond.push(ev.beyond);
    stores.push({ ...ref, contentHash: store.meta.contentHash, dim: store.dim, count: store.count });
  }
  for (const e of evaluations) e.notes.push(...notes);
  const protocol: ReportProtocol = {
    k: evaluations[0].table.k,
    definition: o.definition ?? 'study',
    replicates: o.replicates ?? STUDY.STUDY_REPLICATES,
    bootstrapSeed: STUDY.BOOTSTRAP_SEED,
    index: { ...(o.index ?? { kind: 'exact' }) } as ReportProtocol['index'],
    probe: probeProtocolRecord(o.probe),
    indexSizeRule: indexSize.rule,
    indexSize: indexSize.options,
  };
  const tables = studyTables(evaluations, manifest);
  const report = buildReport({
    manifest,
    evaluations,
    stores,
    protocol,
    tables,
    work: resolve(o.workDir),
    beyond: beyondOfReport(beyond, orders, relevanceNotes),
  });
  return { report, evaluations, manifest };
}
