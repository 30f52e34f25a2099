import { join, resolve } from 'node:path';
import { consoleProgress, REPORT_FILE, runReport, saveReport, tableToMarkdown } from '../../workbench/index.js';
import { choiceOption, epOption, intOption, listOption, missingOption, parseOptions } from '../options.js';

export const summary = 'run every experiment of the study for several models into one report folder';

export const usage = `usage: cbir report --data <manifest dir> (--models <id,id,...> | --embeddings <store,store,...>) --out <dir> [options]

Embeds the dataset with each model (resumable, cached under <out>/work), builds the k-NN tables
(train = index, test = queries, val = model selection), and writes the study's tables (3, 4, 5, 9,
10), Fig. 2 / Fig. 5 data, paired comparisons and summary.md into <out>, and per model
<out>/<model>/knn.csv, precision_at_n.csv, knn_classification.csv, linear_probing.csv.
--embeddings adds finished stores (\`cbir embed\`, \`cbir adapt\`, \`cbir embeddings import-h5\`)
beside the models, each named after its folder, so a frozen and an adapted store are compared
in one report with paired tests.

options:
  --embeddings <dirs>   comma-separated embedding stores of this manifest, evaluated beside --models
  --work <dir>          embeddings + k-NN cache folder (default <out>/work)
  --batch <n>           images per model call (default 32)
  --workers <n>         decode/preprocess worker threads
  --threads <n>         onnxruntime threads
  --ep cpu|cuda         execution provider for ONNX models (default cpu)
  --index exact|hnsw    search (default exact, the study's setting)
  --textbook            textbook P@N (divide by N) instead of the study's definition
  --replicates <n>      bootstrap replicates for the intervals (default 1000; 0 = none)
  --probe logistic|study|both|off   linear probe (default logistic: L2 logistic regression on
                        standardised embeddings, C chosen on val, L-BFGS; study: the study's AdamW
                        protocol, Table 5 row linear_probe_study; both: the two side by side)
  --no-probe            skip linear probing (= --probe off)
  --index-size auto|study|off   index-size ablation setting (default auto)
  --no-figures          skip the figures (they can be made later with \`cbir figures --report <out>\`)
  --no-png              figures as HTML only (PNG needs Debian's chromium)
  --rerank              also re-rank: αQE, DBA and k-reciprocal against plain search, parameters
                        chosen on val, P@1 and mAP@10 on test with intervals (summary.md "Beyond
                        the study"; the ranking metrics mAP@10, recall@10, nDCG@10 are always there)

--index-size: auto takes the study's setting (classes with ≥ 3000 index images, 38 queries per
class, N = 5 … 3000, seeds 0-4) when at least 3 classes have 3000 index images; otherwise it scales
to the data: the ⌈C/2⌉ classes (at least 3) with the most index images take part, T = the index
images of the smallest of them, Q = the fewest test images among them (at most 38), N on a 1-2-5
ladder up to T, seeds 0-2. study always takes the study's setting; off skips the ablation. The
index_size table names the classes used.`;

export const REPORT_OPTIONS = {
  data: { type: 'string' },
  models: { type: 'string' },
  model: { type: 'string', multiple: true },
  embeddings: { type: 'string' },
  out: { type: 'string' },
  work: { type: 'string' },
  batch: { type: 'string' },
  workers: { type: 'string' },
  threads: { type: 'string' },
  ep: { type: 'string' },
  index: { type: 'string' },
  textbook: { type: 'boolean' },
  replicates: { type: 'string' },
  probe: { type: 'string' },
  'no-probe': { type: 'boolean' },
  'index-size': { type: 'string' },
  'no-figures': { type: 'boolean' },
  'no-png': { type: 'boolean' },
  rerank: { type: 'boolean' },
} as const;

export type ReportValues = {
  [K in keyof typeof REPORT_OPTIONS]?: (typeof REPORT_OPTIONS)[K] extends { multiple: true }
    ? string[]
    : (typeof REPORT_OPTIONS)[K] extends { type: 'boolean' }
      ? boolean
      : string;
};

/** --probe logistic|study|both|off (and --no-probe) as the report's probe setting. */
export function probeOption(v: string | undefined, off?: boolean): 'logistic' | 'study' | 'both' | false | undefined {
  const p = choiceOption(v, 'probe', ['logistic', 'study', 'both', 'off'] as const);
  return off || p === 'off' ? false : p;
}

/** Shared by `cbir report` and `cbir start`: compute the report, save it, print Table 3. */
export async function reportFromValues(
  v: ReportValues,
  defaults: { data: string; models: string[]; out: string },
): Promise<number> {
  const models = listOption(v.models, v.model) ?? [];
  const index = choiceOption(v.index, 'index', ['exact', 'hnsw'] as const);
  const isz = choiceOption(v['index-size'], 'index-size', ['auto', 'study', 'off'] as const);
  const out = resolve(v.out ?? defaults.out);
  const t0 = Date.now();
  const run = await runReport({
    data: v.data ?? defaults.data,
    models: models.length || v.embeddings ? models : defaults.models,
    stores: (listOption(v.embeddings) ?? []).map((d) => resolve(d)),
    workDir: resolve(v.work ?? join(out, 'work')),
    batchSize: intOption(v.batch, 'batch', 1),
    workers: intOption(v.workers, 'workers'),
    threads: intOption(v.threads, 'threads', 1),
    executionProvider: epOption(v.ep),
    index: index === 'hnsw' ? { kind: 'hnsw' } : undefined,
    definition: v.textbook ? 'textbook' : 'study',
    replicates: intOption(v.replicates, 'replicates'),
    probe: probeOption(v.probe, v['no-probe']),
    indexSize: isz === 'off' ? false : isz,
    rerank: v.rerank === true,
    onProgress: consoleProgress(),
    log: (l) => console.error(l),
  });
  const figures = v['no-figures']
    ? false
    : { png: v['no-png'] ? false : ('auto' as const), onProgress: consoleProgress() };
  const saved = await saveReport(run, out, { figures, log: (l) => console.error(l) });
  console.log('\n' + tableToMarkdown(saved.tables.table3_retrieval!));
  console.log(
    `Report written to ${join(out, 'summary.md')} and ${REPORT_FILE} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseOptions('report', { args, options: REPORT_OPTIONS, strict: true, allowPositionals: false });
  if (!values.data || !(values.models || values.model || values.embeddings) || !values.out) {
    throw missingOption('--data, --out and --models or --embeddings are required', usage);
  }
  return reportFromValues(values as ReportValues, { data: values.data, models: [], out: values.out });
}
