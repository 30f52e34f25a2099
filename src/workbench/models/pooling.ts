/** Turn a model output tensor into one embedding row per image, as a card's `pooling` says. */
import type { Pooling } from './types.js';

/** Rank of the output tensor each pooling expects. */
export function poolingRank(pooling: Pooling): number {
  switch (pooling) {
    case 'cls-token':
    case 'mean-patch-tokens':
      return 3;
    case 'mean-spatial':
      return 4;
    default:
      return 2;
  }
}

/** Which output axis holds the embedding dimension for a pooling ([B,T,D] → 2, [B,C,H,W] → 1, [B,D] → 1). */
export function pooledAxis(pooling: Pooling): number {
  return poolingRank(pooling) === 3 ? 2 : 1;
}

/**
 * Pool `data` of shape `dims` (batch first) to [B, D], row-major:
 * cls-token: e_b = x[b, 0, :]; mean-patch-tokens: e_b = 1/(T−p) Σ_{t≥p} x[b, t, :];
 * mean-spatial: e_b = 1/(H·W) Σ_{h,w} x[b, :, h, w]; logits/projected/none: e_b = x[b, :].
 */
export function poolOutput(
  data: Float32Array,
  dims: readonly number[],
  pooling: Pooling,
  prefixTokens = 1,
): { dim: number; out: Float32Array } {
  const rank = poolingRank(pooling);
  if (dims.length !== rank)
    throw new Error(`pooling "${pooling}" expects a rank-${rank} output, got shape [${dims.join(', ')}]`);
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`output shape [${dims.join(', ')}] does not match ${data.length} values`);
  const B = dims[0];
  if (pooling === 'cls-token' || pooling === 'mean-patch-tokens') {
    const T = dims[1],
      D = dims[2];
    const out = new Float32Array(B * D);
    if (pooling === 'cls-token') {
      for (let b = 0; b < B; b++) out.set(data.subarray(b * T * D, b * T * D + D), b * D);
      return { dim: D, out };
    }
    if (!(prefixTokens >= 0 && prefixTokens < T))
      throw new Error(`prefixTokens ${prefixTokens} leaves no patch tokens of ${T}`);
    const acc = new Float64Array(D);
    const n = T - prefixTokens;
    for (let b = 0; b < B; b++) {
      acc.fill(0);
      for (let t = prefixTokens; t < T; t++) {
        const o = (b * T + t) * D;
        for (let d = 0; d < D; d++) acc[d] += data[o + d];
      }
      for (let d = 0; d < D; d++) out[b * D + d] = acc[d] / n;
    }
    return { dim: D, out };
  }
  if (pooling === 'mean-spatial') {
    const C = dims[1],
      HW = dims[2] * dims[3];
    const out = new Float32Array(B * C);
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) {
        const o = (b * C + c) * HW;
        let s = 0;
        for (let i = 0; i < HW; i++) s += data[o + i];
        out[b * C + c] = s / HW;
      }
    }
    return { dim: C, out };
  }
  return { dim: dims[1], out: data.slice() };
}
