import type { DescriptorDef } from './descriptor.js';
import { l2NormaliseRange } from './descriptor.js';

/** Map of the 256 8-bit LBP codes to 59 labels: 58 uniform patterns (≤ 2 transitions), then 1 for all others. */
export const UNIFORM_LBP_MAP: Uint8Array = (() => {
  const map = new Uint8Array(256);
  let next = 0;
  for (let c = 0; c < 256; c++) {
    let transitions = 0;
    for (let b = 0; b < 8; b++) if (((c >> b) & 1) !== ((c >> ((b + 1) % 8)) & 1)) transitions++;
    map[c] = transitions <= 2 ? next++ : 255;
  }
  for (let c = 0; c < 256; c++) if (map[c] === 255) map[c] = next; // next === 58
  return map;
})();

/**
 * Uniform local binary patterns (Ojala et al. 2002, LBP^{u2}_{8,1}) in a spatial grid: each
 * pixel of a `size` × `size` luma resample gets the 8-bit code of its neighbours ≥ centre,
 * mapped to 59 uniform labels; one histogram per cell of a `grid` × `grid` grid, each
 * normalised to sum 1 and square-rooted (Hellinger), then the whole vector L2-normalised.
 */
export function uniformLbp(opts: { size?: number; grid?: number } = {}): DescriptorDef {
  const size = opts.size ?? 128;
  const grid = opts.grid ?? 4;
  const labels = 59;
  const dim = grid * grid * labels;
  // neighbour offsets, counter-clockwise from the right
  const ox = [1, 1, 0, -1, -1, -1, 0, 1];
  const oy = [0, -1, -1, -1, 0, 1, 1, 1];
  return {
    id: `lbp${grid}x${grid}`,
    name: `Uniform LBP (${grid}×${grid} grid)`,
    description: `uniform LBP(8,1), 59 labels per cell of a ${grid}×${grid} grid on a ${size}×${size} resample, Hellinger-mapped`,
    dim,
    params: { size, grid, neighbours: 8, radius: 1, labels },
    compute(input, out, offset) {
      const g = input.gray(size);
      for (let k = 0; k < dim; k++) out[offset + k] = 0;
      const counts = new Float64Array(grid * grid);
      for (let y = 1; y < size - 1; y++) {
        const cy = Math.min(grid - 1, Math.floor((y * grid) / size));
        for (let x = 1; x < size - 1; x++) {
          const c = g[y * size + x];
          let code = 0;
          for (let b = 0; b < 8; b++) if (g[(y + oy[b]) * size + x + ox[b]] >= c) code |= 1 << b;
          const cell = cy * grid + Math.min(grid - 1, Math.floor((x * grid) / size));
          out[offset + cell * labels + UNIFORM_LBP_MAP[code]] += 1;
          counts[cell]++;
        }
      }
      for (let cell = 0; cell < grid * grid; cell++) {
        const n = counts[cell] || 1;
        for (let k = 0; k < labels; k++)
          out[offset + cell * labels + k] = Math.sqrt(out[offset + cell * labels + k] / n);
      }
      l2NormaliseRange(out, offset, dim);
    },
  };
}
