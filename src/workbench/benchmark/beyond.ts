/**
 * Beyond the study, for one model on one dataset: ranking metrics with graded relevance
 * (mAP@k, recall@k, R-precision, nDCG@k, majority vote), re-ranking and query expansion with
 * their parameters chosen on val, and a light adapter trained on train and stopped on val.
 * Every gain over plain search comes with a bootstrap interval and the paired sign-flip test
 * on the test queries; test queries never take part in a choice.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMultiLabel, type Manifest } from '../data/manifest.js';
import { CbirError, errorMessage } from '../errors.js';
import { computeKnnTable, type KnnTable } from '../knn/table.js';
import { databaseAugmentation, kReciprocalRerank, queryExpansion } from '../knn/rerank.js';
import {
  averagePrecisionAtK,
  bootstrapPrecision,
  classRelevance,
  hierarchicalGains,
  majorityVoteAccuracy,
  ndcgAtK,
  ordinalGains,
  ordinalGrade,
  topOneGradeError,
  pairedPrecisionTest,
  precisionAtN,
  rPrecision,
  recallAtK,
  labelSetRelevance,
  type Relevance,
} from '../metrics/index.js';
import { perQueryRelevance } from '../metrics/relevance.js';
import { trainAdapter, type TrainAdapterOptions } from '../adapt/train.js';
import { BOOTSTRAP_SEED, STUDY_REPLICATES } from '../study.js';
import type { IndexParams } from '../search/index.js';
import type { Table } from '../tables/write.js';
import { BEYOND_VERSION, type ReportBeyond } from '../report/types.js';

/** Declared label orders per `MODALITY/region` (ordinal relevance), e.g. { 'XR/knee': ['0','1','2','3','4'] }. */
export type OrdinalOrders = Readonly<Record<string, readonly string[]>>;

export interface RankingRow {
  /**
   * 'multi-label': queries of datasets declared multi-label use label-set relevance (relevant =
   * the label sets intersect, gain = Jaccard), the other queries binary class relevance.
   */
  relevance: 'binary' | 'hierarchical' | 'ordinal' | 'multi-label';
  k: number;
  mapMicro: number;
  mapMacro: number;
  recallMicro: number;
  rPrecisionMicro: number;
  /** Queries whose R fits the table (R ≤ K), the ones R-precision averages. */
  rPrecisionScored: number;
  ndcgMicro: number;
  ndcgMacro: number;
  majorityMicro: number;
  /** Ordinal rows: mean |Δgrade| of the top-1 neighbour and the share within one grade. */
  gradeMAE?: number;
  withinOneGrade?: number;
  /** Multi-label rows: the declared multi-label datasets that have test queries. */
  labelSetDatasets?: string[];
}

/** How the ranking table names a relevance rule. */
export const RELEVANCE_LABEL: Record<RankingRow['relevance'], string> = {
  binary: 'binary',
  hierarchical: 'hierarchical',
  ordinal: 'ordinal',
  'multi-label': 'multi-label (Jaccard)',
};

function labelsOf(m: Manifest, rows: Int32Array): Int32Array {
  return Int32Array.from(rows, (r) => m.classIndex[r]);
}

/** Relevance of a table's index rows to its queries, under one gain rule. */
export function tableRelevance(
  m: Manifest,
  t: KnnTable,
  rule: RankingRow['relevance'],
  orders?: OrdinalOrders,
): { rel: Relevance; neighbours: Int32Array } {
  const names = m.classes.map((c) => c.name);
  const gains =
    rule === 'binary' || rule === 'multi-label'
      ? undefined
      : rule === 'hierarchical'
        ? hierarchicalGains(names)
        : ordinalGains(names, orders ?? {});
  const indexLabels = labelsOf(m, t.indexRows);
  const counts = new Int32Array(m.classes.length);
  indexLabels.forEach((c) => counts[c]++);
  // the metrics index the table's index rows 0..n-1; map manifest row ids to those positions
  const pos = new Map<number, number>();
  t.indexRows.forEach((r, i) => pos.set(r, i));
  const neighbours = Int32Array.from(t.ids, (id) => (id < 0 ? -1 : pos.get(id)!));
  const byClass = classRelevance(labelsOf(m, t.queryRows), indexLabels, counts, gains);
  const sets = m.labelSets;
  if (rule !== 'multi-label' || !sets) return { rel: byClass, neighbours };
  const masks = (rows: Int32Array) => Uint32Array.from(rows, (r) => sets.masks[r]);
  const bySet = labelSetRelevance(masks(t.queryRows), masks(t.indexRows));
  const useSets = Uint8Array.from(t.queryRows, (r) => sets.multiLabel[r]);
  return { rel: perQueryRelevance(useSets, byClass, bySet), neighbours };
}

/** The declared multi-label datasets with queries in the table (empty: no multi-label row). */
function labelSetDatasetsOf(m: Manifest, t: KnnTable): string[] {
  const sets = m.labelSets;
  if (!sets) return [];
  const found = new Set<string>();
  for (const r of t.queryRows) if (sets.multiLabel[r]) found.add(m.datasets[m.datasetIndex[r]]);
  return sets.datasets.filter((d) => found.has(d));
}

/** Table 3-style ranking scores of one k-NN table (k ≤ the table's k). */
export function rankingScores(m: Manifest, t: KnnTable, k = 10, orders?: OrdinalOrders): RankingRow[] {
  const rules: RankingRow['relevance'][] = ['binary', 'hierarchical'];
  if (orders && Object.keys(orders).length) rules.push('ordinal');
  const labelSetDatasets = labelSetDatasetsOf(m, t);
  if (labelSetDatasets.length) rules.push('multi-label');
  const kk = Math.min(k, t.k);
  return rules.map((relevance) => {
    const { rel, neighbours } = tableRelevance(m, t, relevance, orders);
    // hits (mAP, recall, R-precision): same class, or intersecting label sets in the multi-label row
    const bin = relevance === 'multi-label' ? rel : tableRelevance(m, t, 'binary').rel;
    const ap = averagePrecisionAtK(neighbours, bin, kk);
    const nd = ndcgAtK(neighbours, rel, kk);
    const rp = rPrecision(neighbours, bin);
    const idx = labelsOf(m, t.indexRows);
    const mv = majorityVoteAccuracy(neighbours, labelsOf(m, t.queryRows), idx, m.classes.length, kk);
    return {
      relevance,
      k: kk,
      mapMicro: ap.micro,
      mapMacro: ap.macro,
      recallMicro: recallAtK(neighbours, bin, kk).micro,
      rPrecisionMicro: rp.micro,
      rPrecisionScored: rp.scored,
      ndcgMicro: nd.micro,
      ndcgMacro: nd.macro,
      majorityMicro: mv.micro,
      ...(relevance === 'ordinal' ? gradeFields(m, t, orders!) : {}),
      ...(relevance === 'multi-label' ? { labelSetDatasets } : {}),
    };
  });
}

function gradeFields(m: Manifest, t: KnnTable, orders: OrdinalOrders) {
  const e = gradeErrorOfTable(m, t, orders);
  return e ? { gradeMAE: e.meanAbsError, withinOneGrade: e.withinOne } : {};
}

/** Per-query [P@1, AP@k] of a table (Q × 2), the matrix the intervals and paired tests resample. */
function perQueryP1Map(m: Manifest, t: KnnTable, k: number): Float32Array {
  const { rel, neighbours } = tableRelevance(m, t, 'binary');
  const p = precisionAtN(neighbours, labelsOf(m, t.queryRows), labelsOf(m, t.indexRows), classCountsOf(m, t), {
    ns: [1],
    absentFromIndex: 'zero',
  });
  const ap = averagePrecisionAtK(neighbours, rel, Math.min(k, t.k));
  const out = new Float32Array(t.queryRows.length * 2);
  for (let q = 0; q < t.queryRows.length; q++) {
    out[2 * q] = p.perQuery[q];
    out[2 * q + 1] = Number.isFinite(ap.perQuery[q]) ? ap.perQuery[q] : 0;
  }
  return out;
}

function classCountsOf(m: Manifest, t: KnnTable): Int32Array {
  const counts = new Int32Array(m.classes.length);
  for (const r of t.indexRows) counts[m.classIndex[r]]++;
  return counts;
}

/** mAP@k (micro) of a table: the score every choice on val maximises. */
function valScore(m: Manifest, t: KnnTable, k: number): number {
  const { rel, neighbours } = tableRelevance(m, t, 'binary');
  return averagePrecisionAtK(neighbours, rel, Math.min(k, t.k)).micro;
}

export interface MethodRow {
  method: string;
  /** Parameters chosen on val ('' for plain search). */
  params: string;
  /** On val, the score the choice maximised (mAP@k micro). */
  valMap: number;
  p1: { estimate: number; lo: number; hi: number };
  map: { estimate: number; lo: number; hi: number };
  /** Against plain search on the same test queries (null for plain itself). */
  gainP1: { difference: number; lo: number; hi: number; pValue: number } | null;
  gainMap: { difference: number; lo: number; hi: number; pValue: number } | null;
}

export interface BeyondInput {
  manifest: Manifest;
  vectors: Float32Array;
  dim: number;
  tables: { test: KnnTable; val: KnnTable };
  k?: number;
  index?: IndexParams;
  replicates?: number;
  /** Adapter options, or false to skip the adapter. */
  adapter?: TrainAdapterOptions | false;
  log?: (line: string) => void;
}

interface Candidate {
  method: string;
  params: string;
  run(t: KnnTable): Promise<KnnTable>;
}

/** The parameter grids, searched on val (αQE / DBA as Radenović et al., k-reciprocal as Zhong et al.). */
function candidates(input: BeyondInput, self: KnnTable): Candidate[] {
  const { vectors, dim, index } = input;
  const out: Candidate[] = [];
  for (const n of [1, 2, 5, 10])
    for (const alpha of [0, 3])
      out.push({
        method: 'αQE',
        params: `n=${n} α=${alpha}`,
        run: (t) => queryExpansion(vectors, dim, t, { n, alpha }, index),
      });
  for (const n of [2, 5, 10])
    for (const alpha of [0, 3])
      out.push({
        method: 'DBA',
        params: `n=${n} α=${alpha}`,
        run: (t) => databaseAugmentation(vectors, dim, t, self, { n, alpha }, index),
      });
  for (const k1 of [10, 20])
    for (const k2 of [1, 3, 6])
      out.push({
        method: 'k-reciprocal',
        params: `k1=${k1} k2=${k2} λ=0.3`,
        run: async (t) => kReciprocalRerank(t, self, { k1, k2, lambda: 0.3 }),
      });
  return out.filter((c) => !/n=(\d+)/.test(c.params) || Number(/n=(\d+)/.exec(c.params)![1]) <= input.tables.test.k);
}

/** Each method's best parameters on val (mAP@k micro). */
async function chooseOnVal(
  input: BeyondInput,
  self: KnnTable,
  k: number,
): Promise<Map<string, { c: Candidate; val: number }>> {
  const best = new Map<string, { c: Candidate; val: number }>();
  for (const c of candidates(input, self)) {
    const val = valScore(input.manifest, await c.run(input.tables.val), k);
    const b = best.get(c.method);
    if (!b || val > b.val) best.set(c.method, { c, val });
  }
  return best;
}

/** A test table from adapted vectors: the adapter is fitted on train, stopped on val. */
async function adapterTable(
  input: BeyondInput,
  opts: TrainAdapterOptions,
): Promise<{ table: KnnTable; params: string; val: number }> {
  const { manifest: m, vectors, dim, tables } = input;
  const rows = (r: Int32Array) => {
    const x = new Float32Array(r.length * dim);
    r.forEach((row, i) => x.set(vectors.subarray(row * dim, (row + 1) * dim), i * dim));
    return { x, labels: labelsOf(m, r) };
  };
  const train = rows(tables.test.indexRows);
  const trained = trainAdapter(train, rows(tables.val.queryRows), dim, opts);
  const both = Int32Array.from([...tables.test.indexRows, ...tables.test.queryRows]);
  const adapted = trained.adapter.apply(rows(both).x);
  const table = await computeKnnTable({
    embeddings: adapted,
    dim,
    rowIds: both,
    indexRows: tables.test.indexRows,
    queryRows: tables.test.queryRows,
    k: tables.test.k,
    index: input.index,
  });
  const o = trained.options;
  return {
    table,
    params: `${o.kind}, epoch ${trained.bestEpoch}, τ=${o.temperature}`,
    val: trained.history[trained.bestEpoch].valP1,
  };
}

/** Plain search, the best αQE / DBA / k-reciprocal, and the adapter, scored on test with intervals. */
export async function rerankAndAdapt(input: BeyondInput): Promise<MethodRow[]> {
  const k = input.k ?? 10;
  const { manifest: m, tables } = input;
  const self = await computeKnnTable({
    embeddings: input.vectors,
    dim: input.dim,
    indexRows: tables.test.indexRows,
    queryRows: tables.test.indexRows,
    k: Math.min(20, tables.test.indexRows.length),
    index: input.index,
  });
  const chosen = await chooseOnVal(input, self, k);
  const runs: { method: string; params: string; valMap: number; table: KnnTable }[] = [
    { method: 'plain', params: '', valMap: valScore(m, tables.val, k), table: tables.test },
  ];
  for (const [method, { c, val }] of chosen) {
    input.log?.(`${method}: ${c.params} chosen on val (mAP@${k} ${val.toFixed(4)})`);
    runs.push({ method, params: c.params, valMap: val, table: await c.run(tables.test) });
  }
  if (input.adapter !== false) {
    const a = await adapterTable(input, input.adapter ?? {});
    runs.push({ method: 'adapter', params: a.params, valMap: NaN, table: a.table });
  }
  return scoreRuns(m, runs, k, input.replicates ?? STUDY_REPLICATES);
}

function scoreRuns(
  m: Manifest,
  runs: { method: string; params: string; valMap: number; table: KnnTable }[],
  k: number,
  replicates: number,
): MethodRow[] {
  const labels = labelsOf(m, runs[0].table.queryRows);
  const base = perQueryP1Map(m, runs[0].table, k);
  return runs.map((r, i) => {
    const pq = perQueryP1Map(m, r.table, k);
    const iv = bootstrapPrecision(pq, labels, { replicates: Math.max(1, replicates), seed: BOOTSTRAP_SEED });
    const gain = (column: number) => {
      if (i === 0) return null;
      const t = pairedPrecisionTest(pq, base, labels, {
        column,
        replicates: Math.max(1, replicates),
        seed: BOOTSTRAP_SEED,
      });
      return { difference: t.difference, lo: t.lo, hi: t.hi, pValue: t.pValue };
    };
    const ci = (j: number) => ({ estimate: iv.micro[j].estimate, lo: iv.micro[j].lo, hi: iv.micro[j].hi });
    return {
      method: r.method,
      params: r.params,
      valMap: r.valMap,
      p1: ci(0),
      map: ci(1),
      gainP1: gain(0),
      gainMap: gain(1),
    };
  });
}

/** Ranking metrics of every model (one row per model × relevance rule). */
export function rankingTable(perModel: { model: string; rows: RankingRow[] }[]): Table {
  const k = perModel[0]?.rows[0]?.k ?? RANKING_K;
  const ordinal = perModel.some((p) => p.rows.some((r) => r.relevance === 'ordinal'));
  const multi = [...new Set(perModel.flatMap((p) => p.rows.flatMap((r) => r.labelSetDatasets ?? [])))];
  return {
    title: `Ranking metrics beyond P@N (test queries, k = ${k})`,
    columns: [
      'model',
      'relevance',
      `mAP@${k}_micro`,
      `mAP@${k}_macro`,
      `recall@${k}`,
      'R-precision',
      'R-precision_queries',
      `nDCG@${k}_micro`,
      `nDCG@${k}_macro`,
      `majority@${k}`,
      'top1_grade_MAE',
      'top1_within_one_grade',
    ],
    rows: perModel.flatMap(({ model, rows }) =>
      rows.map((r) => [
        model,
        RELEVANCE_LABEL[r.relevance],
        r.mapMicro,
        r.mapMacro,
        r.recallMicro,
        r.rPrecisionMicro,
        r.rPrecisionScored,
        r.ndcgMicro,
        r.ndcgMacro,
        r.majorityMicro,
        r.gradeMAE ?? null,
        r.withinOneGrade ?? null,
      ]),
    ),
    notes: [
      "mAP, recall, R-precision and majority vote use the study's relevance (same class); nDCG uses the row's gains: hierarchical = 1 same class, 0.5 same modality and region, 0 otherwise.",
      "R-precision = P@R needs R ≤ the neighbours the k-NN table holds (100 in the study's setting): it averages only the queries whose class has at most that many index images (R-precision_queries).",
      ...(ordinal
        ? [
            'ordinal gains = 1 − |Δgrade| / (grades − 1) inside a scale declared in relevance.json, hierarchical otherwise; top1_grade_MAE and top1_within_one_grade: over queries whose class and top-1 neighbour are graded on the same scale.',
          ]
        : []),
      ...(multi.length ? [multiLabelNote(multi)] : []),
    ],
  };
}

/** The ranking table's note on the multi-label row. */
function multiLabelNote(datasets: string[]): string {
  return `multi-label (Jaccard): queries of the datasets declared multi-label in relevance.json (${datasets.join(', ')}) count an index image relevant when their label sets intersect (mAP, recall, R-precision) and gain the Jaccard index |A ∩ B| / |A ∪ B| (nDCG); majority vote and the other queries use the class. In the other rows (and in P@N) a multi-label image's class is its exact label set, MODALITY/region/a+b.`;
}

/** Re-ranking, query expansion and the adapter against plain search, with 95 % intervals and the paired test. */
export function rerankTable(perModel: { model: string; rows: MethodRow[] }[], k = 10): Table {
  const gain = (g: MethodRow['gainP1']) => (g ? [g.difference, g.lo, g.hi, g.pValue] : [null, null, null, null]);
  const adapter = perModel.some((p) => p.rows.some((r) => r.method === 'adapter'));
  return {
    title: `Re-ranking, query expansion${adapter ? ' and adapters' : ''} (test queries; parameters chosen on val)`,
    columns: [
      'model',
      'method',
      'params',
      'P@1',
      'P@1_lo',
      'P@1_hi',
      `mAP@${k}`,
      `mAP@${k}_lo`,
      `mAP@${k}_hi`,
      'gain_P@1',
      'gain_P@1_lo',
      'gain_P@1_hi',
      'p_P@1',
      `gain_mAP@${k}`,
      `gain_mAP@${k}_lo`,
      `gain_mAP@${k}_hi`,
      `p_mAP@${k}`,
    ],
    rows: perModel.flatMap(({ model, rows }) =>
      rows.map((r) => [
        model,
        r.method,
        r.params,
        r.p1.estimate,
        r.p1.lo,
        r.p1.hi,
        r.map.estimate,
        r.map.lo,
        r.map.hi,
        ...gain(r.gainP1),
        ...gain(r.gainMap),
      ]),
    ),
    notes: [
      'Micro averages; intervals are percentile bootstraps over test queries; gains are paired against plain search on the same queries, p from the sign-flip test.',
      `αQE: n ∈ {1, 2, 5, 10}, α ∈ {0, 3}; DBA: n ∈ {2, 5, 10}, α ∈ {0, 3}; k-reciprocal: k1 ∈ {10, 20}, k2 ∈ {1, 3, 6}, λ = 0.3; each chosen by val mAP.${adapter ? ' The adapter is fitted on train and stopped on val P@1.' : ''}`,
    ],
  };
}

/** `<manifest dir>/relevance.json`: how graded relevance is derived for this dataset. */
export interface RelevanceConfig {
  /** Label order per `MODALITY/region` (lowest grade first), for ordinal nDCG and the top-1 grade error. */
  ordinal?: Record<string, string[]>;
  /**
   * Datasets (the manifest's `dataset` column) whose rows may carry several labels; read by
   * `readManifest` (readMultiLabel), which keeps their multi-label rows with their label sets.
   */
  multiLabel?: string[];
}

/** Read `relevance.json` next to the manifest, or {} when there is none; a bad file is a clear error. */
export function readRelevanceConfig(manifestDir: string): RelevanceConfig {
  const file = join(manifestDir, 'relevance.json');
  if (!existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CbirError(`relevance.json is not valid JSON (${errorMessage(e)})`, {
      file,
      hint: 'write {"ordinal": {"XR/knee": ["0", "1", "2", "3", "4"]}}',
      code: 'benchmark/bad-relevance',
    });
  }
  const ordinal = (raw as RelevanceConfig).ordinal;
  const ok =
    ordinal === undefined ||
    (typeof ordinal === 'object' &&
      ordinal !== null &&
      Object.values(ordinal).every((o) => Array.isArray(o) && o.length >= 2 && o.every((l) => typeof l === 'string')));
  if (!ok) {
    throw new CbirError('relevance.json: "ordinal" must map "MODALITY/region" to a list of ≥ 2 labels', {
      file,
      hint: 'e.g. {"ordinal": {"XR/knee": ["0", "1", "2", "3", "4"]}}, labels lowest grade first',
      code: 'benchmark/bad-relevance',
    });
  }
  const multiLabel = readMultiLabel(manifestDir);
  return { ordinal, ...(multiLabel.length ? { multiLabel } : {}) };
}

/** Mean absolute grade error of the top-1 neighbour under the declared orders (null when none applies). */
export function gradeErrorOfTable(m: Manifest, t: KnnTable, orders: OrdinalOrders) {
  const scales = new Map<string, number>();
  const grade = new Int32Array(m.classes.length).fill(-1);
  const scale = new Int32Array(m.classes.length).fill(-1);
  m.classes.forEach((c, i) => {
    const g = ordinalGrade(c.name, orders);
    if (!g) return;
    if (!scales.has(g.scale)) scales.set(g.scale, scales.size);
    grade[i] = g.grade;
    scale[i] = scales.get(g.scale)!;
  });
  if (scales.size === 0) return null;
  return topOneGradeError(t.ids, labelsOf(m, t.queryRows), m.classIndex, grade, scale);
}

/** k of the report's ranking metrics (mAP@10, recall@10, nDCG@10). */
export const RANKING_K = 10;

/** Notes on the declared orders: a scale or a label that no class of the manifest has is said, not ignored silently. */
export function ordinalNotes(m: Manifest, orders: OrdinalOrders): string[] {
  const notes: string[] = [];
  for (const [scale, labels] of Object.entries(orders)) {
    const graded = m.classes.filter((c) => ordinalGrade(c.name, { [scale]: labels })).map((c) => c.name);
    if (graded.length === 0)
      notes.push(`relevance.json: no class is graded on "${scale}" (labels ${labels.join(', ')}); its order is unused`);
    else if (graded.length < labels.length)
      notes.push(`relevance.json: "${scale}" declares ${labels.length} grades, ${graded.length} of them are classes`);
  }
  return notes;
}

/** One model's results beyond the study, as the report gathers them. */
export interface BeyondModel {
  model: string;
  ranking: RankingRow[];
  /** Re-ranking rows, or null when re-ranking was not asked. */
  rerank: MethodRow[] | null;
}

/** The report's `beyond` field: the ranking table over every model and, when re-ranking ran, its table. */
export function beyondOfReport(perModel: BeyondModel[], orders: OrdinalOrders, notes: string[] = []): ReportBeyond {
  const k = perModel[0]?.ranking[0]?.k ?? RANKING_K;
  const reranked = perModel
    .filter((p): p is BeyondModel & { rerank: MethodRow[] } => p.rerank !== null)
    .map((p) => ({ model: p.model, rows: p.rerank }));
  const multiLabel = [...new Set(perModel.flatMap((p) => p.ranking.flatMap((r) => r.labelSetDatasets ?? [])))];
  return {
    version: BEYOND_VERSION,
    k,
    ordinal: Object.fromEntries(Object.entries(orders).map(([s, l]) => [s, [...l]])),
    ...(multiLabel.length ? { multiLabel } : {}),
    ranking: rankingTable(perModel.map((p) => ({ model: p.model, rows: p.ranking }))),
    rerank: reranked.length ? rerankTable(reranked, k) : null,
    notes,
  };
}
