import { CbirError } from '../../errors.js';
import type { Extractor } from '../types.js';
import { DescriptorExtractor, type DescriptorDef } from './descriptor.js';
import { intensityHistogram } from './histogram.js';
import { gradientHistogram } from './hog.js';
import { uniformLbp } from './lbp.js';
import { tinyImage } from './tiny.js';
import { combinedDescriptor } from './combined.js';

export { DescriptorExtractor, descriptorFingerprint, DESCRIPTOR_VERSION, type DescriptorDef } from './descriptor.js';
export { DescriptorInput, lumaPlane, resizePlane } from './resample.js';

function defs(): DescriptorDef[] {
  const hist = intensityHistogram({ bins: 64, size: 128 });
  const hog = gradientHistogram({ size: 128, cells: 4, bins: 9 });
  const lbp = uniformLbp({ size: 128, grid: 4 });
  const tiny = tinyImage({ size: 16 });
  const combo = combinedDescriptor('classic', 'Classical combination (HOG + LBP + tiny + histogram)', [
    { def: hog, weight: 1 },
    { def: lbp, weight: 1 },
    { def: tiny, weight: 1 },
    { def: hist, weight: 0.5 },
  ]);
  return [hist, hog, lbp, tiny, combo];
}

let cache: DescriptorDef[] | null = null;
function all(): DescriptorDef[] {
  cache ??= defs();
  return cache;
}

/** The built-in, training-free descriptors: id, display name, dimension and a one-line description. */
export function listDescriptors(): { id: string; name: string; dim: number; description: string }[] {
  return all().map((d) => ({ id: d.id, name: d.name, dim: d.dim, description: d.description }));
}

/** True when `id` names a built-in descriptor. */
export function isDescriptorId(id: string): boolean {
  return all().some((d) => d.id === id);
}

/** A built-in descriptor as an Extractor (runs in the calling thread; deterministic). */
export function createDescriptor(id: string): Extractor & DescriptorExtractor {
  const def = all().find((d) => d.id === id);
  if (!def) {
    throw new CbirError(`unknown descriptor "${id}"`, {
      hint: `built-in descriptors: ${all()
        .map((d) => d.id)
        .join(', ')}`,
      code: 'descriptor/unknown',
    });
  }
  return new DescriptorExtractor(def);
}

/**
 * True when the extractor is a built-in descriptor with the registered parameters, so worker
 * threads can build the same descriptor from its id and compute it themselves.
 */
export function isBuiltinDescriptor(e: Extractor): e is Extractor & DescriptorExtractor {
  if (!(e instanceof DescriptorExtractor)) return false;
  const def = all().find((d) => d.id === e.id);
  return def !== undefined && new DescriptorExtractor(def).fingerprint === e.fingerprint;
}
