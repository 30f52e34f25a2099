import type { DescriptorDef } from './descriptor.js';
import { l2NormaliseRange } from './descriptor.js';

/**
 * Global intensity histogram of the luma plane (after resampling to `size` × `size`), with
 * linear soft-binning between neighbouring bins, normalised to sum 1 and square-rooted
 * (Hellinger map: the cosine of two such vectors is the Bhattacharyya coefficient).
 */
export function intensityHistogram(opts: { bins?: number; size?: number } = {}): DescriptorDef {
  const bins = opts.bins ?? 64;
  const size = opts.size ?? 128;
  return {
    id: `hist${bins}`,
    name: `Intensity histogram (${bins} bins)`,
    description: `global gray-level histogram, ${bins} soft bins on a ${size}×${size} resample, Hellinger-mapped`,
    dim: bins,
    params: { bins, size },
    compute(input, out, offset) {
      const g = input.gray(size);
      const w = bins / 256;
      for (let k = 0; k < bins; k++) out[offset + k] = 0;
      for (let p = 0; p < g.length; p++) {
        // bin centres at (k + 0.5) * 256 / bins
        const t = g[p] * w - 0.5;
        const k0 = Math.floor(t);
        const f = t - k0;
        if (k0 >= 0) out[offset + k0] += 1 - f;
        else out[offset] += 1 - f;
        if (k0 + 1 < bins) out[offset + k0 + 1] += f;
        else out[offset + bins - 1] += f;
      }
      for (let k = 0; k < bins; k++) out[offset + k] = Math.sqrt(out[offset + k] / g.length);
      l2NormaliseRange(out, offset, bins);
    },
  };
}
