/** Comparing models on the same queries: every pair, with Holm's correction over the pairs. */
import { CbirError } from '../errors.js';
import { pairedPrecisionTest } from '../metrics/index.js';
import { holmAdjust } from '../metrics/stats.js';
import type { Table } from '../tables/write.js';
import type { ModelEvaluation } from './evaluate.js';
import { BOOTSTRAP_SEED } from '../study.js';

/** The precision column of N, after checking there are two or more models scored on the same queries. */
function checkComparable(evals: readonly ModelEvaluation[], N: number): number {
  if (evals.length < 2)
    throw new CbirError('need at least two models to compare', {
      hint: 'evaluate two or more models',
      code: 'compare/one-model',
    });
  const column = evals[0].precision.ns.indexOf(N);
  if (column < 0)
    throw new CbirError(`N = ${N} is not one of the computed ranks (${Array.from(evals[0].precision.ns).join(', ')})`, {
      hint: 'use N = 1, 3, 5, 10, …',
      code: 'compare/bad-n',
    });
  const labels = evals[0].queryLabels;
  for (const e of evals) {
    if (e.queryLabels.length !== labels.length || e.queryLabels.some((c, i) => c !== labels[i])) {
      throw new CbirError(`model "${e.modelId}" was scored on other queries than "${evals[0].modelId}"`, {
        hint: 'compare models evaluated on the same manifest',
        code: 'compare/unpaired',
      });
    }
  }
  return column;
}

/**
 * Every pair of models compared on the same queries: difference of micro or macro P@N with a
 * paired bootstrap interval, the sign-flip p-value, and the Holm-adjusted p-value over all pairs
 * (so "significant" stays honest when many models are compared).
 */
export function pairwiseComparison(
  evals: readonly ModelEvaluation[],
  opts: {
    average?: 'micro' | 'macro';
    N?: number;
    replicates?: number;
    permutations?: number;
    seed?: number;
    alpha?: number;
  } = {},
): Table {
  const average = opts.average ?? 'micro';
  const N = opts.N ?? 1;
  const alpha = opts.alpha ?? 0.05;
  const column = checkComparable(evals, N);
  const labels = evals[0].queryLabels;
  const pairs: { a: ModelEvaluation; b: ModelEvaluation }[] = [];
  for (let i = 0; i < evals.length; i++)
    for (let j = i + 1; j < evals.length; j++) {
      const [a, b] =
        evals[i].precision[average][column] >= evals[j].precision[average][column]
          ? [evals[i], evals[j]]
          : [evals[j], evals[i]];
      pairs.push({ a, b });
    }
  const results = pairs.map(({ a, b }) =>
    pairedPrecisionTest(a.precision.perQuery, b.precision.perQuery, labels, {
      column,
      average,
      replicates: opts.replicates,
      permutations: opts.permutations,
      seed: opts.seed ?? BOOTSTRAP_SEED,
      alpha,
    }),
  );
  const holm = holmAdjust(results.map((r) => r.pValue));
  return {
    title: `All pairs: ${average} P@${N}, A − B on the same ${labels.length} queries`,
    columns: [
      'model_a',
      'model_b',
      'difference',
      'diff_lo',
      'diff_hi',
      'p_value',
      'p_holm',
      'differing_queries',
      'significant',
    ],
    rows: pairs.map(({ a, b }, k) => [
      a.modelId,
      b.modelId,
      results[k].difference,
      results[k].lo,
      results[k].hi,
      results[k].pValue,
      holm[k],
      results[k].nonZero,
      holm[k] < alpha ? 'yes' : 'no',
    ]),
    notes: [
      `interval: paired bootstrap over queries (${Math.round((1 - alpha) * 100)} %); p: two-sided sign-flip permutation test; p_holm: Holm-adjusted over the ${pairs.length} pairs; significant: p_holm < ${alpha}.`,
    ],
  };
}
