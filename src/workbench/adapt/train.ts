/**
 * Training a light adapter on frozen train-split embeddings with the supervised contrastive
 * loss, early-stopped on val P@1 (val queries against the adapted train index). Test rows are
 * never an input here: leakage is impossible by construction.
 */
import { CbirError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { exactSearchPlain } from '../search/index.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { Adapter, type AdapterKind } from './adapter.js';
import { normalizeBackward, normalizeRows, supConLoss } from './supcon.js';

export interface AdapterSplit {
  /** Unit rows, n × dim. */
  x: Float32Array;
  labels: ArrayLike<number>;
}

export interface TrainAdapterOptions {
  kind?: AdapterKind;
  /** Hidden width of the mlp adapter (default 256). */
  hidden?: number;
  /** Temperature τ (default 0.1). */
  temperature?: number;
  /** AdamW learning rate (default 1e-3) and decoupled weight decay (default 1e-4). */
  lr?: number;
  weightDecay?: number;
  batch?: number;
  /** Most epochs (default 40) and epochs without a val improvement before stopping (default 5). */
  epochs?: number;
  patience?: number;
  seed?: number;
  onProgress?: ProgressListener;
}

export interface AdapterEpoch {
  epoch: number;
  loss: number;
  valP1: number;
}

export interface TrainedAdapter {
  adapter: Adapter;
  /** Epoch 0 = the identity (the frozen embeddings), so the chosen epoch is never worse on val. */
  bestEpoch: number;
  history: AdapterEpoch[];
  stoppedEarly: boolean;
  options: Required<Omit<TrainAdapterOptions, 'onProgress'>>;
}

function resolve(o: TrainAdapterOptions): TrainedAdapter['options'] {
  const r = {
    kind: o.kind ?? 'linear',
    hidden: o.hidden ?? 256,
    temperature: o.temperature ?? 0.1,
    lr: o.lr ?? 1e-3,
    weightDecay: o.weightDecay ?? 1e-4,
    batch: o.batch ?? 256,
    epochs: o.epochs ?? 40,
    patience: o.patience ?? 5,
    seed: o.seed ?? 0,
  };
  const bad = Object.entries(r).find(([k, v]) => k !== 'kind' && !(typeof v === 'number' && v >= 0));
  if (bad || (r.kind !== 'linear' && r.kind !== 'mlp') || r.batch < 2 || r.temperature <= 0) {
    throw new CbirError(
      `bad adapter option ${bad ? `${bad[0]} = ${bad[1]}` : `kind ${r.kind} / batch / temperature`}`,
      {
        hint: "kind is 'linear' or 'mlp'; batch ≥ 2, temperature > 0 and the other settings non-negative numbers",
        code: 'adapt/bad-option',
      },
    );
  }
  return r;
}

/** Val P@1: share of val rows whose nearest adapted train row has the same class. */
export function valPrecisionAt1(adapter: Adapter | null, train: AdapterSplit, val: AdapterSplit, dim: number): number {
  const t = adapter ? adapter.apply(train.x) : train.x;
  const v = adapter ? adapter.apply(val.x) : val.x;
  const r = exactSearchPlain(t, dim, v, 1);
  let hits = 0;
  for (let q = 0; q < val.labels.length; q++) if (train.labels[r.ids[q]] === val.labels[q]) hits++;
  return hits / val.labels.length;
}

/** One epoch of shuffled mini-batches; returns the mean batch loss. */
function epoch(adapter: Adapter, train: AdapterSplit, dim: number, o: TrainedAdapter['options'], rng: Rng): number {
  const n = train.labels.length;
  const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i)) as Int32Array;
  const B = Math.min(o.batch, n);
  const x = new Float32Array(B * dim);
  const u = new Float64Array(B * dim);
  const z = new Float64Array(B * dim);
  const g = new Float64Array(B * dim);
  const hidden = o.kind === 'mlp' ? new Float64Array(B * o.hidden) : undefined;
  const labels = new Int32Array(B);
  let total = 0;
  let batches = 0;
  for (let s = 0; s + B <= n; s += B) {
    for (let i = 0; i < B; i++) {
      const r = order[s + i];
      x.set(train.x.subarray(r * dim, (r + 1) * dim), i * dim);
      labels[i] = train.labels[r];
    }
    adapter.forward(x, u, hidden);
    const norms = normalizeRows(u, dim, z);
    total += supConLoss(z, labels, dim, o.temperature, g);
    normalizeBackward(z, norms, dim, g);
    adapter.backward(x, hidden, g);
    adapter.step(o.lr, o.weightDecay);
    batches++;
  }
  return total / Math.max(1, batches);
}

/** Train on `train`, keep the epoch with the best val P@1 (epoch 0 = identity). */
export function trainAdapter(
  train: AdapterSplit,
  val: AdapterSplit,
  dim: number,
  options: TrainAdapterOptions = {},
): TrainedAdapter {
  const o = resolve(options);
  if (train.labels.length < 2 || val.labels.length < 1 || train.x.length !== train.labels.length * dim) {
    throw new CbirError(`an adapter needs ≥ 2 train rows and ≥ 1 val row of dim ${dim}`, {
      hint: 'check that the manifest has train and val splits and the store matches it',
      code: 'adapt/too-small',
    });
  }
  const adapter = new Adapter({ kind: o.kind, dim, hidden: o.hidden }, o.seed);
  const rng = new Rng(o.seed + 1);
  const history: AdapterEpoch[] = [{ epoch: 0, loss: NaN, valP1: valPrecisionAt1(null, train, val, dim) }];
  let best = { epoch: 0, valP1: history[0].valP1, weights: adapter.snapshot() };
  const tracker = new ProgressTracker('adapter epochs', o.epochs, options.onProgress, 'epochs');
  let e = 1;
  for (; e <= o.epochs && e - best.epoch <= o.patience; e++) {
    const loss = epoch(adapter, train, dim, o, rng);
    const valP1 = valPrecisionAt1(adapter, train, val, dim);
    history.push({ epoch: e, loss, valP1 });
    if (valP1 > best.valP1) best = { epoch: e, valP1, weights: adapter.snapshot() };
    tracker.add(1);
  }
  tracker.finish();
  adapter.restore(best.weights);
  return { adapter, bestEpoch: best.epoch, history, stoppedEarly: e <= o.epochs, options: o };
}
