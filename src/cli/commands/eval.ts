import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { readManifest } from '../../workbench/data/manifest.js';
import { openEmbeddings } from '../../workbench/embeddings/index.js';
import { evaluateModel, manifestVectors } from '../../workbench/benchmark/evaluate.js';
import { autoIndexSize, STUDY_INDEX_SIZE, runReport } from '../../workbench/benchmark/report.js';
import { tableToMarkdown } from '../../workbench/tables/write.js';
import { precisionAtNTable } from '../../workbench/benchmark/tables.js';
import { consoleProgress } from '../../workbench/util/progress.js';
import { CbirError } from '../../workbench/errors.js';
import { intOption } from './report.js';

export const summary = 'evaluate one model (or an embedding store) on a dataset: retrieval, k-NN, probe, index size';

export const usage = `usage: cbir eval --data <manifest dir> (--embeddings <store dir> | --model <id>) --out <dir> [options]

Runs the study's experiments for one model: P@1…100 micro/macro with intervals (precision_at_n.csv),
knn.csv in the study's layout, k-NN classification, and unless switched off, linear probing and
the index-size ablation. --embeddings evaluates a store made by \`cbir embed\` or imported from the
study's HDF5 files (\`cbir embeddings import-h5\`), without re-embedding.

options:
  --only retrieval|knn|probe|index-size   run just this experiment (retrieval always runs: it reads the k-NN table)
  --textbook             textbook P@N (divide by N) instead of the study's definition
  --replicates <n>       bootstrap replicates (default 1000)
  --index-size auto|study   ablation setting (default auto)
  --cache <dir>          k-NN table cache (default <out>/work/knn)`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      data: { type: 'string' },
      embeddings: { type: 'string' },
      model: { type: 'string' },
      out: { type: 'string' },
      only: { type: 'string' },
      textbook: { type: 'boolean' },
      replicates: { type: 'string' },
      'index-size': { type: 'string' },
      cache: { type: 'string' },
      threads: { type: 'string' },
    },
  });
  if (!values.data || !values.out || (!values.embeddings && !values.model)) {
    throw new CbirError('cbir eval needs --data, --out and one of --embeddings or --model', {
      hint: usage.split('\n')[0],
      code: 'cli/missing-option',
    });
  }
  const only = values.only;
  if (only && !['retrieval', 'knn', 'probe', 'index-size'].includes(only))
    throw new CbirError(`--only must be retrieval, knn, probe or index-size, got "${only}"`, {
      code: 'cli/bad-option',
    });
  const manifest = await readManifest(values.data);
  const isz = values['index-size'] === 'study' ? STUDY_INDEX_SIZE : autoIndexSize(manifest);
  const probe = !only || only === 'probe' ? undefined : false;
  const indexSize = !only || only === 'index-size' ? isz : false;
  const out = resolve(values.out);
  if (values.model && !values.embeddings) {
    const res = await runReport({
      data: manifest,
      models: [values.model],
      out,
      probe,
      indexSize,
      figures: false,
      definition: values.textbook ? 'textbook' : 'study',
      replicates: intOption(values.replicates, 'replicates'),
      threads: intOption(values.threads, 'threads'),
      onProgress: consoleProgress(),
      log: (l) => console.error(l),
    });
    const e = res.evaluations[0];
    console.log(
      tableToMarkdown(precisionAtNTable(e.modelId, { ...e.precision }, e.intervals))
        .split('\n')
        .slice(0, 16)
        .join('\n'),
    );
    console.log(`Results in ${join(out, e.modelId)}`);
    return 0;
  }
  const store = await openEmbeddings(values.embeddings!);
  const vectors = await manifestVectors(
    store,
    manifest,
    'import or embed with this manifest (`cbir embeddings import-h5 --data <dir>` reorders by the manifest)',
  );
  const modelId = store.meta.modelId;
  const e = await evaluateModel({
    manifest,
    vectors,
    dim: store.dim,
    embeddingsHash: store.meta.contentHash,
    modelId,
    out: join(out, modelId),
    cacheDir: values.cache ?? join(out, 'work', 'knn'),
    definition: values.textbook ? 'textbook' : 'study',
    replicates: intOption(values.replicates, 'replicates'),
    probe,
    indexSize,
    threads: intOption(values.threads, 'threads'),
    onProgress: consoleProgress(),
    log: (l) => console.error(l),
  });
  console.log(
    tableToMarkdown(precisionAtNTable(modelId, e.precision, e.intervals))
      .split('\n')
      .slice(0, 16)
      .join('\n'),
  );
  console.log(`Results in ${join(out, modelId)}`);
  return 0;
}
