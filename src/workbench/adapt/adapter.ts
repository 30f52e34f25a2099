/**
 * A light adapter on frozen embeddings, residual so that it starts as the identity:
 *
 *   linear: u = x + W x + b                      (W: d × d, starts at 0)
 *   mlp:    u = x + W2 · relu(W1 x + b1) + b2    (W1: h × d random, W2: d × h, starts at 0)
 *
 * and z = u / |u|. Parameters and AdamW state are Float64Array.
 */
import { Rng } from '../util/rng.js';

export type AdapterKind = 'linear' | 'mlp';

/** What an adapter file holds (JSON-safe: weights as plain arrays only when saved). */
export interface AdapterSpec {
  kind: AdapterKind;
  dim: number;
  hidden: number;
}

class Param {
  readonly m: Float64Array;
  readonly v: Float64Array;
  readonly g: Float64Array;
  constructor(readonly w: Float64Array) {
    this.m = new Float64Array(w.length);
    this.v = new Float64Array(w.length);
    this.g = new Float64Array(w.length);
  }
}

export class Adapter {
  readonly params: Param[];
  private steps = 0;
  constructor(
    readonly spec: AdapterSpec,
    seed = 0,
  ) {
    const { dim: d, hidden: h } = spec;
    if (spec.kind === 'linear') this.params = [new Param(new Float64Array(d * d)), new Param(new Float64Array(d))];
    else {
      const rng = new Rng(seed);
      const w1 = Float64Array.from({ length: h * d }, () => rng.normal() * Math.sqrt(2 / d));
      this.params = [
        new Param(w1),
        new Param(new Float64Array(h)),
        new Param(new Float64Array(d * h)),
        new Param(new Float64Array(d)),
      ];
    }
  }

  /** u (B × d) for the rows x (B × d); `hidden` keeps relu(W1 x + b1) for backward (mlp). */
  forward(x: Float32Array | Float64Array, u: Float64Array, hidden?: Float64Array): void {
    const { dim: d, hidden: h } = this.spec;
    const B = x.length / d;
    if (this.spec.kind === 'linear') {
      const [W, b] = this.params;
      affine(x, W.w, b.w, B, d, d, u, x);
      return;
    }
    const [W1, b1, W2, b2] = this.params;
    const a = hidden ?? new Float64Array(B * h);
    affine(x, W1.w, b1.w, B, d, h, a);
    for (let i = 0; i < a.length; i++) if (a[i] < 0) a[i] = 0;
    affine(a, W2.w, b2.w, B, h, d, u, x);
  }

  /** Accumulates parameter gradients from dL/du (B × d). */
  backward(x: Float32Array | Float64Array, hidden: Float64Array | undefined, gu: Float64Array): void {
    const { dim: d, hidden: h } = this.spec;
    const B = x.length / d;
    if (this.spec.kind === 'linear') {
      const [W, b] = this.params;
      outerAdd(gu, x, B, d, d, W.g, b.g);
      return;
    }
    const [W1, b1, W2, b2] = this.params;
    const a = hidden!;
    outerAdd(gu, a, B, d, h, W2.g, b2.g);
    const ga = new Float64Array(B * h); // dL/da = W2ᵀ gu, through relu
    for (let i = 0; i < B; i++) {
      for (let o = 0; o < d; o++) {
        const g = gu[i * d + o];
        if (g === 0) continue;
        for (let j = 0; j < h; j++) ga[i * h + j] += g * W2.w[o * h + j];
      }
      for (let j = 0; j < h; j++) if (a[i * h + j] <= 0) ga[i * h + j] = 0;
    }
    outerAdd(ga, x, B, h, d, W1.g, b1.g);
  }

  /** One AdamW step (torch defaults: β = 0.9/0.999, ε = 1e-8), then zero the gradients. */
  step(lr: number, weightDecay: number): void {
    this.steps++;
    const c1 = 1 - 0.9 ** this.steps;
    const c2 = 1 - 0.999 ** this.steps;
    for (const p of this.params) {
      for (let i = 0; i < p.w.length; i++) {
        p.w[i] *= 1 - lr * weightDecay;
        p.m[i] = 0.9 * p.m[i] + 0.1 * p.g[i];
        p.v[i] = 0.999 * p.v[i] + 0.001 * p.g[i] * p.g[i];
        p.w[i] -= (lr * (p.m[i] / c1)) / (Math.sqrt(p.v[i] / c2) + 1e-8);
      }
      p.g.fill(0);
    }
  }

  /** The weights, copied (to keep the best epoch's). */
  snapshot(): Float64Array[] {
    return this.params.map((p) => Float64Array.from(p.w));
  }

  restore(weights: Float64Array[]): void {
    weights.forEach((w, i) => this.params[i].w.set(w));
  }

  /** Adapted, L2-normalised rows (B × d) as float32. */
  apply(x: Float32Array): Float32Array {
    const d = this.spec.dim;
    const u = new Float64Array(x.length);
    this.forward(x, u);
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length / d; i++) {
      let ss = 0;
      for (let j = 0; j < d; j++) ss += u[i * d + j] ** 2;
      const n = Math.sqrt(ss) || 1;
      for (let j = 0; j < d; j++) out[i * d + j] = u[i * d + j] / n;
    }
    return out;
  }
}

/** out = x Wᵀ + b (+ residual), x: B × inDim, W: outDim × inDim. */
function affine(
  x: ArrayLike<number>,
  W: Float64Array,
  b: Float64Array,
  B: number,
  inDim: number,
  outDim: number,
  out: Float64Array,
  residual?: ArrayLike<number>,
): void {
  for (let i = 0; i < B; i++) {
    for (let o = 0; o < outDim; o++) {
      let s = b[o] + (residual ? residual[i * outDim + o] : 0);
      const wo = o * inDim;
      const xi = i * inDim;
      for (let j = 0; j < inDim; j++) s += W[wo + j] * x[xi + j];
      out[i * outDim + o] = s;
    }
  }
}

/** gW += gᵀ x, gb += Σ_i g_i (g: B × outDim, x: B × inDim). */
function outerAdd(
  g: Float64Array,
  x: ArrayLike<number>,
  B: number,
  outDim: number,
  inDim: number,
  gW: Float64Array,
  gb: Float64Array,
): void {
  for (let i = 0; i < B; i++) {
    for (let o = 0; o < outDim; o++) {
      const go = g[i * outDim + o];
      if (go === 0) continue;
      gb[o] += go;
      const wo = o * inDim;
      const xi = i * inDim;
      for (let j = 0; j < inDim; j++) gW[wo + j] += go * x[xi + j];
    }
  }
}
