/**
 * Independent plain-loop forward passes of the built-in graphs (float64, one image at a time),
 * written from the architecture descriptions, to check the ONNX graphs and the pooling.
 */
import type { TinyCnnConfig, TinySamConfig, TinyVitConfig } from '../../src/workbench/models/builtin/graphs.js';

type W = Map<string, Float32Array>;

function get(w: W, name: string): Float32Array {
  const a = w.get(name);
  if (!a) throw new Error(`reference: weight ${name} missing`);
  return a;
}

/** erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
export function erf(x: number): number {
  const s = Math.sign(x);
  x = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * x);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return s * y;
}

/** Conv2d on one image: x [C, H, W] → [O, Ho, Wo]. */
export function conv2d(
  x: Float64Array,
  C: number,
  H: number,
  Wd: number,
  w: Float32Array,
  b: Float32Array | null,
  O: number,
  k: number,
  stride: number,
  pad: number,
): { y: Float64Array; H: number; W: number } {
  const Ho = Math.floor((H + 2 * pad - k) / stride) + 1;
  const Wo = Math.floor((Wd + 2 * pad - k) / stride) + 1;
  const y = new Float64Array(O * Ho * Wo);
  for (let o = 0; o < O; o++)
    for (let oy = 0; oy < Ho; oy++)
      for (let ox = 0; ox < Wo; ox++) {
        let s = b ? b[o] : 0;
        for (let c = 0; c < C; c++)
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * stride - pad + kx;
              if (ix < 0 || ix >= Wd) continue;
              s += x[(c * H + iy) * Wd + ix] * w[((o * C + c) * k + ky) * k + kx];
            }
          }
        y[(o * Ho + oy) * Wo + ox] = s;
      }
  return { y, H: Ho, W: Wo };
}

/** LayerNorm of each row of x [N, D] (ε = 1e-6). */
export function layerNorm(x: Float64Array, N: number, D: number, g: Float32Array, b: Float32Array): Float64Array {
  const y = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let d = 0; d < D; d++) m += x[n * D + d];
    m /= D;
    let v = 0;
    for (let d = 0; d < D; d++) v += (x[n * D + d] - m) ** 2;
    v /= D;
    const inv = 1 / Math.sqrt(v + 1e-6);
    for (let d = 0; d < D; d++) y[n * D + d] = (x[n * D + d] - m) * inv * g[d] + b[d];
  }
  return y;
}

/** x [N, I] @ w [I, O] (+ b). */
export function linear(
  x: Float64Array,
  N: number,
  I: number,
  w: Float32Array,
  O: number,
  b?: Float32Array,
): Float64Array {
  const y = new Float64Array(N * O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < I; i++) s += x[n * I + i] * w[i * O + o];
      y[n * O + o] = s;
    }
  return y;
}

function block(w: W, p: string, x: Float64Array, N: number, D: number, heads: number, mlp: number): Float64Array {
  const hd = D / heads;
  const ln1 = layerNorm(x, N, D, get(w, `${p}.norm1.weight`), get(w, `${p}.norm1.bias`));
  const q = linear(ln1, N, D, get(w, `${p}.attn.q.weight`), D, get(w, `${p}.attn.q.bias`));
  const k = linear(ln1, N, D, get(w, `${p}.attn.k.weight`), D, get(w, `${p}.attn.k.bias`));
  const v = linear(ln1, N, D, get(w, `${p}.attn.v.weight`), D, get(w, `${p}.attn.v.bias`));
  const ctx = new Float64Array(N * D);
  const sc = new Float64Array(N);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < N; i++) {
      let mx = -Infinity;
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let e = 0; e < hd; e++) s += q[i * D + h * hd + e] * k[j * D + h * hd + e];
        sc[j] = s / Math.sqrt(hd);
        if (sc[j] > mx) mx = sc[j];
      }
      let z = 0;
      for (let j = 0; j < N; j++) {
        sc[j] = Math.exp(sc[j] - mx);
        z += sc[j];
      }
      for (let e = 0; e < hd; e++) {
        let s = 0;
        for (let j = 0; j < N; j++) s += sc[j] * v[j * D + h * hd + e];
        ctx[i * D + h * hd + e] = s / z;
      }
    }
  }
  const a = linear(ctx, N, D, get(w, `${p}.attn.proj.weight`), D, get(w, `${p}.attn.proj.bias`));
  const h1 = x.map((xv, i) => xv + a[i]);
  const ln2 = layerNorm(h1, N, D, get(w, `${p}.norm2.weight`), get(w, `${p}.norm2.bias`));
  const f1 = linear(ln2, N, D, get(w, `${p}.mlp.fc1.weight`), mlp, get(w, `${p}.mlp.fc1.bias`)).map(
    (t) => 0.5 * t * (1 + erf(t / Math.SQRT2)),
  );
  const f2 = linear(f1, N, mlp, get(w, `${p}.mlp.fc2.weight`), D, get(w, `${p}.mlp.fc2.bias`));
  return h1.map((hv, i) => hv + f2[i]);
}

function patchTokens(
  w: W,
  img: Float64Array,
  size: number,
  patch: number,
  D: number,
): { tokens: Float64Array; T: number } {
  const c = conv2d(img, 3, size, size, get(w, 'patch_embed.weight'), get(w, 'patch_embed.bias'), D, patch, patch, 0);
  const T = c.H * c.W;
  const tokens = new Float64Array(T * D);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) tokens[t * D + d] = c.y[d * T + t];
  return { tokens, T };
}

/** Tiny ViT on one image [3, S, S]: last_hidden_state [1+T, D] and image_embeds [P]. */
export function refTinyVit(
  w: W,
  cfg: TinyVitConfig,
  img: Float64Array,
): { lhs: Float64Array; embeds: Float64Array; T: number } {
  const D = cfg.dim;
  const { tokens, T } = patchTokens(w, img, cfg.size, cfg.patch, D);
  const N = T + 1;
  let x: Float64Array = new Float64Array(N * D);
  const cls = get(w, 'cls_token');
  const pos = get(w, 'pos_embed');
  for (let d = 0; d < D; d++) x[d] = cls[d];
  x.set(tokens, D);
  x = x.map((v, i) => v + pos[i]);
  for (let b = 0; b < cfg.depth; b++) x = block(w, `blocks.${b}`, x, N, D, cfg.heads, cfg.mlp);
  const lhs = layerNorm(x, N, D, get(w, 'norm.weight'), get(w, 'norm.bias'));
  const embeds = linear(lhs.subarray(0, D), 1, D, get(w, 'visual_projection'), cfg.projDim);
  return { lhs, embeds, T: N };
}

/** Tiny CNN on one image: pooled [C] and logits [K]. */
export function refTinyCnn(
  w: W,
  cfg: TinyCnnConfig,
  img: Float64Array,
): { pooled: Float64Array; logits: Float64Array } {
  let x = img,
    C = 3,
    H = cfg.size,
    Wd = cfg.size;
  cfg.widths.forEach((o, i) => {
    const c = conv2d(x, C, H, Wd, get(w, `stages.${i}.conv.weight`), get(w, `stages.${i}.conv.bias`), o, 3, 1, 1);
    x = c.y.map((v) => Math.max(0, v));
    C = o;
    H = c.H;
    Wd = c.W;
    if (i < cfg.widths.length - 1) {
      const Ho = H >> 1,
        Wo = Wd >> 1;
      const p = new Float64Array(C * Ho * Wo);
      for (let ch = 0; ch < C; ch++)
        for (let y = 0; y < Ho; y++)
          for (let xx = 0; xx < Wo; xx++) {
            let m = -Infinity;
            for (let dy = 0; dy < 2; dy++)
              for (let dx = 0; dx < 2; dx++) m = Math.max(m, x[(ch * H + 2 * y + dy) * Wd + 2 * xx + dx]);
            p[(ch * Ho + y) * Wo + xx] = m;
          }
      x = p;
      H = Ho;
      Wd = Wo;
    }
  });
  const pooled = new Float64Array(C);
  for (let ch = 0; ch < C; ch++) {
    let s = 0;
    for (let i = 0; i < H * Wd; i++) s += x[ch * H * Wd + i];
    pooled[ch] = s / (H * Wd);
  }
  const fw = get(w, 'fc.weight'),
    fb = get(w, 'fc.bias');
  const logits = new Float64Array(cfg.classes);
  for (let k = 0; k < cfg.classes; k++) {
    let s = fb[k];
    for (let ch = 0; ch < C; ch++) s += pooled[ch] * fw[k * C + ch];
    logits[k] = s;
  }
  return { pooled, logits };
}

/** Tiny SAM-like encoder on one image: image_embeddings [C, g, g]. */
export function refTinySam(w: W, cfg: TinySamConfig, img: Float64Array): { emb: Float64Array; grid: number } {
  const D = cfg.dim;
  const { tokens, T } = patchTokens(w, img, cfg.size, cfg.patch, D);
  const pos = get(w, 'pos_embed');
  let x: Float64Array = tokens.map((v, i) => v + pos[i]);
  for (let b = 0; b < cfg.depth; b++) x = block(w, `blocks.${b}`, x, T, D, cfg.heads, cfg.mlp);
  const g = Math.round(Math.sqrt(T));
  const chw = new Float64Array(D * T);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) chw[d * T + t] = x[t * D + d];
  const ln2d = (y: Float64Array, C: number, name: string) => {
    const rows = new Float64Array(T * C);
    for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) rows[t * C + c] = y[c * T + t];
    const n = layerNorm(rows, T, C, get(w, `${name}.weight`), get(w, `${name}.bias`));
    const out = new Float64Array(C * T);
    for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) out[c * T + t] = n[t * C + c];
    return out;
  };
  const C = cfg.neckDim;
  const n1 = ln2d(conv2d(chw, D, g, g, get(w, 'neck.conv1.weight'), null, C, 1, 1, 0).y, C, 'neck.ln1');
  const n2 = ln2d(conv2d(n1, C, g, g, get(w, 'neck.conv2.weight'), null, C, 3, 1, 1).y, C, 'neck.ln2');
  return { emb: n2, grid: g };
}
