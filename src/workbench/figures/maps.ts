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

/** A class-stratified sample of manifest rows for a map: the rows, how many they were drawn from, and the per-class cap (null: nothing left out). */
export interface MapSample {
  /** Sampled manifest rows, ascending. */
  rows: Int32Array;
  /** Number of candidate rows the sample was drawn from. */
  total: number;
  /** At most this many images per class were kept; null when every candidate is in the sample. */
  cap: number | null;
}

/** Seeded class-stratified sample of `candidates` (manifest rows): at most `maxPoints`, small classes kept whole; says what was left out. */
export function mapSample(manifest: Manifest, candidates: Int32Array, maxPoints: number, seed = 0): MapSample {
  const total = candidates.length;
  if (total <= maxPoints) return { rows: Int32Array.from(candidates).sort(), total, cap: null };
  const labels = new Int32Array(total);
  const sizes = new Int32Array(manifest.classes.length);
  for (let i = 0; i < total; i++) {
    labels[i] = manifest.classIndex[candidates[i]];
    sizes[labels[i]]++;
  }
  const cap = balancedCap(sizes, maxPoints);
  const picked = stratifiedSample(labels, { maxPerClass: cap }, seed);
  return { rows: Int32Array.from(picked, (i) => candidates[i]).sort(), total, cap };
}

/** Seeded class-stratified sample (ascending) of `candidates` (manifest rows): at most `maxPoints`, small classes kept whole. */
export function sampleForMap(manifest: Manifest, candidates: Int32Array, maxPoints: number, seed = 0): Int32Array {
  return mapSample(manifest, candidates, maxPoints, seed).rows;
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

/** Options of `mapFigures`. */
export interface MapFigureOptions {
  /** Goes into titles (e.g. the model id). */
  label: string;
  /** Goes into figure names. */
  prefix: string;
  method?: string;
  /** The sample the rows are (`mapSample`): titles and legends then say what was sampled; default: the rows are all there is. */
  sample?: Pick<MapSample, 'cap'> & { from: Int32Array };
  /** Called with a note for each map left out (one colour only: a single modality or region). */
  onNote?: (note: string) => void;
}

const thousands = (n: number) => n.toLocaleString('en-US');

/**
 * Scatter maps of a 2-D layout of manifest rows (pure): coloured by modality, by anatomical
 * region and by class. A modality or region map where every point has the same value would be
 * one colour, so it is left out with a note. When the rows are a sample, titles say how many were
 * sampled of how many (and the per-class cap), and legend entries read "name (sampled of all)".
 */
export function mapFigures(
  manifest: Manifest,
  rows: Int32Array,
  xy: Float32Array,
  opts: MapFigureOptions,
): NamedFigure[] {
  const n = rows.length;
  if (xy.length !== 2 * n)
    throw new CbirError(`layout has ${xy.length / 2} points for ${n} rows`, {
      hint: 'pass one (x, y) per row',
      code: 'figures/bad-input',
    });
  const hover = Array.from(rows, (r) => pointHover(manifest, r));
  const method = opts.method ?? 't-SNE';
  const from = opts.sample?.from;
  const sampled = from !== undefined && from.length > n;
  const what = sampled
    ? `${thousands(n)} sampled of ${thousands(from.length)} images${opts.sample!.cap !== null ? ` (≤ ${thousands(opts.sample!.cap)} per class)` : ''}`
    : `${thousands(n)} images`;
  const figures: NamedFigure[] = [];
  const by = (key: string, codes: ArrayLike<number>, names: readonly string[], colors?: Record<string, string>) => {
    const group = new Int32Array(n);
    for (let i = 0; i < n; i++) group[i] = codes[rows[i]];
    const present = new Set(group);
    if (key !== 'class' && present.size === 1) {
      const only = names[group[0]];
      opts.onNote?.(
        `${method} map of ${opts.label} by ${key} left out: all ${thousands(n)} mapped images are ${key === 'region' ? `of the ${only} region` : only}, so it would be one colour.`,
      );
      return;
    }
    let totals: Int32Array | undefined;
    if (sampled) {
      totals = new Int32Array(names.length);
      for (const r of from) totals[codes[r]]++;
    }
    const title = `${method} of ${opts.label} embeddings: ${what}, coloured by ${key}`;
    // in the figure, what was mapped goes on a second line, so long labels and samples fit the width
    const shown = `${method} of ${opts.label} embeddings, coloured by ${key}<br><span style="font-size:13px;color:#555">${what}</span>`;
    const legendTitle = sampled ? `${key} (sampled of all)` : `${key} (images)`;
    const figure = scatterMapFigure(
      { xy, group, groupNames: names, hover, colors, totals },
      { title: shown, legendTitle },
    );
    figures.push({ name: `${opts.prefix}_${key}`, title, figure });
  };
  by('modality', manifest.modalityIndex, manifest.modalities, MODALITY_COLORS as Record<string, string>);
  by('region', manifest.regionIndex, manifest.regions);
  by(
    'class',
    manifest.classIndex,
    manifest.classes.map((c) => c.name),
  );
  return figures;
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
  /** Called with a note for each map left out (one modality or one region only); default: `log`. */
  onNote?: (note: string) => void;
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
  const sample = mapSample(manifest, all, maxPoints, opts.seed ?? 0);
  const rows = sample.rows;
  if (rows.length < 3)
    throw new CbirError(`only ${rows.length} images to map`, {
      file: store.dir,
      hint: 'a t-SNE map needs at least 3 images',
      code: 'figures/no-data',
    });
  let t0 = Date.now();
  const main = await layout(store, manifest, rows, opts);
  log(`t-SNE ${label}: ${rows.length} points, KL ${main.kl.toFixed(3)}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const onNote = opts.onNote ?? log;
  const figures = mapFigures(manifest, rows, main.xy, {
    label,
    prefix,
    sample: { from: all, cap: sample.cap },
    onNote,
  });

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
    const subAll = all.filter((r) => manifest.modalityIndex[r] === m);
    const subSample = mapSample(manifest, subAll, maxPoints, opts.seed ?? 0);
    const sub = subSample.rows;
    if (sub.length >= 3) {
      t0 = Date.now();
      const s = await layout(store, manifest, sub, opts);
      log(
        `t-SNE ${label} ${subset} only: ${sub.length} points, KL ${s.kl.toFixed(3)}, ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      const subPrefix = `${prefix}_${subset.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
      const byClass = mapFigures(manifest, sub, s.xy, {
        label: `${label} (${subset} only)`,
        prefix: subPrefix,
        sample: { from: subAll, cap: subSample.cap },
      }).find((f) => f.name === `${subPrefix}_class`)!;
      figures.push(byClass);
    }
  }
  return figures;
}
