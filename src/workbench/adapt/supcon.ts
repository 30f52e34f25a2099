/**
 * Supervised contrastive loss (Khosla et al. 2020, "SupCon", L_out) on a batch of unit vectors,
 * with its gradient. With s_ia = z_i · z_a / τ and P(i) the other rows of i's class:
 *
 *   L = (1 / |A|) Σ_{i ∈ A} −(1 / |P(i)|) Σ_{p ∈ P(i)} log( exp(s_ip) / Σ_{a ≠ i} exp(s_ia) )
 *
 * over the anchors A that have at least one positive in the batch.
 */

/** Loss of the batch and dL/dz (B × m, row-major) written into `grad`. */
export function supConLoss(
  z: Float64Array,
  labels: ArrayLike<number>,
  m: number,
  tau: number,
  grad: Float64Array,
): number {
  const B = labels.length;
  const s = new Float64Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = i; j < B; j++) {
      let dot = 0;
      for (let d = 0; d < m; d++) dot += z[i * m + d] * z[j * m + d];
      s[i * B + j] = s[j * B + i] = dot / tau;
    }
  }
  let anchors = 0;
  for (let i = 0; i < B; i++) if (positives(labels, i) > 0) anchors++;
  grad.fill(0);
  if (anchors === 0) return 0;
  const g = new Float64Array(B * B); // dL/ds
  let loss = 0;
  for (let i = 0; i < B; i++) {
    const P = positives(labels, i);
    if (P === 0) continue;
    let max = -Infinity;
    for (let a = 0; a < B; a++) if (a !== i && s[i * B + a] > max) max = s[i * B + a];
    let sum = 0;
    for (let a = 0; a < B; a++) if (a !== i) sum += Math.exp(s[i * B + a] - max);
    const logZ = max + Math.log(sum);
    for (let a = 0; a < B; a++) {
      if (a === i) continue;
      const pos = labels[a] === labels[i] ? 1 / P : 0;
      if (pos) loss -= (s[i * B + a] - logZ) / P;
      g[i * B + a] = (Math.exp(s[i * B + a] - logZ) - pos) / anchors;
    }
  }
  // dL/dz_i = (1/τ) Σ_a (g_ia + g_ai) z_a
  for (let i = 0; i < B; i++) {
    for (let a = 0; a < B; a++) {
      const w = (g[i * B + a] + g[a * B + i]) / tau;
      if (w === 0) continue;
      for (let d = 0; d < m; d++) grad[i * m + d] += w * z[a * m + d];
    }
  }
  return loss / anchors;
}

function positives(labels: ArrayLike<number>, i: number): number {
  let n = 0;
  for (let a = 0; a < labels.length; a++) if (a !== i && labels[a] === labels[i]) n++;
  return n;
}

/** z = u / |u| row by row (u kept); returns the norms. */
export function normalizeRows(u: Float64Array, m: number, z: Float64Array): Float64Array {
  const B = u.length / m;
  const norms = new Float64Array(B);
  for (let i = 0; i < B; i++) {
    let ss = 0;
    for (let d = 0; d < m; d++) ss += u[i * m + d] ** 2;
    const n = (norms[i] = Math.sqrt(ss) || 1);
    for (let d = 0; d < m; d++) z[i * m + d] = u[i * m + d] / n;
  }
  return norms;
}

/** dL/du from dL/dz through z = u / |u|: (g − z (z · g)) / |u|, in place on `grad`. */
export function normalizeBackward(z: Float64Array, norms: Float64Array, m: number, grad: Float64Array): void {
  for (let i = 0; i < norms.length; i++) {
    let dot = 0;
    for (let d = 0; d < m; d++) dot += z[i * m + d] * grad[i * m + d];
    for (let d = 0; d < m; d++) grad[i * m + d] = (grad[i * m + d] - z[i * m + d] * dot) / norms[i];
  }
}
