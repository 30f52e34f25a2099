/**
 * Index-size ablation (study Fig. 2): how retrieval precision grows with the number of index
 * images per class.
 *
 * Classes with at least `minIndexPerClass` index images (study: 3000) and at least
 * `queriesPerClass` query images take part. A fixed query set of `queriesPerClass` images per
 * class (study: 38) is drawn once from the query rows (seed `querySeed`). For each seed, each
 * class's index candidates are shuffled once and the index of size N holds the first N of every
 * class (so the indices of one seed are nested: N=10 contains N=5). Each index is searched
 * exactly (top-1 by cosine similarity, ties → lower row id) and scored by P@1 micro: the share
 * of queries whose nearest index image has the query's class. (With a single eligible class
 * P@1 is trivially 1.)
 *
 * Pure: the result depends only on the embeddings, labels, row lists, sizes and seeds.
 */
import { CbirError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { ExactIndex } from '../search/exact.js';
import { checkMatrix } from '../search/common.js';
import { embeddingRows } from './table.js';
import { STUDY_INDEX_SIZE } from '../study.js';

/** Inputs of the index-size ablation. */
export interface IndexSizeInput {
  /** Embeddings, row-major (rows × dim), L2-normalised. */
  embeddings: Float32Array;
  dim: number;
  /** Class of each manifest row (e.g. manifest.classIndex). */
  labels: ArrayLike<number>;
  /** Candidate index rows (manifest row ids; the train split). */
  indexRows: Int32Array;
  /** Candidate query rows (manifest row ids; the test split). */
  queryRows: Int32Array;
  /** Manifest row id of each embeddings row; default: embeddings row i is manifest row i. */
  rowIds?: Int32Array;
  /** T: classes need at least this many index candidates (study: 3000). */
  minIndexPerClass?: number;
  /** Q: fixed queries per class (study: 38). */
  queriesPerClass?: number;
  /** Index sizes N per class, ascending, each ≤ minIndexPerClass (study: 5 … 3000). */
  sizes?: number[];
  /** Seeds of the index draws; default [0, 1, 2, 3, 4]. */
  seeds?: number[];
  /** Seed of the query draw, default 0. */
  querySeed?: number;
  /** onnxruntime threads for the exact search. */
  threads?: number;
  onProgress?: ProgressListener;
}

/** One (N, seed) measurement. */
export interface IndexSizePoint {
  /** Index images per class. */
  indexSize: number;
  seed: number;
  /** P@1 micro over all queries: hits / queries. */
  p1: number;
  /** Total images in the index (indexSize × classes). */
  indexImages: number;
}

/** Result of the ablation. */
export interface IndexSizeResult {
  /** Class ids that took part, ascending. */
  classes: number[];
  /** The fixed queries (manifest row ids), grouped by class in `classes` order. */
  queryRows: Int32Array;
  sizes: number[];
  seeds: number[];
  /** P@1 micro, sizes × seeds (row i = sizes[i]). */
  p1: Float64Array;
  /** Mean P@1 over seeds per size. */
  mean: Float64Array;
  /** Sample standard deviation over seeds per size (0 for one seed). */
  std: Float64Array;
  points: IndexSizePoint[];
}

/** Default sizes: the study's range, 5 to 3000 per class. */
export const DEFAULT_INDEX_SIZES: readonly number[] = STUDY_INDEX_SIZE.sizes;

/** Run the ablation; see the module comment. */
export async function indexSizeAblation(input: IndexSizeInput): Promise<IndexSizeResult> {
  const { embeddings, dim, labels } = input;
  const n = checkMatrix('embeddings', embeddings, dim);
  const { T, Q, sizes, seeds } = ablationParameters(input);
  const idxBy = rowsByClass(input.indexRows, labels, 'index');
  const qBy = rowsByClass(input.queryRows, labels, 'query');
  const classes = eligibleClasses(idxBy, qBy, T, Q);
  const { queryRows, queryLabels } = drawQueries(classes, qBy, Q, input.querySeed ?? 0);
  const qEmb = embeddingRows(queryRows, n, input.rowIds, 'query');
  const queries = new Float32Array(qEmb.length * dim);
  for (let i = 0; i < qEmb.length; i++) queries.set(embeddings.subarray(qEmb[i] * dim, (qEmb[i] + 1) * dim), i * dim);

  const order = sizes.map((_, i) => i).sort((a, b) => sizes[a] - sizes[b]);
  const p1 = new Float64Array(sizes.length * seeds.length);
  const points: IndexSizePoint[] = [];
  const tracker = new ProgressTracker('index size ablation', sizes.length * seeds.length, input.onProgress, 'indices');
  const maxN = Math.max(...sizes);
  const search: SearchContext = { input, n, queries, queryRows, queryLabels };
  for (let si = 0; si < seeds.length; si++) {
    const rng = new Rng(seeds[si]);
    const shuffled = classes.map((c) => {
      const cand = Int32Array.from(idxBy.get(c)!).sort();
      rng.shuffle(cand);
      return cand.subarray(0, maxN);
    });
    for (const i of order) {
      const N = sizes[i];
      const { v, indexImages } = await precisionAt1(search, shuffled, N);
      p1[i * seeds.length + si] = v;
      points.push({ indexSize: N, seed: seeds[si], p1: v, indexImages });
      tracker.add(1);
    }
  }
  tracker.finish();
  const { mean, std } = meanStdOverSeeds(p1, sizes.length, seeds.length);
  points.sort((a, b) => a.indexSize - b.indexSize || a.seed - b.seed);
  return { classes, queryRows, sizes, seeds, p1, mean, std, points };
}

/** T, Q, sizes and seeds with their defaults, checked. */
function ablationParameters(input: IndexSizeInput): { T: number; Q: number; sizes: number[]; seeds: number[] } {
  const T = input.minIndexPerClass ?? STUDY_INDEX_SIZE.minIndexPerClass;
  const Q = input.queriesPerClass ?? STUDY_INDEX_SIZE.queriesPerClass;
  const sizes = input.sizes ?? DEFAULT_INDEX_SIZES.filter((s) => s <= T);
  const seeds = input.seeds ?? [0, 1, 2, 3, 4];
  const bad = (what: string, hint: string) => new CbirError(what, { hint, code: 'knn/bad-parameter' });
  if (!Number.isInteger(T) || T < 1)
    throw bad(`minIndexPerClass must be a positive integer, got ${T}`, 'the study uses 3000');
  if (!Number.isInteger(Q) || Q < 1)
    throw bad(`queriesPerClass must be a positive integer, got ${Q}`, 'the study uses 38');
  if (sizes.length === 0) throw bad('no index sizes given', 'pass sizes such as [5, 50, 500, 3000]');
  for (let i = 0; i < sizes.length; i++) {
    if (!Number.isInteger(sizes[i]) || sizes[i] < 1 || sizes[i] > T)
      throw bad(
        `index size ${sizes[i]} is not an integer in 1..${T}`,
        `sizes must not exceed minIndexPerClass (${T}): every class must be able to fill the index`,
      );
  }
  if (seeds.length === 0) throw bad('no seeds given', 'pass e.g. seeds: [0, 1, 2]');
  return { T, Q, sizes, seeds };
}

/** The class label of manifest row `r`; throws when it has none. */
function rowLabel(labels: ArrayLike<number>, r: number, what: string): number {
  const c = labels[r];
  if (c === undefined || !Number.isInteger(c) || c < 0)
    throw new CbirError(`${what} row ${r} has no class label`, {
      row: r + 2,
      hint: 'pass labels for every manifest row (manifest.classIndex)',
      code: 'knn/bad-input',
    });
  return c;
}

/** Rows grouped by class, in their given order. */
function rowsByClass(rows: Int32Array, labels: ArrayLike<number>, what: string): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (let i = 0; i < rows.length; i++) {
    const c = rowLabel(labels, rows[i], what);
    let a = m.get(c);
    if (!a) m.set(c, (a = []));
    a.push(rows[i]);
  }
  return m;
}

/** Classes (ascending) with at least T index and Q query candidates; throws when there are none. */
function eligibleClasses(idxBy: Map<number, number[]>, qBy: Map<number, number[]>, T: number, Q: number): number[] {
  const classes = [...idxBy.keys()]
    .filter((c) => idxBy.get(c)!.length >= T && (qBy.get(c)?.length ?? 0) >= Q)
    .sort((a, b) => a - b);
  if (classes.length === 0) {
    throw new CbirError(`no class has ≥ ${T} index and ≥ ${Q} query images`, {
      hint: 'lower minIndexPerClass / queriesPerClass, or use a larger dataset',
      code: 'knn/too-few-classes',
    });
  }
  return classes;
}

/** The fixed query set: Q rows per class, drawn once with `querySeed`, grouped by class. */
function drawQueries(
  classes: number[],
  qBy: Map<number, number[]>,
  Q: number,
  querySeed: number,
): { queryRows: Int32Array; queryLabels: Int32Array } {
  const qrng = new Rng(querySeed);
  const queryRows = new Int32Array(classes.length * Q);
  const queryLabels = new Int32Array(classes.length * Q);
  classes.forEach((c, ci) => {
    const cand = Int32Array.from(qBy.get(c)!).sort();
    qrng.shuffle(cand);
    for (let j = 0; j < Q; j++) {
      queryRows[ci * Q + j] = cand[j];
      queryLabels[ci * Q + j] = c;
    }
  });
  return { queryRows, queryLabels };
}

/** What every index of the ablation is searched with. */
interface SearchContext {
  input: IndexSizeInput;
  /** Rows of the embeddings matrix. */
  n: number;
  queries: Float32Array;
  queryRows: Int32Array;
  queryLabels: Int32Array;
}

/** Build the index of the first N shuffled candidates of every class, search it exactly and score P@1 micro. */
async function precisionAt1(
  ctx: SearchContext,
  shuffled: Int32Array[],
  N: number,
): Promise<{ v: number; indexImages: number }> {
  const { input, queryRows, queryLabels } = ctx;
  const rows = new Int32Array(N * shuffled.length);
  shuffled.forEach((cand, ci) => rows.set(cand.subarray(0, N), ci * N));
  const emb = embeddingRows(rows, ctx.n, input.rowIds, 'index');
  const index = ExactIndex.build(input.embeddings, input.dim, { threads: input.threads }, { rows: emb, ids: rows });
  const r = await index.search(ctx.queries, 1);
  await index.close();
  let hits = 0;
  for (let q = 0; q < queryRows.length; q++) if (input.labels[r.ids[q]] === queryLabels[q]) hits++;
  // P@1 micro = (1/|Q|) Σ_q [label(nn_1(q)) = label(q)]
  return { v: hits / queryRows.length, indexImages: rows.length };
}

/** Mean and sample standard deviation (0 for one seed) over the S seeds of each size (p1 is sizes × S). */
function meanStdOverSeeds(p1: Float64Array, nSizes: number, S: number): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(nSizes);
  const std = new Float64Array(nSizes);
  for (let i = 0; i < nSizes; i++) {
    let m = 0;
    for (let s = 0; s < S; s++) m += p1[i * S + s];
    m /= S;
    let v = 0;
    for (let s = 0; s < S; s++) v += (p1[i * S + s] - m) ** 2;
    mean[i] = m;
    std[i] = S > 1 ? Math.sqrt(v / (S - 1)) : 0;
  }
  return { mean, std };
}
