import { join, relative, resolve } from 'node:path';
import { mkdir, readFile } from 'node:fs/promises';
import { CbirError } from '../errors.js';
import { readManifest, type Manifest } from '../data/manifest.js';
import { loadExtractor } from '../models/registry.js';
import { embedManifest, openEmbeddings } from '../embeddings/index.js';
import type { ProgressListener } from '../util/progress.js';
import { writeFileAtomic } from '../util/fsx.js';
import { writeTable, tableToMarkdown, type Table } from '../tables/write.js';
import { readReportedTable } from '../tables/reported.js';
import { evaluateModel, manifestVectors, type ModelEvaluation, type IndexSizeOptions } from './evaluate.js';
import type { LinearProbeOptions, PrecisionDefinition } from '../metrics/index.js';
import type { IndexParams } from '../search/index.js';
import { writeFigures, type WriteFiguresOptions, type WriteFiguresResult } from '../figures/index.js';
import { studyTables } from './tables.js';
import * as STUDY from '../study.js';

/** The study's index-size ablation: classes with ≥ 3000 index images, 38 queries each, N = 5 … 3000. */
export const STUDY_INDEX_SIZE: IndexSizeOptions = {
  ...STUDY.STUDY_INDEX_SIZE,
  sizes: [...STUDY.STUDY_INDEX_SIZE.sizes],
  seeds: [...STUDY.STUDY_INDEX_SIZE.seeds],
};

/**
 * Index-size settings scaled to a dataset: the study's when at least three classes have 3000
 * index images; otherwise T = the index count of the ⌈C/2⌉-th largest class (at least 3 classes),
 * so that about half of the classes take part — with only a handful of classes, often from
 * different modalities, the task would be trivially easy — Q = the fewest test images among
 * those classes (at most 38), and N on a 1-2-5 ladder up to T.
 */
export function autoIndexSize(m: Manifest): IndexSizeOptions {
  const trainCounts = m.classCounts('train');
  const testCounts = m.classCounts('test');
  const order = Array.from(trainCounts.keys()).sort((a, b) => trainCounts[b] - trainCounts[a]);
  if (order.length >= 3 && trainCounts[order[2]] >= 3000) return STUDY_INDEX_SIZE;
  const k = Math.min(order.length, Math.max(3, Math.ceil(order.length / 2)));
  const chosen = order.slice(0, k);
  const T = Math.max(1, trainCounts[chosen[k - 1]]);
  const Q = Math.max(1, Math.min(38, ...chosen.map((c) => testCounts[c])));
  const sizes = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000].filter((n) => n < T);
  sizes.push(T);
  return { minIndexPerClass: T, queriesPerClass: Q, sizes, seeds: [0, 1, 2] };
}

export interface ReportOptions {
  /** Manifest folder (or CSV), or a Manifest already read. */
  data: string | Manifest;
  /** Model ids (`cbir models list`). */
  models: string[];
  /** Report folder. */
  out: string;
  /** Folder for embeddings and k-NN tables, reused across runs; default `<out>/work`. */
  workDir?: string;
  batchSize?: number;
  workers?: number;
  threads?: number;
  executionProvider?: 'cpu' | 'cuda';
  k?: number;
  index?: IndexParams;
  definition?: PrecisionDefinition;
  replicates?: number;
  probe?: LinearProbeOptions | false;
  /** 'auto' (default) scales the study's setting to the dataset; false skips it. */
  indexSize?: IndexSizeOptions | 'auto' | 'study' | false;
  /** Figures (P@N curves, Figs. 2–6, query grids) into `<out>/figures`; default on, false = none. */
  figures?: WriteFiguresOptions | false;
  onProgress?: ProgressListener;
  log?: (line: string) => void;
}

export interface ReportResult {
  out: string;
  summary: string;
  evaluations: ModelEvaluation[];
  tables: Record<string, Table>;
  figures: WriteFiguresResult | null;
}

/**
 * The whole benchmark for several models on one dataset: embed (resumable, cached in the work
 * folder), build the k-NN tables (cached), run every experiment, and write per-model files plus
 * the study's tables (3, 4, 5, 9, 10), the Fig. 2 and Fig. 5 data, paired comparisons and a
 * Markdown summary (`summary.md`) into `out`.
 */
export async function runReport(o: ReportOptions): Promise<ReportResult> {
  const log = o.log ?? (() => {});
  if (o.models.length === 0)
    throw new CbirError('no models given', {
      hint: 'pass one or more model ids (see `cbir models list`)',
      code: 'report/no-models',
    });
  const manifest = typeof o.data === 'string' ? await readManifest(o.data) : o.data;
  const out = resolve(o.out);
  const work = resolve(o.workDir ?? join(out, 'work'));
  await mkdir(out, { recursive: true });
  const indexSize =
    o.indexSize === undefined || o.indexSize === 'auto'
      ? autoIndexSize(manifest)
      : o.indexSize === 'study'
        ? STUDY_INDEX_SIZE
        : o.indexSize;
  const evaluations: ModelEvaluation[] = [];
  for (const modelId of o.models) {
    const extractor = await loadExtractor(modelId, {
      executionProvider: o.executionProvider,
      intraOpThreads: o.threads,
    });
    const storeDir = join(work, 'embeddings', modelId);
    let res;
    try {
      res = await embedManifest({
        manifest,
        extractor,
        out: storeDir,
        batchSize: o.batchSize,
        workers: o.workers,
        onProgress: o.onProgress,
      });
    } finally {
      await extractor.close();
    }
    log(
      `${modelId}: embeddings ${res.alreadyComplete ? 'reused' : `computed (${res.embedded} new, ${res.resumed} resumed)`} in ${relative(process.cwd(), storeDir) || '.'}`,
    );
    const store = await openEmbeddings(storeDir);
    const vectors = await manifestVectors(
      store,
      manifest,
      'the store was made for another manifest: delete it or pass another --work folder',
    );
    evaluations.push(
      await evaluateModel({
        manifest,
        vectors,
        dim: store.dim,
        embeddingsHash: store.meta.contentHash,
        modelId,
        out: join(out, modelId),
        cacheDir: join(work, 'knn'),
        k: o.k,
        index: o.index,
        definition: o.definition,
        replicates: o.replicates,
        probe: o.probe,
        indexSize,
        threads: o.threads,
        onProgress: o.onProgress,
        log,
      }),
    );
  }

  const tables = studyTables(evaluations, manifest);
  for (const [name, t] of Object.entries(tables)) await writeTable(t, join(out, name));

  let summary = await renderSummary(manifest, evaluations, tables, out, indexSize);
  await writeFileAtomic(join(out, 'summary.md'), summary);
  let figures: WriteFiguresResult | null = null;
  if (o.figures !== false) {
    figures = await writeFigures(out, manifest, { workDir: work, onProgress: o.onProgress, log, ...(o.figures ?? {}) });
    for (const n of figures.notes) log(`figures: ${n}`);
    summary = await readFile(join(out, 'summary.md'), 'utf8');
  }
  return { out, summary, evaluations, tables, figures };
}

async function renderSummary(
  m: Manifest,
  evals: ModelEvaluation[],
  tables: Record<string, Table>,
  out: string,
  indexSize: IndexSizeOptions | false,
): Promise<string> {
  const split = (s: 'train' | 'val' | 'test') => m.indicesOf(s).length;
  const lines: string[] = [
    '# radcbir benchmark report',
    '',
    `Dataset: \`${m.dir}\` — ${m.size} images, ${m.classes.length} classes (${m.classes.filter((c) => c.kind === 'anatomical').length} anatomical, ${m.classes.filter((c) => c.kind === 'pathological').length} pathological), modalities ${m.modalities.join(', ')}; index (train) ${split('train')}, val ${split('val')}, queries (test) ${split('test')}. Manifest hash \`${m.hash.slice(0, 12)}\`.`,
    '',
    `Models: ${evals.map((e) => `\`${e.modelId}\``).join(', ')}. Retrieval by exact cosine similarity (inner product of L2-normalised embeddings); P@N by the study's definition (n = min(N, index images of the query's class)).`,
    '',
  ];
  for (const key of [
    'table3_retrieval',
    'comparison',
    'table4_modality',
    'table9_anatomy_pathology',
    'table10_dataset',
    'table5_embedding_quality',
    'index_size',
  ] as const) {
    const t = tables[key];
    if (!t) continue;
    if (key === 'index_size' && t.rows.length === 0) {
      lines.push(
        `### ${t.title}`,
        '',
        indexSize
          ? `Skipped: ${evals.find((e) => e.indexSizeSkipped)?.indexSizeSkipped ?? 'no eligible class'}.`
          : 'Skipped (disabled).',
        '',
      );
      continue;
    }
    lines.push(tableToMarkdown(t), `Files: [${key}.csv](${key}.csv), [${key}.json](${key}.json)`, '');
  }
  const reported = await readReportedTable('retrieval');
  if (reported) {
    lines.push(
      '### For reference: Table 3 as reported by the study (1.3 M index images, 171,753 queries)',
      '',
      tableToMarkdown({ ...reported, title: '' }, { heading: false }),
      "These numbers are on the study's combined dataset; they are comparable with the ones above only when the same data and model weights are used.",
      '',
    );
  }
  lines.push('### Per-model files', '');
  for (const e of evals)
    lines.push(
      `- \`${e.modelId}\`: [knn.csv](${e.modelId}/knn.csv) (the study's layout, top ${e.table.k}), [precision_at_n.csv](${e.modelId}/precision_at_n.csv), [knn_classification.csv](${e.modelId}/knn_classification.csv)${e.probe ? `, [linear_probing.csv](${e.modelId}/linear_probing.csv)` : ''}`,
    );
  lines.push('', `Per-class P@1 (Fig. 5 data): [per_class_p1.csv](per_class_p1.csv).`, '');
  return lines.join('\n');
}
