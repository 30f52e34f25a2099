/**
 * Reports for the TUI's tests. `fixtureReport`: a small report built in memory (the core's
 * `ReportData`, as `openReport` returns it), with values chosen so that the best value of each
 * column is known: beta wins micro P@1 (0.72), alpha and beta tie on micro P@5 (0.52), the
 * 'queries' count row holds the largest numbers but is not a model. `realReport`: a real one,
 * computed and saved by the core (`runReport` + `saveReport`) on a tiny phantom, so its folder
 * has report.json. `oldReportFolder`: a folder as radcbir wrote it before report.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  generatePhantom,
  REPORT_FORMAT,
  REPORT_VERSION,
  runReport,
  saveReport,
  type Manifest,
  type ReportData,
  type ReportModel,
  type Table,
} from '../../src/workbench/index.js';

const CLS = [
  'micro_auroc',
  'macro_auroc',
  'micro_auprc',
  'macro_auprc',
  'micro_f1',
  'macro_f1',
  'macro_precision',
  'macro_recall',
  'accuracy',
];

function precision(model: string, micro: number[], macro: number[]): Table {
  const ns = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  return {
    title: `Precision at N (${model})`,
    columns: ['N', 'micro', 'micro_lo', 'micro_hi', 'macro', 'macro_lo', 'macro_hi'],
    rows: ns.map((n) => {
      const i = [1, 3, 5, 10].indexOf(n);
      const mi = i >= 0 ? micro[i] : micro[0] - n / 100;
      const ma = i >= 0 ? macro[i] : macro[0] - n / 100;
      return [n, mi, mi - 0.05, mi + 0.04, ma, ma - 0.06, ma + 0.05];
    }),
  };
}

/** The fixture report; `dir` is where exports would go by default. */
export function fixtureReport(dir = '/nonexistent/fixture-report'): ReportData {
  const t3: Table = {
    title: 'Table 3: retrieval precision (P@N, micro and macro)',
    columns: [
      'model',
      'micro_p1',
      'micro_p3',
      'micro_p5',
      'micro_p10',
      'macro_p1',
      'macro_p3',
      'macro_p5',
      'macro_p10',
      'micro_p1_lo',
      'micro_p1_hi',
      'macro_p1_lo',
      'macro_p1_hi',
      'queries',
    ],
    rows: [
      ['alpha', 0.61, 0.55, 0.52, 0.5, 0.45, 0.4, 0.38, 0.35, 0.56, 0.65, 0.39, 0.5, 200],
      ['beta', 0.72, 0.6, 0.52, 0.49, 0.44, 0.41, 0.37, 0.36, 0.67, 0.76, 0.38, 0.49, 200],
      ['gamma', 0.5, 0.45, 0.41, 0.4, 0.3, 0.29, 0.28, 0.27, 0.45, 0.55, 0.25, 0.35, 200],
    ],
  };
  const t4: Table = {
    title: 'Table 4: P@1 per modality',
    columns: ['model', 'micro_p1_CT', 'micro_p1_MR', 'micro_p1_avg', 'macro_p1_CT', 'macro_p1_MR', 'macro_p1_avg'],
    rows: [
      ['alpha', 0.7, 0.5, 0.61, 0.5, 0.4, 0.45],
      ['beta', 0.8, 0.64, 0.72, 0.48, 0.4, 0.44],
      ['gamma', 0.55, 0.45, 0.5, 0.33, 0.27, 0.3],
      ['queries', 100, 100, 200, null, null, null],
    ],
  };
  const t9: Table = {
    title: 'Table 9: micro P@1 per modality, anatomical vs pathological classes',
    columns: ['model', 'CT_anat', 'CT_path', 'MR_anat', 'MR_path', 'AVG_anat', 'AVG_path', 'AVG'],
    rows: [
      ['classes', 2, 3, 1, 2, 3, 5, 8],
      ['samples', 60, 40, 50, 50, 110, 90, 200],
      ['alpha', 0.8, 0.55, 0.6, 0.4, 0.7, 0.48, 0.61],
      ['beta', 0.9, 0.65, 0.7, 0.58, 0.8, 0.62, 0.72],
      ['gamma', 0.6, 0.47, 0.5, 0.4, 0.55, 0.44, 0.5],
    ],
  };
  const t10: Table = {
    title: 'Table 10: P@1 per source dataset',
    columns: [
      'model',
      'micro_p1_ds-a',
      'micro_p1_ds-b',
      'micro_p1_avg',
      'macro_p1_ds-a',
      'macro_p1_ds-b',
      'macro_p1_avg',
    ],
    rows: [
      ['alpha', 0.66, 0.56, 0.61, 0.47, 0.43, 0.45],
      ['beta', 0.75, 0.69, 0.72, 0.46, 0.42, 0.44],
      ['gamma', 0.52, 0.48, 0.5, 0.31, 0.29, 0.3],
      ['queries', 100, 100, 200, null, null, null],
    ],
  };
  const t5: Table = {
    title: 'Table 5: embedding quality (k-NN classification and linear probing)',
    columns: ['model', 'method', 'k_or_epoch', ...CLS],
    rows: [
      ['alpha', 'knn', 5, 0.9, 0.85, 0.6, 0.5, 0.62, 0.45, 0.47, 0.44, 0.62],
      ['alpha', 'linear_probe', 12, 0.92, 0.88, 0.5, 0.45, 0.58, 0.4, 0.42, 0.41, 0.58],
      ['beta', 'knn', 7, 0.93, 0.84, 0.66, 0.52, 0.7, 0.47, 0.49, 0.46, 0.7],
      ['beta', 'linear_probe', 30, 0.91, 0.9, 0.55, 0.44, 0.6, 0.43, 0.44, 0.45, 0.6],
      ['gamma', 'knn', 3, 0.8, 0.7, 0.4, 0.3, 0.5, 0.3, 0.31, 0.32, 0.5],
      ['gamma', 'linear_probe', 4, 0.75, 0.7, 0.35, 0.3, 0.45, 0.28, 0.3, 0.29, 0.45],
    ],
  };
  const cmp: Table = {
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
    rows: [
      ['beta', 'alpha', 'micro', 1, 0.11, 0.04, 0.18, 0.002, 0.006, 60, 'yes'],
      ['beta', 'alpha', 'macro', 1, -0.01, -0.07, 0.05, 0.71, 0.71, 60, 'no'],
      ['beta', 'gamma', 'micro', 1, 0.22, 0.15, 0.29, 0.0001, 0.0004, 80, 'yes'],
      ['beta', 'gamma', 'macro', 1, 0.14, 0.07, 0.21, 0.0004, 0.0012, 80, 'yes'],
    ],
  };
  const tables = {
    table3_retrieval: t3,
    table4_modality: t4,
    table9_anatomy_pathology: t9,
    table10_dataset: t10,
    table5_embedding_quality: t5,
    comparison: cmp,
  };
  const models = [
    fixtureModel(dir, 'alpha', precision('alpha', [0.61, 0.55, 0.52, 0.5], [0.45, 0.4, 0.38, 0.35])),
    fixtureModel(dir, 'beta', precision('beta', [0.72, 0.6, 0.52, 0.49], [0.44, 0.41, 0.37, 0.36])),
    fixtureModel(dir, 'gamma', precision('gamma', [0.5, 0.45, 0.41, 0.4], [0.3, 0.29, 0.28, 0.27])),
  ];
  return {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    createdAt: '2024-01-01T00:00:00.000Z',
    tool: { name: 'radcbir', version: '0.0.0' },
    dir,
    work: join(dir, 'work'),
    dataset: {
      dir: '/nonexistent/fixture-data',
      hash: '0'.repeat(64),
      images: 1000,
      classes: 8,
      anatomical: 3,
      pathological: 5,
      modalities: ['CT', 'MR'],
      datasets: ['ds-a', 'ds-b'],
      splits: { train: 600, val: 200, test: 200 },
    },
    protocol: {
      k: 10,
      definition: 'study',
      replicates: 1000,
      bootstrapSeed: 0,
      index: { kind: 'exact' },
      probe: false,
      indexSizeRule: 'off',
      indexSize: false,
    },
    models,
    tables,
    figures: null,
    files: [],
  };
}

function fixtureModel(dir: string, modelId: string, p: Table): ReportModel {
  const empty: Table = { title: 'k-NN classification', columns: ['k'], rows: [] };
  return {
    modelId,
    store: { dir: join(dir, 'work', 'embeddings', modelId), source: 'embedded', contentHash: '', dim: 8, count: 1000 },
    knn: {
      test: join(dir, 'work', 'knn', `knn-test-${modelId}`),
      val: join(dir, 'work', 'knn', `knn-val-${modelId}`),
      k: 10,
    },
    precision: p,
    knnClassification: empty,
    probe: null,
    indexSizeSkipped: null,
    notes: [],
    files: [],
  };
}

/**
 * A real report on a tiny phantom, computed and saved by the core as `cbir report` does
 * (`runReport`, then `saveReport` without figures): `<dir>/data` (the manifest) and
 * `<dir>/report` (with report.json, and its work folder inside).
 */
export async function realReport(
  dir: string,
  models = ['tiny16', 'hist64'],
): Promise<{ manifest: Manifest; out: string; report: ReportData }> {
  const manifest = await generatePhantom({ out: join(dir, 'data'), scale: 0.1, size: 48 });
  const out = join(dir, 'report');
  const run = await runReport({
    data: manifest,
    models,
    workDir: join(out, 'work'),
    replicates: 50,
    probe: false,
    indexSize: false,
    workers: 1,
  });
  const report = await saveReport(run, out, { figures: false });
  return { manifest, out, report };
}

/** A report folder as radcbir wrote it before report.json: only table3_retrieval.csv and summary.md. */
export function oldReportFolder(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'table3_retrieval.csv'), 'model,micro_p1,macro_p1,queries\ntiny16,0.5,0.4,20\n');
  writeFileSync(join(dir, 'summary.md'), '# Report\n\nDataset: `/data/x` · Manifest hash `0123456789ab`\n');
  return dir;
}

/** Keys as a terminal sends them. */
export const KEYS = {
  up: '\u001B[A',
  down: '\u001B[B',
  right: '\u001B[C',
  left: '\u001B[D',
  enter: '\r',
  escape: '\u001B',
  tab: '\t',
};
