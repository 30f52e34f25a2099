import type { DescriptorDef } from './descriptor.js';

/**
 * Concatenation of descriptors with per-part weights: each part is L2-normalised and scaled
 * by sqrt(w / Σw), so the cosine of two combined vectors is the weighted mean of the parts'
 * cosines: cos = Σ_p w_p cos_p / Σ_p w_p.
 */
export function combinedDescriptor(
  id: string,
  name: string,
  parts: { def: DescriptorDef; weight: number }[],
): DescriptorDef {
  if (parts.length === 0) throw new Error('combinedDescriptor needs at least one part');
  const total = parts.reduce((s, p) => s + p.weight, 0);
  if (!(total > 0) || parts.some((p) => !(p.weight >= 0)))
    throw new Error('combinedDescriptor weights must be ≥ 0 with a positive sum');
  const dim = parts.reduce((s, p) => s + p.def.dim, 0);
  const scales = parts.map((p) => Math.sqrt(p.weight / total));
  return {
    id,
    name,
    description: `concatenation of ${parts.map((p) => `${p.def.id} (weight ${p.weight})`).join(', ')}; cosine = weighted mean of the parts' cosines`,
    dim,
    params: { parts: parts.map((p) => ({ id: p.def.id, params: p.def.params, weight: p.weight })) },
    compute(input, out, offset) {
      let o = offset;
      parts.forEach((p, k) => {
        p.def.compute(input, out, o);
        const s = scales[k];
        for (let j = 0; j < p.def.dim; j++) out[o + j] *= s;
        o += p.def.dim;
      });
    },
  };
}
