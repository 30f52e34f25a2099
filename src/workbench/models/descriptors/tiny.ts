import type { DescriptorDef } from './descriptor.js';
import { l2NormaliseRange } from './descriptor.js';

/**
 * "Tiny image" (Torralba et al. 2008): the luma plane shrunk to `size` × `size` with an
 * antialiasing filter, minus its mean (so cosine similarity is the correlation of the
 * thumbnails, invariant to brightness offset and contrast scale).
 */
export function tinyImage(opts: { size?: number } = {}): DescriptorDef {
  const size = opts.size ?? 16;
  const dim = size * size;
  return {
    id: `tiny${size}`,
    name: `Tiny image (${size}×${size})`,
    description: `${size}×${size} gray thumbnail, zero-mean (correlation of thumbnails)`,
    dim,
    params: { size },
    compute(input, out, offset) {
      const g = input.gray(size);
      let mean = 0;
      for (let p = 0; p < dim; p++) mean += g[p];
      mean /= dim;
      for (let p = 0; p < dim; p++) out[offset + p] = g[p] - mean;
      l2NormaliseRange(out, offset, dim);
    },
  };
}
