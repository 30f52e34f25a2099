/**
 * Embedding-space maps (study Fig. 4): a class-stratified subsample of an embedding store,
 * t-SNE to 2-D, and scatter maps coloured by modality, by anatomical region and by class, plus a
 * subset (one modality, coloured by class) with its own t-SNE.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { CbirError } from '../errors.js';
import type { Manifest } from '../data/manifest.js';
import { VECTORS_FILE, type EmbeddingStore } from '../embeddings/store.js';
import type { ProgressListener } from '../util/progress.js';
import { tsne, stratifiedSample } from '../analysis/index.js';
import { MODALITY_COLORS } from './colors.js';
import { scatterMapFigure, type PlotlyFigure } from './specs.js';

/** A figure with its file name (no extension) and title. */
export interface NamedFigure {
  name: string;
  title: string;
  figure: PlotlyFigure;
}

/**
 * The largest per-class cap m such that Σ_c min(size_c, m) ≤ total: a sample of about `total`
 * points that keeps every small class whole and evens out the large ones.
 */
export function balancedCap(sizes: ArrayLike<number>, total: number): number {
  let lo = 1,
    hi = 1;
  for (let c = 0; c < sizes.length; c++) hi = Math.max(hi, sizes[c]);
  const taken = (m: number) => {
    let s = 0;
    for (let c = 0; c < sizes.length; c++) s += Math.min(sizes[c], m);
    return s;
  };
  if (taken(hi) <= total) return hi;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (taken(mid) <= total) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Seeded class-stratified sample (ascending) of `candidates` (manifest rows): at most `maxPoints`, small classes kept whole. */
export function sampleForMap(manifest: Manifest, candidates: Int32Array, maxPoints: number, seed = 0): Int32Array {
  if (candidates.length <= maxPoints) return Int32Array.from(candidates).sort();
  const labels = new Int32Array(candidates.length);
  const sizes = new Int32Array(manifest.classes.length);
  for (let i = 0; i < candidates.length; i++) {
    labels[i] = manifest.classIndex[candidates[i]];
    sizes[labels[i]]++;
  }
  const picked = stratifiedSample(labels, { maxPerClass: balancedCap(sizes, maxPoints) }, seed);
  return Int32Array.from(picked, (i) => candidates[i]).sort();
}

/** Read the vectors of some manifest rows from a store (rows matched by id), without loading the whole store. */
export async function readStoreRows(
  store: Pick<EmbeddingStore, 'dir' | 'dim' | 'ids'>,
  manifest: Manifest,
  rows: Int32Array,
): Promise<Float32Array> {
  const dim = store.dim;
  const out = new Float32Array(rows.length * dim);
  let byId: Map<string, number> | undefined;
  const file = join(store.dir, VECTORS_FILE);
  const fh = await open(file, 'r');
  try {
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      let s = store.ids[r] === manifest.filepaths[r] ? r : -1;
      if (s < 0) {
        if (!byId) {
          byId = new Map();
          store.ids.forEach((id, k) => byId!.set(id, k));
        }
        s = byId.get(manifest.filepaths[r]) ?? -1;
      }
      if (s < 0)
        throw new CbirError(`"${manifest.filepaths[r]}" (manifest.csv line ${r + 2}) has no embedding in the store`, {
          file: store.dir,
          row: r + 2,
          hint: "the store was made for another manifest; use the report's own manifest and work folder",
          code: 'figures/store-mismatch',
        });
      const view = new Uint8Array(out.buffer, i * dim * 4, dim * 4);
      const { bytesRead } = await fh.read(view, 0, dim * 4, s * dim * 4);
      if (bytesRead !== dim * 4)
        throw new CbirError(`short read of store row ${s}`, {
          file,
          hint: 'the store is damaged; embed again',
          code: 'figures/store-short',
        });
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** Hover text of a point: file path, class, modality, dataset and split. */
export function pointHover(manifest: Manifest, r: number): string {
  const e = manifest.entry(r);
  return `${e.filepath}<br>class ${e.className}<br>modality ${e.modality} · dataset ${e.dataset} · ${e.split}`;
}

/**
 * Scatter maps of a 2-D layout of manifest rows (pure): coloured by modality, by anatomical
 * region and by class. `label` goes into titles (e.g. the model id), `prefix` into names.
 */
export function mapFigures(
  manifest: Manifest,
  rows: Int32Array,
  xy: Float32Array,
  opts: { label: string; prefix: string; method?: string },
): NamedFigure[] {
  const n = rows.length;
  if (xy.length !== 2 * n)
    throw new CbirError(`layout has ${xy.length / 2} points for ${n} rows`, {
      hint: 'pass one (x, y) per row',
      code: 'figures/bad-input',
    });
  const hover = Array.from(rows, (r) => pointHover(manifest, r));
  const method = opts.method ?? 't-SNE';
  const by = (
    what: string,
    codes: ArrayLike<number>,
    names: readonly string[],
    colors?: Record<string, string>,
  ): NamedFigure => {
    const group = new Int32Array(n);
    for (let i = 0; i < n; i++) group[i] = codes[rows[i]];
    const title = `${method} of ${opts.label} embeddings (${n} images), coloured by ${what}`;
    return {
      name: `${opts.prefix}_${what.replace(/\W+/g, '_')}`,
      title,
      figure: scatterMapFigure({ xy, group, groupNames: names, hover, colors }, { title, legendTitle: what }),
    };
  };
  return [
    by('modality', manifest.modalityIndex, manifest.modalities, MODALITY_COLORS as Record<string, string>),
    by('region', manifest.regionIndex, manifest.regions),
    by(
      'class',
      manifest.classIndex,
      manifest.classes.map((c) => c.name),
    ),
  ];
}

export interface EmbeddingMapOptions {
  /** Points per map (default 3000): a class-stratified sample when the data is bigger. */
  maxPoints?: number;
  seed?: number;
  /** t-SNE perplexity (default 30, lowered for tiny samples). */
  perplexity?: number;
  /** t-SNE iterations (default 1000). */
  iterations?: number;
  /** Modality of the subset map (own t-SNE, coloured by class); default the modality with most images; false = none. */
  subset?: string | false;
  /** Rows to map (default: all rows of the manifest). */
  rows?: Int32Array;
  onProgress?: ProgressListener;
  log?: (line: string) => void;
}

async function layout(
  store: EmbeddingStore,
  manifest: Manifest,
  rows: Int32Array,
  o: EmbeddingMapOptions,
): Promise<{ xy: Float32Array; kl: number }> {
  const x = await readStoreRows(store, manifest, rows);
  const n = rows.length;
  const perplexity = Math.min(o.perplexity ?? 30, Math.max(1, Math.floor((n - 1) / 3)));
  const r = tsne(x, n, store.dim, {
    perplexity,
    iterations: o.iterations,
    seed: o.seed ?? 0,
    onProgress: o.onProgress,
    source: store.dir,
  });
  return { xy: r.embedding, kl: r.kl };
}

/**
 * Study Fig. 4 for one embedding store: t-SNE of a class-stratified sample (≤ maxPoints) coloured
 * by modality, region and class, and of one modality alone coloured by class. Reads only the
 * sampled rows of the store.
 */
export async function embeddingMapFigures(
  manifest: Manifest,
  store: EmbeddingStore,
  opts: EmbeddingMapOptions & { label?: string } = {},
): Promise<NamedFigure[]> {
  if (store.meta.manifestHash && store.meta.manifestHash !== manifest.hash) {
    throw new CbirError(
      `the embedding store was made for manifest ${store.meta.manifestHash.slice(0, 12)}, not this one (${manifest.hash.slice(0, 12)})`,
      {
        file: store.dir,
        hint: 'use the manifest the report was made with, or the matching work folder',
        code: 'figures/store-mismatch',
      },
    );
  }
  const label = opts.label ?? store.meta.modelId;
  const prefix = `tsne_${label.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  const log = opts.log ?? (() => {});
  const maxPoints = opts.maxPoints ?? 3000;
  const all = opts.rows ?? Int32Array.from({ length: manifest.size }, (_, i) => i);
  const rows = sampleForMap(manifest, all, maxPoints, opts.seed ?? 0);
  if (rows.length < 3)
    throw new CbirError(`only ${rows.length} images to map`, {
      file: store.dir,
      hint: 'a t-SNE map needs at least 3 images',
      code: 'figures/no-data',
    });
  let t0 = Date.now();
  const main = await layout(store, manifest, rows, opts);
  log(`t-SNE ${label}: ${rows.length} points, KL ${main.kl.toFixed(3)}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const figures = mapFigures(manifest, rows, main.xy, { label, prefix });

  let subset = opts.subset;
  if (subset === undefined) {
    const counts = new Int32Array(manifest.modalities.length);
    for (const r of all) counts[manifest.modalityIndex[r]]++;
    let best = -1;
    for (let m = 0; m < counts.length; m++) if (best < 0 || counts[m] > counts[best]) best = m;
    // A subset map only adds something when there is more than one modality.
    subset = counts.filter((c) => c > 0).length > 1 && best >= 0 ? manifest.modalities[best] : false;
  }
  if (subset !== false) {
    const m = manifest.modalities.indexOf(subset);
    if (m < 0)
      throw new CbirError(
        `modality "${subset}" is not in the manifest (modalities: ${manifest.modalities.join(', ')})`,
        {
          file: join(manifest.dir, 'manifest.csv'),
          hint: "pick one of the manifest's modalities for the subset map",
          code: 'figures/bad-option',
        },
      );
    const sub = sampleForMap(
      manifest,
      all.filter((r) => manifest.modalityIndex[r] === m),
      maxPoints,
      opts.seed ?? 0,
    );
    if (sub.length >= 3) {
      t0 = Date.now();
      const s = await layout(store, manifest, sub, opts);
      log(
        `t-SNE ${label} ${subset} only: ${sub.length} points, KL ${s.kl.toFixed(3)}, ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      const byClass = mapFigures(manifest, sub, s.xy, {
        label: `${label} (${subset} only)`,
        prefix: `${prefix}_${subset.replace(/[^A-Za-z0-9_.-]/g, '_')}`,
      })[2];
      figures.push(byClass);
    }
  }
  return figures;
}
