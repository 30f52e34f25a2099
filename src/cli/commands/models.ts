import { parseArgs } from 'node:util';
import {
  CbirError,
  findCard,
  listModels,
  pullModel,
  verifyModel,
  REFERENCE_MIN_COSINE,
  CARDS_DIR,
  weightsDirs,
  formatDuration,
  type ProgressListener,
  type VerifyResult,
} from '../../workbench/index.js';

export const summary = 'model cards and weights: `models list`, `models pull <id>`, `models verify <id>`';

export const usage = `usage:
  cbir models list [--json]
  cbir models pull <id> [--url URL | --hub ORG/REPO [--file PATH] [--revision REV]] [--dest FILE]
  cbir models verify <id> [--model FILE] [--json]

list    every model: built-in ONNX graphs (tiny-*, no download), built-in descriptors, and the
        study's 12 models (cards in models/<id>.json) with whether their ONNX file is present
        and whether its reference check passed.
        --json prints [{id, name, dim, builtin, weightsPresent, kind, path, referenceCheck}].
pull    download a study model's ONNX file from its card's onnx.url, --url, or a Hugging Face
        repository (--hub; URL <hub>/<org/repo>/resolve/<revision, default main>/<file, default
        the card's onnx.file>; hub: $CBIR_HUB_URL or https://huggingface.co) into $CBIR_MODELS or
        models/weights/, resuming an interrupted download. The download replaces the file in
        place only when its sha256 matches the card's (or, for a card without one, the sha256
        recorded in models.lock.json beside it on the first download) and onnxruntime loads it
        with the card's input/output names and shapes; then it is verified.
        Offline: export it with models/export/export_onnx.py (see models/export/README.md).
verify  check that the ONNX file is present, matches the card's (or the lock file's) sha256,
        loads in onnxruntime, has the card's input/output names and shapes, gives a finite
        embedding of the card's dim, gives four distinct phantom images embeddings that are not
        zero and not all the same, and reproduces its reference embeddings (<id>.reference.json
        from export_onnx.py): radcbir's preprocessing + onnxruntime against torch, cosine
        ≥ ${REFERENCE_MIN_COSINE} on every reference image, naming the stage that differs.
        --json prints {id, ok, reference: {images, minCosine, maxAbsDiff, preprocessMaxAbsDiff, …}, …}.

Weights are looked for in: ${weightsDirs().join(', ')}`;

function mb(n: number): string {
  return (n / 1e6).toFixed(1);
}

function bytesProgress(stream: NodeJS.WriteStream = process.stderr): ProgressListener {
  let last = 0;
  let finished = false;
  return (e) => {
    const complete = e.total > 0 && e.done >= e.total;
    if (finished) return;
    finished = complete;
    const total = e.total > 0 ? `/${mb(e.total)}` : '';
    const text = `${e.phase} ${mb(e.done)}${total} MB ${mb(e.rate)} MB/s ETA ${formatDuration(e.etaSeconds)}`;
    if (stream.isTTY) {
      stream.write(`\r${text}\x1b[K`);
      if (complete) stream.write('\n');
    } else if (Date.now() - last > 5000 || complete) {
      last = Date.now();
      stream.write(`${text}\n`);
    }
  };
}

async function list(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: false });
  const models = await listModels();
  if (values.json) {
    console.log(
      JSON.stringify(
        models.map((m) => ({
          id: m.id,
          name: m.name,
          dim: m.dim,
          builtin: m.builtin,
          weightsPresent: m.weightsPresent,
          kind: m.kind,
          path: m.path,
          referenceCheck: m.referenceCheck ?? null,
        })),
        null,
        2,
      ),
    );
    return 0;
  }
  const rows = models.map((m) => [
    m.id,
    m.kind,
    String(m.dim),
    m.builtin ? 'built-in' : m.weightsPresent ? 'present' : 'missing',
    m.referenceCheck ?? '-',
    m.studyName ? `${m.name} [${m.studyName}]` : m.name,
  ]);
  const head = ['id', 'kind', 'dim', 'weights', 'reference', 'name'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('  ');
  console.log([line(head), ...rows.map(line)].join('\n'));
  const missing = models.filter((m) => !m.weightsPresent).length;
  if (missing)
    console.log(
      `\n${missing} study model(s) without weights: \`cbir models pull <id>\` or export them (models/export/README.md).`,
    );
  return 0;
}

function studyCard(id: string | undefined, cmd: string) {
  if (!id)
    throw new CbirError(`missing model id`, {
      file: `cbir models ${cmd}`,
      hint: `usage: cbir models ${cmd} <id>; ids: \`cbir models list\``,
      code: 'models/usage',
    });
  const card = findCard(id);
  if (!card)
    throw new CbirError(`no model card for "${id}"`, {
      file: CARDS_DIR,
      hint: 'see `cbir models list` for the ids (descriptors have no weights to pull or verify)',
      code: 'models/unknown',
    });
  return card;
}

async function pull(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      url: { type: 'string' },
      hub: { type: 'string' },
      file: { type: 'string' },
      revision: { type: 'string' },
      dest: { type: 'string' },
    },
    allowPositionals: true,
  });
  const card = studyCard(positionals[0], 'pull');
  if (card.builtin) {
    console.log(`${card.id} is built in (written to .cache/models on first use); nothing to pull.`);
    return 0;
  }
  if (values.url && values.hub)
    throw new CbirError('give either --url or --hub, not both', { file: 'cbir models pull', code: 'models/usage' });
  if (!values.hub && (values.file || values.revision))
    throw new CbirError('--file and --revision name a file of a --hub repository', {
      file: 'cbir models pull',
      hint: `e.g. cbir models pull ${card.id} --hub <org/repo> --file ${card.onnx.file} --revision main`,
      code: 'models/usage',
    });
  const hub = values.hub ? { repo: values.hub, file: values.file, revision: values.revision } : undefined;
  const r = await pullModel(card, { url: values.url, hub, dest: values.dest, onProgress: bytesProgress() });
  const check = r.pinnedBy === 'card' ? ' ✓ matches the card' : r.pinnedBy === 'lock' ? ' ✓ matches the lock file' : '';
  console.log(
    `${card.id}: ${r.path} (${r.resumedFrom ? `resumed at ${mb(r.resumedFrom)} MB, ` : ''}${mb(r.downloaded)} MB fetched from ${r.url}) sha256 ${r.sha256}${check}`,
  );
  if (r.recordedIn)
    console.log(`  the card has no sha256: recorded ${r.sha256} in ${r.recordedIn}; later pulls and verify check it`);
  const v = await verifyModel(card, { modelPath: r.path });
  printVerify(v, false);
  return v.ok ? 0 : 1;
}

/** A cosine close to 1 as "1 − 1.4e-10", else with 6 decimals. */
function cosine(c: number): string {
  return c > 0.999999 && c <= 1 ? `1 − ${(1 - c).toExponential(1)}` : c.toFixed(6);
}

function printVerify(v: VerifyResult, head: boolean): void {
  if (head) console.log(`${v.id}: ${v.ok ? 'OK' : 'FAILED'}${v.path ? ` (${v.path})` : ''}`);
  if (head && v.sha256) {
    const by = v.pinnedBy === 'lock' ? 'the lock file' : 'the card';
    console.log(`  sha256 ${v.sha256}${v.expectedSha256 && v.sha256 === v.expectedSha256 ? ` matches ${by}` : ''}`);
  }
  const ref = v.reference;
  if (ref) {
    const numbers = `${ref.images} images, min cosine ${cosine(ref.minCosine)} (${ref.worst}), max |Δ| ${ref.maxAbsDiff.toExponential(2)}, preprocessed tensor max |Δ| ${ref.preprocessMaxAbsDiff.toExponential(2)}`;
    console.log(
      ref.ok
        ? `  reference: ${numbers} ✓ same as torch (${ref.pipeline})`
        : `  reference: FAILED, stage that differs: ${ref.stage === 'both' ? 'preprocessing and graph' : ref.stage === 'graph' ? 'graph output' : ref.stage === 'preprocess' ? 'preprocessed tensor' : 'none'}; ${numbers}`,
    );
  }
  for (const w of v.warnings) console.log(`  note: ${w}`);
  for (const p of v.problems) console.error(`  problem: ${p}`);
}

async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { model: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
  });
  const card = studyCard(positionals[0], 'verify');
  const v = await verifyModel(card, { modelPath: values.model });
  if (values.json) {
    const ref = v.reference;
    const reference = ref && {
      images: ref.images,
      minCosine: ref.minCosine,
      maxAbsDiff: ref.maxAbsDiff,
      preprocessMaxAbsDiff: ref.preprocessMaxAbsDiff,
      graphCosine: ref.graphCosine,
      stage: ref.stage,
      worst: ref.worst,
      file: ref.file,
      perImage: ref.perImage,
    };
    const { id, ok, path, sha256, expectedSha256, pinnedBy, problems, warnings } = v;
    console.log(
      JSON.stringify({ id, ok, reference, path, sha256, expectedSha256, pinnedBy, problems, warnings }, null, 2),
    );
  } else printVerify(v, true);
  return v.ok ? 0 : 1;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'list') return list(rest);
  if (sub === 'pull') return pull(rest);
  if (sub === 'verify') return verify(rest);
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    console.log(usage);
    return sub === undefined ? 1 : 0;
  }
  throw new CbirError(`unknown subcommand "${sub}"`, {
    file: 'cbir models',
    hint: 'use `cbir models list`, `cbir models pull <id>` or `cbir models verify <id>`; see `cbir models --help`',
    code: 'models/unknown-subcommand',
  });
}
