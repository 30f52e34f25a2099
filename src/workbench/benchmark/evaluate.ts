import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { CbirError } from '../errors.js';
import type { Manifest } from '../data/manifest.js';
import { knnTableCached, writeKnnCsv, indexSizeAblation, type KnnTable, type IndexSizeResult } from '../knn/index.js';
import type { IndexParams } from '../search/index.js';
import {
  precisionAtN,
  groupedPrecision,
  perClassPrecision,
  column,
  bootstrapPrecision,
  knnClassification,
  linearProbe,
  type PrecisionAtN,
  type PrecisionBootstrap,
  type GroupPrecision,
  type ClassPrecisionRow,
  type KnnClassificationResult,
  type LinearProbeResult,
  type PrecisionDefinition,
  type LinearProbeOptions,
} from '../metrics/index.js';
import type { ProgressListener } from '../util/progress.js';
import { writeTable, type Table } from '../tables/write.js';
import type { EmbeddingStore } from '../embeddings/index.js';
import { precisionAtNTable, classificationRow, CLASSIFICATION_COLUMNS } from './tables.js';
import { BOOTSTRAP_SEED, STUDY_K, STUDY_REPLICATES } from '../study.js';

/** The index-size ablation's parameters (study: T = 3000, Q = 38, N = 5 … 3000). */
export interface IndexSizeOptions {
  minIndexPerClass: number;
  queriesPerClass: number;
  sizes: number[];
  seeds: number[];
}

export interface EvaluateOptions {
  manifest: Manifest;
  /** Embeddings, one L2-normalised row per manifest row, in manifest order. */
  vectors: Float32Array;
  dim: number;
  /** Content hash of the embedding store (cache key of the k-NN tables). */
  embeddingsHash: string;
  modelId: string;
  /** Folder for this model's result files (knn.csv, precision_at_n.csv, …). */
  out: string;
  /** Folder for cached k-NN tables. */
  cacheDir: string;
  /** Neighbours per query in the k-NN table; default 100. */
  k?: number;
  index?: IndexParams;
  /** P@N definition; default the study's. */
  definition?: PrecisionDefinition;
  /** Bootstrap replicates for the P@N intervals; default 1000 (0 = no intervals). */
  replicates?: number;
  /** Linear probing options, or false to skip it. */
  probe?: LinearProbeOptions | false;
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
  probe: LinearProbeResult | null;
  perClass: ClassPrecisionRow[];
  indexSize: IndexSizeResult | null;
  indexSizeSkipped?: string;
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
  return store.readAll();
}

function gather(vectors: Float32Array, dim: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * dim);
  for (let i = 0; i < rows.length; i++) out.set(vectors.subarray(rows[i] * dim, rows[i] * dim + dim), i * dim);
  return out;
}

function codesOf(src: Uint16Array, rows: Int32Array): Uint16Array {
  const out = new Uint16Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = src[rows[i]];
  return out;
}

/**
 * Run every experiment of the study for one model on one dataset, reading one cached k-NN table
 * per query split: retrieval precision (P@1…100, micro and macro, with bootstrap intervals and
 * breakdowns by modality, dataset and anatomical vs pathological), k-NN classification (k chosen
 * on val), linear probing, per-class P@1 (Fig. 5) and the index-size ablation (Fig. 2). Writes
 * the per-model files into `out`.
 */
export async function evaluateModel(o: EvaluateOptions): Promise<ModelEvaluation> {
  const m = o.manifest;
  const log = o.log ?? (() => {});
  if (o.vectors.length !== m.size * o.dim) {
    throw new CbirError(`embeddings have ${o.vectors.length / o.dim} rows, the manifest ${m.size}`, {
      file: m.dir,
      hint: 'embed this exact manifest (`cbir embed --data <manifest dir>`) before evaluating',
      code: 'benchmark/row-mismatch',
    });
  }
  const train = m.indicesOf('train');
  const val = m.indicesOf('val');
  const test = m.indicesOf('test');
  for (const [name, rows] of [
    ['train', train],
    ['val', val],
    ['test', test],
  ] as const) {
    if (rows.length === 0) {
      throw new CbirError(`the ${name} split is empty`, {
        file: m.dir,
        hint: 'the study needs train (index), val (model selection) and test (queries) images; re-run `cbir data prepare` with non-zero ratios',
        code: 'benchmark/empty-split',
      });
    }
  }
  const k = Math.min(o.k ?? STUDY_K, train.length);
  const C = m.classes.length;
  const indexClassCounts = m.classCounts('train');
  const common = {
    embeddings: o.vectors,
    dim: o.dim,
    indexRows: train,
    k,
    index: o.index,
    cacheDir: o.cacheDir,
    embeddingsHash: o.embeddingsHash,
    manifestHash: m.hash,
    indexSplit: 'train',
    onProgress: o.onProgress,
  };
  const testKnn = await knnTableCached({ ...common, queryRows: test, split: 'test' });
  const valKnn = await knnTableCached({ ...common, queryRows: val, split: 'val' });
  log(
    `${o.modelId}: k-NN tables ${testKnn.cached ? 'from cache' : 'computed'} (${test.length} test, ${val.length} val queries, k = ${k})`,
  );

  // Queries of classes with no index image cannot be scored by the study's P@N (0/0): drop them, say so.
  const keep = (rows: Int32Array) => rows.filter((r) => indexClassCounts[m.classIndex[r]] > 0);
  const scoredTest = keep(test);
  if (scoredTest.length < test.length)
    log(`${o.modelId}: ${test.length - scoredTest.length} test queries skipped: their class has no train image`);
  const pos = new Map<number, number>();
  testKnn.table.queryRows.forEach((r, i) => pos.set(r, i));
  const neighbors = new Int32Array(scoredTest.length * k);
  scoredTest.forEach((r, i) => {
    const p = pos.get(r)!;
    neighbors.set(testKnn.table.ids.subarray(p * k, p * k + k), i * k);
  });
  const queryLabels = codesOf(m.classIndex, scoredTest);
  const precision = precisionAtN(neighbors, queryLabels, m.classIndex, indexClassCounts, {
    definition: o.definition ?? 'study',
    source: testKnn.dir,
  });
  const replicates = o.replicates ?? STUDY_REPLICATES;
  const intervals =
    replicates > 0 ? bootstrapPrecision(precision.perQuery, queryLabels, { replicates, seed: BOOTSTRAP_SEED }) : null;
  const W = precision.ns.length;
  const groups = (codes: Uint16Array, n: number) =>
    groupedPrecision(precision.perQuery, codes, queryLabels, { nGroups: n, nClasses: C });
  const byModality = groups(codesOf(m.modalityIndex, scoredTest), m.modalities.length);
  const byDataset = groups(codesOf(m.datasetIndex, scoredTest), m.datasets.length);
  const mk = new Uint16Array(scoredTest.length);
  scoredTest.forEach((r, i) => {
    mk[i] = m.modalityIndex[r] * 2 + (m.classes[m.classIndex[r]].kind === 'anatomical' ? 0 : 1);
  });
  const byModalityKind = groups(mk, m.modalities.length * 2);
  const p1 = column(precision.perQuery, W, 0);
  const perClass = perClassPrecision(
    p1,
    queryLabels,
    indexClassCounts,
    m.classes.map((c) => c.kind),
  );

  // k-NN classification: k chosen on val by micro F1, reported on test.
  const valNeighbors = valKnn.table.ids;
  const knn = knnClassification(
    { neighbors: valNeighbors, labels: codesOf(m.classIndex, valKnn.table.queryRows) },
    { neighbors: testKnn.table.ids, labels: codesOf(m.classIndex, testKnn.table.queryRows) },
    m.classIndex,
    indexClassCounts,
    { source: testKnn.dir },
  );
  log(`${o.modelId}: k-NN classification k = ${knn.k}, accuracy ${knn.accuracy.toFixed(3)}`);

  let probe: LinearProbeResult | null = null;
  if (o.probe !== false) {
    probe = linearProbe(
      { x: gather(o.vectors, o.dim, train), labels: codesOf(m.classIndex, train) },
      { x: gather(o.vectors, o.dim, val), labels: codesOf(m.classIndex, val) },
      { x: gather(o.vectors, o.dim, test), labels: codesOf(m.classIndex, test) },
      o.dim,
      C,
      { ...(o.probe ?? {}), progress: o.onProgress, source: o.modelId },
    );
    log(
      `${o.modelId}: linear probe best epoch ${probe.bestEpoch + 1}/${probe.epochsRun}, accuracy ${probe.metrics.accuracy.toFixed(3)}`,
    );
  }

  let indexSize: IndexSizeResult | null = null;
  let indexSizeSkipped: string | undefined;
  const isz = o.indexSize;
  if (isz) {
    const testCounts = m.classCounts('test');
    const eligible = Array.from(indexClassCounts).filter(
      (n, c) => n >= isz.minIndexPerClass && testCounts[c] >= isz.queriesPerClass,
    ).length;
    if (eligible === 0) {
      indexSizeSkipped = `no class has ≥ ${isz.minIndexPerClass} index images and ≥ ${isz.queriesPerClass} test queries`;
      log(`${o.modelId}: index-size ablation skipped: ${indexSizeSkipped}`);
    } else {
      indexSize = await indexSizeAblation({
        embeddings: o.vectors,
        dim: o.dim,
        labels: m.classIndex,
        indexRows: train,
        queryRows: test,
        ...isz,
        threads: o.threads,
      });
    }
  }

  await mkdir(o.out, { recursive: true });
  await writeKnnCsv(testKnn.table, m.filepaths, join(o.out, 'knn.csv'));
  await writeTable(precisionAtNTable(o.modelId, precision, intervals), join(o.out, 'precision_at_n'));
  const knnTable: Table = {
    title: `k-NN classification (${o.modelId})`,
    columns: ['model', 'k', ...CLASSIFICATION_COLUMNS],
    rows: [[o.modelId, knn.k, ...classificationRow(knn)]],
  };
  await writeTable(knnTable, join(o.out, 'knn_classification'));
  if (probe) {
    const t: Table = {
      title: `Linear probing (${o.modelId})`,
      columns: ['model', 'best_epoch', 'epochs_run', 'best_val_accuracy', ...CLASSIFICATION_COLUMNS],
      rows: [
        [o.modelId, probe.bestEpoch + 1, probe.epochsRun, probe.bestValAccuracy, ...classificationRow(probe.metrics)],
      ],
    };
    await writeTable(t, join(o.out, 'linear_probing'));
  }
  return {
    modelId: o.modelId,
    table: testKnn.table,
    precision,
    intervals,
    queryLabels,
    byModality,
    byDataset,
    byModalityKind,
    knn,
    probe,
    perClass,
    indexSize,
    indexSizeSkipped,
  };
}
