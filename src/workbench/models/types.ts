import type { RgbImage } from '../images/decode.js';

/**
 * How an image becomes a model input, as the model's reference code does it.
 * Serialisable (plain JSON) so worker threads can run it.
 */
export interface PreprocessSpec {
  /** Target input height and width in pixels. */
  size: [number, number];
  /**
   * 'shortest-edge': scale so the short side equals `resizeTo` (default: size), then crop;
   * 'exact': scale straight to `size` (aspect not kept);
   * 'longest-edge-pad': scale so the long side fits, then pad to a square (SAM/MedSAM).
   */
  resize: 'shortest-edge' | 'exact' | 'longest-edge-pad';
  /** Short-side length before a centre crop (e.g. 256 for a 224 crop); defaults to size. */
  resizeTo?: number;
  interpolation: 'nearest' | 'bilinear' | 'bicubic' | 'lanczos';
  crop: 'center' | 'none';
  /** Pixel value the padding gets (before normalisation), 0..255. */
  padValue?: number;
  /** Multiply 0..255 values by this before mean/std (usually 1/255). */
  rescale: number;
  mean: [number, number, number];
  std: [number, number, number];
  /** 'rgb' feeds three channels; 'gray' feeds one (luma). */
  channels: 'rgb' | 'gray';
  /**
   * Resampling implementation: 'pil' (default) reproduces Pillow's `Image.resize` bit for bit,
   * as the reference processors (Hugging Face, torchvision, open_clip) resize with Pillow;
   * 'sharp' uses libvips (faster, but upscaling is offset by half an output pixel against Pillow).
   */
  resampler?: 'pil' | 'sharp';
  /**
   * Centre-crop offset: 'floor' (default) = floor((in − out) / 2) as Hugging Face processors do;
   * 'half-even' = Python round((in − out) / 2) as torchvision's CenterCrop (timm, open_clip) does.
   */
  cropRounding?: 'floor' | 'half-even';
  /** Where 'longest-edge-pad' puts the image: 'top-left' (default; SAM pads right and bottom) or 'center'. */
  padAlign?: 'top-left' | 'center';
  /**
   * 'pixel' (default): padding is a pixel of value `padValue` and is normalised like the image;
   * 'normalized': padded entries of the final tensor are `padValue` (SAM pads the normalised image with 0).
   */
  padStage?: 'pixel' | 'normalized';
}

/** Which output of the graph is the embedding and how it is pooled to one vector. */
export type Pooling =
  | 'cls-token' /* [B, T, D] → token 0 */
  | 'mean-patch-tokens' /* [B, T, D] → mean of tokens 1.. (skips class/register tokens via `prefixTokens`) */
  | 'mean-spatial' /* [B, C, H, W] → mean over H, W */
  | 'logits' /* [B, K] as is */
  | 'projected' /* [B, D] image embedding (CLIP-style) as is */
  | 'none'; /* [B, D] as is */

/** A model card: everything needed to reproduce one study model's embedding. See models/*.json. */
export interface ModelCard {
  id: string;
  name: string;
  /** Study name (Table 2), e.g. 'BiomedCLIP'. */
  studyName?: string;
  architecture: string;
  source: { checkpoint: string; url?: string; licence: string; reference?: string };
  /** Where `cbir models pull` downloads the ONNX file from (optional). */
  onnx: { file: string; url?: string; sha256?: string | null; input: string; output: string; prefixTokens?: number };
  preprocess: PreprocessSpec;
  pooling: Pooling;
  dim: number;
  /** Deliberate decisions where the reference behaves surprisingly. */
  notes?: string[];
  builtin?: boolean;
}

/**
 * Every extractor, built-in descriptor or ONNX model, behind one interface, so the study's
 * models and the built-ins are compared side by side.
 */
export interface Extractor {
  readonly id: string;
  /** Embedding dimension. */
  readonly dim: number;
  /** Hash of what determines the output (card + weights, or descriptor parameters). */
  readonly fingerprint: string;
  /**
   * Turn decoded images into embeddings, one row of `dim` per image (row-major, not yet
   * L2-normalised: the embedding pipeline normalises and checks for NaN/Inf).
   */
  embed(images: RgbImage[]): Promise<Float32Array>;
  /**
   * For ONNX models: the preprocessing, so the embedding pipeline can run it in worker threads
   * (overlapped with inference) and call `embedTensor` with ready input tensors.
   */
  readonly preprocess?: PreprocessSpec;
  /** Embed a preprocessed batch: `input` is [n, C, H, W] float32 as `preprocess` produces it. */
  embedTensor?(input: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}
