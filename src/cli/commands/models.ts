import { parseArgs } from 'node:util';
import {
  CbirError,
  findCard,
  listModels,
  pullModel,
  verifyModel,
  CARDS_DIR,
  weightsDirs,
  formatDuration,
  type ProgressListener,
} from '../../workbench/index.js';

export const summary = 'model cards and weights: `models list`, `models pull <id>`, `models verify <id>`';

export const usage = `usage:
  cbir models list [--json]
  cbir models pull <id> [--url URL] [--dest FILE]
  cbir models verify <id> [--model FILE]

list    every model: built-in ONNX graphs (tiny-*, no download), built-in descriptors, and the
        study's 12 models (cards in models/<id>.json) with whether their ONNX file is present.
        --json prints [{id, name, dim, builtin, weightsPresent, kind, path}].
pull    download a study model's ONNX file from its card's onnx.url (or --url) into
        $CBIR_MODELS or models/weights/, resuming an interrupted download and checking the
        card's sha256; then verifies it. Offline: export it with models/export/export_onnx.py
        (see models/export/README.md) and copy it there by hand.
verify  check that the ONNX file is present, matches the card's sha256, loads in onnxruntime,
        has the card's input/output names and shapes, and gives a finite embedding of card's dim.

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
    m.studyName ? `${m.name} [${m.studyName}]` : m.name,
  ]);
  const head = ['id', 'kind', 'dim', 'weights', 'name'];
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
    options: { url: { type: 'string' }, dest: { type: 'string' } },
    allowPositionals: true,
  });
  const card = studyCard(positionals[0], 'pull');
  if (card.builtin) {
    console.log(`${card.id} is built in (written to .cache/models on first use); nothing to pull.`);
    return 0;
  }
  const r = await pullModel(card, { url: values.url, dest: values.dest, onProgress: bytesProgress() });
  console.log(
    `${card.id}: ${r.path} (${r.resumedFrom ? `resumed at ${mb(r.resumedFrom)} MB, ` : ''}${mb(r.downloaded)} MB fetched) sha256 ${r.sha256}${r.verified ? ' ✓ matches the card' : ' (card has no sha256 to check against)'}`,
  );
  const v = await verifyModel(card, { modelPath: r.path });
  for (const w of v.warnings) console.log(`  note: ${w}`);
  for (const p of v.problems) console.error(`  problem: ${p}`);
  return v.ok ? 0 : 1;
}

async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { model: { type: 'string' } }, allowPositionals: true });
  const card = studyCard(positionals[0], 'verify');
  const v = await verifyModel(card, { modelPath: values.model });
  console.log(`${card.id}: ${v.ok ? 'OK' : 'FAILED'}${v.path ? ` (${v.path})` : ''}`);
  if (v.sha256)
    console.log(
      `  sha256 ${v.sha256}${v.expectedSha256 ? (v.sha256 === v.expectedSha256 ? ' matches the card' : '') : ''}`,
    );
  for (const w of v.warnings) console.log(`  note: ${w}`);
  for (const p of v.problems) console.error(`  problem: ${p}`);
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
