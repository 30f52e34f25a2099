/**
 * Statistics over several results: multiple-comparison correction and rank correlation. Pure
 * functions; the paired test between two models is in bootstrap.ts.
 */
import { CbirError } from '../errors.js';

/** Holm's step-down adjustment: p_(i) ↦ max_{j ≤ i} min(1, (m − j + 1) · p_(j)) over the ascending p-values. */
export function holmAdjust(p: ArrayLike<number>): Float64Array {
  const m = p.length;
  for (let i = 0; i < m; i++) {
    if (!(p[i] >= 0 && p[i] <= 1)) {
      throw new CbirError(`p-value ${i} is ${p[i]}, not in [0, 1]`, {
        hint: 'pass p-values between 0 and 1',
        code: 'metrics/bad-argument',
      });
    }
  }
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => p[a] - p[b]);
  const out = new Float64Array(m);
  let running = 0;
  order.forEach((i, j) => {
    running = Math.max(running, Math.min(1, (m - j) * p[i]));
    out[i] = running;
  });
  return out;
}

/** Average ranks (1-based; ties get the mean of their ranks). */
export function averageRanks(x: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a] - x[b]);
  const r = new Float64Array(x.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]] === x[idx[i]]) j++;
    for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's rank correlation: ρ = Pearson correlation of the average ranks of x and y (NaN for fewer than 2 points or a constant input). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) {
    throw new CbirError(`x has ${x.length} values, y ${y.length}`, {
      hint: 'pass paired values',
      code: 'metrics/length-mismatch',
    });
  }
  const n = x.length;
  if (n < 2) return NaN;
  const rx = averageRanks(x),
    ry = averageRanks(y);
  let mx = 0,
    my = 0;
  for (let i = 0; i < n; i++) {
    mx += rx[i];
    my += ry[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (let i = 0; i < n; i++) {
    const a = rx[i] - mx,
      b = ry[i] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}
