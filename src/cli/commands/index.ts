import { parseArgs } from 'node:util';
import {
  CbirError,
  buildSavedIndex,
  closeSavedIndex,
  consoleProgress,
  importFaissIndex,
  readManifest,
  saveSavedIndex,
  savedIndexSummary,
  type IndexParams,
  type SavedIndex,
} from '../../workbench/index.js';
import { choiceOption, intOption } from '../options.js';

export const summary = "saved search indices: `build` (from embeddings), `import-faiss` (the study's database), `info`";

export const usage = `usage:
  cbir index build --embeddings <store dir> [--data <manifest dir>] [--split train|val|test|all]
                   [--kind exact|hnsw] --out <index dir> [--images-root <dir>] [--force] [--quiet]
  cbir index import-faiss --faiss <faiss.index> --metadata <metadata.json> --model <id>
                   [--data <manifest dir>] [--kind exact|hnsw] --out <index dir> [--images-root <dir>] [--force]
  cbir index info <index dir> [--json]

build indexes an embedding store (\`cbir embed --out\`). With --data the rows get their labels
(class, dataset, modality, region, split) and only the --split is indexed (default train, the
study's index); without --data every row is indexed, unlabelled.
import-faiss reads the study's published vector database: a FAISS IndexFlatIP (or IndexFlatL2 of
unit vectors) and its metadata.json (the image paths in index order); --model names the model the
vectors were made with, so \`cbir search\` embeds queries the same way. --data labels the rows.

The folder holds index.json (format radcbir-index, version 1: model id, fingerprint, card hash,
preprocessing, sources), vectors.index (the vectors, or the HNSW graph) and rows.csv. Image paths
are kept as the manifest gives them, relative to its images root; index.json records that root
relative to the index folder and absolute, so the paths resolve when the index moves (alone, or
together with the data). --images-root sets the root (default: the manifest's).

HNSW options (with --kind hnsw): --connectivity 16 --expansion-add 128 --expansion-search 128
--quantization f32|f16|bf16|i8.`;

const OPTIONS = {
  embeddings: { type: 'string' },
  data: { type: 'string' },
  split: { type: 'string' },
  kind: { type: 'string' },
  out: { type: 'string' },
  faiss: { type: 'string' },
  metadata: { type: 'string' },
  model: { type: 'string' },
  'images-root': { type: 'string' },
  connectivity: { type: 'string' },
  'expansion-add': { type: 'string' },
  'expansion-search': { type: 'string' },
  quantization: { type: 'string' },
  threads: { type: 'string' },
  force: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  json: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function required(v: string | undefined, flag: string, hint: string): string {
  if (!v) throw new CbirError(`${flag} is required`, { file: flag, hint, code: 'cli/missing-option' });
  return v;
}

/** The index kind and parameters of --kind and the HNSW flags. */
function indexParams(v: Values): IndexParams {
  const kind = choiceOption(v.kind, 'kind', ['exact', 'hnsw'] as const) ?? 'exact';
  const threads = intOption(v.threads, 'threads', 1);
  if (kind === 'exact') return { kind, threads };
  return {
    kind,
    connectivity: intOption(v.connectivity, 'connectivity', 2),
    expansionAdd: intOption(v['expansion-add'], 'expansion-add', 1),
    expansionSearch: intOption(v['expansion-search'], 'expansion-search', 1),
    quantization: choiceOption(v.quantization, 'quantization', ['f32', 'f16', 'bf16', 'i8'] as const),
    threads,
  };
}

async function saveAndReport(saved: SavedIndex, out: string, force: boolean | undefined): Promise<number> {
  try {
    const s = await saveSavedIndex(saved, out, { overwrite: force });
    const i = s.info;
    console.log(
      `indexed ${i.size} × ${i.dim} (${i.kind}, model ${i.model.id}) → ${out}` +
        (i.manifest ? ` (${i.manifest.split} split of ${i.manifest.absoluteDir})` : ' (no manifest: rows unlabelled)'),
    );
    if (i.source.kind === 'faiss') {
      const src = i.source;
      console.log(
        `FAISS ${src.fourcc} (${src.metric === 'ip' ? 'inner product' : 'L2 over unit vectors = cosine ranking'})` +
          (src.inManifest !== null ? `; ${src.inManifest} of ${i.size} paths found in the manifest` : '') +
          (src.unitVectors ? '' : '; note: not all vectors have unit length, similarities are raw inner products'),
      );
    }
    if (!s.imagesRoot) console.log('note: no images root known; pass --images-root (or --data) to show result images');
    return 0;
  } finally {
    await closeSavedIndex(saved);
  }
}

async function build(v: Values): Promise<number> {
  const store = required(v.embeddings, '--embeddings', 'pass --embeddings <store dir> (the --out of `cbir embed`)');
  const out = required(v.out, '--out', 'pass --out <index dir>');
  const split = choiceOption(v.split, 'split', ['train', 'val', 'test', 'all'] as const);
  const manifest = v.data ? await readManifest(v.data) : undefined;
  const saved = await buildSavedIndex({
    store,
    manifest,
    split,
    index: indexParams(v),
    imagesRoot: v['images-root'],
    onProgress: v.quiet ? undefined : consoleProgress(),
  });
  return saveAndReport(saved, out, v.force);
}

async function importFaiss(v: Values): Promise<number> {
  const faiss = required(v.faiss, '--faiss', 'pass --faiss <faiss.index>');
  const metadata = required(v.metadata, '--metadata', 'pass --metadata <metadata.json> (written next to faiss.index)');
  const model = required(v.model, '--model', 'pass --model <id> of the model the vectors were made with');
  const out = required(v.out, '--out', 'pass --out <index dir>');
  const manifest = v.data ? await readManifest(v.data) : undefined;
  const saved = await importFaissIndex({
    faiss,
    metadata,
    model,
    manifest,
    index: indexParams(v),
    imagesRoot: v['images-root'],
    onProgress: v.quiet ? undefined : consoleProgress(),
  });
  return saveAndReport(saved, out, v.force);
}

async function info(v: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 1)
    throw new CbirError('give one index folder', {
      hint: 'cbir index info <index dir> [--json]',
      code: 'cli/bad-args',
    });
  const s = await savedIndexSummary(positionals[0]);
  if (v.json) {
    console.log(JSON.stringify(s, null, 2));
    return 0;
  }
  const i = s.info;
  const m = i.model;
  const counts = (c: Record<string, number>) =>
    Object.entries(c)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || '(unlabelled)';
  const src =
    i.source.kind === 'embeddings'
      ? `embeddings ${i.source.absoluteDir} (content hash ${i.source.contentHash.slice(0, 16)}…)`
      : `FAISS ${i.source.fourcc} ${i.source.file} + ${i.source.metadata}`;
  const lines = [
    `index        ${s.dir}`,
    `format       ${i.format} v${i.version}, created ${i.created}`,
    `kind         ${i.kind} (${Object.entries(i.params)
      .map(([k, x]) => `${k}=${x}`)
      .join(', ')})`,
    `size × dim   ${i.size} × ${i.dim} (${(s.bytes / 2 ** 20).toFixed(1)} MiB on disk)`,
    `model        ${m.id} (${m.kind}); fingerprint ${m.fingerprint ?? '(unknown: imported vectors)'}; card hash ${m.cardHash ?? '(unknown model)'}`,
    `preprocess   ${m.preprocess ? JSON.stringify(m.preprocess) : m.kind === 'descriptor' ? '(built-in descriptor)' : '(none recorded)'}`,
    `source       ${src}`,
    `manifest     ${i.manifest ? `${i.manifest.absoluteDir} (${i.manifest.split} split, hash ${i.manifest.hash.slice(0, 16)}…)` : '(none: rows unlabelled)'}`,
    `images root  ${s.imagesRoot ?? '(unknown)'}${s.imagesRoot && !s.imagesFound ? ' (not found)' : ''}`,
    `modalities   ${counts(s.counts.modality)}`,
    `datasets     ${counts(s.counts.dataset)}`,
    `classes      ${s.counts.classes}`,
  ];
  console.log(lines.join('\n'));
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true });
  if (sub === 'info') return info(values, positionals);
  if (positionals.length > 0)
    throw new CbirError(`unexpected argument "${positionals[0]}"`, {
      hint: 'see `cbir index --help`',
      code: 'cli/bad-args',
    });
  if (sub === 'build') return build(values);
  if (sub === 'import-faiss') return importFaiss(values);
  throw new CbirError(sub ? `unknown subcommand "${sub}"` : 'no subcommand given', {
    hint: 'use `cbir index build|import-faiss|info`; see `cbir index --help`',
    code: 'cli/bad-args',
  });
}
