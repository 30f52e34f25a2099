/**
 * The two ways the study-protocol probe (linearProbe.ts) computes a step and the logits of a
 * block of rows, on mini-batches gathered from a split (probeData.gatherRows):
 * - 'plain': LinearClassifier.step, TS loops in float64 (the reference; tiny problems);
 * - 'onnx': ProbeGemm's SGEMM graphs in float32, then the same AdamW update in float64.
 * Both see the same batches in the same order, so they agree to float32 round-off.
 */
import type { LinearClassifier } from './linearProbe.js';
import type { Codes } from './check.js';
import { argmaxRow, softmaxInPlace } from './probeData.js';
import { ProbeGemm } from './probeGemm.js';

export type ProbeBackendName = 'auto' | 'onnx' | 'plain';

/** A step on a gathered batch and the logits-derived outputs of a gathered block. */
export interface ProbeBackend {
  /** One AdamW step on rows x[0 … B×D) with labels y[0 … B); returns the batch's mean loss. */
  step(model: LinearClassifier, x: Float32Array, y: Codes, B: number): Promise<number>;
  /** Predicted class of rows x[0 … n×D) into out[at …]. */
  predict(model: LinearClassifier, x: Float32Array, n: number, out: Int32Array, at: number): Promise<void>;
  /** Softmax probabilities of rows x[0 … n×D) into out[at×C …]. */
  probabilities(model: LinearClassifier, x: Float32Array, n: number, out: Float32Array, at: number): Promise<void>;
  release(): Promise<void>;
}

/** Below this many multiply-adds per step (batch × D × C), 'auto' uses the plain loops. */
const PLAIN_STEP_LIMIT = 1 << 18;

/** The backend a probe of this shape runs on: 'auto' is 'onnx' unless a step is tiny. */
export function resolveBackend(name: ProbeBackendName, batch: number, dim: number, nClasses: number): 'onnx' | 'plain' {
  if (name !== 'auto') return name;
  return batch * dim * nClasses < PLAIN_STEP_LIMIT ? 'plain' : 'onnx';
}

/** The plain backend: LinearClassifier's own float64 loops. */
export function plainBackend(): ProbeBackend {
  let iota = new Int32Array(0);
  return {
    async step(model, x, y, B) {
      if (iota.length < B) iota = Int32Array.from({ length: B }, (_, i) => i);
      return model.step(x, y, iota.subarray(0, B));
    },
    async predict(model, x, n, out, at) {
      out.set(model.predict(x.subarray(0, n * model.dim)), at);
    },
    async probabilities(model, x, n, out, at) {
      out.set(model.probabilities(x.subarray(0, n * model.dim)), at * model.nClasses);
    },
    async release() {},
  };
}

/** The onnx backend for a D-dim, C-class layer and batches of at most `batch` rows. */
export async function onnxBackend(
  dim: number,
  nClasses: number,
  batch: number,
  threads?: number,
): Promise<ProbeBackend> {
  const gemm = await ProbeGemm.create(dim, nClasses, threads);
  const C = nClasses;
  const w32 = new Float32Array(dim * C),
    b32 = new Float32Array(C),
    oneHot = new Float32Array(batch * C),
    z64 = new Float64Array(C);
  const layer = (model: LinearClassifier) => {
    w32.set(model.weight);
    b32.set(model.bias);
  };
  return {
    async step(model, x, y, B) {
      layer(model);
      oneHot.fill(0, 0, B * C);
      for (let i = 0; i < B; i++) oneHot[i * C + y[i]] = 1;
      const g = await gemm.gradient(x, oneHot, B, w32, b32);
      model.update(g.gW, g.gB);
      return g.lossSum / B;
    },
    async predict(model, x, n, out, at) {
      layer(model);
      const z = await gemm.logits(x, n, w32, b32);
      for (let i = 0; i < n; i++) out[at + i] = argmaxRow(z, i * C, C);
    },
    async probabilities(model, x, n, out, at) {
      layer(model);
      const z = await gemm.logits(x, n, w32, b32);
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < C; c++) z64[c] = z[i * C + c];
        softmaxInPlace(z64, C);
        for (let c = 0; c < C; c++) out[(at + i) * C + c] = z64[c];
      }
    },
    release: () => gemm.release(),
  };
}
