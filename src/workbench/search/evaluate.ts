/**
 * The evaluation mode of an image search (`cbir search --eval`): the queries whose class is known
 * (their image is a row of a manifest) are scored on their hits with the ranking metrics of
 * metrics/ranking.ts and precision.ts — P@1, P@10 (the study's definition), mAP@10, recall@10,
 * R-precision, majority-vote accuracy@10 and nDCG@10 with hierarchical gains (1 same class, 0.5
 * same modality and region) — micro (over queries) and macro (over the queries' classes).
 *
 * R (the index images relevant to a query) is the count of the query's class among the index's
 * rows (rows.csv of the saved index), counting only the rows that pass the search's filter.
 * Queries of no known class are skipped and counted; queries of a class the index lacks count
 * (P@N 0; mAP, recall, R-precision and nDCG are undefined for them and left out of those means).
 */
import { resolve } from 'node:path';
import { CbirError } from '../errors.js';
import { readManifest, SPLITS, type Split } from '../data/manifest.js';
import {
  averagePrecisionAtK,
  classRelevance,
  hierarchicalGains,
  majorityVoteAccuracy,
  ndcgAtK,
  precisionAtN,
  rPrecision,
  recallAtK,
  type RankingScore,
} from '../metrics/index.js';
import { filterMask, type SearchFilter } from './filter.js';
import type { QueryFile, SearchHit, SearchResponse } from './query.js';
import type { IndexRows } from './rows.js';

/** k of the evaluation's metrics (P@10, mAP@10, …). */
export const EVAL_K = 10;
/** Neighbours an evaluated search asks for (R-precision scores the queries whose R fits). */
export const EVAL_DEPTH = 100;

/** A metric's means. */
export interface MetricMeans {
  micro: number;
  macro: number;
  /** Queries with a defined value (the ones averaged). */
  scored: number;
}

export const EVAL_METRICS = ['P@1', 'P@10', 'mAP@10', 'recall@10', 'R-precision', 'majority@10', 'nDCG@10'] as const;
export type EvalMetric = (typeof EVAL_METRICS)[number];

/** The evaluation of one ranking of a search's queries. */
export interface SearchEvaluation {
  /** Which hits were scored: the plain search's, or the re-ranked ones. */
  ranking: 'plain' | 'reranked';
  /** k of the @k metrics (EVAL_K = 10). */
  k: number;
  /** Neighbours per query that were scored (R-precision needs R ≤ depth). */
  depth: number;
  queries: number;
  /** Queries of a known class, scored. */
  scored: number;
  /** Queries skipped: no known class, or the image could not be searched. */
  skipped: number;
  /** Scored queries whose class has no image among the (filtered) index rows (R = 0). */
  absentFromIndex: number;
  metrics: Record<EvalMetric, MetricMeans>;
}

const means = (s: RankingScore): MetricMeans => ({ micro: s.micro, macro: s.macro, scored: s.scored });

/** Class codes of the index rows and queries: the index's class values, then query classes it lacks. */
function classCodes(rows: IndexRows, classes: readonly string[]) {
  const names = [...rows.columns.class.values];
  const code = new Map(names.map((n, i) => [n, i]));
  const queryLabels = Int32Array.from(classes, (c) => {
    if (!code.has(c)) code.set(c, names.push(c) - 1);
    return code.get(c)!;
  });
  return { names, queryLabels, indexLabels: Int32Array.from(rows.columns.class.codes) };
}

/** The neighbour table (queries × depth, index positions, −1 = none) of the hit lists. */
function neighbourTable(hits: readonly SearchHit[][], depth: number): Int32Array {
  const out = new Int32Array(hits.length * depth).fill(-1);
  hits.forEach((h, q) => h.slice(0, depth).forEach((x, j) => (out[q * depth + j] = x.row)));
  return out;
}

/**
 * Score a search's hits (`ranking` 'reranked': `results`; 'plain': the hits before re-ranking,
 * `plain`, where a re-ranker kept them). `rows` are the index's rows, `filter` the search's.
 */
export function evaluateSearch(
  response: SearchResponse,
  rows: IndexRows,
  opts: { ranking?: 'plain' | 'reranked'; filter?: SearchFilter } = {},
): SearchEvaluation {
  const ranking = opts.ranking ?? 'reranked';
  const used = response.queries.filter((q) => q.class && !q.error);
  const depth = response.k;
  const k = EVAL_K;
  if (depth < k)
    throw new CbirError(`the search holds ${depth} neighbours per query; the evaluation needs at least ${k}`, {
      hint: `search with at least ${k} neighbours per query (an evaluation searches ${EVAL_DEPTH})`,
      code: 'search/eval-depth',
    });
  const base = { ranking, k, depth, queries: response.queries.length, scored: used.length };
  const skipped = response.queries.length - used.length;
  if (used.length === 0)
    throw new CbirError(`none of the ${response.queries.length} queries has a known class to score`, {
      hint: "evaluate with the images of a manifest split, or images of the index's own manifest: their classes are known",
      code: 'search/eval-no-classes',
    });
  const { names, queryLabels, indexLabels } = classCodes(
    rows,
    used.map((q) => q.class!),
  );
  const mask = filterMask(rows, opts.filter ?? {});
  const counts = new Int32Array(names.length);
  indexLabels.forEach((c, p) => (mask && !mask.mask[p] ? undefined : counts[c]++));
  const hits = used.map((q) => (ranking === 'plain' ? (q.plain ?? q.results) : q.results));
  const nb = neighbourTable(hits, depth);
  const binary = classRelevance(queryLabels, indexLabels, counts);
  const graded = classRelevance(queryLabels, indexLabels, counts, hierarchicalGains(names));
  const p = precisionAtN(nb, queryLabels, indexLabels, counts, { ns: [1, k], absentFromIndex: 'zero' });
  const pn = (t: number): MetricMeans => ({ micro: p.micro[t], macro: p.macro[t], scored: used.length });
  return {
    ...base,
    skipped,
    absentFromIndex: queryLabels.filter((c) => counts[c] === 0).length,
    metrics: {
      'P@1': pn(0),
      'P@10': pn(1),
      'mAP@10': means(averagePrecisionAtK(nb, binary, k)),
      'recall@10': means(recallAtK(nb, binary, k)),
      'R-precision': means(rPrecision(nb, binary)),
      'majority@10': means(majorityVoteAccuracy(nb, queryLabels, indexLabels, names.length, k)),
      'nDCG@10': means(ndcgAtK(nb, graded, k)),
    },
  };
}

/** The query files of a manifest split, with each file's class (absolute file → class name). */
export async function manifestQueries(
  dir: string,
  split: string,
): Promise<{ files: QueryFile[]; classes: Map<string, string> }> {
  if (!(SPLITS as readonly string[]).includes(split))
    throw new CbirError(`unknown split "${split}"`, {
      hint: `use one of ${SPLITS.join(', ')}`,
      code: 'search/bad-split',
    });
  const m = await readManifest(resolve(dir));
  const rows = m.indicesOf(split as Split);
  if (rows.length === 0)
    throw new CbirError(`the manifest has no ${split} images`, {
      file: dir,
      hint: 'choose a split that has images',
      code: 'search/no-queries',
    });
  const files = Array.from(rows, (i) => ({ path: m.filepaths[i], file: m.resolvePath(i), explicit: true }));
  const classes = new Map(Array.from(rows, (i) => [m.resolvePath(i), m.entry(i).className] as const));
  return { files, classes };
}

/** The response with each query's class filled from `classes` where the search did not know it. */
export function withQueryClasses(response: SearchResponse, classes: ReadonlyMap<string, string>): SearchResponse {
  const queries = response.queries.map((q) => {
    const c = q.class ?? (q.file ? classes.get(q.file) : undefined);
    return c ? { ...q, class: c } : q;
  });
  return { ...response, queries };
}

/** The response as the user asked for it: the top k of each query, without the plain hits. */
export function topOfResponse(response: SearchResponse, k: number): SearchResponse {
  const queries = response.queries.map(({ plain: _plain, ...q }) => ({ ...q, results: q.results.slice(0, k) }));
  return { ...response, k, queries };
}
