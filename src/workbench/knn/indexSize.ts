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

  const rowLabel = (r: number, what: string) => {
    const c = labels[r];
    if (c === undefined || !Number.isInteger(c) || c < 0)
      throw new CbirError(`${what} row ${r} has no class label`, {
        row: r + 2,
        hint: 'pass labels for every manifest row (manifest.classIndex)',
        code: 'knn/bad-input',
      });
    return c;
  };
  const byClass = (rows: Int32Array, what: string) => {
    const m = new Map<number, number[]>();
    for (let i = 0; i < rows.length; i++) {
      const c = rowLabel(rows[i], what);
      let a = m.get(c);
      if (!a) m.set(c, (a = []));
      a.push(rows[i]);
    }
    return m;
  };
  const idxBy = byClass(input.indexRows, 'index');
  const qBy = byClass(input.queryRows, 'query');
  const classes = [...idxBy.keys()]
    .filter((c) => idxBy.get(c)!.length >= T && (qBy.get(c)?.length ?? 0) >= Q)
    .sort((a, b) => a - b);
  if (classes.length === 0) {
    throw new CbirError(`no class has ≥ ${T} index and ≥ ${Q} query images`, {
      hint: 'lower minIndexPerClass / queriesPerClass, or use a larger dataset',
      code: 'knn/too-few-classes',
    });
  }

  // Fixed query set.
  const qrng = new Rng(input.querySeed ?? 0);
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
  const qEmb = embeddingRows(queryRows, n, input.rowIds, 'query');
  const queries = new Float32Array(qEmb.length * dim);
  for (let i = 0; i < qEmb.length; i++) queries.set(embeddings.subarray(qEmb[i] * dim, (qEmb[i] + 1) * dim), i * dim);

  const order = sizes.map((_, i) => i).sort((a, b) => sizes[a] - sizes[b]);
  const p1 = new Float64Array(sizes.length * seeds.length);
  const points: IndexSizePoint[] = [];
  const tracker = new ProgressTracker('index size ablation', sizes.length * seeds.length, input.onProgress, 'indices');
  const maxN = Math.max(...sizes);
  for (let si = 0; si < seeds.length; si++) {
    const rng = new Rng(seeds[si]);
    const shuffled = classes.map((c) => {
      const cand = Int32Array.from(idxBy.get(c)!).sort();
      rng.shuffle(cand);
      return cand.subarray(0, maxN);
    });
    for (const i of order) {
      const N = sizes[i];
      const rows = new Int32Array(N * classes.length);
      shuffled.forEach((cand, ci) => rows.set(cand.subarray(0, N), ci * N));
      const emb = embeddingRows(rows, n, input.rowIds, 'index');
      const index = ExactIndex.build(embeddings, dim, { threads: input.threads }, { rows: emb, ids: rows });
      const r = await index.search(queries, 1);
      await index.close();
      let hits = 0;
      for (let q = 0; q < queryRows.length; q++) if (labels[r.ids[q]] === queryLabels[q]) hits++;
      // P@1 micro = (1/|Q|) Σ_q [label(nn_1(q)) = label(q)]
      const v = hits / queryRows.length;
      p1[i * seeds.length + si] = v;
      points.push({ indexSize: N, seed: seeds[si], p1: v, indexImages: rows.length });
      tracker.add(1);
    }
  }
  tracker.finish();
  const mean = new Float64Array(sizes.length);
  const std = new Float64Array(sizes.length);
  const S = seeds.length;
  for (let i = 0; i < sizes.length; i++) {
    let m = 0;
    for (let s = 0; s < S; s++) m += p1[i * S + s];
    m /= S;
    let v = 0;
    for (let s = 0; s < S; s++) v += (p1[i * S + s] - m) ** 2;
    mean[i] = m;
    std[i] = S > 1 ? Math.sqrt(v / (S - 1)) : 0;
  }
  points.sort((a, b) => a.indexSize - b.indexSize || a.seed - b.seed);
  return { classes, queryRows, sizes, seeds, p1, mean, std, points };
}
