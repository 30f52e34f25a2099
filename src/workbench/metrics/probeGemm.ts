/**
 * The study-protocol probe's matrix products in onnxruntime (its tuned SGEMM), so that an AdamW
 * epoch runs near GEMM speed. Two graphs, float32 throughout:
 *
 * - step: X[B, D] (one gathered mini-batch), Y[B, C] (one-hot labels), W[C, D], b[C], s[1] = 1/B →
 *   Z = X Wᵀ + b;  G = (softmax(Z) − Y) · s;  gW = Gᵀ X [C, D];  gB = Σ_i G[i, ·] [C];
 *   lossSum = Σ_i (logsumexp(Z_i) − Z_i[y_i]) (shifted by max Z_i, as softmaxInPlace);
 * - logits: X[n, D], W, b → Z = X Wᵀ + b [n, C] (validation accuracy, test probabilities).
 *
 * The AdamW update itself stays in TS on the float64 parameters (LinearClassifier.update).
 */
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { GraphBuilder } from '../onnx/builder.js';

/** The step graph (see the file comment); outputs gW, gB and lossSum. */
export function probeStepGraph(dim: number, nClasses: number): Uint8Array {
  const g = new GraphBuilder('radcbir_probe_step', 17);
  const x = g.input('X', 'float32', ['B', dim]);
  const y = g.input('Y', 'float32', ['B', nClasses]);
  const w = g.input('W', 'float32', [nClasses, dim]);
  const b = g.input('b', 'float32', [nClasses]);
  const s = g.input('s', 'float32', [1]);
  const z = g.op('Gemm', [x, w, b], { transB: { int: 1 } });
  const m = g.op('ReduceMax', [z], { axes: { ints: [1] }, keepdims: { int: 1 } });
  const zs = g.op('Sub', [z, m]);
  const e = g.op('Exp', [zs]);
  const axis1 = g.constInt64([1]);
  const sumE = g.op('ReduceSum', [e, axis1], { keepdims: { int: 1 } });
  const p = g.op('Div', [e, sumE]);
  const zy = g.op('ReduceSum', [g.op('Mul', [zs, y]), axis1], { keepdims: { int: 1 } });
  g.node('ReduceSum', [g.op('Sub', [g.op('Log', [sumE]), zy])], ['lossSum'], { keepdims: { int: 0 } });
  const grad = g.op('Mul', [g.op('Sub', [p, y]), s]);
  g.node('Gemm', [grad, x], ['gW'], { transA: { int: 1 } });
  g.node('ReduceSum', [grad, g.constInt64([0])], ['gB'], { keepdims: { int: 0 } });
  g.output('gW', 'float32', [nClasses, dim]);
  g.output('gB', 'float32', [nClasses]);
  g.output('lossSum', 'float32', []);
  return g.toBytes();
}

/** The logits graph: Z[n, C] = X[n, D] Wᵀ + b. */
export function probeLogitsGraph(dim: number, nClasses: number): Uint8Array {
  const g = new GraphBuilder('radcbir_probe_logits', 17);
  const x = g.input('X', 'float32', ['n', dim]);
  const w = g.input('W', 'float32', [nClasses, dim]);
  const b = g.input('b', 'float32', [nClasses]);
  g.node('Gemm', [x, w, b], ['Z'], { transB: { int: 1 } });
  g.output('Z', 'float32', ['n', nClasses]);
  return g.toBytes();
}

/** One batch's gradient of the mean cross-entropy (float32, from the step graph). */
export interface ProbeGradient {
  gW: Float32Array;
  gB: Float32Array;
  /** Σ over the batch of the per-row cross-entropy (divide by B for the mean). */
  lossSum: number;
}

/** The two sessions of one probe (dim, classes); `release` when done. */
export class ProbeGemm {
  private constructor(
    readonly dim: number,
    readonly nClasses: number,
    private readonly stepSession: ort.InferenceSession,
    private readonly logitsSession: ort.InferenceSession,
  ) {}

  /** Sessions for a D-dim, C-class layer on `threads` intra-op threads (default: every core). */
  static async create(dim: number, nClasses: number, threads = availableParallelism()): Promise<ProbeGemm> {
    const opts: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: Math.max(1, threads),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    };
    const step = await ort.InferenceSession.create(probeStepGraph(dim, nClasses), opts);
    const logits = await ort.InferenceSession.create(probeLogitsGraph(dim, nClasses), opts);
    return new ProbeGemm(dim, nClasses, step, logits);
  }

  /** Gradient of the batch x[B×D] with one-hot labels y[B×C] at the layer (w[C×D], b[C]). */
  async gradient(
    x: Float32Array,
    y: Float32Array,
    B: number,
    w: Float32Array,
    b: Float32Array,
  ): Promise<ProbeGradient> {
    const { dim: D, nClasses: C } = this;
    const out = await this.stepSession.run({
      X: new ort.Tensor('float32', x.subarray(0, B * D), [B, D]),
      Y: new ort.Tensor('float32', y.subarray(0, B * C), [B, C]),
      W: new ort.Tensor('float32', w, [C, D]),
      b: new ort.Tensor('float32', b, [C]),
      s: new ort.Tensor('float32', Float32Array.of(1 / B), [1]),
    });
    return {
      gW: out.gW.data as Float32Array,
      gB: out.gB.data as Float32Array,
      lossSum: (out.lossSum.data as Float32Array)[0],
    };
  }

  /** Logits z[n×C] of the rows x[n×D]. */
  async logits(x: Float32Array, n: number, w: Float32Array, b: Float32Array): Promise<Float32Array> {
    const { dim: D, nClasses: C } = this;
    const out = await this.logitsSession.run({
      X: new ort.Tensor('float32', x.subarray(0, n * D), [n, D]),
      W: new ort.Tensor('float32', w, [C, D]),
      b: new ort.Tensor('float32', b, [C]),
    });
    return out.Z.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.stepSession.release();
    await this.logitsSession.release();
  }
}
