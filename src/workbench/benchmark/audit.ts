/**
 * `auditDataset`: the leakage audit of a manifest (data/audit.ts: same path, same bytes, near and
 * similar thumbnails) plus, when an embedding store is given, pairs of train and val/test images
 * whose embeddings have cosine ≥ a threshold, found with the exact search (the study's flat
 * inner product) of every val/test row against the train rows. Returns data.
 */
import { CbirError } from '../errors.js';
import { readManifest, type Manifest } from '../data/manifest.js';
import {
  auditManifest,
  countPairs,
  sortPairs,
  type AuditOptions,
  type AuditPair,
  type AuditResult,
} from '../data/audit.js';
import { openEmbeddings } from '../embeddings/index.js';
import { ExactIndex } from '../search/index.js';
import { manifestVectors } from './evaluate.js';

/** Default cosine threshold of the embedding audit. */
export const AUDIT_COSINE = 0.9999;
/** Neighbours asked per query; a query whose last one still passes the threshold is flagged as truncated. */
const AUDIT_K = 32;

export interface AuditDatasetOptions extends AuditOptions {
  /** Manifest folder (or CSV), or a Manifest already read. */
  data: string | Manifest;
  /** An embedding store of the manifest (rows in manifest order). */
  embeddings?: string;
  /** Cosine threshold (default 0.9999). */
  cosine?: number;
}

/**
 * Pairs of a train row and a val/test row whose unit embeddings have inner product ≥ `threshold`
 * (at most AUDIT_K per query; `truncated` counts queries that had more).
 */
export async function cosinePairs(
  m: Manifest,
  vectors: Float32Array,
  dim: number,
  threshold: number,
  querySplits: readonly ('val' | 'test')[] = ['val', 'test'],
): Promise<{ pairs: AuditPair[]; truncated: number }> {
  const train = m.indicesOf('train');
  const pairs: AuditPair[] = [];
  let truncated = 0;
  if (train.length === 0) return { pairs, truncated };
  const index = ExactIndex.build(vectors, dim, {}, { rows: train });
  try {
    for (const split of querySplits) {
      const rows = m.indicesOf(split);
      if (rows.length === 0) continue;
      const q = new Float32Array(rows.length * dim);
      rows.forEach((r, k) => q.set(vectors.subarray(r * dim, r * dim + dim), k * dim));
      const res = await index.search(q, AUDIT_K);
      for (let k = 0; k < rows.length; k++) {
        let c = 0;
        for (let j = 0; j < res.k; j++) {
          const sim = res.sims[k * res.k + j];
          if (!(sim >= threshold)) break;
          pairs.push({ kind: 'cosine', a: res.ids[k * res.k + j], b: rows[k], value: sim });
          c++;
        }
        if (c === res.k && res.k < train.length) truncated++;
      }
    }
  } finally {
    await index.close();
  }
  return { pairs, truncated };
}

/**
 * The leakage audit of a dataset: the content audit of its manifest (`auditManifest`) and, with
 * `embeddings`, the cosine pairs of that store. The store must hold the manifest's rows in order.
 */
export async function auditDataset(o: AuditDatasetOptions): Promise<AuditResult & { cosineTruncated: number }> {
  const m = typeof o.data === 'string' ? await readManifest(o.data) : o.data;
  const cosine = o.cosine ?? AUDIT_COSINE;
  if (!(cosine > -1 && cosine <= 1))
    throw new CbirError(`cosine threshold ${cosine} must be in (-1, 1]`, {
      hint: 'e.g. 0.9999 for near-identical embeddings',
      code: 'audit/bad-threshold',
    });
  const result = await auditManifest(m, o);
  if (!o.embeddings) return { ...result, cosineTruncated: 0 };
  const store = await openEmbeddings(o.embeddings);
  const vectors = await manifestVectors(
    store,
    m,
    'give the embeddings made from this manifest (the same rows in the same order)',
  );
  const c = await cosinePairs(m, vectors, store.dim, cosine, o.querySplits);
  const pairs = sortPairs([...result.pairs, ...c.pairs]);
  return {
    ...result,
    thresholds: { ...result.thresholds, cosine },
    pairs,
    counts: countPairs(m, pairs),
    cosineTruncated: c.truncated,
  };
}
