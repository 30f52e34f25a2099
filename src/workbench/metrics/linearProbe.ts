/**
 * Linear probing (the study's Tables 5 and 6, linear rows): one linear layer z = W x + b on frozen
 * embeddings, softmax cross-entropy, AdamW as torch.optim.AdamW, mini-batches of 512 shuffled
 * each epoch with the seeded Rng, early stopping on validation accuracy, and the best epoch's
 * layer scored on the test split with the k-NN classification metrics (scores = softmax).
 * Initialisation as the study's LinearClassifier: W ~ N(0, 0.01²), b = 0.
 *
 * Each step's logits and weight gradient run as one onnxruntime SGEMM graph per mini-batch
 * (backend 'onnx', probeGemm.ts; float32), the AdamW update in float64 TS; backend 'plain' is
 * the float64 TS loop of LinearClassifier.step (the reference). Same batches, same order, same
 * update and early stopping either way, so they agree to float32 round-off.
 */
import { Rng } from '../util/rng.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { type AbsentClasses, type ClassificationSummary, classificationSummary } from './classification.js';
import { checkLength, checkPositiveInt, metricsError, type Codes } from './check.js';
import { STUDY_PROBE } from '../study.js';
import {
  argmaxRow,
  checkProbeSplit,
  distinctArgmax,
  gatherRows,
  linearLogits,
  rowCount,
  softmaxInPlace,
  splitAccuracy,
  type ProbeSplit,
} from './probeData.js';
import {
  onnxBackend,
  plainBackend,
  resolveBackend,
  type ProbeBackend,
  type ProbeBackendName,
} from './probeBackends.js';

export type { ProbeSplit } from './probeData.js';

export interface AdamWOptions {
  /** Default 1e-3. */
  lr?: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay, applied to W and b as torch does for one parameter group; default 0.01. */
  weightDecay?: number;
}

/**
 * A linear softmax classifier trained with AdamW. Parameters and optimiser state are
 * Float64Array (C×D weights, C biases); torch's float32 agrees to 2.4e-8 after the 30 steps of
 * test/metrics/fixtures/torch_adamw.json.
 */
export class LinearClassifier {
  readonly weight: Float64Array;
  readonly bias: Float64Array;
  private readonly mW: Float64Array;
  private readonly vW: Float64Array;
  private readonly mB: Float64Array;
  private readonly vB: Float64Array;
  private readonly gW: Float64Array;
  private readonly gB: Float64Array;
  private logitsBuf: Float64Array;
  /** AdamW steps taken so far. */
  steps = 0;
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  /**
   * A fresh layer: `init` gives the starting weights (C×D row-major) and biases, or a seeded
   * Rng to draw W ~ N(0, 0.01²) with b = 0 (the study's initialisation).
   */
  constructor(
    readonly dim: number,
    readonly nClasses: number,
    init: Rng | { weight: ArrayLike<number>; bias: ArrayLike<number> },
    opt: AdamWOptions = {},
  ) {
    checkPositiveInt('dim', dim);
    checkPositiveInt('nClasses', nClasses);
    this.lr = opt.lr ?? STUDY_PROBE.lr;
    this.beta1 = opt.beta1 ?? 0.9;
    this.beta2 = opt.beta2 ?? 0.999;
    this.eps = opt.eps ?? 1e-8;
    this.weightDecay = opt.weightDecay ?? STUDY_PROBE.weightDecay;
    for (const [k, v] of Object.entries({
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
    })) {
      if (!Number.isFinite(v) || v < 0 || ((k === 'beta1' || k === 'beta2') && v >= 1)) {
        metricsError(
          `AdamW ${k} = ${v} is out of range`,
          'metrics/bad-argument',
          'lr, eps and weightDecay must be ≥ 0 and betas in [0, 1)',
        );
      }
    }
    const n = dim * nClasses;
    this.weight = new Float64Array(n);
    this.bias = new Float64Array(nClasses);
    if (init instanceof Rng) {
      for (let i = 0; i < n; i++) this.weight[i] = 0.01 * init.normal();
    } else {
      checkLength('init weight', init.weight, n, `${nClasses} classes × ${dim} dims, row-major`);
      checkLength('init bias', init.bias, nClasses, 'one bias per class');
      this.weight.set(init.weight);
      this.bias.set(init.bias);
    }
    this.mW = new Float64Array(n);
    this.vW = new Float64Array(n);
    this.gW = new Float64Array(n);
    this.mB = new Float64Array(nClasses);
    this.vB = new Float64Array(nClasses);
    this.gB = new Float64Array(nClasses);
    this.logitsBuf = new Float64Array(0);
  }

  /** z[i, c] = b_c + Σ_d W[c, d] x[row_i, d] for the listed rows (blocked by 4 classes). */
  private forward(x: Float32Array, rows: Int32Array | null, count: number, out: Float64Array): void {
    const D = this.dim,
      C = this.nClasses;
    for (let i = 0; i < count; i++) linearLogits(x, (rows ? rows[i] : i) * D, this.weight, this.bias, D, C, out, i * C);
  }

  private buffer(count: number): Float64Array {
    if (this.logitsBuf.length < count * this.nClasses) this.logitsBuf = new Float64Array(count * this.nClasses);
    return this.logitsBuf;
  }

  /**
   * One AdamW step on the mean cross-entropy of the listed rows; returns that loss.
   * loss = mean_i (logsumexp(z_i) − z_i[y_i]);  ∂loss/∂z = (softmax(z) − onehot(y)) / B.
   */
  step(x: Float32Array, labels: Codes, rows: Int32Array): number {
    const D = this.dim,
      C = this.nClasses,
      B = rows.length;
    if (B === 0) metricsError('empty batch', 'metrics/bad-argument', 'pass at least one row per step');
    const z = this.buffer(B);
    this.forward(x, rows, B, z);
    const gW = this.gW,
      gB = this.gB;
    gW.fill(0);
    gB.fill(0);
    let loss = 0;
    for (let i = 0; i < B; i++) {
      const zo = i * C,
        y = labels[rows[i]];
      const zy = z[zo + y];
      loss += softmaxInPlace(z, C, zo) - zy;
      const xo = rows[i] * D;
      for (let c = 0; c < C; c++) {
        const g = (z[zo + c] - (c === y ? 1 : 0)) / B;
        gB[c] += g;
        const go = c * D;
        for (let d = 0; d < D; d++) gW[go + d] += g * x[xo + d];
      }
    }
    this.update(gW, gB);
    return loss / B;
  }

  /** One AdamW step from a given gradient of the loss (gW: C×D, gB: C), e.g. computed by ProbeGemm. */
  update(gW: Float32Array | Float64Array, gB: Float32Array | Float64Array): void {
    checkLength('weight gradient', gW, this.weight.length, `${this.nClasses} classes × ${this.dim} dims`);
    checkLength('bias gradient', gB, this.nClasses, 'one per class');
    this.adamw(this.weight, gW, this.mW, this.vW);
    this.adamw(this.bias, gB, this.mB, this.vB);
    this.steps++;
  }

  /** torch.optim.AdamW: p ← p(1 − lr·wd) − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + eps). */
  private adamw(p: Float64Array, g: Float32Array | Float64Array, m: Float64Array, v: Float64Array): void {
    const { lr, beta1, beta2, eps, weightDecay } = this;
    const t = this.steps + 1;
    const decay = 1 - lr * weightDecay;
    const stepSize = lr / (1 - beta1 ** t);
    const bc2 = Math.sqrt(1 - beta2 ** t);
    const a1 = 1 - beta1,
      a2 = 1 - beta2;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i];
      const mi = beta1 * m[i] + a1 * gi,
        vi = beta2 * v[i] + a2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay - (stepSize * mi) / (Math.sqrt(vi) / bc2 + eps); // same operations and order as torch
    }
  }

  /** Predicted class of every row (argmax of the logits, ties → lowest code). */
  predict(x: Float32Array): Int32Array {
    const N = this.rowsIn(x);
    const out = new Int32Array(N);
    const block = 1024;
    const z = this.buffer(Math.min(block, N));
    const C = this.nClasses;
    for (let s = 0; s < N; s += block) {
      const n = Math.min(block, N - s);
      this.forward(x.subarray(s * this.dim), null, n, z);
      for (let i = 0; i < n; i++) out[s + i] = argmaxRow(z, i * C, C);
    }
    return out;
  }

  /** Softmax probabilities of every row, row-major Float32Array(N×C). */
  probabilities(x: Float32Array): Float32Array {
    const N = this.rowsIn(x);
    const C = this.nClasses;
    const out = new Float32Array(N * C);
    const block = 1024;
    const z = this.buffer(Math.min(block, N));
    for (let s = 0; s < N; s += block) {
      const n = Math.min(block, N - s);
      this.forward(x.subarray(s * this.dim), null, n, z);
      for (let i = 0; i < n; i++) softmaxInPlace(z, C, i * C);
      out.set(z.subarray(0, n * C), s * C);
    }
    return out;
  }

  private rowsIn(x: Float32Array): number {
    return rowCount(x, this.dim, 'embeddings');
  }

  /** Copy of the weights and biases as float32 (torch's storage type). */
  parameters(): { weight: Float32Array; bias: Float32Array } {
    return { weight: Float32Array.from(this.weight), bias: Float32Array.from(this.bias) };
  }
}

export interface LinearProbeOptions extends AdamWOptions {
  /** Default 100. */
  epochs?: number;
  /** Default 512 (the last batch of an epoch may be smaller, as torch's DataLoader). */
  batchSize?: number;
  /** Epochs without a strictly better validation accuracy before stopping; default 20. */
  patience?: number;
  /** Seeds the initialisation and the per-epoch shuffles; default 0. */
  seed?: number;
  /** Classes without test samples in macro ROC AUC / AP; default 'skip' (see classification.ts). */
  absentClasses?: AbsentClasses;
  /** Called after each epoch. */
  onEpoch?: (e: { epoch: number; trainLoss: number; valAccuracy: number }) => void;
  progress?: ProgressListener;
  /** File the embeddings came from, named in errors. */
  source?: string;
  /**
   * 'onnx': the matrix products as onnxruntime SGEMM graphs (probeGemm.ts), float32; 'plain':
   * TS loops in float64 (the reference); default 'auto' (onnx unless a step is tiny).
   */
  backend?: ProbeBackendName;
  /** onnxruntime intra-op threads; default every core. */
  threads?: number;
}

export interface LinearProbeResult {
  /** Test metrics of the best epoch's layer (scores = softmax probabilities). */
  metrics: ClassificationSummary;
  /** 0-based epoch with the best validation accuracy (the first one on ties). */
  bestEpoch: number;
  bestValAccuracy: number;
  epochsRun: number;
  /** The epoch cap given (epochs). */
  maxEpochs: number;
  /** True when patience ended training; false when it ran to the epoch cap. */
  stoppedEarly: boolean;
  /** How many distinct classes the best epoch's layer predicts on the test split. */
  testPredictedClasses: number;
  /** Mean of the batch losses per epoch (length epochsRun). */
  trainLoss: Float64Array;
  valAccuracy: Float64Array;
  /** The best epoch's layer, float32, C×D row-major and C. */
  weight: Float32Array;
  bias: Float32Array;
}

/** Batch buffers: gathered rows (at most `rows` of them) and their labels. */
interface Buffers {
  x: Float32Array;
  y: Int32Array;
  idx: Int32Array;
}

function buffers(rows: number, dim: number): Buffers {
  return { x: new Float32Array(rows * dim), y: new Int32Array(rows), idx: new Int32Array(rows) };
}

/** Split rows [s, s + n) gathered into buf.x (a view of x itself when the split has no rows). */
function block(split: ProbeSplit, dim: number, s: number, n: number, buf: Buffers): Float32Array {
  if (!split.rows) return split.x.subarray(s * dim, (s + n) * dim);
  const idx = buf.idx.subarray(0, n);
  for (let i = 0; i < n; i++) idx[i] = s + i;
  gatherRows(split, dim, idx, buf.x);
  return buf.x;
}

/** Predicted class of every row of a split, in blocks of the buffer's size. */
async function predictSplit(
  model: LinearClassifier,
  be: ProbeBackend,
  split: ProbeSplit,
  buf: Buffers,
): Promise<Int32Array> {
  const N = split.labels.length,
    size = buf.y.length;
  const out = new Int32Array(N);
  for (let s = 0; s < N; s += size) {
    const n = Math.min(size, N - s);
    await be.predict(model, block(split, model.dim, s, n, buf), n, out, s);
  }
  return out;
}

/** Softmax probabilities of every row of a split, row-major N×C. */
async function splitProbabilities(
  model: LinearClassifier,
  be: ProbeBackend,
  split: ProbeSplit,
  buf: Buffers,
): Promise<Float32Array> {
  const N = split.labels.length,
    size = buf.y.length;
  const out = new Float32Array(N * model.nClasses);
  for (let s = 0; s < N; s += size) {
    const n = Math.min(size, N - s);
    await be.probabilities(model, block(split, model.dim, s, n, buf), n, out, s);
  }
  return out;
}

/** One epoch of AdamW steps over `order` in batches; returns the mean batch loss and the val accuracy after it. */
async function runEpoch(
  model: LinearClassifier,
  be: ProbeBackend,
  data: { train: ProbeSplit; val: ProbeSplit },
  order: Int32Array,
  batchSize: number,
  buf: Buffers,
): Promise<[number, number]> {
  const { train, val } = data;
  const N = order.length;
  let lossSum = 0,
    nBatches = 0;
  for (let s = 0; s < N; s += batchSize) {
    const idx = order.subarray(s, Math.min(N, s + batchSize));
    gatherRows(train, model.dim, idx, buf.x);
    for (let i = 0; i < idx.length; i++) buf.y[i] = train.labels[idx[i]];
    lossSum += await be.step(model, buf.x, buf.y, idx.length);
    nBatches++;
  }
  return [lossSum / nBatches, splitAccuracy(await predictSplit(model, be, val, buf), val.labels)];
}

/** Epoch-by-epoch history of a training run and the best epoch's layer. */
interface Training {
  trainLoss: Float64Array;
  valAccuracy: Float64Array;
  best: number;
  bestEpoch: number;
  epochsRun: number;
  stoppedEarly: boolean;
  bestModel: LinearClassifier;
}

/** The epochs with early stopping: shuffle, step through the batches, score val, keep the best layer. */
async function trainProbe(
  be: ProbeBackend,
  data: { train: ProbeSplit; val: ProbeSplit },
  dim: number,
  nClasses: number,
  buf: Buffers,
  o: LinearProbeOptions & { epochs: number; batchSize: number; patience: number; seed: number },
): Promise<Training> {
  const { epochs, patience } = o;
  const rng = new Rng(o.seed);
  const model = new LinearClassifier(dim, nClasses, rng, o);
  const N = data.train.labels.length;
  const order = new Int32Array(N);
  for (let i = 0; i < N; i++) order[i] = i;
  const trainLoss = new Float64Array(epochs),
    valAccuracy = new Float64Array(epochs);
  const bestW = new Float64Array(model.weight.length),
    bestB = new Float64Array(nClasses);
  let best = -Infinity,
    bestEpoch = 0,
    since = 0,
    epoch = 0,
    stoppedEarly = false;
  const tracker = new ProgressTracker('linear probe', epochs, o.progress, 'epochs');
  for (; epoch < epochs; epoch++) {
    rng.shuffle(order);
    [trainLoss[epoch], valAccuracy[epoch]] = await runEpoch(model, be, data, order, o.batchSize, buf);
    o.onEpoch?.({ epoch, trainLoss: trainLoss[epoch], valAccuracy: valAccuracy[epoch] });
    tracker.add(1);
    if (valAccuracy[epoch] > best) {
      best = valAccuracy[epoch];
      bestEpoch = epoch;
      since = 0;
      bestW.set(model.weight);
      bestB.set(model.bias);
    } else if (++since >= patience) {
      epoch++;
      stoppedEarly = true;
      break;
    }
  }
  tracker.finish();
  const bestModel = new LinearClassifier(dim, nClasses, { weight: bestW, bias: bestB }, o);
  return { trainLoss, valAccuracy, best, bestEpoch, epochsRun: epoch, stoppedEarly, bestModel };
}

/**
 * Train a linear probe on `train`, stop early on `val` accuracy (patience epochs without a
 * strict improvement), and score the best epoch on `test`. Deterministic for a given seed and
 * backend. Unlike the study's script (best accuracy starts at 0), epoch 0 is always a candidate,
 * so a probe that never gets a validation image right still has a best epoch. Splits given with
 * `rows` are read one mini-batch (or block of 1024 rows) at a time, never copied whole.
 */
export async function linearProbe(
  train: ProbeSplit,
  val: ProbeSplit,
  test: ProbeSplit,
  dim: number,
  nClasses: number,
  options: LinearProbeOptions = {},
): Promise<LinearProbeResult> {
  const {
    epochs = STUDY_PROBE.epochs,
    batchSize = STUDY_PROBE.batchSize,
    patience = STUDY_PROBE.patience,
    seed = STUDY_PROBE.seed,
    absentClasses = 'skip',
    source,
  } = options;
  checkPositiveInt('dim', dim, source);
  checkPositiveInt('nClasses', nClasses, source);
  checkPositiveInt('epochs', epochs, source);
  checkPositiveInt('batchSize', batchSize, source);
  checkPositiveInt('patience', patience, source);
  checkProbeSplit('train', train, dim, nClasses, source);
  checkProbeSplit('validation', val, dim, nClasses, source);
  checkProbeSplit('test', test, dim, nClasses, source);
  const kind = resolveBackend(options.backend ?? 'auto', batchSize, dim, nClasses);
  const be = kind === 'onnx' ? await onnxBackend(dim, nClasses, batchSize, options.threads) : plainBackend();
  try {
    const buf = buffers(Math.max(batchSize, 1024), dim);
    const o = { ...options, epochs, batchSize, patience, seed };
    const t = await trainProbe(be, { train, val }, dim, nClasses, buf, o);
    const probs = await splitProbabilities(t.bestModel, be, test, buf);
    const params = t.bestModel.parameters();
    return {
      metrics: classificationSummary(probs, test.labels, nClasses, { absentClasses }),
      bestEpoch: t.bestEpoch,
      bestValAccuracy: t.best,
      epochsRun: t.epochsRun,
      maxEpochs: epochs,
      stoppedEarly: t.stoppedEarly,
      testPredictedClasses: distinctArgmax(probs, nClasses),
      trainLoss: t.trainLoss.slice(0, t.epochsRun),
      valAccuracy: t.valAccuracy.slice(0, t.epochsRun),
      weight: params.weight,
      bias: params.bias,
    };
  } finally {
    await be.release();
  }
}
