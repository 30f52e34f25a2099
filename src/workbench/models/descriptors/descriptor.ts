import type { RgbImage } from '../../images/decode.js';
import type { Extractor } from '../types.js';
import { sha256 } from '../../util/fsx.js';
import { DescriptorInput } from './resample.js';

/**
 * A classical, training-free image descriptor: a pure function of the decoded pixels and a
 * few parameters. `compute` writes `dim` values for one image, already L2-normalised (so the
 * parts of a combined descriptor can be weighted against each other).
 */
export interface DescriptorDef {
  id: string;
  name: string;
  description: string;
  dim: number;
  /** Everything that determines the output; hashed into the fingerprint. */
  params: Record<string, unknown>;
  compute(input: DescriptorInput, out: Float32Array, offset: number): void;
}

/** Bump when an algorithm changes so that old embedding stores are refused. */
export const DESCRIPTOR_VERSION = 1;

/** Scale out[offset..offset+n) to unit L2 norm (left as zeros when the norm is 0). */
export function l2NormaliseRange(out: Float32Array, offset: number, n: number): void {
  let s = 0;
  for (let k = 0; k < n; k++) s += out[offset + k] * out[offset + k];
  if (s <= 0) return;
  const inv = 1 / Math.sqrt(s);
  for (let k = 0; k < n; k++) out[offset + k] *= inv;
}

/** Fingerprint of a descriptor: sha256 of its id, version and parameters (stable JSON). */
export function descriptorFingerprint(def: Pick<DescriptorDef, 'id' | 'params'>): string {
  return sha256(
    stableJson({ kind: 'radcbir-descriptor', version: DESCRIPTOR_VERSION, id: def.id, params: def.params }),
  );
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** A descriptor behind the common Extractor interface (runs in the calling thread). */
export class DescriptorExtractor implements Extractor {
  readonly id: string;
  readonly dim: number;
  readonly fingerprint: string;

  constructor(readonly def: DescriptorDef) {
    this.id = def.id;
    this.dim = def.dim;
    this.fingerprint = descriptorFingerprint(def);
  }

  /** One descriptor row for one image. */
  computeOne(image: RgbImage, out = new Float32Array(this.dim), offset = 0): Float32Array {
    this.def.compute(new DescriptorInput(image), out, offset);
    return out;
  }

  async embed(images: RgbImage[]): Promise<Float32Array> {
    const out = new Float32Array(images.length * this.dim);
    for (let i = 0; i < images.length; i++) this.computeOne(images[i], out, i * this.dim);
    return out;
  }

  async close(): Promise<void> {}
}
