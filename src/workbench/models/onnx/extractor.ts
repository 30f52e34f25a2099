/**
 * The onnxruntime-node runtime: an Extractor over one ONNX model and its card. Preprocessing
 * follows the card's PreprocessSpec, the session output is pooled as the card says; at load the
 * graph's input/output names and static dims are checked against the card.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { CbirError, errorMessage } from '../../errors.js';
import type { RgbImage } from '../../images/decode.js';
import { sha256, sha256File } from '../../util/fsx.js';
import { builtinGraphOf, ensureBuiltinGraph } from '../builtin/index.js';
import { cardSource } from '../cards.js';
import { weightsDirs } from '../paths.js';
import { pooledAxis, poolingRank, poolOutput } from '../pooling.js';
import { preprocessedLength, preprocessImage } from '../preprocess.js';
import { cachedReferenceCheck } from '../reference.js';
import type { Extractor, ModelCard, PreprocessSpec } from '../types.js';

export interface OnnxExtractorOptions {
  /** ONNX file to load (default: the built-in cache for built-ins, else $CBIR_MODELS or models/weights). */
  modelPath?: string;
  executionProvider?: 'cpu' | 'cuda';
  intraOpThreads?: number;
  interOpThreads?: number;
  /** onnxruntime graph optimisation level (default 'all'). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Images per session run (default 16). */
  batchSize?: number;
  /**
   * Study models: check the file once against its `<id>.reference.json` (when there is one) and
   * refuse it when it fails (default true; the result is cached by the file's sha256).
   */
  referenceCheck?: boolean;
}

/** Candidate paths of a study model's ONNX file, in search order. */
export function weightsCandidates(card: ModelCard): string[] {
  return weightsDirs().map((d) => join(d, card.onnx.file));
}

/** The ONNX file of a study card that exists on disk, or undefined. */
export function findWeights(card: ModelCard): string | undefined {
  return weightsCandidates(card).find((p) => existsSync(p));
}

/** Resolve the ONNX file of any card (writes built-in graphs on first use). */
export async function resolveModelPath(card: ModelCard): Promise<string> {
  if (card.builtin) return ensureBuiltinGraph(builtinGraphOf(card));
  const found = findWeights(card);
  if (found) return found;
  throw new CbirError(
    `weights for model "${card.id}" are not on this machine; looked for ${weightsCandidates(card).join(' and ')}`,
    {
      file: cardSource(card),
      hint: `download it (pull the model${card.onnx.url ? '' : ' from a URL you give'}), or export it with models/export/export_onnx.py and place ${card.onnx.file} in models/weights/ (or $CBIR_MODELS)`,
      code: 'model/weights-missing',
    },
  );
}

/** Whether this onnxruntime-node install can run the CUDA execution provider. */
export function cudaAvailable(): boolean {
  try {
    const listed = ort.listSupportedBackends?.() ?? [];
    const cuda = listed.find((b) => b.name === 'cuda');
    if (!cuda) return false;
    if (cuda.bundled) return true;
    const req = createRequire(import.meta.url);
    const bin = join(dirname(req.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
    return (
      existsSync(join(bin, 'libonnxruntime_providers_cuda.so')) ||
      existsSync(join(bin, 'onnxruntime_providers_cuda.dll'))
    );
  } catch {
    return false;
  }
}

const fileHashCache = new Map<string, { key: string; hash: string }>();

async function fileHash(path: string): Promise<string> {
  const st = statSync(path);
  const key = `${st.size}:${st.mtimeMs}`;
  const hit = fileHashCache.get(path);
  if (hit && hit.key === key) return hit.hash;
  const hash = await sha256File(path);
  fileHashCache.set(path, { key, hash });
  return hash;
}

function shapeStr(shape: readonly (number | string)[] | undefined): string {
  return shape ? `[${shape.join(', ')}]` : '[unknown]';
}

/**
 * Check a session's inputs/outputs against the card; throws a CbirError naming the card file and
 * the ONNX file and what each says.
 */
export function checkSessionAgainstCard(session: ort.InferenceSession, card: ModelCard, modelPath: string): void {
  const where = `the model card (${cardSource(card)}) and the ONNX file (${modelPath}) disagree`;
  const fail = (what: string): never => {
    throw new CbirError(`${where}: ${what}`, {
      file: modelPath,
      hint: 'fix the card, or re-export the ONNX file to match it (models/export/export_onnx.py)',
      code: 'model/mismatch',
    });
  };
  if (!session.inputNames.includes(card.onnx.input))
    fail(
      `the card says the input is "${card.onnx.input}", the ONNX file has inputs ${session.inputNames.map((n) => `"${n}"`).join(', ')}`,
    );
  if (!session.outputNames.includes(card.onnx.output))
    fail(
      `the card says the output is "${card.onnx.output}", the ONNX file has outputs ${session.outputNames.map((n) => `"${n}"`).join(', ')}`,
    );
  const spec = card.preprocess;
  const C = spec.channels === 'gray' ? 1 : 3;
  const inMeta = session.inputMetadata?.find((m) => m.name === card.onnx.input);
  if (inMeta && inMeta.isTensor) {
    const s = inMeta.shape;
    if (inMeta.type !== 'float32')
      fail(`the card feeds float32 to "${card.onnx.input}", the ONNX file expects ${inMeta.type}`);
    if (s.length !== 4)
      fail(
        `the card feeds "${card.onnx.input}" as [batch, ${C}, ${spec.size[0]}, ${spec.size[1]}], the ONNX file's input has shape ${shapeStr(s)}`,
      );
    const want = [C, spec.size[0], spec.size[1]];
    const names = ['channels', 'height', 'width'];
    for (let i = 0; i < 3; i++) {
      const d = s[i + 1];
      if (typeof d === 'number' && d > 0 && d !== want[i])
        fail(
          `the card says ${names[i]} ${want[i]} (input [batch, ${C}, ${spec.size[0]}, ${spec.size[1]}]), the ONNX file's input "${card.onnx.input}" has shape ${shapeStr(s)}`,
        );
    }
  }
  const outMeta = session.outputMetadata?.find((m) => m.name === card.onnx.output);
  if (outMeta && outMeta.isTensor) {
    const s = outMeta.shape;
    const rank = poolingRank(card.pooling);
    if (s.length !== rank)
      fail(
        `the card pools "${card.onnx.output}" with "${card.pooling}", which needs a rank-${rank} output, the ONNX file's output has shape ${shapeStr(s)}`,
      );
    const d = s[pooledAxis(card.pooling)];
    if (typeof d === 'number' && d > 0 && d !== card.dim)
      fail(
        `the card says dim ${card.dim} after "${card.pooling}" pooling, the ONNX file's output "${card.onnx.output}" has shape ${shapeStr(s)} (dim ${d})`,
      );
    if (card.pooling === 'mean-patch-tokens') {
      const T = s[1];
      const p = card.onnx.prefixTokens ?? 1;
      if (typeof T === 'number' && T > 0 && T <= p)
        fail(`the card skips ${p} prefix tokens, the ONNX file's output has only ${T} tokens`);
    }
  }
}

/** An Extractor running one ONNX model with onnxruntime-node. */
export class OnnxExtractor implements Extractor {
  readonly id: string;
  readonly dim: number;
  readonly fingerprint: string;
  readonly preprocess: PreprocessSpec;
  readonly card: ModelCard;
  readonly modelPath: string;
  readonly batchSize: number;
  private session: ort.InferenceSession | null;
  private readonly inputLen: number;

  constructor(
    card: ModelCard,
    modelPath: string,
    session: ort.InferenceSession,
    fingerprint: string,
    batchSize: number,
  ) {
    this.card = card;
    this.id = card.id;
    this.dim = card.dim;
    this.preprocess = card.preprocess;
    this.modelPath = modelPath;
    this.session = session;
    this.fingerprint = fingerprint;
    this.batchSize = batchSize;
    this.inputLen = preprocessedLength(card.preprocess);
  }

  /** Preprocess the images (card's spec) and embed them: [images.length × dim], not normalised. */
  async embed(images: RgbImage[]): Promise<Float32Array> {
    const out = new Float32Array(images.length * this.dim);
    for (let start = 0; start < images.length; start += this.batchSize) {
      const batch = images.slice(start, start + this.batchSize);
      const input = new Float32Array(batch.length * this.inputLen);
      await Promise.all(batch.map((img, i) => preprocessImage(img, this.preprocess, input, i * this.inputLen)));
      out.set(await this.embedTensor(input, batch.length), start * this.dim);
    }
    return out;
  }

  /** Run the session on preprocessed input [n, C, H, W] and pool: [n × dim]. */
  async embedTensor(input: Float32Array, n: number): Promise<Float32Array> {
    const session = this.session;
    if (!session) throw new Error(`extractor ${this.id} is closed`);
    if (!Number.isInteger(n) || n < 0 || input.length !== n * this.inputLen) {
      throw new Error(
        `embedTensor(${this.id}): input holds ${input.length} values, expected ${n} × ${this.inputLen} (C×H×W of ${this.preprocess.channels === 'gray' ? 1 : 3}×${this.preprocess.size.join('×')})`,
      );
    }
    const [H, W] = this.preprocess.size;
    const C = this.preprocess.channels === 'gray' ? 1 : 3;
    const out = new Float32Array(n * this.dim);
    for (let start = 0; start < n; start += this.batchSize) {
      const b = Math.min(this.batchSize, n - start);
      const view = input.subarray(start * this.inputLen, (start + b) * this.inputLen);
      const feeds = { [this.card.onnx.input]: new ort.Tensor('float32', view, [b, C, H, W]) };
      const result = await session.run(feeds, [this.card.onnx.output]);
      const t = result[this.card.onnx.output];
      try {
        if (t.type !== 'float32')
          throw this.mismatch(
            `the ONNX file's output "${this.card.onnx.output}" is ${t.type}, the card expects float32`,
          );
        const dims = t.dims as readonly number[];
        if (dims.length !== poolingRank(this.card.pooling) || dims[0] !== b)
          throw this.mismatch(
            `the ONNX file's output "${this.card.onnx.output}" has shape [${dims.join(', ')}] for a batch of ${b}, the card's "${this.card.pooling}" pooling needs rank ${poolingRank(this.card.pooling)}`,
          );
        const pooled = poolOutput(t.data as Float32Array, dims, this.card.pooling, this.card.onnx.prefixTokens ?? 1);
        if (pooled.dim !== this.dim)
          throw this.mismatch(
            `the card says dim ${this.dim}, the ONNX file's output "${this.card.onnx.output}" has shape [${dims.join(', ')}] (dim ${pooled.dim} after "${this.card.pooling}" pooling)`,
          );
        out.set(pooled.out, start * this.dim);
      } finally {
        t.dispose?.();
      }
    }
    return out;
  }

  private mismatch(what: string): CbirError {
    return new CbirError(
      `the model card (${cardSource(this.card)}) and the ONNX file (${this.modelPath}) disagree: ${what}`,
      {
        file: this.modelPath,
        hint: 'fix the card, or re-export the ONNX file to match it (models/export/export_onnx.py)',
        code: 'model/mismatch',
      },
    );
  }

  /** Release the onnxruntime session. */
  async close(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (s) await s.release();
  }
}

/** What of a card determines the embedding (fingerprint input). */
function cardKey(card: ModelCard): string {
  return JSON.stringify({
    id: card.id,
    input: card.onnx.input,
    output: card.onnx.output,
    prefixTokens: card.onnx.prefixTokens ?? null,
    preprocess: card.preprocess,
    pooling: card.pooling,
    dim: card.dim,
  });
}

/**
 * Load an ONNX model for a card: resolve the file, create the session (CPU, or CUDA when asked
 * and available), check the graph against the card, and return the Extractor.
 */
export async function loadOnnxExtractor(card: ModelCard, opts: OnnxExtractorOptions = {}): Promise<OnnxExtractor> {
  const modelPath = opts.modelPath ?? (await resolveModelPath(card));
  if (!existsSync(modelPath)) {
    throw new CbirError(`ONNX file for model "${card.id}" not found: ${modelPath}`, {
      file: modelPath,
      hint: 'check the path of the model file, or pull the model again',
      code: 'model/weights-missing',
    });
  }
  const ep = opts.executionProvider ?? 'cpu';
  if (ep === 'cuda' && !cudaAvailable()) {
    throw new CbirError(
      'CUDA is not available in this onnxruntime-node install (its CUDA provider binaries were not installed here); run on the CPU instead',
      {
        file: modelPath,
        hint: 'use the CPU (executionProvider: "cpu"), or reinstall onnxruntime-node with its CUDA binaries (ONNXRUNTIME_NODE_INSTALL_CUDA=v12) on a machine with CUDA 12',
        code: 'model/no-cuda',
      },
    );
  }
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [ep],
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
    executionMode: 'sequential',
  };
  if (opts.intraOpThreads) options.intraOpNumThreads = opts.intraOpThreads;
  if (opts.interOpThreads) options.interOpNumThreads = opts.interOpThreads;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, options);
  } catch (e) {
    throw new CbirError(`onnxruntime cannot load the ONNX file for model "${card.id}" (${ep}): ${errorMessage(e)}`, {
      file: modelPath,
      hint:
        ep === 'cuda'
          ? 'the CUDA provider failed to start; check the CUDA 12 / cuDNN 9 libraries, or use the CPU'
          : 'the file is damaged or not an ONNX model; verify it, or pull or export it again',
      code: 'model/load',
      cause: e,
    });
  }
  try {
    checkSessionAgainstCard(session, card, modelPath);
  } catch (e) {
    await session.release();
    throw e;
  }
  const fileSha = await fileHash(modelPath);
  const fingerprint = sha256(`${cardKey(card)}\n${fileSha}`);
  const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 16));
  const ex = new OnnxExtractor(card, modelPath, session, fingerprint, batchSize);
  if (!card.builtin && opts.referenceCheck !== false) {
    try {
      await requireReferenceParity(ex, fileSha);
    } catch (e) {
      await ex.close();
      throw e;
    }
  }
  return ex;
}

/** Refuse a study model whose ONNX file fails its reference check (run once per file, then cached). */
async function requireReferenceParity(ex: OnnxExtractor, fileSha: string): Promise<void> {
  const c = await cachedReferenceCheck(ex.card, ex, ex.modelPath, fileSha);
  if (!c || c.ok) return;
  throw new CbirError(
    `model "${ex.card.id}" does not reproduce its reference embeddings (min cosine ${c.minCosine.toFixed(6)}, stage that differs: ${c.stage}): ${c.problems.join('; ')}`,
    {
      file: ex.modelPath,
      hint: "verify the model for the details; re-export it, or fix the card's preprocessing, so that the check passes",
      code: 'model/reference-mismatch',
    },
  );
}
