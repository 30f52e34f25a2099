import type { Manifest } from '../data/manifest.js';
import {
  pairedPrecisionTest,
  probeMethod,
  type ChancePrecision,
  type ProbeFlag,
  type ProbeOutcome,
  type ClassificationSummary,
  type PrecisionAtN,
  type PrecisionBootstrap,
  type GroupPrecision,
  type PairedTestResult,
} from '../metrics/index.js';
import type { Table } from '../tables/write.js';
import type { ModelEvaluation } from './evaluate.js';
import type { ReportProbe } from '../report/types.js';
import { BOOTSTRAP_SEED, STUDY_NS } from '../study.js';
import { holmAdjust } from '../metrics/stats.js';

/** The study's P@N columns (Tables 3, 4, 9, 10 report N = 1, 3, 5, 10). */
export { STUDY_NS };

export const CLASSIFICATION_COLUMNS = [
  'micro_auroc',
  'macro_auroc',
  'micro_auprc',
  'macro_auprc',
  'micro_f1',
  'macro_f1',
  'macro_precision',
  'macro_recall',
  'accuracy',
] as const;

export function classificationRow(s: ClassificationSummary): number[] {
  return [
    s.microAuroc,
    s.macroAuroc,
    s.microAveragePrecision,
    s.macroAveragePrecision,
    s.microF1,
    s.macroF1,
    s.macroPrecision,
    s.macroRecall,
    s.accuracy,
  ];
}

function col(p: PrecisionAtN, N: number): number {
  const t = p.ns.indexOf(N);
  return t;
}

/** Table notes on the baseline rows. */
const CHANCE_NOTE =
  'chance = expected P@N of a random ranking of the index under the same definition (for a query of class c: index images of c / index size), micro over queries and macro over classes.';
const MAJORITY_NOTE =
  'majority = the most frequent train class predicted for every test image (scores = train class shares).';

/**
 * precision_at_n: one row per N with micro and macro P@N and their bootstrap intervals, and the
 * chance level (columns chance_micro, chance_macro) when given.
 */
export function precisionAtNTable(
  modelId: string,
  p: PrecisionAtN,
  ci: PrecisionBootstrap | null,
  chance?: ChancePrecision | null,
): Table {
  const rows: (string | number | null)[][] = [];
  for (let t = 0; t < p.ns.length; t++) {
    const ciCol = ci ? Array.from(ci.columns).indexOf(t) : -1;
    const mi = ciCol >= 0 ? ci!.micro[ciCol] : null;
    const ma = ciCol >= 0 ? ci!.macro[ciCol] : null;
    const row = [p.ns[t], p.micro[t], mi?.lo ?? null, mi?.hi ?? null, p.macro[t], ma?.lo ?? null, ma?.hi ?? null];
    if (chance) row.push(chance.micro[t], chance.macro[t]);
    rows.push(row);
  }
  const notes = [
    ...(ci ? [`95 % percentile bootstrap intervals over queries (${ci.replicates} replicates).`] : []),
    ...(chance ? [CHANCE_NOTE.replace('chance =', 'chance_micro / chance_macro =')] : []),
  ];
  return {
    title: `Precision at N (${modelId}, ${p.definition} definition, ${p.nQueries} queries, ${p.nClasses} classes)`,
    columns: [
      'N',
      'micro',
      'micro_lo',
      'micro_hi',
      'macro',
      'macro_lo',
      'macro_hi',
      ...(chance ? ['chance_micro', 'chance_macro'] : []),
    ],
    rows,
    notes: notes.length ? notes : undefined,
  };
}

/** k-NN classification of one model (knn_classification.csv), with the majority-class row. */
export function knnClassificationTable(e: ModelEvaluation): Table {
  const majority = e.baselines?.majority;
  return {
    title: `k-NN classification (${e.modelId})`,
    columns: ['model', 'k', ...CLASSIFICATION_COLUMNS],
    rows: [
      [e.modelId, e.knn.k, ...classificationRow(e.knn)],
      ...(majority ? [['majority', null, ...classificationRow(majority)]] : []),
    ],
    notes: majority ? [MAJORITY_NOTE] : undefined,
  };
}

/** What each probe flag means, for table notes and summary.md. */
export const PROBE_FLAG_TEXT: Record<ProbeFlag, string> = {
  single_class: 'predicts one class for every test image',
  iteration_cap: 'stopped at its iteration or epoch cap, not by converging or early stopping',
  line_search: 'L-BFGS found no step that lowers the loss (not converged)',
  majority_level: 'test accuracy no higher than the majority-class baseline',
  prior_level: 'train cross-entropy no lower than predicting the class shares: it learnt nothing beyond the prior',
};

/** How a probe stopped: L-BFGS's reason, or 'early stopping' / 'epoch cap' for the study's protocol. */
function probeStop(p: ProbeOutcome): string {
  if (p.protocol === 'logistic') return p.status;
  return p.stoppedEarly ? 'early stopping' : 'epoch cap';
}

/** The probes of one model (linear_probing.csv): one row per protocol run, then the majority-class row; null when skipped. */
export function probeTable(e: ModelEvaluation): Table | null {
  const probes = e.probes ?? (e.probe ? [e.probe] : []);
  if (probes.length === 0) return null;
  const rows: (string | number | null)[][] = probes.map((p) => [
    e.modelId,
    probeMethod(p.protocol),
    p.protocol === 'logistic' ? p.C : null,
    p.protocol === 'study' ? p.bestEpoch + 1 : null,
    p.protocol === 'logistic' ? p.iterations : p.epochsRun,
    p.protocol === 'logistic' ? p.maxIter : p.maxEpochs,
    probeStop(p),
    p.bestValAccuracy,
    p.flags.join(' '),
    ...classificationRow(p.metrics),
  ]);
  const majority = e.baselines?.majority;
  if (majority)
    rows.push(['majority', 'majority_class', null, null, null, null, '', null, '', ...classificationRow(majority)]);
  return {
    title: `Linear probing (${e.modelId})`,
    columns: [
      'model',
      'method',
      'C',
      'best_epoch',
      'steps',
      'max_steps',
      'stop',
      'best_val_accuracy',
      'flags',
      ...CLASSIFICATION_COLUMNS,
    ],
    rows,
    notes: [
      "linear_probe: multinomial logistic regression on standardised embeddings (train mean/std), L2 penalty C chosen on val accuracy, L-BFGS (steps = iterations); linear_probe_study: the study's AdamW protocol (steps = epochs, best_epoch chosen on val accuracy).",
      ...(majority ? [MAJORITY_NOTE] : []),
    ],
  };
}

/** The typed probe lines of a report model: method, protocol, flags, what was chosen. */
export function probeSummaries(e: ModelEvaluation): ReportProbe[] {
  return (e.probes ?? []).map((p) => ({
    method: probeMethod(p.protocol),
    protocol: p.protocol,
    flags: [...p.flags],
    accuracy: p.metrics.accuracy,
    setting: p.protocol === 'logistic' ? `C = ${p.C}` : `best epoch ${p.bestEpoch + 1}`,
    steps: p.protocol === 'logistic' ? p.iterations : p.epochsRun,
    maxSteps: p.protocol === 'logistic' ? p.maxIter : p.maxEpochs,
  }));
}

/** Table 3: overall P@1/3/5/10, micro and macro, with 95 % intervals. */
export function retrievalTable(evals: ModelEvaluation[]): Table {
  const columns = [
    'model',
    ...STUDY_NS.map((n) => `micro_p${n}`),
    ...STUDY_NS.map((n) => `macro_p${n}`),
    'micro_p1_lo',
    'micro_p1_hi',
    'macro_p1_lo',
    'macro_p1_hi',
    'queries',
  ];
  const rows = evals.map((e) => {
    const ci = e.intervals;
    const c0 = ci ? Array.from(ci.columns).indexOf(col(e.precision, 1)) : -1;
    return [
      e.modelId,
      ...STUDY_NS.map((n) => e.precision.micro[col(e.precision, n)] ?? NaN),
      ...STUDY_NS.map((n) => e.precision.macro[col(e.precision, n)] ?? NaN),
      c0 >= 0 ? ci!.micro[c0].lo : null,
      c0 >= 0 ? ci!.micro[c0].hi : null,
      c0 >= 0 ? ci!.macro[c0].lo : null,
      c0 >= 0 ? ci!.macro[c0].hi : null,
      e.precision.nQueries,
    ];
  });
  const chance = evals[0]?.baselines?.chance;
  if (chance) {
    const at = (n: number) => Array.from(chance.ns).indexOf(n);
    rows.push([
      'chance',
      ...STUDY_NS.map((n) => chance.micro[at(n)] ?? NaN),
      ...STUDY_NS.map((n) => chance.macro[at(n)] ?? NaN),
      null,
      null,
      null,
      null,
      chance.nQueries,
    ]);
  }
  return {
    title: 'Table 3: retrieval precision (P@N, micro and macro)',
    columns,
    rows,
    notes: chance ? [CHANCE_NOTE] : undefined,
  };
}

function groupTable(
  title: string,
  evals: ModelEvaluation[],
  names: string[],
  pick: (e: ModelEvaluation) => GroupPrecision[],
  chance?: GroupPrecision[],
): Table {
  const present = names.map((_, g) => evals.some((e) => pick(e)[g]?.nQueries > 0));
  const used = names.filter((_, g) => present[g]);
  const columns = [
    'model',
    ...used.map((n) => `micro_p1_${n}`),
    'micro_p1_avg',
    ...used.map((n) => `macro_p1_${n}`),
    'macro_p1_avg',
  ];
  const rows = evals.map((e) => {
    const gs = pick(e).filter((_, g) => present[g]);
    const micro = gs.map((g) => g.micro[0]);
    const macro = gs.map((g) => g.macro[0]);
    return [e.modelId, ...micro, e.precision.micro[0], ...macro, e.precision.macro[0]];
  });
  const all = evals[0]?.baselines?.chance;
  if (chance && all) {
    const gs = chance.filter((_, g) => present[g]);
    rows.push(['chance', ...gs.map((g) => g.micro[0]), all.micro[0], ...gs.map((g) => g.macro[0]), all.macro[0]]);
  }
  const countRow = [
    'queries',
    ...used.map((_, i) => (evals[0] ? pick(evals[0]).filter((_, g) => present[g])[i].nQueries : 0)),
    evals[0]?.precision.nQueries ?? 0,
    ...used.map(() => null),
    null,
  ];
  return {
    title,
    columns,
    rows: [...rows, countRow],
    notes: [
      'P@1 per group; avg = over all queries (micro) or all classes (macro), as in the study.',
      ...(chance && all ? [CHANCE_NOTE] : []),
    ],
  };
}

/** Table 4: P@1 micro and macro per modality. */
export function modalityTable(evals: ModelEvaluation[], m: Manifest): Table {
  return groupTable(
    'Table 4: P@1 per modality',
    evals,
    m.modalities,
    (e) => e.byModality,
    evals[0]?.baselines?.chanceByModality,
  );
}

/** Table 10: P@1 micro and macro per source dataset. */
export function datasetTable(evals: ModelEvaluation[], m: Manifest): Table {
  return groupTable(
    'Table 10: P@1 per source dataset',
    evals,
    m.datasets,
    (e) => e.byDataset,
    evals[0]?.baselines?.chanceByDataset,
  );
}

/** Table 9: micro P@1 per modality for anatomical and pathological classes, with class and sample counts. */
export function anatomyPathologyTable(
  evals: ModelEvaluation[],
  m: Manifest,
  queryRowsLabels: {
    classes: Int32Array;
    samples: Int32Array;
    classesAll: [number, number];
    samplesAll: [number, number];
  },
): Table {
  const names: string[] = [];
  m.modalities.forEach((mod) => {
    names.push(`${mod}_anat`, `${mod}_path`);
  });
  const present = names.map((_, g) => queryRowsLabels.samples[g] > 0);
  const used = names.filter((_, g) => present[g]);
  const columns = ['model', ...used, 'AVG_anat', 'AVG_path', 'AVG'];
  const rows: (string | number | null)[][] = [
    [
      'classes',
      ...names.map((_, g) => queryRowsLabels.classes[g]).filter((_, g) => present[g]),
      queryRowsLabels.classesAll[0],
      queryRowsLabels.classesAll[1],
      queryRowsLabels.classesAll[0] + queryRowsLabels.classesAll[1],
    ],
    [
      'samples',
      ...names.map((_, g) => queryRowsLabels.samples[g]).filter((_, g) => present[g]),
      queryRowsLabels.samplesAll[0],
      queryRowsLabels.samplesAll[1],
      queryRowsLabels.samplesAll[0] + queryRowsLabels.samplesAll[1],
    ],
  ];
  const kindRow = (
    name: string,
    groups: GroupPrecision[],
    p: { perQuery: Float32Array; ns: Int32Array; micro: Float64Array },
    labels: Uint16Array,
  ) => {
    const gs = groups.filter((_, g) => present[g]);
    // AVG_anat / AVG_path: micro P@1 over all anatomical / pathological queries.
    let sa = 0,
      na = 0,
      sp = 0,
      np = 0;
    const P1 = p.perQuery;
    const W = p.ns.length;
    for (let q = 0; q < labels.length; q++) {
      const anat = m.classes[labels[q]].kind === 'anatomical';
      if (anat) {
        sa += P1[q * W];
        na++;
      } else {
        sp += P1[q * W];
        np++;
      }
    }
    rows.push([name, ...gs.map((g) => g.micro[0]), na ? sa / na : NaN, np ? sp / np : NaN, p.micro[0]]);
  };
  for (const e of evals) kindRow(e.modelId, e.byModalityKind, e.precision, e.queryLabels);
  const b = evals[0]?.baselines;
  if (b) kindRow('chance', b.chanceByModalityKind, b.chance, evals[0].queryLabels);
  return {
    title: 'Table 9: micro P@1 per modality, anatomical vs pathological classes',
    columns,
    rows,
    notes: b ? [CHANCE_NOTE] : undefined,
  };
}

/**
 * Table 5: embedding quality by k-NN classification and linear probing. One row per model and
 * method (`knn`, `linear_probe` = the default logistic-regression probe, `linear_probe_study` =
 * the study's AdamW protocol), then the majority-class row; `flags` marks degenerate probes.
 */
export function embeddingQualityTable(evals: ModelEvaluation[]): Table {
  const columns = ['model', 'method', 'k_or_epoch', ...CLASSIFICATION_COLUMNS, 'C', 'flags'];
  const rows: (string | number | null)[][] = [];
  const flagged: string[] = [];
  for (const e of evals) {
    rows.push([e.modelId, 'knn', e.knn.k, ...classificationRow(e.knn), null, '']);
    for (const p of e.probes ?? (e.probe ? [e.probe] : [])) {
      const method = probeMethod(p.protocol);
      const kOrEpoch = p.protocol === 'study' ? p.bestEpoch + 1 : null;
      const C = p.protocol === 'logistic' ? p.C : null;
      rows.push([e.modelId, method, kOrEpoch, ...classificationRow(p.metrics), C, p.flags.join(' ')]);
      if (p.flags.length) flagged.push(`${e.modelId} ${method}: ${p.flags.map((f) => PROBE_FLAG_TEXT[f]).join('; ')}`);
    }
  }
  const majority = evals[0]?.baselines?.majority;
  if (majority) rows.push(['majority', 'majority_class', null, ...classificationRow(majority), null, '']);
  const protocols = new Set(evals.flatMap((e) => (e.probes ?? []).map((p) => p.protocol)));
  return {
    title: 'Table 5: embedding quality (k-NN classification and linear probing)',
    columns,
    rows,
    notes: [
      "auroc = one-vs-rest ROC AUC (what the study's code computes for the column its table calls AURPC); auprc = average precision. k chosen on val by micro F1.",
      ...(protocols.has('logistic')
        ? [
            'linear_probe: multinomial logistic regression on standardised embeddings (train mean/std), L2 penalty C (column C) chosen on val accuracy, solved with L-BFGS.',
          ]
        : []),
      ...(protocols.has('study')
        ? [
            "linear_probe_study: the study's protocol (AdamW, lr 1e-3, batch 512, ≤ 100 epochs, patience 20); k_or_epoch = the epoch chosen on val accuracy.",
          ]
        : []),
      ...(majority ? [MAJORITY_NOTE] : []),
      ...(flagged.length ? [`Flagged probes — ${flagged.join(' · ')}.`] : []),
    ],
  };
}

/**
 * Paired comparison of every model against the best one by micro P@1, at P@1 micro and macro.
 * "significant" uses Holm's correction over all the rows, so it stays honest with many models
 * (the notebooks' `pairwiseComparison` applies the same correction).
 */
export function comparisonTable(
  rows: { a: string; b: string; average: 'micro' | 'macro'; N: number; r: PairedTestResult }[],
  alpha = 0.05,
): Table {
  const holm = holmAdjust(rows.map((x) => x.r.pValue));
  return {
    title: 'Paired comparison (same queries): is the difference real?',
    columns: [
      'model_a',
      'model_b',
      'average',
      'N',
      'difference',
      'diff_lo',
      'diff_hi',
      'p_value',
      'p_holm',
      'differing_queries',
      'significant',
    ],
    rows: rows.map(({ a, b, average, N, r }, i) => [
      a,
      b,
      average,
      N,
      r.difference,
      r.lo,
      r.hi,
      r.pValue,
      holm[i],
      r.nonZero,
      holm[i] < alpha ? 'yes' : 'no',
    ]),
    notes: [
      `difference = A − B; interval = paired bootstrap over queries (95 %); p = two-sided sign-flip permutation test; p_holm = Holm-adjusted over the ${rows.length} comparisons; significant: p_holm < ${alpha}.`,
    ],
  };
}

/** Fig. 5 data: per-class P@1 against index images of the class, anatomical and pathological. */
export function perClassTable(evals: ModelEvaluation[], m: Manifest): Table {
  const rows: (string | number | null)[][] = [];
  const indexSize = m.indicesOf('train').length;
  for (const e of evals)
    for (const r of e.perClass)
      rows.push([
        e.modelId,
        m.classes[r.classCode].name,
        r.kind,
        r.indexCount,
        r.nQueries,
        r.precision,
        r.indexCount / indexSize,
      ]);
  return {
    title: 'Per-class P@1 against index size (Fig. 5)',
    columns: ['model', 'class', 'kind', 'index_images', 'queries', 'p1', 'chance_p1'],
    rows,
    notes: ['chance_p1 = expected P@1 of a random ranking: index images of the class / index size.'],
  };
}

/** Fig. 2 data: P@1 micro against index images per class (mean ± std over seeds); the note names the classes used. */
export function indexSizeTable(evals: ModelEvaluation[], manifest?: Manifest): Table {
  const rows: (string | number | null)[][] = [];
  for (const e of evals) {
    const r = e.indexSize;
    if (!r) continue;
    r.sizes.forEach((n, i) =>
      rows.push([e.modelId, n, r.mean[i], r.std[i], r.seeds.length, r.classes.length, 1 / r.classes.length]),
    );
  }
  return {
    title: 'Index-size ablation: P@1 micro against index images per class (Fig. 2)',
    columns: ['model', 'index_per_class', 'p1_mean', 'p1_std', 'seeds', 'classes', 'chance_p1'],
    rows,
    notes: indexSizeClassesNote(evals, manifest),
  };
}

/** "Classes used (3 of 5, 38 test queries each): …" — the same for every model (they depend on the split counts only). */
function indexSizeClassesNote(evals: ModelEvaluation[], manifest?: Manifest): string[] | undefined {
  const r = evals.find((e) => e.indexSize)?.indexSize;
  if (!r || !manifest || r.classes.length === 0) return undefined;
  const q = Math.round(r.queryRows.length / r.classes.length);
  const names = r.classes.map((c) => manifest.classes[c].name);
  return [
    `Classes used (${r.classes.length} of ${manifest.classes.length}, ${q} test ${q === 1 ? 'query' : 'queries'} each): ${names.join(', ')}.`,
  ];
}

/** The study's tables (3, 4, 5, 9, 10, Fig. 2 and 5 data, paired comparisons) over several evaluations of one manifest. */
export function studyTables(evaluations: ModelEvaluation[], manifest: Manifest): Record<string, Table> {
  // Table 9 counts: classes and samples per modality × kind among the scored test queries.
  const G = manifest.modalities.length * 2;
  const classes = new Int32Array(G),
    samples = new Int32Array(G);
  const seen = new Set<number>();
  const byKind: [Set<number>, Set<number>] = [new Set(), new Set()];
  const samplesAll: [number, number] = [0, 0];
  const labels = evaluations[0].queryLabels;
  for (let q = 0; q < labels.length; q++) {
    const c = labels[q];
    const info = manifest.classes[c];
    const kind = info.kind === 'anatomical' ? 0 : 1;
    const g = manifest.modalities.indexOf(info.modality) * 2 + kind;
    if (g >= 0) {
      samples[g]++;
      if (!seen.has(c)) {
        seen.add(c);
        classes[g]++;
      }
    }
    byKind[kind].add(c);
    samplesAll[kind]++;
  }
  const tables: Record<string, Table> = {
    table3_retrieval: retrievalTable(evaluations),
    table4_modality: modalityTable(evaluations, manifest),
    table9_anatomy_pathology: anatomyPathologyTable(evaluations, manifest, {
      classes,
      samples,
      classesAll: [byKind[0].size, byKind[1].size],
      samplesAll,
    }),
    table10_dataset: datasetTable(evaluations, manifest),
    table5_embedding_quality: embeddingQualityTable(evaluations),
    per_class_p1: perClassTable(evaluations, manifest),
    index_size: indexSizeTable(evaluations, manifest),
  };
  if (evaluations.length > 1) {
    const best = [...evaluations].sort((a, b) => b.precision.micro[0] - a.precision.micro[0])[0];
    const rows = [];
    for (const e of evaluations) {
      if (e === best) continue;
      for (const average of ['micro', 'macro'] as const) {
        rows.push({
          a: best.modelId,
          b: e.modelId,
          average,
          N: 1,
          r: pairedPrecisionTest(best.precision.perQuery, e.precision.perQuery, best.queryLabels, {
            column: 0,
            average,
            seed: BOOTSTRAP_SEED,
          }),
        });
      }
    }
    tables.comparison = comparisonTable(rows);
  }
  return tables;
}
