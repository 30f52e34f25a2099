import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chancePrecisionAtN,
  classCounts,
  majorityBaseline,
  precisionAtN,
  priorEntropy,
} from '../../src/workbench/metrics/index.js';
import { CbirError } from '../../src/workbench/errors.js';
import { Rng } from '../../src/workbench/util/rng.js';

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tolerance ${tol})`);

test('chance P@N on a hand case: n_c / M per query, micro over queries, macro over classes', () => {
  // index: 3 of class 0, 1 of class 1, 6 of class 2 (M = 10); queries of classes 0, 0, 1, 2
  const counts = Int32Array.from([3, 1, 6]);
  const q = Uint16Array.from([0, 0, 1, 2]);
  const s = chancePrecisionAtN(q, counts, { ns: [1, 5] });
  for (const t of [0, 1]) {
    close(s.micro[t], (0.3 + 0.3 + 0.1 + 0.6) / 4, 1e-12, 'micro');
    close(s.macro[t], (0.3 + 0.1 + 0.6) / 3, 1e-12, 'macro');
  }
  assert.equal(s.nClasses, 3);
  // textbook with N beyond the index: only M' = 10 neighbours exist, divided by N = 20
  const tb = chancePrecisionAtN(q, counts, { ns: [20], definition: 'textbook' });
  close(tb.micro[0], (3 + 3 + 1 + 6) / 4 / 20, 1e-12, 'textbook micro');
  // a query that is itself an index row: n' = n_c − 1 among M' = M − 1
  const self = chancePrecisionAtN(Uint16Array.of(0, 1), counts, { ns: [1], queryInIndex: Uint8Array.of(1, 1) });
  close(self.perQuery[0], 2 / 9, 1e-7, 'class 0 in the index');
  assert.equal(self.perQuery[1], 0, 'the only class-1 image is the query itself');
  assert.throws(
    () => chancePrecisionAtN(Uint16Array.of(1), Int32Array.of(3, 0), { queryInIndex: Uint8Array.of(1) }),
    (e: unknown) => e instanceof CbirError && e.code === 'metrics/bad-argument',
  );
});

/** Mean P@N (precisionAtN itself) over random rankings of the index. */
function monteCarlo(
  indexLabels: Uint16Array,
  queryLabels: Uint16Array,
  definition: 'study' | 'textbook',
  ns: number[],
  replicates: number,
  seed: number,
  selfRows?: Int32Array,
): { micro: Float64Array; macro: Float64Array } {
  const rng = new Rng(seed);
  const M = indexLabels.length,
    Q = queryLabels.length,
    K = Math.max(...ns);
  const counts = classCounts(indexLabels, Math.max(...indexLabels) + 1);
  const micro = new Float64Array(ns.length),
    macro = new Float64Array(ns.length);
  const perm = Int32Array.from({ length: M }, (_, i) => i);
  const neighbors = new Int32Array(Q * K);
  for (let r = 0; r < replicates; r++) {
    for (let q = 0; q < Q; q++) {
      rng.shuffle(perm);
      let j = 0;
      for (let i = 0; j < K; i++) if (!selfRows || perm[i] !== selfRows[q]) neighbors[q * K + j++] = perm[i];
    }
    const p = precisionAtN(neighbors, queryLabels, indexLabels, counts, { ns, definition });
    for (let t = 0; t < ns.length; t++) {
      micro[t] += p.micro[t] / replicates;
      macro[t] += p.macro[t] / replicates;
    }
  }
  return { micro, macro };
}

test('chance P@N equals the mean P@N over many random rankings (Monte Carlo, seeded), both definitions', () => {
  // long-tailed index (20 / 12 / 5 / 3 / 1) and queries of every class
  const indexLabels = Uint16Array.from([20, 12, 5, 3, 1].flatMap((n, c) => Array<number>(n).fill(c)));
  const queryLabels = Uint16Array.from([0, 0, 0, 1, 1, 2, 2, 3, 4, 4]);
  const counts = classCounts(indexLabels, 5);
  const ns = [1, 3, 5, 10];
  for (const definition of ['study', 'textbook'] as const) {
    const exact = chancePrecisionAtN(queryLabels, counts, { ns, definition });
    const mc = monteCarlo(indexLabels, queryLabels, definition, ns, 3000, 7);
    for (let t = 0; t < ns.length; t++) {
      close(mc.micro[t], exact.micro[t], 0.01, `${definition} micro P@${ns[t]}`);
      close(mc.macro[t], exact.macro[t], 0.01, `${definition} macro P@${ns[t]}`);
    }
  }
  // queries that are index rows, left out of their own neighbour lists
  const selfRows = Int32Array.from([0, 1, 20, 32, 37, 39]);
  const qSelf = Uint16Array.from(selfRows, (r) => indexLabels[r]);
  const exact = chancePrecisionAtN(qSelf, counts, {
    ns: [1, 5],
    queryInIndex: new Uint8Array(selfRows.length).fill(1),
  });
  const mc = monteCarlo(indexLabels, qSelf, 'study', [1, 5], 3000, 8, selfRows);
  for (let t = 0; t < 2; t++) close(mc.micro[t], exact.micro[t], 0.01, `in-index micro P@${[1, 5][t]}`);
  // and the formula is not trivially the class share of the queries
  assert.ok(Math.abs(exact.micro[0] - mc.micro[0]) < Math.abs(exact.micro[0] - 1 / 5));
});

test('majority baseline: the most frequent train class for every test image', () => {
  const train = Uint16Array.from([0, 0, 0, 1, 1, 2]);
  const testL = Uint16Array.from([0, 1, 2, 2]);
  const b = majorityBaseline(train, testL, 3);
  assert.equal(b.majorityClass, 0);
  close(b.trainShare, 0.5, 1e-12, 'train share');
  close(b.accuracy, 0.25, 1e-12, 'accuracy = test share of class 0');
  // class 0: precision 1/4, recall 1 → F1 0.4; the other classes 0 (sklearn zero_division = 0)
  close(b.macroF1, 0.4 / 3, 1e-12, 'macro F1');
  close(b.macroRecall, 1 / 3, 1e-12, 'macro recall');
  close(b.macroPrecision, 0.25 / 3, 1e-12, 'macro precision');
  close(b.macroAuroc, 0.5, 1e-12, 'constant scores: ROC AUC 0.5 per class');
  // ties go to the lowest class code, as argmax does
  assert.equal(majorityBaseline(Uint16Array.of(2, 1, 2, 1), Uint16Array.of(1, 2), 3).majorityClass, 1);
});

test('prior entropy: the cross-entropy of predicting the class shares', () => {
  close(priorEntropy([0, 1, 0, 1], 2), Math.log(2), 1e-12, 'two balanced classes');
  close(priorEntropy([0, 0, 0, 0], 3), 0, 1e-12, 'one class');
  close(priorEntropy([0, 0, 0, 1], 2), -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)), 1e-12, '3:1');
});
