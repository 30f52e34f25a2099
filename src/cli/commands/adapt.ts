import { relative } from 'node:path';
import {
  adaptEmbeddings,
  consoleProgress,
  openEmbeddings,
  readManifest,
  saveAdaptedStore,
  type AdapterKind,
} from '../../workbench/index.js';
import { choiceOption, intOption, missingOption, parseOptions } from '../options.js';

export const summary = 'train a light adapter on frozen embeddings (train split, early-stopped on val) → a new store';

export const usage = `usage: cbir adapt --data <manifest dir> --embeddings <store> --out <store dir> [options]

Trains a residual linear (or one-hidden-layer) projection of the embeddings on the train split
with the supervised contrastive loss, keeps the epoch with the best val P@1 (epoch 0 is the
frozen embeddings, so the result is never worse on val), and writes every row, adapted and
L2-normalised, as a new store. Test rows are never used for training or for any choice.
Score it like any store: cbir report --data <dir> --embeddings <store>,<adapted store> --out <dir>

options:
  --kind linear|mlp     adapter (default linear)
  --hidden <n>          hidden width of the mlp (default 256)
  --epochs <n>          most epochs (default 40); --patience <n> epochs without a val gain (default 5)
  --batch <n>           rows per batch (default 256)
  --lr <x>              AdamW learning rate (default 0.001)
  --temperature <x>     SupCon temperature (default 0.1)
  --seed <n>            seed (default 0)`;

function numberOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0)) throw missingOption(`--${name} must be a positive number, got "${v}"`, usage);
  return n;
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseOptions('adapt', {
    args,
    options: {
      data: { type: 'string' },
      embeddings: { type: 'string' },
      out: { type: 'string' },
      kind: { type: 'string' },
      hidden: { type: 'string' },
      epochs: { type: 'string' },
      patience: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      temperature: { type: 'string' },
      seed: { type: 'string' },
    },
    allowPositionals: false,
    strict: true,
  });
  if (!values.data || !values.embeddings || !values.out)
    throw missingOption('--data, --embeddings and --out are required', usage);
  const manifest = await readManifest(values.data);
  const store = await openEmbeddings(values.embeddings);
  const result = await adaptEmbeddings(manifest, store, {
    kind: choiceOption<AdapterKind>(values.kind, 'kind', ['linear', 'mlp']),
    hidden: intOption(values.hidden, 'hidden', 1),
    epochs: intOption(values.epochs, 'epochs', 1),
    patience: intOption(values.patience, 'patience', 1),
    batch: intOption(values.batch, 'batch', 2),
    lr: numberOption(values.lr, 'lr'),
    temperature: numberOption(values.temperature, 'temperature'),
    seed: intOption(values.seed, 'seed'),
    onProgress: consoleProgress(),
  });
  const meta = await saveAdaptedStore(result, store, values.out);
  const { history, bestEpoch } = result.trained;
  console.log(
    `val P@1 ${history[0].valP1.toFixed(4)} (frozen) → ${history[bestEpoch].valP1.toFixed(4)} (epoch ${bestEpoch} of ${history.length - 1}); ` +
      `fitted on ${result.rows.train} train rows, stopped on ${result.rows.val} val rows`,
  );
  console.log(
    `${meta.modelId}: ${meta.count} rows × ${meta.dim} in ${relative(process.cwd(), values.out) || values.out}`,
  );
  return 0;
}
