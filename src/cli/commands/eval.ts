import { join, resolve } from 'node:path';
import {
  CbirError,
  evaluateKnnCsv,
  runReport,
  saveReport,
  tableToMarkdown,
  consoleProgress,
  type ReportRun,
} from '../../workbench/index.js';
import { choiceOption, intOption, missingOption, parseOptions } from '../options.js';
import { probeOption } from './report.js';

export const summary = 'evaluate one model (or an embedding store) on a dataset: retrieval, k-NN, probe, index size';

export const usage = `usage: cbir eval --data <manifest dir> (--embeddings <store dir> | --model <id> | --knn-csv <file>) --out <dir> [options]

Runs the study's experiments for one model: P@1…100 micro/macro with intervals (precision_at_n.csv),
knn.csv in the study's layout, k-NN classification, and unless switched off, linear probing and
the index-size ablation. --embeddings evaluates a store made by \`cbir embed\` or imported from the
study's HDF5 files (\`cbir embeddings import-h5\`), without re-embedding. --knn-csv scores the
study's own neighbour lists (an experiment folder's knn.csv: header query,1,…,k, one row per test
or val image with its k nearest train images' paths, best first): the same tables from them, no
embedding and no search; val rows, when present, choose k of the k-NN classification (otherwise
it is chosen on test, noted in the report); there is no linear probe and no index-size ablation.

options:
  --knn-csv <file>       score this knn.csv (test and val rows) against --data; --name names it
  --name <model>         model name in the tables for --knn-csv (default: the knn.csv's folder name)
  --only retrieval|knn|probe|index-size   run just this experiment (retrieval always runs: it reads the k-NN table)
  --probe logistic|study|both   linear probe (default logistic; study = the study's AdamW protocol)
  --textbook             textbook P@N (divide by N) instead of the study's definition
  --replicates <n>       bootstrap replicates (default 1000)
  --index-size auto|study   ablation setting (default auto)
  --work <dir>           embeddings + k-NN cache folder (default <out>/work)
  --cache <dir>          k-NN table cache (default <work>/knn)
  --threads <n>          onnxruntime / search threads

--index-size: auto takes the study's setting (classes with ≥ 3000 index images, 38 queries per
class, N = 5 … 3000, seeds 0-4) when at least 3 classes have 3000 index images; otherwise it scales
to the data: the ⌈C/2⌉ classes (at least 3) with the most index images take part, T = the index
images of the smallest of them, Q = the fewest test images among them (at most 38), N on a 1-2-5
ladder up to T, seeds 0-2. study always takes the study's setting. The index_size table names
the classes used.`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseOptions('eval', {
    args,
    strict: true,
    options: {
      data: { type: 'string' },
      embeddings: { type: 'string' },
      model: { type: 'string' },
      out: { type: 'string' },
      work: { type: 'string' },
      only: { type: 'string' },
      textbook: { type: 'boolean' },
      probe: { type: 'string' },
      replicates: { type: 'string' },
      'index-size': { type: 'string' },
      cache: { type: 'string' },
      threads: { type: 'string' },
      'knn-csv': { type: 'string' },
      name: { type: 'string' },
    },
  });
  if (values['knn-csv']) return scoreKnnCsv(values);
  if (!values.data || !values.out || (!values.embeddings && !values.model)) {
    throw missingOption('--data, --out and one of --embeddings or --model are required', usage);
  }
  if (values.embeddings && values.model) {
    throw new CbirError('--embeddings and --model exclude each other', {
      hint: '--model embeds with the model; --embeddings evaluates a finished store',
      code: 'cli/bad-option',
    });
  }
  const only = choiceOption(values.only, 'only', ['retrieval', 'knn', 'probe', 'index-size'] as const);
  const isz = choiceOption(values['index-size'], 'index-size', ['auto', 'study'] as const) ?? 'auto';
  const out = resolve(values.out);
  const workDir = resolve(values.work ?? join(out, 'work'));
  const run = await runReport({
    data: values.data,
    models: values.model ? [values.model] : [],
    stores: values.embeddings ? [values.embeddings] : [],
    workDir,
    knnCacheDir: values.cache,
    probe: !only || only === 'probe' ? probeOption(values.probe) : false,
    indexSize: !only || only === 'index-size' ? isz : false,
    definition: values.textbook ? 'textbook' : 'study',
    replicates: intOption(values.replicates, 'replicates'),
    threads: intOption(values.threads, 'threads', 1),
    onProgress: consoleProgress(),
    log: (l) => console.error(l),
  });
  return save(run, out);
}

/** Save the report without figures and print Table 3's head and where the results are. */
async function save(run: ReportRun, out: string): Promise<number> {
  const saved = await saveReport(run, out, { figures: false });
  const m = saved.models[0];
  console.log(tableToMarkdown(m.precision).split('\n').slice(0, 16).join('\n'));
  console.log(`Results in ${join(out, m.modelId)} (report: ${join(out, 'report.json')})`);
  return 0;
}

/** `cbir eval --knn-csv`: the tables from the study's own neighbour lists. */
async function scoreKnnCsv(values: Record<string, string | boolean | undefined>): Promise<number> {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const data = str('data'),
    out = str('out');
  if (!data || !out) throw missingOption('--data and --out are required with --knn-csv', usage);
  const clash = ['embeddings', 'model', 'probe', 'index-size', 'work', 'cache', 'threads'].filter((k) => values[k]);
  const only = str('only');
  if (clash.length || (only && only !== 'retrieval' && only !== 'knn')) {
    throw new CbirError(
      `--knn-csv excludes ${clash.length ? clash.map((k) => `--${k}`).join(', ') : `--only ${only}`}`,
      {
        hint: '--knn-csv scores the neighbour lists of the file: nothing is embedded, searched or probed',
        code: 'cli/bad-option',
      },
    );
  }
  const run = await evaluateKnnCsv({
    data,
    file: str('knn-csv')!,
    modelId: str('name'),
    definition: values.textbook ? 'textbook' : 'study',
    replicates: intOption(str('replicates'), 'replicates'),
    onProgress: consoleProgress(),
    log: (l) => console.error(l),
  });
  return save(run, resolve(out));
}
