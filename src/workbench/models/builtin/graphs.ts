/**
 * The project-built ONNX graphs: small random-weight networks with the same shapes and output
 * conventions as the study's model families, so every pooling path, the runtime and the whole
 * pipeline run on a fresh clone without downloaded weights. Weights come from a seeded Rng.
 */
import { NetBuilder } from './layers.js';

/** A built graph: the ONNX bytes and its weights by initializer name. */
export interface BuiltGraph {
  bytes: Uint8Array;
  weights: Map<string, Float32Array>;
}

export interface TinyVitConfig {
  size: number;
  patch: number;
  dim: number;
  heads: number;
  mlp: number;
  depth: number;
  projDim: number;
  seed: number;
}
export interface TinyCnnConfig {
  size: number;
  widths: number[];
  classes: number;
  seed: number;
}
export interface TinySamConfig {
  size: number;
  patch: number;
  dim: number;
  heads: number;
  mlp: number;
  depth: number;
  neckDim: number;
  seed: number;
}

export const TINY_VIT: TinyVitConfig = {
  size: 64,
  patch: 8,
  dim: 48,
  heads: 4,
  mlp: 96,
  depth: 2,
  projDim: 32,
  seed: 1001,
};
export const TINY_CNN: TinyCnnConfig = { size: 64, widths: [16, 32, 64], classes: 10, seed: 2002 };
export const TINY_SAM: TinySamConfig = {
  size: 64,
  patch: 8,
  dim: 48,
  heads: 4,
  mlp: 96,
  depth: 2,
  neckDim: 32,
  seed: 3003,
};

/**
 * A small ViT (CLIP-style vision tower): patch Conv → [CLS; tokens] + position embeddings →
 * pre-norm blocks → final LayerNorm = `last_hidden_state` [B, 1+T, D]; `image_embeds` [B, P] =
 * last_hidden_state[:, 0] @ W_proj (no bias, as CLIP's visual projection).
 */
export function buildTinyVit(cfg: TinyVitConfig = TINY_VIT): BuiltGraph {
  const n = new NetBuilder('tiny-vit', cfg.seed);
  const g = n.g;
  const T = (cfg.size / cfg.patch) ** 2;
  g.docString = `radcbir built-in tiny ViT: ${cfg.size}px, patch ${cfg.patch}, dim ${cfg.dim}, ${cfg.depth} blocks, ${cfg.heads} heads, projection ${cfg.projDim}; seeded random weights (seed ${cfg.seed}).`;
  const x = g.input('pixel_values', 'float32', ['batch', 3, cfg.size, cfg.size]);
  const tokens = n.patchEmbed('patch_embed', x, 3, cfg.dim, cfg.patch);
  // class token broadcast to the batch: Expand(cls [1,1,D], [B,1,D])
  const cls = n.normal('cls_token', [1, 1, cfg.dim], 1);
  const batch = g.op('Shape', [x], { end: { int: 1 }, start: { int: 0 } });
  const clsShape = g.op('Concat', [batch, g.constInt64([1, cfg.dim])], { axis: { int: 0 } });
  const clsB = g.op('Expand', [cls, clsShape]);
  const seq = g.op('Concat', [clsB, tokens], { axis: { int: 1 } });
  let h = g.op('Add', [seq, n.normal('pos_embed', [1, T + 1, cfg.dim], 0.5)]);
  for (let i = 0; i < cfg.depth; i++) h = n.block(`blocks.${i}`, h, cfg.dim, cfg.heads, cfg.mlp);
  const lhs = 'last_hidden_state';
  g.node('Identity', [n.layerNorm('norm', h, cfg.dim)], [lhs]);
  const cls0 = g.op('Gather', [lhs, g.initializer('cls_index', BigInt64Array.from([0n]), [])], { axis: { int: 1 } });
  const proj = n.normal('visual_projection', [cfg.dim, cfg.projDim], 1 / Math.sqrt(cfg.dim));
  g.node('MatMul', [cls0, proj], ['image_embeds']);
  g.output(lhs, 'float32', ['batch', T + 1, cfg.dim]);
  g.output('image_embeds', 'float32', ['batch', cfg.projDim]);
  return { bytes: g.toBytes(), weights: n.weights };
}

/**
 * A small CNN: [Conv3×3 → ReLU → MaxPool2] per stage (no pool after the last) →
 * GlobalAveragePool → `pooled` [B, C]; `logits` [B, K] = Gemm(pooled).
 */
export function buildTinyCnn(cfg: TinyCnnConfig = TINY_CNN): BuiltGraph {
  const n = new NetBuilder('tiny-cnn', cfg.seed);
  const g = n.g;
  g.docString = `radcbir built-in tiny CNN: ${cfg.size}px, widths ${cfg.widths.join('/')}, ${cfg.classes} classes; seeded random weights (seed ${cfg.seed}).`;
  let h = g.input('pixel_values', 'float32', ['batch', 3, cfg.size, cfg.size]);
  let inC = 3;
  cfg.widths.forEach((w, i) => {
    h = g.op('Relu', [n.conv(`stages.${i}.conv`, h, inC, w, 3, { pad: 1, gain: Math.SQRT2 })]);
    if (i < cfg.widths.length - 1)
      h = g.op('MaxPool', [h], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } });
    inC = w;
  });
  const gap = g.op('GlobalAveragePool', [h]);
  g.node('Flatten', [gap], ['pooled'], { axis: { int: 1 } });
  const w = n.normal('fc.weight', [cfg.classes, inC], 1 / Math.sqrt(inC));
  const b = n.normal('fc.bias', [cfg.classes], 0.02);
  g.node('Gemm', ['pooled', w, b], ['logits'], { transB: { int: 1 } });
  g.output('logits', 'float32', ['batch', cfg.classes]);
  g.output('pooled', 'float32', ['batch', inC]);
  return { bytes: g.toBytes(), weights: n.weights };
}

/**
 * A SAM-like image encoder: patch Conv → tokens + position embeddings (no class token) →
 * pre-norm blocks → grid [B, D, gh, gw] → neck Conv1×1 → LayerNorm2d → Conv3×3 → LayerNorm2d =
 * `image_embeddings` [B, C, gh, gw] (SAM: 256 × 64 × 64 at 1024 px).
 */
export function buildTinySam(cfg: TinySamConfig = TINY_SAM): BuiltGraph {
  const n = new NetBuilder('tiny-sam', cfg.seed);
  const g = n.g;
  const grid = cfg.size / cfg.patch;
  g.docString = `radcbir built-in SAM-like encoder: ${cfg.size}px, patch ${cfg.patch}, dim ${cfg.dim}, ${cfg.depth} blocks, neck ${cfg.neckDim}; seeded random weights (seed ${cfg.seed}).`;
  const x = g.input('pixel_values', 'float32', ['batch', 3, cfg.size, cfg.size]);
  const tokens = n.patchEmbed('patch_embed', x, 3, cfg.dim, cfg.patch);
  let h = g.op('Add', [tokens, n.normal('pos_embed', [1, grid * grid, cfg.dim], 0.5)]);
  for (let i = 0; i < cfg.depth; i++) h = n.block(`blocks.${i}`, h, cfg.dim, cfg.heads, cfg.mlp);
  const chw = g.op('Reshape', [
    g.op('Transpose', [h], { perm: { ints: [0, 2, 1] } }),
    g.constInt64([0, cfg.dim, grid, grid]),
  ]);
  const n1 = n.layerNorm2d(
    'neck.ln1',
    n.conv('neck.conv1', chw, cfg.dim, cfg.neckDim, 1, { bias: false }),
    cfg.neckDim,
  );
  const n2 = n.layerNorm2d(
    'neck.ln2',
    n.conv('neck.conv2', n1, cfg.neckDim, cfg.neckDim, 3, { pad: 1, bias: false }),
    cfg.neckDim,
  );
  g.node('Identity', [n2], ['image_embeddings']);
  g.output('image_embeddings', 'float32', ['batch', cfg.neckDim, grid, grid]);
  return { bytes: g.toBytes(), weights: n.weights };
}
