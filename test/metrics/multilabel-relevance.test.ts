/**
 * labelSetRelevance's R and ideal gains (from the index's mask histogram) against brute force,
 * perQueryRelevance's dispatch, and the ranking table's "multi-label (Jaccard)" row on a manifest
 * mixing a multi-label and a single-label dataset, against a hand computation from label names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classRelevance, labelSetRelevance } from '../../src/workbench/metrics/index.js';
import { perQueryRelevance } from '../../src/workbench/metrics/relevance.js';
import { Manifest, type ClassInfo, type ManifestEntry } from '../../src/workbench/data/manifest.js';
import { computeKnnTable } from '../../src/workbench/knn/table.js';
import { rankingScores, rankingTable } from '../../src/workbench/benchmark/beyond.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { CbirError } from '../../src/workbench/errors.js';

// per-query scores are stored as Float32
const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} vs ${b}`);

function bruteJaccard(a: number, b: number): number {
  const bits = (x: number) => [...Array(32).keys()].filter((i) => (x >>> i) & 1);
  const A = new Set(bits(a));
  const B = bits(b);
  const inter = B.filter((x) => A.has(x)).length;
  const union = new Set([...A, ...B]).size;
  return union === 0 ? 1 : inter / union;
}

test('labelSetRelevance: R and ideal gains equal brute force over the index', () => {
  const rng = new Rng(7);
  const index = Uint32Array.from({ length: 300 }, () => rng.int(16));
  const queries = Uint32Array.from({ length: 40 }, () => 1 + rng.int(15));
  const rel = labelSetRelevance(queries, index);
  const out = new Float64Array(12);
  for (let q = 0; q < queries.length; q++) {
    const g = Array.from(index, (m) => bruteJaccard(queries[q], m)).sort((a, b) => b - a);
    assert.equal(rel.relevantCount(q), g.filter((x) => x > 0).length);
    rel.idealGains(q, 12, out);
    g.slice(0, 12).forEach((x, j) => close(out[j], x, `ideal gain ${j} of query ${q}`));
    close(rel.gain(q, 5), bruteJaccard(queries[q], index[5]), 'gain');
  }
});

test('perQueryRelevance: each query uses its own relevance; groups do not collide', () => {
  const cls = classRelevance(Int32Array.of(0, 1), Int32Array.of(0, 1, 1), Int32Array.of(1, 2));
  const sets = labelSetRelevance(Uint32Array.of(0b01, 0b11), Uint32Array.of(0b10, 0b01, 0b100));
  const r = perQueryRelevance(Uint8Array.of(0, 1), cls, sets);
  assert.equal(r.relevantCount(0), 1, 'query 0: same class');
  assert.equal(r.relevantCount(1), 2, 'query 1: label sets intersect');
  assert.equal(r.relevant(1, 0), true);
  close(r.gain(1, 1), 0.5, 'Jaccard({a,b},{a})');
  assert.equal(r.nGroups, 4);
  assert.notEqual(r.group(0), r.group(1));
  assert.throws(
    () => perQueryRelevance(Uint8Array.of(0), cls, sets),
    (e) => e instanceof CbirError,
  );
});

// a multi-label chest dataset (labels a, b, c) and a single-label knee dataset in one manifest
const columns: ClassInfo[] = [
  ...['a', 'b', 'c'].map((label) => ({
    name: `XR/chest/${label}`,
    modality: 'XR',
    region: 'chest',
    label,
    kind: 'pathological' as const,
  })),
  ...['0', '1'].map((label) => ({
    name: `XR/knee/${label}`,
    modality: 'XR',
    region: 'knee',
    label,
    kind: 'pathological' as const,
  })),
];
const SETS = [['a'], ['b'], ['c'], ['a', 'b'], ['b', 'c'], ['a', 'b', 'c']];

test('rankingScores on a mixed manifest: the multi-label row scores chest queries by label sets, knee queries by class', async () => {
  const rng = new Rng(3);
  const dim = 6;
  const n = 260;
  const entries: ManifestEntry[] = [];
  const v = new Float32Array(n * dim);
  const labelsOf: string[][] = [];
  for (let i = 0; i < n; i++) {
    const knee = i % 4 === 3;
    const labels = knee ? [`XR/knee/${i % 8 < 4 ? 0 : 1}`] : SETS[rng.int(SETS.length)].map((l) => `XR/chest/${l}`);
    labelsOf.push(labels);
    entries.push({
      filepath: `${i}.png`,
      dataset: knee ? 'knee' : 'chest14',
      split: i % 5 === 0 ? 'test' : 'train',
      modality: 'XR',
      anatomicRegion: knee ? 'knee' : 'chest',
      className: labels.join('+'),
      ...(labels.length > 1 ? { labels } : {}),
    });
    for (const l of labels) v[i * dim + columns.findIndex((c) => c.name === l)] += 1;
    for (let d = 0; d < dim; d++) v[i * dim + d] += 0.6 * rng.normal();
  }
  const m = Manifest.fromEntries(entries, columns, { multiLabel: ['chest14'] });
  const t = await computeKnnTable({
    embeddings: v,
    dim,
    indexRows: m.indicesOf('train'),
    queryRows: m.indicesOf('test'),
    k: 20,
  });
  const rows = rankingScores(m, t, 10);
  assert.deepEqual(
    rows.map((r) => r.relevance),
    ['binary', 'hierarchical', 'multi-label'],
  );
  const ml = rows[2];
  assert.deepEqual(ml.labelSetDatasets, ['chest14']);

  // by hand, from the label names: chest queries relevant = shared label, gain Jaccard; knee = same class
  const ap: number[] = [];
  const rec: number[] = [];
  const nd: number[] = [];
  t.queryRows.forEach((q, qi) => {
    const isChest = entries[q].dataset === 'chest14';
    const gainOf = (r: number) => {
      const A = labelsOf[q];
      const B = labelsOf[r];
      if (!isChest) return A[0] === B[0] && B.length === 1 ? 1 : 0;
      const inter = A.filter((x) => B.includes(x)).length;
      return inter / new Set([...A, ...B]).size;
    };
    const gains = Array.from(t.indexRows, gainOf);
    const R = gains.filter((g) => g > 0).length;
    const top = Array.from(t.ids.subarray(qi * t.k, qi * t.k + 10));
    let hits = 0;
    let s = 0;
    let dcg = 0;
    top.forEach((id, j) => {
      const g = gainOf(id);
      if (g > 0) s += ++hits / (j + 1);
      dcg += (2 ** g - 1) / Math.log2(j + 2);
    });
    const ideal = gains.sort((a, b) => b - a).slice(0, 10);
    const idcg = ideal.reduce((acc, g, j) => acc + (2 ** g - 1) / Math.log2(j + 2), 0);
    ap.push(s / Math.min(10, R));
    rec.push(hits / R);
    nd.push(dcg / idcg);
  });
  const mean = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
  close(ml.mapMicro, mean(ap), 'mAP@10');
  close(ml.recallMicro, mean(rec), 'recall@10');
  close(ml.ndcgMicro, mean(nd), 'nDCG@10');
  assert.ok(Math.abs(ml.mapMicro - rows[0].mapMicro) > 1e-3, 'differs from the strict (exact label set) row');

  const table = rankingTable([{ model: 'm', rows }]);
  assert.equal(table.rows[2][1], 'multi-label (Jaccard)');
  assert.ok(
    table.notes!.some((x) =>
      x.startsWith('multi-label (Jaccard): queries of the datasets declared multi-label in relevance.json (chest14)'),
    ),
  );
});
