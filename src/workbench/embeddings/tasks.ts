import { decodeImage, type RgbImage } from '../images/decode.js';
import { CbirError, errorMessage } from '../errors.js';
import type { PreprocessSpec } from '../models/types.js';
import { createDescriptor } from '../models/descriptors/index.js';
import type { DescriptorExtractor } from '../models/descriptors/descriptor.js';
import { preprocessedLength, preprocessImage } from '../models/preprocess.js';
import { HASH_BYTES, STAT_FIELDS, readImageFile, type ImageRecords } from './content.js';

/**
 * The per-batch CPU work of the embedding pipeline, the same code whether it runs in a worker
 * thread or in the main thread (so both give identical bytes):
 *   'decode'     decode the images (the extractor's `embed` runs in the main thread);
 *   'tensor'     decode + the model's preprocessing → one [n, C, H, W] input (ONNX models);
 *   'descriptor' decode + a built-in descriptor → the rows themselves.
 */
export type TaskMode = 'decode' | 'tensor' | 'descriptor';

export interface TaskSetup {
  mode: TaskMode;
  /** For 'tensor'. */
  spec?: PreprocessSpec;
  /** For 'descriptor': id and the fingerprint it must have (guards against a version skew). */
  descriptorId?: string;
  fingerprint?: string;
}

/** The batch's work, and what it was computed from (each image's SHA-1 and stat record, see content.ts). */
export type TaskResult = (
  | { kind: 'images'; images: RgbImage[] }
  | { kind: 'tensor'; data: Float32Array }
  | { kind: 'vectors'; data: Float32Array }
) & { records: ImageRecords };

/** Prepared state for one kind of work (a descriptor instance, the preprocessing function). */
export class TaskRunner {
  private descriptor: DescriptorExtractor | null = null;

  constructor(readonly setup: TaskSetup) {
    if (setup.mode === 'descriptor') {
      this.descriptor = createDescriptor(setup.descriptorId ?? '');
      if (setup.fingerprint !== undefined && this.descriptor.fingerprint !== setup.fingerprint) {
        throw new CbirError(
          `descriptor ${setup.descriptorId} has fingerprint ${this.descriptor.fingerprint} in the worker but ${setup.fingerprint} in the main thread`,
          { code: 'embeddings/worker-skew' },
        );
      }
    } else if (setup.mode === 'tensor' && !setup.spec) {
      throw new Error('TaskRunner: tensor mode needs a preprocess spec');
    }
  }

  /** Do one batch: `paths` are absolute image paths. Each file is read once: hashed, then decoded. */
  async run(paths: readonly string[]): Promise<TaskResult> {
    const { mode } = this.setup;
    const records: ImageRecords = {
      sha1: new Uint8Array(paths.length * HASH_BYTES),
      stat: new Float64Array(paths.length * STAT_FIELDS),
    };
    const decode = async (i: number) => {
      const f = await readImageFile(paths[i]);
      records.sha1.set(f.sha1, i * HASH_BYTES);
      records.stat.set(f.stat, i * STAT_FIELDS);
      return decodeImage(f.bytes, {}, paths[i]);
    };
    if (mode === 'decode') {
      const images: RgbImage[] = [];
      for (let i = 0; i < paths.length; i++) images.push(await decode(i));
      return { kind: 'images', images, records };
    }
    if (mode === 'descriptor') {
      const d = this.descriptor!;
      const data = new Float32Array(paths.length * d.dim);
      for (let i = 0; i < paths.length; i++) {
        const img = await decode(i);
        await namingFile(paths[i], 'compute the descriptor of', async () => d.computeOne(img, data, i * d.dim));
      }
      return { kind: 'vectors', data, records };
    }
    const spec = this.setup.spec!;
    const per = preprocessedLength(spec);
    const data = new Float32Array(per * paths.length);
    for (let i = 0; i < paths.length; i++) {
      const img = await decode(i);
      await namingFile(paths[i], 'preprocess', () => preprocessImage(img, spec, data, i * per));
    }
    return { kind: 'tensor', data, records };
  }
}

/** Run `fn`; an error that is not already a CbirError becomes one naming the image. */
async function namingFile<T>(file: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CbirError) throw e;
    throw new CbirError(`cannot ${what} this image (${errorMessage(e)})`, {
      file,
      hint: 'check the image (it decodes but may be empty or degenerate); fix or remove it, then rerun the same command to resume',
      code: 'embed/preprocess',
      cause: e,
    });
  }
}

/** Serialisable form of an error thrown by a task (CbirError details survive the thread boundary). */
export interface TaskError {
  message: string;
  name: string;
  file?: string;
  row?: number;
  hint?: string;
  code?: string;
  stack?: string;
}

export function toTaskError(e: unknown): TaskError {
  const err = e as CbirError;
  return {
    message: err?.message ?? String(e),
    name: err?.name ?? 'Error',
    file: err?.file,
    row: err?.row,
    hint: err?.hint,
    code: err?.code,
    stack: err?.stack,
  };
}

export function fromTaskError(t: TaskError): Error {
  if (t.name === 'CbirError') {
    const e = new CbirError(t.message, { code: t.code });
    Object.assign(e, { file: t.file, row: t.row, hint: t.hint });
    return e;
  }
  const e = new Error(t.message);
  e.name = t.name;
  if (t.stack) e.stack = t.stack;
  return e;
}

/** ArrayBuffers that can be moved (not copied) to the other thread; copies views that share a pooled buffer. */
export function transferables(r: TaskResult): ArrayBuffer[] {
  const own = (a: Uint8Array | Float32Array | Float64Array): ArrayBuffer | null =>
    a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer ? a.buffer : null;
  const out: ArrayBuffer[] = [];
  for (const a of [r.records.sha1, r.records.stat]) {
    const b = own(a);
    if (b) out.push(b);
  }
  if (r.kind === 'images') {
    for (const img of r.images) {
      let b = own(img.data);
      if (!b) {
        img.data = img.data.slice();
        b = img.data.buffer as ArrayBuffer;
      }
      out.push(b);
    }
    return out;
  }
  const b = own(r.data);
  if (b) out.push(b);
  return out;
}
