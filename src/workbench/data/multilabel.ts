import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CbirError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { encodePng, type RgbImage } from '../images/decode.js';
import { renderGray } from './phantom/anatomy.js';
import {
  Manifest,
  readManifest,
  writeManifest,
  type ClassInfo,
  type DatasetMeta,
  type ManifestEntry,
  type Split,
} from './manifest.js';

/**
 * A generated multi-label set: phantom chest radiographs (the phantom's XR/chest drawer) that
 * show 1–3 of three findings at once, or none ("normal"), written with manifest.csv (several
 * class columns marked per row), classes.csv, dataset.json and relevance.json declaring the
 * dataset multi-label. Same seed, count and size give the same images and manifest.
 */
export const MULTILABEL_DATASET = 'phantom-ml';
/** The findings an image may show (class columns XR/chest/<finding>), plus XR/chest/normal. */
export const MULTILABEL_FINDINGS = ['effusion', 'nodule', 'pneumonia'] as const;
export const MULTILABEL_DEFAULT_IMAGES = 300;
export const MULTILABEL_DEFAULT_SIZE = 48;
const GENERATOR = 'radcbir-phantom-multilabel';
/** Bump when the plan or the drawing changes. */
export const MULTILABEL_VERSION = 1;

export interface MultiLabelPhantomOptions {
  seed?: number;
  /** Number of images (24..20000; default 300). */
  images?: number;
  /** Width and height in pixels (16..1024; default 48). */
  size?: number;
}

/** The plan: rows (with their label sets) and each image's seed, before any pixel is drawn. */
export interface MultiLabelPlan {
  seed: number;
  size: number;
  /** The class columns: XR/chest/normal then one per finding. */
  classes: ClassInfo[];
  entries: ManifestEntry[];
  imageSeeds: Uint32Array;
}

/** The class columns of the generated set. */
export function multiLabelClasses(): ClassInfo[] {
  return ['normal', ...MULTILABEL_FINDINGS].map((label) => ({
    name: `XR/chest/${label}`,
    modality: 'XR',
    region: 'chest',
    label,
    kind: label === 'normal' ? 'anatomical' : 'pathological',
  }));
}

/** Labels of image k: 1 in 4 normal, else 1, 2 or 3 findings (weights 50/35/15 %) drawn without repeats. */
function drawLabels(rng: Rng): string[] {
  if (rng.next() < 0.25) return ['normal'];
  const u = rng.next();
  const n = u < 0.5 ? 1 : u < 0.85 ? 2 : 3;
  const order = rng.shuffle([0, 1, 2]) as number[];
  return order
    .slice(0, n)
    .sort((a, b) => a - b)
    .map((i) => MULTILABEL_FINDINGS[i]);
}

/**
 * Plan the set: label sets drawn by a seeded Rng, then split ~70/10/20 within each label set
 * (test = round(0.2 n), val = round(0.1 n), at least one each when the set has ≥ 3 images).
 */
export function planMultiLabelPhantom(opts: MultiLabelPhantomOptions = {}): MultiLabelPlan {
  const { seed, images, size } = resolveOptions(opts);
  const rng = new Rng(seed);
  const labels = Array.from({ length: images }, () => drawLabels(rng));
  const imageSeeds = Uint32Array.from(labels, () => Math.floor(rng.next() * 0x100000000));
  const bySet = new Map<string, number[]>();
  labels.forEach((l, i) => bySet.set(l.join('+'), [...(bySet.get(l.join('+')) ?? []), i]));
  const split: Split[] = new Array(images);
  for (const rows of bySet.values()) {
    const n = rows.length;
    const nTest = n >= 3 ? Math.max(1, Math.round(0.2 * n)) : 0;
    const nVal = n >= 3 ? Math.max(1, Math.round(0.1 * n)) : 0;
    const order = rng.shuffle([...rows]) as number[];
    order.forEach((i, r) => (split[i] = r < nTest ? 'test' : r < nTest + nVal ? 'val' : 'train'));
  }
  const digits = String(images - 1).length;
  const entries = labels.map((l, i): ManifestEntry => ({
    filepath: `images/${String(i).padStart(digits, '0')}.png`,
    dataset: MULTILABEL_DATASET,
    split: split[i],
    modality: 'XR',
    anatomicRegion: 'chest',
    className: `XR/chest/${l.join('+')}`,
    ...(l.length > 1 ? { labels: l.map((x) => `XR/chest/${x}`) } : {}),
  }));
  return { seed, size, classes: multiLabelClasses(), entries, imageSeeds };
}

/** Render one image showing `labels` (findings, or ['normal']) with the given Rng. */
export function renderMultiLabel(labels: readonly string[], rng: Rng, size = MULTILABEL_DEFAULT_SIZE): RgbImage {
  const g = renderGray('XR', 'chest', labels.join('+'), rng, size);
  const data = new Uint8Array(size * size * 3);
  for (let p = 0; p < g.length; p++) data[3 * p] = data[3 * p + 1] = data[3 * p + 2] = g[p];
  return { width: size, height: size, channels: 3, data, grayscale: true };
}

export interface GenerateMultiLabelOptions extends MultiLabelPhantomOptions {
  /** Folder to write into (created); images go under `<out>/images/`. */
  out: string;
  onProgress?: ProgressListener;
}

/**
 * Write the set: every image as a PNG, then manifest.csv, classes.csv, relevance.json
 * (`{"multiLabel": ["phantom-ml"]}`) and dataset.json last. Returns the manifest as read back.
 */
export async function generateMultiLabelPhantom(opts: GenerateMultiLabelOptions): Promise<Manifest> {
  const plan = planMultiLabelPhantom(opts);
  const out = resolve(opts.out);
  await mkdir(join(out, 'images'), { recursive: true });
  const tracker = new ProgressTracker('phantom', plan.entries.length, opts.onProgress, 'images');
  for (let i = 0; i < plan.entries.length; i++) {
    const e = plan.entries[i];
    const labels = (e.labels ?? [e.className]).map((c) => c.split('/')[2]);
    const png = await encodePng(renderMultiLabel(labels, new Rng(plan.imageSeeds[i]), plan.size));
    const file = join(out, e.filepath);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, png);
    tracker.add();
  }
  tracker.finish();
  const meta: DatasetMeta = {
    name: MULTILABEL_DATASET,
    generator: GENERATOR,
    version: MULTILABEL_VERSION,
    seed: plan.seed,
    images: plan.entries.length,
    size: plan.size,
    description: `Synthetic multi-label chest radiographs: 1-3 of ${MULTILABEL_FINDINGS.join(', ')}, or normal`,
  };
  const m = Manifest.fromEntries(plan.entries, plan.classes, {
    dir: out,
    imagesRoot: '.',
    meta,
    multiLabel: [MULTILABEL_DATASET],
  });
  await writeManifest(out, m, meta);
  return readManifest(out);
}

function resolveOptions(opts: MultiLabelPhantomOptions): Required<MultiLabelPhantomOptions> {
  const seed = opts.seed ?? 0;
  const images = opts.images ?? MULTILABEL_DEFAULT_IMAGES;
  const size = opts.size ?? MULTILABEL_DEFAULT_SIZE;
  const bad = (what: string, hint: string) => new CbirError(what, { hint, code: 'phantom/bad-option' });
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw bad(`seed ${seed} is not an integer in 0..4294967295`, 'pass a whole number such as 0 or 42');
  if (!Number.isInteger(images) || images < 24 || images > 20000)
    throw bad(`${images} images is out of range`, 'use a whole number from 24 to 20000 (default 300)');
  if (!Number.isInteger(size) || size < 16 || size > 1024)
    throw bad(`image size ${size} is out of range`, 'use a whole number of pixels from 16 to 1024 (default 48)');
  return { seed, images, size };
}
