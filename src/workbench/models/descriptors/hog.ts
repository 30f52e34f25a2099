import type { DescriptorDef } from './descriptor.js';
import { l2NormaliseRange } from './descriptor.js';

export interface HogOptions {
  /** Side of the square resample, px. */
  size?: number;
  /** Cells per side (cells × cells spatial grid). */
  cells?: number;
  /** Unsigned orientation bins over 0..180°. */
  bins?: number;
  /** Clip value of the L2-Hys normalisation. */
  clip?: number;
}

/**
 * HOG-like gradient-orientation histogram (after Dalal & Triggs 2005, simplified to one
 * global descriptor): central-difference gradients on a `size` × `size` luma resample,
 * magnitude-weighted votes into `bins` unsigned orientation bins (linear interpolation
 * between bins) and a `cells` × `cells` spatial grid (bilinear interpolation between cell
 * centres); each cell's histogram is square-rooted and the whole vector L2-Hys normalised
 * (L2, clip at `clip`, L2 again).
 */
export function gradientHistogram(opts: HogOptions = {}): DescriptorDef {
  const size = opts.size ?? 128;
  const cells = opts.cells ?? 4;
  const bins = opts.bins ?? 9;
  const clip = opts.clip ?? 0.2;
  const dim = cells * cells * bins;
  const cellSize = size / cells;
  const binWidth = Math.PI / bins;
  return {
    id: `hog${cells}x${cells}x${bins}`,
    name: `Gradient-orientation histogram (${cells}×${cells} cells × ${bins} bins)`,
    description: `HOG-like: ${bins} unsigned orientation bins in a ${cells}×${cells} grid on a ${size}×${size} resample, L2-Hys`,
    dim,
    params: { size, cells, bins, clip },
    compute(input, out, offset) {
      const g = input.gray(size);
      for (let k = 0; k < dim; k++) out[offset + k] = 0;
      for (let y = 0; y < size; y++) {
        const ym = y > 0 ? y - 1 : 0;
        const yp = y < size - 1 ? y + 1 : size - 1;
        // cell coordinate of this row, centred: cell c covers [c, c+1) * cellSize
        const cy = (y + 0.5) / cellSize - 0.5;
        const cy0 = Math.floor(cy);
        const fy = cy - cy0;
        for (let x = 0; x < size; x++) {
          const xm = x > 0 ? x - 1 : 0;
          const xp = x < size - 1 ? x + 1 : size - 1;
          const gx = g[y * size + xp] - g[y * size + xm];
          const gy = g[yp * size + x] - g[ym * size + x];
          const mag = Math.sqrt(gx * gx + gy * gy);
          if (mag === 0) continue;
          let ang = Math.atan2(gy, gx);
          if (ang < 0) ang += Math.PI;
          if (ang >= Math.PI) ang -= Math.PI;
          const b = ang / binWidth - 0.5;
          const b0f = Math.floor(b);
          const fb = b - b0f;
          const b0 = (b0f + bins) % bins;
          const b1 = (b0 + 1) % bins;
          const cx = (x + 0.5) / cellSize - 0.5;
          const cx0 = Math.floor(cx);
          const fx = cx - cx0;
          for (let dy = 0; dy < 2; dy++) {
            const cyy = cy0 + dy;
            if (cyy < 0 || cyy >= cells) continue;
            const wy = dy === 0 ? 1 - fy : fy;
            for (let dx = 0; dx < 2; dx++) {
              const cxx = cx0 + dx;
              if (cxx < 0 || cxx >= cells) continue;
              const w = mag * wy * (dx === 0 ? 1 - fx : fx);
              const base = offset + (cyy * cells + cxx) * bins;
              out[base + b0] += w * (1 - fb);
              out[base + b1] += w * fb;
            }
          }
        }
      }
      for (let k = 0; k < dim; k++) out[offset + k] = Math.sqrt(out[offset + k]);
      l2NormaliseRange(out, offset, dim);
      for (let k = 0; k < dim; k++) if (out[offset + k] > clip) out[offset + k] = clip;
      l2NormaliseRange(out, offset, dim);
    },
  };
}
