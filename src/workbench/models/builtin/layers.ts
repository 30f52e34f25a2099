/**
 * Layer helpers for the project-built ONNX graphs: each adds the nodes of one layer to a
 * GraphBuilder and draws its weights from a seeded Rng, so a graph is a pure function of its
 * configuration and seed (byte-identical every build).
 */
import { GraphBuilder } from '../../onnx/builder.js';
import { Rng } from '../../util/rng.js';

/** A GraphBuilder plus the seeded weight source and a name prefix stack. */
export class NetBuilder {
  readonly g: GraphBuilder;
  readonly rng: Rng;
  /** Every weight drawn, by initializer name (lets tests run an independent forward pass). */
  readonly weights = new Map<string, Float32Array>();

  constructor(name: string, seed: number, opset = 17) {
    this.g = new GraphBuilder(name, opset);
    this.rng = new Rng(seed);
  }

  /** Normal(0, std²) weights as a named initializer. */
  normal(name: string, dims: number[], std: number): string {
    const n = dims.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.rng.normal() * std;
    this.weights.set(name, a);
    return this.g.initializer(name, a, dims);
  }

  /** Constant-filled initializer (e.g. LayerNorm scale 1, bias 0). */
  fill(name: string, dims: number[], value: number): string {
    const n = dims.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n).fill(value);
    this.weights.set(name, a);
    return this.g.initializer(name, a, dims);
  }

  /** x [.., inF] @ W [inF, outF] (+ b): a Linear layer with std 1/sqrt(inF) · gain. */
  linear(name: string, x: string, inF: number, outF: number, opts: { bias?: boolean; gain?: number } = {}): string {
    const w = this.normal(`${name}.weight`, [inF, outF], (opts.gain ?? 1) / Math.sqrt(inF));
    let y = this.g.op('MatMul', [x, w], {}, `${name}.matmul`);
    if (opts.bias !== false) {
      const b = this.normal(`${name}.bias`, [outF], 0.02);
      y = this.g.op('Add', [y, b], {}, `${name}.out`);
    }
    return y;
  }

  /** LayerNormalization over the last axis (scale 1, bias 0, ε = 1e-6). */
  layerNorm(name: string, x: string, dim: number): string {
    const s = this.fill(`${name}.weight`, [dim], 1);
    const b = this.fill(`${name}.bias`, [dim], 0);
    return this.g.op('LayerNormalization', [x, s, b], { axis: { int: -1 }, epsilon: { float: 1e-6 } }, `${name}.out`);
  }

  /** Exact GELU: 0.5 · x · (1 + erf(x / √2)). */
  gelu(name: string, x: string): string {
    const g = this.g;
    const inv = g.constFloat([Math.SQRT1_2], [], `${name}.rsqrt2`);
    const half = g.constFloat([0.5], [], `${name}.half`);
    const one = g.constFloat([1], [], `${name}.one`);
    const e = g.op('Erf', [g.op('Mul', [x, inv])]);
    return g.op('Mul', [g.op('Mul', [x, half]), g.op('Add', [e, one])], {}, `${name}.out`);
  }

  /** Conv2d with weights std gain/sqrt(fan_in); optional bias. */
  conv(
    name: string,
    x: string,
    inC: number,
    outC: number,
    k: number,
    opts: { stride?: number; pad?: number; bias?: boolean; gain?: number } = {},
  ): string {
    const w = this.normal(`${name}.weight`, [outC, inC, k, k], (opts.gain ?? 1) / Math.sqrt(inC * k * k));
    const inputs = [x, w];
    if (opts.bias !== false) inputs.push(this.normal(`${name}.bias`, [outC], 0.02));
    const p = opts.pad ?? 0;
    const s = opts.stride ?? 1;
    return this.g.op(
      'Conv',
      inputs,
      { kernel_shape: { ints: [k, k] }, pads: { ints: [p, p, p, p] }, strides: { ints: [s, s] } },
      `${name}.out`,
    );
  }

  /**
   * Multi-head self-attention on x [B, N, D]: softmax(q kᵀ / √d_h) v per head, then an output
   * projection.
   */
  attention(name: string, x: string, dim: number, heads: number): string {
    const g = this.g;
    const hd = dim / heads;
    if (!Number.isInteger(hd)) throw new Error(`${name}: dim ${dim} not divisible by ${heads} heads`);
    const split = g.constInt64([0, 0, heads, hd], [4], `${name}.split`);
    const q = g.op('Transpose', [g.op('Reshape', [this.linear(`${name}.q`, x, dim, dim), split])], {
      perm: { ints: [0, 2, 1, 3] },
    }); // [B,H,N,hd]
    const kT = g.op('Transpose', [g.op('Reshape', [this.linear(`${name}.k`, x, dim, dim), split])], {
      perm: { ints: [0, 2, 3, 1] },
    }); // [B,H,hd,N]
    const v = g.op('Transpose', [g.op('Reshape', [this.linear(`${name}.v`, x, dim, dim), split])], {
      perm: { ints: [0, 2, 1, 3] },
    }); // [B,H,N,hd]
    const scale = g.constFloat([1 / Math.sqrt(hd)], [], `${name}.scale`);
    const scores = g.op('Mul', [g.op('MatMul', [q, kT]), scale]);
    const attn = g.op('Softmax', [scores], { axis: { int: -1 } });
    const ctx = g.op('Transpose', [g.op('MatMul', [attn, v])], { perm: { ints: [0, 2, 1, 3] } }); // [B,N,H,hd]
    const merged = g.op('Reshape', [ctx, g.constInt64([0, 0, dim], [3], `${name}.merge`)]);
    return this.linear(`${name}.proj`, merged, dim, dim, { gain: 0.5 });
  }

  /** Pre-norm transformer block: x + Attn(LN(x)), then h + MLP(LN(h)) with GELU. */
  block(name: string, x: string, dim: number, heads: number, mlp: number): string {
    const g = this.g;
    const h = g.op(
      'Add',
      [x, this.attention(`${name}.attn`, this.layerNorm(`${name}.norm1`, x, dim), dim, heads)],
      {},
      `${name}.res1`,
    );
    const m1 = this.gelu(
      `${name}.mlp.act`,
      this.linear(`${name}.mlp.fc1`, this.layerNorm(`${name}.norm2`, h, dim), dim, mlp),
    );
    const m2 = this.linear(`${name}.mlp.fc2`, m1, mlp, dim, { gain: 0.5 });
    return g.op('Add', [h, m2], {}, `${name}.out`);
  }

  /**
   * Patch embedding: Conv(k = stride = patch) → [B, D, gh, gw] → tokens [B, gh·gw, D].
   */
  patchEmbed(name: string, x: string, inC: number, dim: number, patch: number): string {
    const g = this.g;
    const c = this.conv(name, x, inC, dim, patch, { stride: patch });
    const flat = g.op('Reshape', [c, g.constInt64([0, dim, -1], [3], `${name}.flat`)]);
    return g.op('Transpose', [flat], { perm: { ints: [0, 2, 1] } }, `${name}.tokens`);
  }

  /** Channel LayerNorm on [B, C, H, W] (SAM's LayerNorm2d): NCHW → NHWC → LN → NCHW. */
  layerNorm2d(name: string, x: string, channels: number): string {
    const g = this.g;
    const nhwc = g.op('Transpose', [x], { perm: { ints: [0, 2, 3, 1] } });
    return g.op('Transpose', [this.layerNorm(name, nhwc, channels)], { perm: { ints: [0, 3, 1, 2] } }, `${name}.nchw`);
  }
}
