import {
  CbirError,
  readManifest,
  consoleProgress,
  embedManifest,
  parseShard,
  mergeShards,
  shardFromEnv,
  loadExtractor,
} from '../../workbench/index.js';
import { epOption, intOption, parseOptions } from '../options.js';

export const summary = 'embed a manifest with a model (resumable, shardable): `embed`, `embed merge`';

export const usage = `usage:
  cbir embed --data <manifest dir> --model <id> --out <dir>
             [--batch 32] [--shard i/n | --shard auto [--shards N]] [--workers N] [--threads N]
             [--ep cpu|cuda] [--force] [--quiet]
  cbir embed merge --out <dir> [--force] <shard dir> <shard dir> ...

Embeds every image of the manifest (or, with --shard i/n, the i-th of n contiguous slices,
counting from 0) and writes an embedding store to --out: vectors.f32 (float32 rows, L2-normalised),
ids.txt (the manifest filepaths) and meta.json (model, fingerprint, manifest hash, content hash).
Models: \`cbir models list\` (built-in descriptors such as hog4x4x9 or classic need no download).

The run is resumable: if it stops (Ctrl-C, kill -9, a crash, a bad image), rerun the same command
and it continues after the last completed batch; the result is byte-identical to an uninterrupted
run. A folder holding embeddings of another manifest, model, --batch or shard is refused; use a
new --out or --force. Keep --batch the same across a resume and across the shards of one job array.

  --workers N   threads that decode (and preprocess) images; 0 = in the main thread
  --threads N   onnxruntime intra-op threads (ONNX models)
  --ep          execution provider for ONNX models: cpu (default) or cuda

Job arrays: run \`cbir embed ... --shard $TASK_ID/N --out shards/$TASK_ID\` for TASK_ID = 0..N-1,
then \`cbir embed merge --out <dir> shards/*\`. --shard auto reads the shard from the scheduler:
  SLURM       SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT (or _MIN/_MAX); any contiguous --array
  LSF         LSB_JOBINDEX with LSB_JOBINDEX_END; bsub -J "name[1-N]"
  PBS/Torque  PBS_ARRAY_INDEX (qsub -J 0-N-1) or PBS_ARRAYID (qsub -t 0-N-1); needs --shards N
  Kubernetes  JOB_COMPLETION_INDEX (Indexed Job); needs --shards N
  --shards N  the number of tasks in the array (checked against the scheduler's count when it has one)`;

async function merge(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions('embed merge', {
    args,
    options: { out: { type: 'string' }, force: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    allowPositionals: true,
  });
  if (!values.out)
    throw new CbirError('no output folder given', {
      file: '--out',
      hint: 'cbir embed merge --out <dir> <shard dirs...>',
      code: 'merge/no-out',
    });
  const meta = await mergeShards(positionals, values.out, {
    force: values.force,
    onProgress: values.quiet ? undefined : consoleProgress(),
  });
  console.log(
    `merged ${positionals.length} shards → ${values.out}: ${meta.count} × ${meta.dim} (${meta.modelId}), content hash ${meta.contentHash}`,
  );
  return 0;
}

const EMBED_OPTIONS = {
  data: { type: 'string' },
  model: { type: 'string' },
  out: { type: 'string' },
  batch: { type: 'string' },
  shard: { type: 'string' },
  shards: { type: 'string' },
  workers: { type: 'string' },
  threads: { type: 'string' },
  ep: { type: 'string' },
  force: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

/** The required options, each with a hint saying what to give. */
function requireOptions(values: { data?: string; model?: string; out?: string }): {
  data: string;
  model: string;
  out: string;
} {
  const missing = (what: string, flag: string, hint: string, code: string) =>
    new CbirError(what, { file: flag, hint, code });
  if (!values.data)
    throw missing('no manifest given', '--data', 'pass --data <dir> made by `cbir data prepare`', 'embed/no-data');
  if (!values.model) {
    const hint = 'pass --model <id>; `cbir models list` shows them (e.g. --model classic needs no download)';
    throw missing('no model given', '--model', hint, 'embed/no-model');
  }
  if (!values.out)
    throw missing('no output folder given', '--out', 'pass --out <dir>, e.g. --out runs/emb/classic', 'embed/no-out');
  return { data: values.data, model: values.model, out: values.out };
}

/**
 * `--shard i/n`, `--shard auto` (from the job array's environment, printed with the variables it
 * came from) or none; `--shards N` goes with auto.
 */
function resolveShard(
  shard: string | undefined,
  shards: string | undefined,
): { index: number; count: number } | undefined {
  const n = intOption(shards, 'shards', 1);
  if (shard?.trim() !== 'auto') {
    if (n !== undefined)
      throw new CbirError('--shards goes with --shard auto', {
        hint: 'pass --shard auto --shards N inside a job array, or --shard i/n alone',
        code: 'embed/bad-shard',
      });
    return shard !== undefined ? parseShard(shard) : undefined;
  }
  const s = shardFromEnv(process.env, { shards: n });
  console.log(`shard ${s.index}/${s.count} from ${s.scheduler} (${s.source})`);
  return { index: s.index, count: s.count };
}

/** What `cbir embed` prints when done. */
function printResult(out: string, r: Awaited<ReturnType<typeof embedManifest>>): void {
  const m = r.meta;
  const what = m.shard
    ? `rows ${m.shard.start}–${m.shard.end} of ${m.shard.total} (shard ${m.shard.index}/${m.shard.count})`
    : `${m.count} images`;
  if (r.alreadyComplete) {
    console.log(`already complete: ${out} holds ${what} × ${m.dim} (${m.modelId}), content hash ${m.contentHash}`);
  } else {
    const resumed = r.resumed > 0 ? `, ${r.resumed} resumed from an earlier run` : '';
    const changed = r.changed > 0 ? `, ${r.changed} images changed since the last run (${r.reused} rows reused)` : '';
    console.log(
      `embedded ${what} with ${m.modelId} → ${out}: dim ${m.dim}${resumed}${changed}, content hash ${m.contentHash}`,
    );
  }
  if (m.shard) {
    console.log(
      `when all ${m.shard.count} shards are done: cbir embed merge --out <dir> <the ${m.shard.count} shard folders>`,
    );
  }
}

export async function run(args: string[]): Promise<number> {
  if (args[0] === 'merge') return merge(args.slice(1));
  const { values, positionals } = parseOptions('embed', { args, options: EMBED_OPTIONS, allowPositionals: true });
  if (positionals.length > 0) {
    throw new CbirError(`unexpected argument "${positionals[0]}"`, {
      hint: 'see `cbir embed --help`',
      code: 'embed/bad-args',
    });
  }
  const { data, model, out } = requireOptions(values);
  const batchSize = intOption(values.batch, 'batch', 1) ?? 32;
  const workers = intOption(values.workers, 'workers', 0);
  const threads = intOption(values.threads, 'threads', 1);
  const ep = epOption(values.ep) ?? 'cpu';
  const shard = resolveShard(values.shard, values.shards);
  const manifest = await readManifest(data);
  const extractor = await loadExtractor(model, { executionProvider: ep, intraOpThreads: threads, batchSize });
  try {
    const onProgress = values.quiet ? undefined : consoleProgress();
    const r = await embedManifest({
      manifest,
      extractor,
      out,
      batchSize,
      shard,
      workers,
      force: values.force,
      onProgress,
    });
    printResult(out, r);
    return 0;
  } finally {
    await extractor.close();
  }
}
