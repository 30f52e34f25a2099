/**
 * Built-in ONNX models: project-built graphs (tiny ViT, CNN, SAM-like encoder) written to
 * <project>/.cache/models/<graph>.onnx on first use, and one card per pooling path over them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256, writeFileAtomic } from '../../util/fsx.js';
import { BUILTIN_CACHE_DIR } from '../paths.js';
import type { ModelCard, PreprocessSpec } from '../types.js';
import { buildTinyCnn, buildTinySam, buildTinyVit, TINY_CNN, TINY_SAM, TINY_VIT } from './graphs.js';

export type BuiltinGraphId = 'tiny-vit' | 'tiny-cnn' | 'tiny-sam';

const BUILDERS: Record<BuiltinGraphId, () => Uint8Array> = {
  'tiny-vit': () => buildTinyVit().bytes,
  'tiny-cnn': () => buildTinyCnn().bytes,
  'tiny-sam': () => buildTinySam().bytes,
};

/** Ids of the project-built graphs. */
export const BUILTIN_GRAPHS = Object.keys(BUILDERS) as BuiltinGraphId[];

const bytesCache = new Map<BuiltinGraphId, Uint8Array>();

/** The serialised ONNX bytes of a built-in graph (deterministic: same bytes on every build). */
export function builtinGraphBytes(id: BuiltinGraphId): Uint8Array {
  let b = bytesCache.get(id);
  if (!b) {
    const build = BUILDERS[id];
    if (!build) throw new Error(`unknown built-in graph "${id}"`);
    b = build();
    bytesCache.set(id, b);
  }
  return b;
}

/**
 * Path of a built-in graph's ONNX file, writing it (atomically) when it is missing or differs
 * from what this version of the code builds.
 */
export async function ensureBuiltinGraph(id: BuiltinGraphId, dir = BUILTIN_CACHE_DIR): Promise<string> {
  const bytes = builtinGraphBytes(id);
  const file = join(dir, `${id}.onnx`);
  if (existsSync(file)) {
    const cur = readFileSync(file);
    if (cur.length === bytes.length && sha256(cur) === sha256(bytes)) return file;
  }
  await writeFileAtomic(file, bytes);
  return file;
}

const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

const VIT_PRE: PreprocessSpec = {
  size: [TINY_VIT.size, TINY_VIT.size],
  resize: 'shortest-edge',
  resizeTo: 72,
  interpolation: 'bicubic',
  crop: 'center',
  rescale: 1 / 255,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
  channels: 'rgb',
};
const CNN_PRE: PreprocessSpec = {
  size: [TINY_CNN.size, TINY_CNN.size],
  resize: 'exact',
  interpolation: 'bilinear',
  crop: 'none',
  rescale: 1 / 255,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  channels: 'rgb',
};
const SAM_PRE: PreprocessSpec = {
  size: [TINY_SAM.size, TINY_SAM.size],
  resize: 'longest-edge-pad',
  interpolation: 'bilinear',
  crop: 'none',
  padValue: 0,
  padStage: 'normalized',
  padAlign: 'top-left',
  rescale: 1 / 255,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  channels: 'rgb',
};

const SOURCE = {
  checkpoint: 'radcbir built-in graph (seeded random weights, src/workbench/models/builtin)',
  licence: 'MIT (this project)',
};
const NOTE = 'Random weights: for tests, demos and pipeline checks, not a trained model.';

function card(
  id: string,
  name: string,
  graph: BuiltinGraphId,
  architecture: string,
  output: string,
  pooling: ModelCard['pooling'],
  dim: number,
  preprocess: PreprocessSpec,
  extra: Partial<ModelCard['onnx']> = {},
): ModelCard {
  return {
    id,
    name,
    architecture,
    source: SOURCE,
    onnx: { file: `${graph}.onnx`, input: 'pixel_values', output, ...extra },
    preprocess,
    pooling,
    dim,
    notes: [NOTE],
    builtin: true,
  };
}

/** Cards of the built-in ONNX models, one per pooling path. */
export const BUILTIN_CARDS: readonly ModelCard[] = Object.freeze([
  card(
    'tiny-vit',
    'Tiny ViT (CLS token)',
    'tiny-vit',
    `ViT ${TINY_VIT.size}px/${TINY_VIT.patch}, D=${TINY_VIT.dim}, ${TINY_VIT.depth} blocks`,
    'last_hidden_state',
    'cls-token',
    TINY_VIT.dim,
    VIT_PRE,
  ),
  card(
    'tiny-vit-mean',
    'Tiny ViT (mean of patch tokens)',
    'tiny-vit',
    `ViT ${TINY_VIT.size}px/${TINY_VIT.patch}, D=${TINY_VIT.dim}, ${TINY_VIT.depth} blocks`,
    'last_hidden_state',
    'mean-patch-tokens',
    TINY_VIT.dim,
    VIT_PRE,
    { prefixTokens: 1 },
  ),
  card(
    'tiny-clip',
    'Tiny CLIP-style vision tower (projected)',
    'tiny-vit',
    `ViT ${TINY_VIT.size}px/${TINY_VIT.patch} + projection ${TINY_VIT.projDim}`,
    'image_embeds',
    'projected',
    TINY_VIT.projDim,
    VIT_PRE,
  ),
  card(
    'tiny-cnn',
    'Tiny CNN (global-average-pooled features)',
    'tiny-cnn',
    `CNN ${TINY_CNN.widths.join('/')}`,
    'pooled',
    'none',
    TINY_CNN.widths[TINY_CNN.widths.length - 1],
    CNN_PRE,
  ),
  card(
    'tiny-cnn-logits',
    'Tiny CNN (logits)',
    'tiny-cnn',
    `CNN ${TINY_CNN.widths.join('/')} + ${TINY_CNN.classes}-way head`,
    'logits',
    'logits',
    TINY_CNN.classes,
    CNN_PRE,
  ),
  card(
    'tiny-sam',
    'Tiny SAM-like encoder (spatial mean of the neck)',
    'tiny-sam',
    `ViT ${TINY_SAM.size}px/${TINY_SAM.patch} + neck ${TINY_SAM.neckDim}`,
    'image_embeddings',
    'mean-spatial',
    TINY_SAM.neckDim,
    SAM_PRE,
  ),
]);

/** The built-in card with this id, or undefined. */
export function builtinCard(id: string): ModelCard | undefined {
  return BUILTIN_CARDS.find((c) => c.id === id);
}

/** The graph id a built-in card runs on. */
export function builtinGraphOf(card: ModelCard): BuiltinGraphId {
  return card.onnx.file.replace(/\.onnx$/, '') as BuiltinGraphId;
}
