/**
 * Reference parity: `<id>.reference.json`, written next to the ONNX file by
 * models/export/export_onnx.py, holds the torch reference pipeline's embeddings of 16 generated
 * images (and their preprocessed tensors' statistics, plus one whole tensor). `checkReference`
 * recomputes them with radcbir's preprocessing and onnxruntime and says which stage differs:
 * the preprocessed tensor, or the graph output on the reference's own tensor.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CbirError, errorMessage } from '../errors.js';
import { decodeImage } from '../images/decode.js';
import { sha256 } from '../util/fsx.js';
import { cardSource } from './cards.js';
import { readLock, updateLockQuietly, type LockCheck } from './lock.js';
import { preprocessedLength, preprocessImage } from './preprocess.js';
import type { ModelCard } from './types.js';

/** Embeddings count as the reference's when cosine(radcbir, reference) ≥ this on every image. */
export const REFERENCE_MIN_COSINE = 0.9999;
/** Preprocessed tensors count as equal within this |Δ| (float32 rounding of (x·s − mean)/std is ~1e-6). */
export const PREPROCESS_TOLERANCE = 1e-4;
/** Per-channel mean and mean-square of a tensor count as equal within this (one pixel level over a 224² plane moves a mean by ~3e-7). */
export const STATS_TOLERANCE = 1e-5;

export interface ReferenceImage {
  name: string;
  /** Relative to the reference file. */
  path: string;
  sha256: string;
  width: number;
  height: number;
  mode: string;
  /** Per channel: mean and mean of squares of the reference's preprocessed tensor. */
  tensorStats: number[];
}

export interface ReferenceFile {
  format: 'radcbir-reference';
  version: number;
  id: string;
  mode: 'random-init' | 'checkpoint';
  seed: number | null;
  onnx: { file: string; sha256: string };
  pipeline: string;
  dim: number;
  images: ReferenceImage[];
  embeddings: number[][];
  tensor: { image: number; shape: number[]; data: string };
}

export interface ReferenceImageResult {
  name: string;
  /** cosine(radcbir's embedding, the reference's); 1 = identical direction. */
  cosine: number;
  /** max |Δ| between the two L2-normalised embeddings. */
  maxAbsDiff: number;
  /** max |Δ| of the preprocessed tensor's per-channel mean and mean-square. */
  statsMaxDiff: number;
}

export interface ReferenceCheck {
  id: string;
  ok: boolean;
  /** The reference file. */
  file: string;
  pipeline: string;
  images: number;
  minCosine: number;
  maxAbsDiff: number;
  /** max |Δ| between radcbir's preprocessed tensor and the reference's, on the image whose whole tensor is stored. */
  preprocessMaxAbsDiff: number;
  /** cosine of the graph's embedding of the reference's own tensor with the reference embedding of that image. */
  graphCosine: number;
  /** Which stage differs: 'none', 'preprocess' (radcbir's tensor), 'graph' (the ONNX output), or 'both'. */
  stage: 'none' | 'preprocess' | 'graph' | 'both';
  /** The image with the lowest cosine. */
  worst: string;
  perImage: ReferenceImageResult[];
  /** What is wrong (empty when ok). */
  problems: string[];
}

/** What the check needs of an extractor: the card's graph on ready tensors [n, C, H, W]. */
export interface TensorEmbedder {
  embedTensor(input: Float32Array, n: number): Promise<Float32Array>;
}

/** Where a model's reference file is: `<id>.reference.json` next to its ONNX file. */
export function referencePath(card: ModelCard, modelPath: string): string {
  return join(dirname(modelPath), `${card.id}.reference.json`);
}

function invalid(file: string, what: string): CbirError {
  return new CbirError(`reference file is not usable: ${what}`, {
    file,
    hint: 'write it again with models/export/export_onnx.py (it is written next to the ONNX file), and copy it with its reference-images folder',
    code: 'model/reference-invalid',
  });
}

/** Read and check the shape of a reference file for a card. */
export function readReference(file: string, card: ModelCard): ReferenceFile {
  let doc: ReferenceFile;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as ReferenceFile;
  } catch (e) {
    throw invalid(file, errorMessage(e));
  }
  if (doc.format !== 'radcbir-reference') throw invalid(file, 'no "format": "radcbir-reference"');
  if (doc.version !== 1) throw invalid(file, `version ${doc.version}; this radcbir reads version 1`);
  if (doc.id !== card.id) throw invalid(file, `it is the reference of "${doc.id}", not of "${card.id}"`);
  const n = doc.images?.length ?? 0;
  if (!n || doc.embeddings?.length !== n)
    throw invalid(file, `${n} images but ${doc.embeddings?.length ?? 0} embeddings`);
  const bad = doc.embeddings.findIndex((e) => e.length !== card.dim);
  if (bad >= 0)
    throw invalid(
      file,
      `embedding ${bad} has ${doc.embeddings[bad].length} values, the card (${cardSource(card)}) says dim ${card.dim}`,
    );
  return doc;
}

function l2(v: ArrayLike<number>): Float64Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  return Float64Array.from(v, (x) => x * inv);
}

/** cosine and max |Δ| of two L2-normalised vectors. */
function compare(a: Float64Array, b: Float64Array): { cosine: number; maxAbsDiff: number } {
  let dot = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    m = Math.max(m, Math.abs(a[i] - b[i]));
  }
  return { cosine: dot, maxAbsDiff: m };
}

/** Per channel: mean and mean of squares of a [C, H, W] tensor (as the reference writes them). */
function tensorStats(t: Float32Array, channels: number): number[] {
  const plane = t.length / channels;
  const out: number[] = [];
  for (let c = 0; c < channels; c++) {
    let s = 0;
    let s2 = 0;
    for (let i = c * plane; i < (c + 1) * plane; i++) {
      s += t[i];
      s2 += t[i] * t[i];
    }
    out.push(s / plane, s2 / plane);
  }
  return out;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(a.length, b.length); i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The stored tensor of one image, as float32. */
function storedTensor(ref: ReferenceFile, file: string, len: number): Float32Array {
  const bytes = Buffer.from(ref.tensor?.data ?? '', 'base64');
  if (bytes.length !== len * 4)
    throw invalid(file, `its tensor holds ${bytes.length / 4} values, the card's input ${len}`);
  const out = new Float32Array(len);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** radcbir's preprocessed tensors of the reference images (hash-checked), batched by `batch`. */
async function* preprocessed(ref: ReferenceFile, file: string, card: ModelCard, problems: string[], batch: number) {
  const len = preprocessedLength(card.preprocess);
  const base = dirname(resolve(file));
  for (let s = 0; s < ref.images.length; s += batch) {
    const part = ref.images.slice(s, s + batch);
    const data = new Float32Array(part.length * len);
    for (let i = 0; i < part.length; i++) {
      const im = part[i];
      const path = join(base, im.path);
      if (!existsSync(path))
        throw invalid(file, `its image ${im.path} is missing (copy the reference-images folder too)`);
      const bytes = readFileSync(path);
      if (sha256(bytes) !== im.sha256)
        problems.push(
          `reference image ${im.path} changed since the reference was written (sha256 ${sha256(bytes)}, not ${im.sha256})`,
        );
      await preprocessImage(await decodeImage(bytes, {}, path), card.preprocess, data, i * len);
    }
    yield { start: s, n: part.length, data };
  }
}

/**
 * Recompute a reference file with radcbir's preprocessing and `embedder` (the card's ONNX graph)
 * and compare: every image's cosine and max |Δ| (L2-normalised), the preprocessed tensors, and
 * the graph on the reference's own tensor, to say which stage differs when a cosine is below
 * REFERENCE_MIN_COSINE. `onnxSha256` (the file's) is compared with the one the reference names.
 */
export async function checkReference(
  card: ModelCard,
  embedder: TensorEmbedder,
  file: string,
  opts: { onnxSha256?: string } = {},
): Promise<ReferenceCheck> {
  const ref = readReference(file, card);
  const problems: string[] = [];
  if (opts.onnxSha256 && ref.onnx?.sha256 && ref.onnx.sha256 !== opts.onnxSha256)
    problems.push(
      `the reference was written for another ONNX file (sha256 ${ref.onnx.sha256}); this one has ${opts.onnxSha256}: copy the ONNX file and its reference from the same export`,
    );
  const channels = card.preprocess.channels === 'gray' ? 1 : 3;
  const len = preprocessedLength(card.preprocess);
  const perImage: ReferenceImageResult[] = [];
  let preprocessMaxAbsDiff = NaN;
  for await (const b of preprocessed(ref, file, card, problems, 4)) {
    const emb = await embedder.embedTensor(b.data, b.n);
    for (let i = 0; i < b.n; i++) {
      const k = b.start + i;
      const t = b.data.subarray(i * len, (i + 1) * len);
      if (k === ref.tensor?.image) preprocessMaxAbsDiff = maxAbs(t, storedTensor(ref, file, len));
      const c = compare(l2(emb.subarray(i * card.dim, (i + 1) * card.dim)), l2(ref.embeddings[k]));
      const statsMaxDiff = maxAbs(tensorStats(t, channels), ref.images[k].tensorStats ?? []);
      perImage.push({ name: ref.images[k].name, ...c, statsMaxDiff });
    }
  }
  const t = ref.tensor.image;
  const own = await embedder.embedTensor(storedTensor(ref, file, len), 1);
  const graphCosine = compare(l2(own), l2(ref.embeddings[t])).cosine;
  return verdict(card, ref, file, perImage, preprocessMaxAbsDiff, graphCosine, problems);
}

/** Summarise the per-image comparisons, and name the stage that differs. */
function verdict(
  card: ModelCard,
  ref: ReferenceFile,
  file: string,
  perImage: ReferenceImageResult[],
  preprocessMaxAbsDiff: number,
  graphCosine: number,
  problems: string[],
): ReferenceCheck {
  const worst = perImage.reduce((a, b) => (b.cosine < a.cosine ? b : a));
  const failing = perImage.filter((r) => !(r.cosine >= REFERENCE_MIN_COSINE));
  const preFail = perImage.filter((r) => !(r.statsMaxDiff <= STATS_TOLERANCE));
  const preprocessDiffers = !(preprocessMaxAbsDiff <= PREPROCESS_TOLERANCE) || preFail.length > 0;
  const graphDiffers = !(graphCosine >= REFERENCE_MIN_COSINE);
  let stage: ReferenceCheck['stage'] = 'none';
  if (failing.length) {
    stage = graphDiffers && preprocessDiffers ? 'both' : preprocessDiffers ? 'preprocess' : 'graph';
    const names = failing.map((r) => `${r.name} (${r.cosine.toFixed(6)})`).join(', ');
    problems.push(
      `cosine below ${REFERENCE_MIN_COSINE} against the reference (${ref.pipeline}) on ${failing.length} of ${perImage.length} images: ${names}`,
    );
    if (stage !== 'graph')
      problems.push(
        `the preprocessing differs: radcbir's tensor differs from the reference's by up to ${preprocessMaxAbsDiff.toExponential(2)} on ${ref.images[ref.tensor.image].name}, and its channel statistics differ on ${preFail.map((r) => r.name).join(', ') || 'no image'}; the card's preprocess (${cardSource(card)}) does not reproduce the reference's`,
      );
    if (stage !== 'preprocess')
      problems.push(
        `the graph output differs: on the reference's own preprocessed tensor the ONNX file gives cosine ${graphCosine.toFixed(6)} with torch's embedding${stage === 'graph' && !graphDiffers ? ' (fine on that image, so the difference is in the graph on other inputs)' : ''}; re-export the ONNX file, or check that it belongs to this reference`,
      );
  }
  return {
    id: card.id,
    ok: problems.length === 0,
    file,
    pipeline: ref.pipeline,
    images: perImage.length,
    minCosine: worst.cosine,
    maxAbsDiff: Math.max(...perImage.map((r) => r.maxAbsDiff)),
    preprocessMaxAbsDiff,
    graphCosine,
    stage,
    worst: worst.name,
    perImage,
    problems,
  };
}

/** What of a card shapes the embedding: a check is reused only while this is unchanged. */
export function referenceCardKey(card: ModelCard): string {
  const { input, output, prefixTokens } = card.onnx;
  return sha256(JSON.stringify([card.preprocess, card.pooling, card.dim, input, output, prefixTokens ?? null]));
}

/** Record a check in the lock file next to the ONNX file (keyed by the file's sha256); quietly skipped when read-only. */
export async function recordReferenceCheck(
  card: ModelCard,
  modelPath: string,
  onnxSha256: string,
  r: ReferenceCheck,
): Promise<LockCheck> {
  const st = statSync(modelPath);
  const entry: LockCheck = {
    id: card.id,
    ok: r.ok,
    file: basename(modelPath),
    size: st.size,
    mtimeMs: st.mtimeMs,
    referenceSha256: sha256(readFileSync(r.file)),
    cardKey: referenceCardKey(card),
    images: r.images,
    minCosine: r.minCosine,
    maxAbsDiff: r.maxAbsDiff,
    preprocessMaxAbsDiff: r.preprocessMaxAbsDiff,
    stage: r.stage,
    problems: r.problems,
    checkedAt: new Date().toISOString(),
  };
  await updateLockQuietly(dirname(modelPath), (lock) => {
    lock.checks[onnxSha256] = entry;
  });
  return entry;
}

/**
 * The reference check of an ONNX file, run once per file: reused from the lock file while the
 * file's sha256, the reference file and the card are unchanged. Null when there is no reference.
 */
export async function cachedReferenceCheck(
  card: ModelCard,
  embedder: TensorEmbedder,
  modelPath: string,
  onnxSha256: string,
): Promise<LockCheck | null> {
  const file = referencePath(card, modelPath);
  if (!existsSync(file)) return null;
  const hit = readLock(dirname(modelPath)).checks[onnxSha256];
  if (
    hit &&
    hit.id === card.id &&
    hit.cardKey === referenceCardKey(card) &&
    hit.referenceSha256 === sha256(readFileSync(file))
  )
    return hit;
  const r = await checkReference(card, embedder, file, { onnxSha256 });
  return recordReferenceCheck(card, modelPath, onnxSha256, r);
}

/** The last recorded check of the file at `modelPath`, found by name, size and mtime (no hashing). */
export function lastReferenceCheck(card: ModelCard, modelPath: string): LockCheck | null {
  let lock;
  try {
    lock = readLock(dirname(modelPath));
  } catch {
    return null;
  }
  const st = statSync(modelPath);
  const name = basename(modelPath);
  return (
    Object.values(lock.checks).find(
      (c) =>
        c.id === card.id &&
        c.file === name &&
        c.size === st.size &&
        c.mtimeMs === st.mtimeMs &&
        c.cardKey === referenceCardKey(card),
    ) ?? null
  );
}
