/**
 * The CLI's wording of the core library's hints. A `CbirError` from src/workbench says what to do
 * in plain terms ("write to a new output folder, or start again from scratch"), since notebooks,
 * the TUI and the web page have no flags; here each error code gets the line a CLI user needs
 * ("pass another --out, or --force …"). main.ts prints it under the error as
 * `  → in the CLI: <line>`.
 */
import type { CbirError } from '../workbench/index.js';

/**
 * A CLI line for an error code: one line for every command, or one per command (`'*'` for the
 * others; a command absent without `'*'` gets no line). `<id>` is replaced by the model id the
 * error message names (`model "resnet50"`), when it names one.
 */
export type CliHint = string | { readonly [command: string]: string };

const REEMBED = 'rerun `cbir embed` with --force';

export const CLI_HINTS: Readonly<Record<string, CliHint>> = {
  // embedding runs (`cbir embed`; `cbir report` / `eval` embed into their --work folder)
  'embed/mismatch': {
    embed: 'pass another --out, or --force to delete them and start again',
    '*': 'pass another --work folder, or delete the folder named above to start again',
  },
  'embed/locked': {
    embed: 'wait, or give this run another --out',
    '*': 'wait, or give this run another --work folder',
  },
  'embed/corrupt-chunk': {
    embed: 'rerun with --force to embed again',
    '*': 'delete the folder named above (under --work) and run again',
  },
  'embed/bad-shard': 'e.g. --shard 0/4, --shard 1/4, --shard 2/4, --shard 3/4',
  'embed/no-shard-env':
    'submit with sbatch --array=0-3 (or bsub -J "x[1-4]", qsub -J 0-3 … --shards 4), or pass --shard i/n',
  'embed/bad-shard-env': 'see the job-array table in `cbir embed --help`, or pass --shard i/n',
  'embed/bad-batch': 'e.g. --batch 32',
  'embed/non-finite':
    'after fixing the image run `cbir data prepare` again; after fixing the model rerun the same command: it resumes',
  'embed/zero-norm': {
    embed: 'after fixing the model or the images, rerun `cbir embed` (with --force for a fixed model)',
  },
  'embed/constant': { embed: 'after fixing the model card or weights, rerun `cbir embed` with --force' },
  'embed/missing-images': 'fix the paths or the images root, or rebuild the manifest with `cbir data prepare`',
  'embed/bad-path': 'rename the file, then rebuild the manifest with `cbir data prepare`',
  // file-system failures while writing stores (`cbir embed --out`, `--work` of report / eval)
  'fs/no-space': 'after freeing space rerun the same command: it resumes',
  'fs/not-writable': {
    embed: 'pass another --out',
    figures: 'make the report folder writable, or copy it somewhere writable and pass that as --report',
    '*': 'pass another --out (or --work)',
  },
  'fs/path-blocked': {
    embed: 'pass another --out',
    figures: 'move the file that is in the way out of the report folder (e.g. a file named figures), then rerun',
    '*': 'pass another --out (or --work)',
  },
  // embedding stores
  'embeddings/not-found': 'pass the --out folder of `cbir embed` (or of `cbir embeddings import-h5`)',
  'embeddings/incomplete': 'rerun the same `cbir embed` command: it resumes where it stopped',
  'embeddings/not-a-store': 'pass the --out folder of `cbir embed`',
  'embeddings/bad-meta': `${REEMBED}, or import published vectors with \`cbir embeddings import-h5\``,
  'embeddings/missing-ids': REEMBED,
  'embeddings/ids-count': REEMBED,
  'embeddings/size': REEMBED,
  'embeddings/truncated': REEMBED,
  'embeddings/hash-mismatch': REEMBED,
  'embeddings/too-large':
    '`cbir index build` reads such a store in blocks; for `cbir eval` pass a --data with fewer rows, or score the neighbour lists of a knn.csv with --knn-csv',
  // `cbir embed merge`
  'merge/none':
    'pass the --out folders of all `cbir embed --shard i/n` runs: `cbir embed merge --out <dir> <shard dirs...>`',
  'merge/exists': 'pass another --out, or --force to replace it',
  'merge/not-a-shard': 'merge only the --out folders of `cbir embed --shard i/n` runs',
  'merge/mismatch': 'merge shards run with the same --model, --data, --batch and n in --shard i/n',
  'merge/missing': 'run `cbir embed --shard i/n` for them (same --data, --model, --batch), then merge all n',
  'merge/gap': 're-embed with `cbir embed --shard i/n` and the same --batch as the other shards',
  'merge/hash-mismatch': "rerun that shard's `cbir embed --shard i/n` with --force",
  // HDF5 import / export
  'h5/bad-name': 'rebuild the manifest with `cbir data prepare`',
  'h5/unknown-ids': 'pass the --data the store was embedded from',
  'h5/missing':
    'embed them with `cbir embed`, or pass --allow-missing to import the found rows only (then evaluate with `cbir eval --data <out>/manifest`)',
  'h5/non-finite': 're-embed it with `cbir embed`',
  // datasets
  'manifest/not-found': 'pass --data a folder made by `cbir data prepare --out <dir>`, or the CSV itself',
  'image/not-found':
    'when the images moved, edit "imagesRoot" in the dataset.json next to the manifest, or run the command with CBIR_IMAGES_ROOT=<folder>',
  'prepare/no-sources': 'pass --source <spec> (one or more) or --recipe <file.json>',
  'prepare/no-out': 'pass --out <dir>',
  'prepare/bad-seed': 'pass --seed 0 (any integer), or fix "seed" in the recipe',
  'prepare/bad-threshold':
    'e.g. --near-duplicates 2 (or off) and --similar 6 for `data prepare`, --threshold 2 for `data audit`',
  'knn/missing-embedding': 'embed every image of the split with `cbir embed`',
  'knn/bad-study-csv': {
    eval: 'pass --knn-csv the knn.csv of one experiment folder, and --data the manifest (splits) it was computed on',
  },
  // reports and figures
  'report/bad-store':
    'pass --embeddings the --out folder of `cbir embed` or `cbir embeddings import-h5`, or a folder of <dataset>.h5 files',
  'report/old-format': 're-run the same `cbir report` (or `cbir start`) command with this --out',
  'report/bad-format': 'pass `cbir figures --report` a folder written by `cbir report`',
  'figures/store-mismatch':
    "pass the report's own --data to `cbir figures` (or leave --data out: it is read from report.json); for `cbir report`, the matching --work",
  'figures/bad-row': "pass the report's own --data (or leave --data out: `cbir figures` reads it from report.json)",
  'figures/unknown-path':
    "pass the report's own --data (or leave --data out: `cbir figures` reads it from report.json)",
  'figures/bad-knn-csv': 'use the <model>/knn.csv written by `cbir report`',
  'figures/no-data':
    'run `cbir report` with this model first (the index-size figure also needs --index-size auto or study)',
  // models
  'model/unknown': '`cbir models list` shows them',
  'model/weights-missing':
    'run `cbir models pull <id>` (`cbir models pull <id> --url <url>` when its card has no onnx.url), or check the --model path',
  'model/no-cuda': 'pass --ep cpu (or leave --ep out)',
  'model/load': 'check the file with `cbir models verify <id>`; for CUDA problems try --ep cpu',
  'pull/no-url': 'pass --url <url> to `cbir models pull <id>`',
  'pull/url': 'pass an http(s) URL with --url',
  'pull/http':
    'pass the right URL with `cbir models pull <id> --url <url>`; after placing the file by hand, check it with `cbir models verify <id>`',
  'pull/offline': 'after copying the file, check it with `cbir models verify <id>`',
  'pull/interrupted': 'run the same `cbir models pull <id>` again to resume',
  'pull/not-a-model': 'check --url (or --hub, --file, --revision) of `cbir models pull <id>`',
  'pull/hub': 'e.g. `cbir models pull <id> --hub microsoft/resnet-50 --file onnx/model.onnx --revision main`',
  'model/reference-mismatch': 'run `cbir models verify <id>` for the per-image comparison',
  // saved indices and image search (`cbir index`, `cbir search`)
  'index/exists': { index: 'pass another --out, or --force to replace it' },
  'index/not-a-saved-index': 'pass the --out folder of `cbir index build` or `cbir index import-faiss`',
  'index/newer-version': 'update radcbir, or rebuild the index with `cbir index build`',
  'index/missing-embedding': {
    index:
      'embed the manifest first (`cbir embed --data <dir> --model <id> --out <store>`), or pass the --data the store was made from',
  },
  'index/no-manifest': { index: 'pass --data <manifest dir>, or --split all' },
  'search/model-mismatch': 'rebuild the index with `cbir index build` from embeddings of this model',
  'search/bad-filter': 'e.g. --filter modality=CT,dataset=<name>; `cbir index info <index dir>` lists the values',
  'search/no-queries': 'e.g. `cbir search --index <dir> knee.png scans/`',
  'search/eval-no-classes':
    'pass --data <manifest dir> --split test, or images of the manifest the index was built from',
  'search/dba-too-large': 'use `cbir report --rerank` for DBA, or --rerank qe / kreciprocal here',
  'search/no-vectors': 'build the index with `cbir index build` without --kind hnsw, or keep its --embeddings store',
  'search/bad-rerank':
    '--qe-n ≥ 1 and --qe-alpha ≥ 0; --rerank kreciprocal: 1 ≤ --k2 ≤ --k1 ≤ the index size, 0 ≤ --lambda ≤ 1',
  'faiss/unsupported': 'or build the index from embeddings: `cbir index build --embeddings <store>`',
  'faiss/metadata-count': 'pass the --metadata written together with this --faiss file',
  'faiss/dim-mismatch': 'pass the --model the vectors were made with (`cbir models list` shows the dimensions)',
};

/** The CLI line for an error raised while running `cbir <command>`, or undefined when there is none. */
export function cliHintFor(command: string, e: Pick<CbirError, 'code' | 'hint' | 'message'>): string | undefined {
  if (!e.code || !Object.hasOwn(CLI_HINTS, e.code)) return undefined;
  const h = CLI_HINTS[e.code];
  const line = typeof h === 'string' ? h : (h[command] ?? h['*']);
  if (!line) return undefined;
  const id = /\bmodel "([^"]+)"/.exec(e.message)?.[1];
  return id ? line.replaceAll('<id>', id) : line;
}
