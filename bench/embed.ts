/**
 * Embedding throughput benchmark: images/s for decoding + preprocessing alone (worker threads
 * and in the main thread), and end to end (`embedManifest`: decode, preprocess, ONNX inference,
 * normalise, journal) with a ViT-B/16-sized ONNX graph (random weights, built with the
 * project's GraphBuilder) at batch 1, 8 and 32, plus the classical `classic` descriptor; peak
 * resident memory of each phase (sampled RSS, worker threads included) and of the process.
 *
 *   node --import tsx bench/embed.ts                          # 256 images, ViT-B/16 (minutes)
 *   node --import tsx bench/embed.ts --images 16 --graph small # quick check that it works
 *   node --import tsx bench/embed.ts --real                    # real MR brain JPEGs instead of synthetic PNGs
 *
 * The machine may be shared: the report gives the load average next to the numbers.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { Manifest, classInfoFromName, type ManifestEntry } from '../src/workbench/data/manifest.js';
import { embedManifest } from '../src/workbench/embeddings/pipeline.js';
import { InlineRunner, WorkerPool, defaultWorkers, type BatchRunner } from '../src/workbench/embeddings/pool.js';
import { buildTinyVit, type TinyVitConfig } from '../src/workbench/models/builtin/graphs.js';
import { loadOnnxExtractor } from '../src/workbench/models/onnx/extractor.js';
import { createDescriptor } from '../src/workbench/models/descriptors/index.js';
import type { Extractor, ModelCard, PreprocessSpec } from '../src/workbench/models/types.js';
import { Rng } from '../src/workbench/util/rng.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface EmbedBenchOptions {
  /** Number of images (default 256). */
  images?: number;
  /** Batch sizes for the end-to-end runs (default 1, 8, 32). */
  batches?: number[];
  /** Worker threads (default: cores − 1, at most 6). */
  workers?: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  threads?: number;
  /** 'vit-b16' (default: 224 px, patch 16, D 768, 12 blocks, 12 heads, MLP 3072) or 'small' (a quick check). */
  graph?: 'vit-b16' | 'small';
  /** Use real MR brain JPEGs from $CBIR_DATASETS instead of synthetic 512 px PNGs. */
  real?: boolean;
}

const GRAPHS: Record<'vit-b16' | 'small', TinyVitConfig> = {
  'vit-b16': { size: 224, patch: 16, dim: 768, heads: 12, mlp: 3072, depth: 12, projDim: 512, seed: 16 },
  small: { size: 224, patch: 16, dim: 96, heads: 4, mlp: 192, depth: 2, projDim: 64, seed: 16 },
};

// CLIP ViT-B/16 preprocessing: shortest edge 224 (bicubic), centre crop 224, CLIP mean/std
const VIT_B16_PRE: PreprocessSpec = {
  size: [224, 224],
  resize: 'shortest-edge',
  resizeTo: 224,
  interpolation: 'bicubic',
  crop: 'center',
  rescale: 1 / 255,
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
  channels: 'rgb',
};

/** Peak RSS over the run of `fn`, sampled every 20 ms (worker threads share the process RSS). */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; peakMiB: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const t0 = performance.now();
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, seconds: (performance.now() - t0) / 1000, peakMiB: peak / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

async function syntheticImages(dir: string, n: number): Promise<ManifestEntry[]> {
  const rng = new Rng(5);
  const entries: ManifestEntry[] = [];
  await mkdir(join(dir, 'img'), { recursive: true });
  const size = 512;
  for (let i = 0; i < n; i++) {
    const px = new Uint8Array(size * size);
    const f = 4 + rng.next() * 20;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        px[y * size + x] = Math.round(127 + 100 * Math.sin(x / f) * Math.cos(y / (f + 3)) + (rng.next() - 0.5) * 40);
    const rel = `img/${String(i).padStart(5, '0')}.png`;
    await sharp(Buffer.from(px), { raw: { width: size, height: size, channels: 1 } })
      .png()
      .toFile(join(dir, rel));
    entries.push({
      filepath: rel,
      dataset: 'synthetic',
      split: 'train',
      modality: 'MR',
      anatomicRegion: 'brain',
      className: i % 2 ? 'MR/brain/glioma' : 'MR/brain/normal',
    });
  }
  return entries;
}

function realImages(n: number): { root: string; entries: ManifestEntry[] } | null {
  const root = resolve(ROOT, process.env.CBIR_DATASETS ?? '../shared/datasets', 'mr-brain-tumor', 'Training');
  if (!existsSync(root)) return null;
  const entries: ManifestEntry[] = [];
  for (const c of ['glioma', 'notumor']) {
    for (const f of readdirSync(join(root, c))
      .sort()
      .slice(0, Math.ceil(n / 2))) {
      entries.push({
        filepath: `${c}/${f}`,
        dataset: 'mr-brain-tumor',
        split: 'train',
        modality: 'MR',
        anatomicRegion: 'brain',
        className: c === 'glioma' ? 'MR/brain/glioma' : 'MR/brain/normal',
      });
    }
  }
  return { root, entries: entries.slice(0, n) };
}

/** Decode + preprocess all images in batches through a runner, `inFlight` batches ahead. */
async function preprocessOnly(runner: BatchRunner, paths: string[], batch: number, inFlight: number): Promise<void> {
  const pending: Promise<unknown>[] = [];
  for (let s = 0; s < paths.length; s += batch) {
    pending.push(runner.run(paths.slice(s, s + batch)));
    if (pending.length >= inFlight) await pending.shift();
  }
  await Promise.all(pending);
}

/** Run the benchmark and return a Markdown report. */
export async function run(opts: EmbedBenchOptions = {}): Promise<string> {
  const n = opts.images ?? 256;
  const batches = opts.batches ?? [1, 8, 32];
  const workers = opts.workers ?? defaultWorkers();
  const graph = opts.graph ?? 'vit-b16';
  const tmp = mkdtempSync(join(tmpdir(), 'cbir-bench-embed-'));
  const rows: string[] = [];
  const row = (
    stage: string,
    w: number | string,
    b: number | string,
    images: number,
    r: { seconds: number; peakMiB: number },
  ) =>
    rows.push(
      `| ${stage} | ${w} | ${b} | ${images} | ${r.seconds.toFixed(2)} | ${(images / r.seconds).toFixed(1)} | ${r.peakMiB.toFixed(0)} |`,
    );
  let extractor: Extractor | null = null;
  const ratios: string[] = [];
  try {
    let root = tmp;
    let entries: ManifestEntry[];
    const real = opts.real ? realImages(n) : null;
    if (opts.real && !real) throw new Error('--real: the MR brain dataset was not found (set CBIR_DATASETS)');
    if (real) ({ root, entries } = real);
    else entries = await syntheticImages(tmp, n);
    const manifest = Manifest.fromEntries(
      entries,
      [classInfoFromName('MR/brain/normal'), classInfoFromName('MR/brain/glioma')],
      { dir: tmp, imagesRoot: root },
    );
    const paths = entries.map((_, i) => manifest.resolvePath(i));

    // 1. decode + preprocess alone
    for (const w of [0, workers]) {
      const runner: BatchRunner =
        w === 0
          ? new InlineRunner({ mode: 'tensor', spec: VIT_B16_PRE })
          : new WorkerPool(w, { mode: 'tensor', spec: VIT_B16_PRE });
      try {
        await preprocessOnly(
          runner,
          paths.slice(0, Math.min(paths.length, 2 * Math.max(1, w) * 8)),
          8,
          2 * Math.max(1, w),
        ); // warm-up (thread start, JIT)
        row(
          'decode + preprocess (224² CLIP)',
          w,
          8,
          n,
          await withPeakRss(() => preprocessOnly(runner, paths, 8, 2 * Math.max(1, w))),
        );
      } finally {
        await runner.close();
      }
    }

    // 2. end to end: classical descriptor
    for (const w of [0, workers]) {
      row(
        'embed: classic descriptor',
        w,
        32,
        n,
        await withPeakRss(() =>
          embedManifest({
            manifest,
            extractor: createDescriptor('classic'),
            out: join(tmp, `classic-${w}`),
            batchSize: 32,
            workers: w,
          }),
        ),
      );
    }

    // 3. end to end: ViT-B/16-sized ONNX graph
    const cfg = GRAPHS[graph];
    const built = await withPeakRss(async () => {
      const g = buildTinyVit(cfg);
      await writeFile(join(tmp, 'vit.onnx'), g.bytes);
      return g.bytes.byteLength;
    });
    const card: ModelCard = {
      id: `bench-${graph}`,
      name: `ViT ${cfg.size}/${cfg.patch} D=${cfg.dim} depth ${cfg.depth} (random weights)`,
      architecture: 'ViT',
      source: { checkpoint: 'random weights (bench/embed.ts)', licence: 'MIT (this project)' },
      onnx: { file: 'vit.onnx', input: 'pixel_values', output: 'last_hidden_state' },
      preprocess: VIT_B16_PRE,
      pooling: 'cls-token',
      dim: cfg.dim,
    };
    for (const b of batches) {
      extractor = await loadOnnxExtractor(card, {
        modelPath: join(tmp, 'vit.onnx'),
        intraOpThreads: opts.threads,
        batchSize: b,
      });
      const ex = extractor;
      const input = new Float32Array(3 * 224 * 224 * b).fill(0.1);
      await ex.embedTensor!(input, b); // warm-up
      const name = graph === 'vit-b16' ? 'ViT-B/16' : 'small ViT';
      // inference only: the same number of images through embedTensor on a ready tensor
      const inf = await withPeakRss(async () => {
        for (let i = 0; i < n; i += b) await ex.embedTensor!(input, b);
      });
      row(`inference only: ${name} ONNX (CPU)`, '-', b, Math.ceil(n / b) * b, inf);
      const e2e = await withPeakRss(() =>
        embedManifest({ manifest, extractor: ex, out: join(tmp, `vit-${b}`), batchSize: b, workers }),
      );
      row(`embed end to end: ${name} ONNX (CPU)`, workers, b, n, e2e);
      ratios.push(
        `batch ${b}: end to end ${((n / e2e.seconds / ((Math.ceil(n / b) * b) / inf.seconds)) * 100).toFixed(0)} % of inference-only throughput`,
      );
      await ex.close();
      extractor = null;
    }
    const maxRssMiB = process.resourceUsage().maxRSS / 1024;
    return [
      `### Embedding throughput (${real ? 'real MR brain JPEGs, 224² mixed' : 'synthetic 512² gray PNGs'}, ${n} images)`,
      '',
      `Graph: ViT ${cfg.size}px/${cfg.patch}, D=${cfg.dim}, ${cfg.depth} blocks, ${cfg.heads} heads, MLP ${cfg.mlp}; ONNX file ${(built.value / 2 ** 20).toFixed(0)} MiB, built in ${built.seconds.toFixed(1)} s.`,
      `Machine: ${availableParallelism()} cores, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' / ')} at the end; workers = ${workers}.`,
      '',
      '| stage | workers | batch | images | seconds | images/s | peak RSS MiB |',
      '|---|---|---|---|---|---|---|',
      ...rows,
      '',
      `Target: end to end ≥ 90 % of inference-only throughput (preprocessing never the bottleneck): ${ratios.join('; ')}.`,
      '',
      `Process peak RSS (resourceUsage.maxRSS): ${maxRssMiB.toFixed(0)} MiB. The decode + preprocess rows are measured after a warm-up; the end-to-end rows include starting the worker threads (tsx register in each, about 0.5–2 s) and writing the store, so they understate steady-state rates for small image counts.`,
    ].join('\n');
  } finally {
    if (extractor) await extractor.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      images: { type: 'string' },
      batches: { type: 'string' },
      workers: { type: 'string' },
      threads: { type: 'string' },
      graph: { type: 'string' },
      real: { type: 'boolean' },
    },
  });
  const graph = values.graph ?? 'vit-b16';
  if (graph !== 'vit-b16' && graph !== 'small') throw new Error('--graph is vit-b16 or small');
  console.log(
    await run({
      images: values.images ? Number(values.images) : undefined,
      batches: values.batches ? values.batches.split(',').map(Number) : undefined,
      workers: values.workers ? Number(values.workers) : undefined,
      threads: values.threads ? Number(values.threads) : undefined,
      graph,
      real: values.real,
    }),
  );
}
