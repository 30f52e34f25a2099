import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CbirError } from '../../src/workbench/errors.js';
import {
  averagePrecisionAtK,
  classRelevance,
  hierarchicalGains,
  labelMasks,
  labelSetRelevance,
  majorityVoteAccuracy,
  ndcgAtK,
  ordinalGains,
  rPrecision,
  recallAtK,
  topOneGradeError,
} from '../../src/workbench/metrics/index.js';
import { classCounts } from '../../src/workbench/metrics/index.js';

const fx = JSON.parse(readFileSync(new URL('./fixtures/ranking.json', import.meta.url), 'utf8'));
const close = (a: number, b: number, msg: string, tol = 1e-6) =>
  assert.ok(Math.abs(a - b) <= tol, `${msg}: ${a} vs reference ${b}`);

test('AP over the full ranking and nDCG@k with graded gains match scikit-learn', () => {
  assert.ok(fx.cases.length >= 4);
  for (const [ci, c] of fx.cases.entries()) {
    const index = Int32Array.from(c.indexLabels);
    const queries = Int32Array.from(c.queryLabels);
    const K = index.length;
    const nb = Int32Array.from(c.neighbors.flat());
    const counts = classCounts(index, c.nClasses);
    const binary = classRelevance(queries, index, counts);
    const ap = averagePrecisionAtK(nb, binary, K);
    c.averagePrecision.forEach((v: number, q: number) => close(ap.perQuery[q], v, `case ${ci} AP q${q}`));
    const graded = classRelevance(queries, index, counts, Float32Array.from(c.gains));
    for (const [k, ref] of Object.entries(c.ndcg) as [string, number[]][]) {
      const nd = ndcgAtK(nb, graded, Number(k));
      ref.forEach((v, q) => close(nd.perQuery[q], v, `case ${ci} nDCG@${k} q${q}`));
    }
  }
});

// index: classes 0 0 1 1 1 2 ; query class 0 ranks [0, 2, 1, 3, 4, 5] → rel 1 0 1 0 0 0 (R = 2)
const index = Int32Array.of(0, 0, 1, 1, 1, 2);
const counts = classCounts(index, 3);

test('hand-worked AP@k, recall@k and R-precision', () => {
  const rel = classRelevance(Int32Array.of(0, 1), index, counts);
  const nb = Int32Array.of(0, 2, 1, 3, 4, 5, /* q1 (class 1, R = 3): */ 5, 2, 0, 3, 1, 4);
  const ap3 = averagePrecisionAtK(nb, rel, 3);
  close(ap3.perQuery[0], (1 / 1 + 2 / 3) / 2, 'AP@3 q0'); // P@1·1 + P@3·1, over min(3, 2)
  close(ap3.perQuery[1], 1 / 2 / 3, 'AP@3 q1'); // one hit at rank 2, over min(3, 3)
  close(averagePrecisionAtK(nb, rel, 1).perQuery[0], 1, 'AP@1 q0');
  close(recallAtK(nb, rel, 2).perQuery[0], 1 / 2, 'recall@2 q0');
  close(recallAtK(nb, rel, 6).perQuery[1], 1, 'recall@6 q1');
  const rp = rPrecision(nb, rel);
  close(rp.perQuery[0], 1 / 2, 'R-precision q0 (P@2)');
  close(rp.perQuery[1], 1 / 3, 'R-precision q1 (P@3)');
  close(ap3.micro, (ap3.perQuery[0] + ap3.perQuery[1]) / 2, 'mAP@3 micro');
});

test('micro weights queries, macro weights classes; undefined queries are left out', () => {
  // three class-0 queries hit at rank 1, one class-1 query misses; class 2 has no index image
  const idx = Int32Array.of(0, 1);
  const rel = classRelevance(Int32Array.of(0, 0, 0, 1, 2), idx, Int32Array.of(1, 1, 0));
  const nb = Int32Array.of(0, 1, 0, 1, 0, 1, 0, 1, 0, 1);
  const r = recallAtK(nb, rel, 1);
  assert.ok(Number.isNaN(r.perQuery[4]), 'a class absent from the index has no recall');
  assert.equal(r.scored, 4);
  close(r.micro, 3 / 4, 'micro');
  close(r.macro, (1 + 0) / 2, 'macro');
});

test('nDCG: a perfect ranking scores 1, a reversed one less; graded gains credit near misses', () => {
  const names = ['XR/knee/0', 'XR/knee/1', 'XR/knee/2', 'CT/chest/x'];
  const idx = Int32Array.of(0, 1, 2, 3);
  const c = classCounts(idx, 4);
  const hier = classRelevance(Int32Array.of(0), idx, c, hierarchicalGains(names));
  close(ndcgAtK(Int32Array.of(0, 1, 2, 3), hier, 4).perQuery[0], 1, 'ideal order');
  assert.ok(ndcgAtK(Int32Array.of(3, 2, 1, 0), hier, 4).perQuery[0] < 1);
  const ord = classRelevance(Int32Array.of(0), idx, c, ordinalGains(names, { 'XR/knee': ['0', '1', '2'] }));
  // top-1 = grade 1 (gain 0.5) beats top-1 = grade 2 (gain 0) under ordinal gains
  const near = ndcgAtK(Int32Array.of(1, 3, 0, 2), ord, 1).perQuery[0];
  const far = ndcgAtK(Int32Array.of(2, 3, 0, 1), ord, 1).perQuery[0];
  close(near, (2 ** 0.5 - 1) / 1, 'nDCG@1 of a one-grade miss');
  close(far, 0, 'nDCG@1 of a two-grade miss');
  // the study's binary relevance cannot tell them apart
  const bin = classRelevance(Int32Array.of(0), idx, c);
  assert.equal(ndcgAtK(Int32Array.of(1, 3, 0, 2), bin, 1).perQuery[0], 0);
});

test('hierarchical and ordinal gain matrices', () => {
  const names = ['MR/brain/glioma', 'MR/brain/normal', 'MR/knee/normal', 'CT/brain/normal'];
  const g = hierarchicalGains(names);
  assert.deepEqual(Array.from(g.subarray(0, 4)), [1, 0.5, 0, 0]);
  assert.equal(g[3 * 4 + 1], 0, 'another modality, same region: 0');
  const o = ordinalGains(['XR/knee/KL0', 'XR/knee/KL2', 'XR/knee/KL4'], {
    'XR/knee': ['KL0', 'KL1', 'KL2', 'KL3', 'KL4'],
  });
  close(o[1], 1 - 2 / 4, 'KL0 vs KL2');
  close(o[2], 0, 'KL0 vs KL4');
  assert.throws(
    () => ordinalGains(['XR/knee/a'], { 'XR/knee': ['a'] }),
    (e) => e instanceof CbirError && /at least two labels/.test(e.message),
  );
});

test('majority-vote accuracy@k and the top-1 grade error', () => {
  // q0 (class 0): top 3 = 1 0 0 → majority 0 ✓ ; q1 (class 1): 0 0 1 → majority 0 ✗
  const idx = Int32Array.of(0, 0, 1, 1);
  const nb = Int32Array.of(2, 0, 1, 0, 1, 2);
  const mv = majorityVoteAccuracy(nb, Int32Array.of(0, 1), idx, 2, 3);
  assert.deepEqual(Array.from(mv.perQuery), [1, 0]);
  assert.equal(majorityVoteAccuracy(nb, Int32Array.of(0, 1), idx, 2, 1).perQuery[0], 0, 'k = 1 is the top-1 class');
  // grades: class 0 = 0, class 1 = 2, same scale
  const e = topOneGradeError(Int32Array.of(2, 0), Int32Array.of(0, 1), idx, Int32Array.of(0, 2), Int32Array.of(0, 0));
  assert.equal(e.scored, 2);
  close(e.meanAbsError, 2, 'both off by two grades');
  assert.equal(e.withinOne, 0);
});

test('multi-label relevance: intersecting label sets are relevant, Jaccard is the gain', () => {
  const labels = ['effusion', 'nodule', 'mass'];
  const index = labelMasks([['effusion'], ['nodule', 'mass'], ['effusion', 'nodule'], []], labels);
  const queries = labelMasks([['effusion', 'nodule'], []], labels);
  const rel = labelSetRelevance(queries, index);
  assert.equal(rel.relevantCount(0), 3);
  assert.equal(rel.relevantCount(1), 1, 'an empty set matches only empty sets');
  close(rel.gain(0, 1), 1 / 3, 'Jaccard({e,n},{n,m})');
  const nb = Int32Array.of(2, 0, 1, 3, 3, 0, 1, 2);
  close(ndcgAtK(nb, rel, 4).perQuery[0], 1, 'gains 1, 1/2, 1/3, 0 in ideal order');
  close(averagePrecisionAtK(nb, rel, 4).perQuery[1], 1, 'the empty query finds the empty row first');
  assert.throws(
    () => labelMasks([['x']], labels),
    (e) => e instanceof CbirError && /not among/.test(e.message),
  );
});

test('bad input: k beyond the table, ids outside the index, gains outside [0, 1]', () => {
  const rel = classRelevance(Int32Array.of(0), index, counts);
  const isCode = (code: string) => (e: unknown) => e instanceof CbirError && e.code === code;
  assert.throws(() => recallAtK(Int32Array.of(0, 1), rel, 3), isCode('metrics/bad-argument'));
  assert.throws(() => recallAtK(Int32Array.of(0, 9), rel, 2), isCode('metrics/neighbor-out-of-range'));
  assert.throws(
    () => classRelevance(Int32Array.of(0), index, counts, new Float32Array(9).fill(2)),
    isCode('metrics/bad-argument'),
  );
});
