import { CbirError, readManifest, consoleProgress, embeddingsInfo, exportH5, importH5 } from '../../workbench/index.js';
import { parseOptions } from '../options.js';

export const summary = "embedding stores: `info`, `import-h5` / `export-h5` (the study's HDF5 layout)";

export const usage = `usage:
  cbir embeddings info <store dir> [--json] [--verify]
  cbir embeddings import-h5 --data <manifest dir> --out <store dir> [--model <id>] [--allow-missing] <h5 folder or files...>
  cbir embeddings export-h5 --data <manifest dir> --out <folder> <store dir>

info prints count, dim, model id and the content hash (sha256 over vectors.f32 and ids.txt);
--verify recomputes the hash from the files.
The HDF5 layout is the study's published one: one <dataset>.h5 per source dataset, one float32
vector per image named by its manifest filepath (normalised; when paths climb out of the images
root with "..", by the path below the folder holding all the images). import-h5 matches the files
against a manifest (missing paths are refused unless --allow-missing, which also writes the
manifest of the imported rows to <out>/manifest for \`cbir eval --data\`; paths not in the
manifest are reported and ignored), so published embeddings can be evaluated without re-embedding.`;

async function info(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions('embeddings info', {
    args,
    options: { json: { type: 'boolean' }, verify: { type: 'boolean' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1)
    throw new CbirError('give one store folder', {
      hint: 'cbir embeddings info <dir> [--json]',
      code: 'embeddings/args',
    });
  const i = await embeddingsInfo(positionals[0], { verify: values.verify });
  if (values.json) {
    console.log(JSON.stringify(i, null, 2));
    return 0;
  }
  const lines = [
    `store        ${i.dir}`,
    `model        ${i.modelId}`,
    `count × dim  ${i.count} × ${i.dim} (${(i.bytes / 2 ** 20).toFixed(1)} MiB float32)`,
    `content hash ${i.contentHash}${i.verified ? ' (verified)' : ''}`,
    `fingerprint  ${i.fingerprint}`,
    `manifest     ${i.manifestHash}`,
    `created      ${i.created}`,
  ];
  if (i.batchSize !== undefined) lines.push(`batch size   ${i.batchSize}`);
  if (i.shard)
    lines.push(
      `shard        ${i.shard.index}/${i.shard.count}: rows ${i.shard.start}–${i.shard.end} of ${i.shard.total}`,
    );
  if (i.source) lines.push(`source       ${JSON.stringify(i.source)}`);
  console.log(lines.join('\n'));
  return 0;
}

async function importCmd(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions('embeddings import-h5', {
    args,
    options: {
      data: { type: 'string' },
      out: { type: 'string' },
      model: { type: 'string' },
      'allow-missing': { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
    },
    allowPositionals: true,
  });
  if (!values.data)
    throw new CbirError('no manifest given', {
      file: '--data',
      hint: 'pass --data <dir> made by `cbir data prepare`',
      code: 'embeddings/no-data',
    });
  if (!values.out)
    throw new CbirError('no output folder given', {
      file: '--out',
      hint: 'pass --out <store dir>',
      code: 'embeddings/no-out',
    });
  if (positionals.length === 0)
    throw new CbirError('no HDF5 files given', {
      hint: 'pass the folder holding <dataset>.h5 files (or the files)',
      code: 'embeddings/no-h5',
    });
  const manifest = await readManifest(values.data, { onProgress: values.quiet ? undefined : consoleProgress() });
  const r = await importH5({
    manifest,
    from: positionals,
    out: values.out,
    modelId: values.model,
    allowMissing: values['allow-missing'],
    onProgress: values.quiet ? undefined : consoleProgress(),
  });
  const lines = [
    `imported ${r.found} of ${manifest.size} manifest images from ${r.files.length} file(s) → ${values.out}: dim ${r.meta.dim}, model ${r.meta.modelId}, content hash ${r.meta.contentHash}`,
  ];
  if (r.missing > 0)
    lines.push(
      `${r.missing} manifest paths were not in the files (left out), e.g. ${r.missingExamples.slice(0, 3).join(', ')}`,
    );
  if (r.subset)
    lines.push(
      `the store holds the ${r.found} rows found; evaluate it with their manifest: cbir eval --data ${r.subset.manifestDir} --embeddings ${values.out} --out <dir> (missing paths listed in ${r.subset.missingList})`,
    );
  if (r.extra > 0)
    lines.push(
      `${r.extra} vectors in the files are not in the manifest (ignored), e.g. ${r.extraExamples.slice(0, 3).join(', ')}`,
    );
  if (r.renormalized > 0) lines.push(`${r.renormalized} vectors were not unit length and were L2-normalised`);
  console.log(lines.join('\n'));
  return 0;
}

async function exportCmd(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions('embeddings export-h5', {
    args,
    options: { data: { type: 'string' }, out: { type: 'string' }, quiet: { type: 'boolean', short: 'q' } },
    allowPositionals: true,
  });
  if (!values.data)
    throw new CbirError('no manifest given', {
      file: '--data',
      hint: 'pass the --data <dir> the store was embedded from (it names the source dataset of each image)',
      code: 'embeddings/no-data',
    });
  if (!values.out)
    throw new CbirError('no output folder given', {
      file: '--out',
      hint: 'pass --out <folder> for the <dataset>.h5 files',
      code: 'embeddings/no-out',
    });
  if (positionals.length !== 1)
    throw new CbirError('give one store folder', {
      hint: 'cbir embeddings export-h5 --data <dir> --out <folder> <store dir>',
      code: 'embeddings/args',
    });
  const manifest = await readManifest(values.data, { onProgress: values.quiet ? undefined : consoleProgress() });
  const r = await exportH5({
    manifest,
    store: positionals[0],
    out: values.out,
    onProgress: values.quiet ? undefined : consoleProgress(),
  });
  console.log(r.files.map((f) => `${f.file}: ${f.count} vectors (${f.dataset})`).join('\n'));
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'info') return info(rest);
  if (sub === 'import-h5') return importCmd(rest);
  if (sub === 'export-h5') return exportCmd(rest);
  throw new CbirError(sub ? `unknown subcommand "${sub}"` : 'no subcommand given', {
    hint: 'use `cbir embeddings info|import-h5|export-h5`; see `cbir embeddings --help`',
    code: 'embeddings/subcommand',
  });
}
