/**
 * Study-scale benchmark: generates seeded synthetic files in the study's published layout and
 * measures wall time, CPU time and peak RSS of each step a user runs on them.
 *
 * Files (under --out): the per-dataset CSVs (`datasets/<name>.csv`, the study's one-hot manifest
 * layout), their union as a manifest (`manifest/manifest.csv`), and per model one folder of
 * `<dataset>.h5` files (`h5/<model>/`, one float32 HDF5 dataset per image path, L2-normalised).
 * The vectors are clustered unit vectors: a per-class centre (near its modality's centre), a
 * shared low-rank within-class part and isotropic noise, L2-normalised.
 *
 * Size and class structure: the study's 1,322,552 index images and 171,753 queries (../shared/study/
 * README.md) plus an estimated 105,695 val images (see STUDY), 185 classes with a long-tailed size distribution (smallest 13, largest ~226,000),
 * and per modality the class counts and test images of Table 9 (table9_anatomy_pathology.csv).
 * Table 1's exact per-dataset index/query counts are not among the study's tables here, so the
 * index images per modality follow from the class sizes, and the X-ray rows are split over
 * nih14 / mimic / CheXpert in proportion to those source datasets' public image counts. The run
 * prints the per-dataset counts it generated.
 *
 * Steps measured, each in a child process: `cbir embeddings import-h5`; `cbir eval --only
 * retrieval` with an empty k-NN cache (the exact k = 100 table, then the tables); the same again
 * with the cache filled (the tables alone); `cbir eval --only probe --probe study` (the study's
 * AdamW probe, plus the tables from the cache); `cbir eval --only index-size` (the ablation:
 * the study's setting when at least 3 classes have 3000 index images, else scaled to the data);
 * the t-SNE maps of `cbir figures` (embeddingMapFigures on a class-stratified sample).
 *
 * Then the k-NN table's exact search side by side with FAISS IndexFlatIP (python3-faiss, when
 * present): the same index vectors (the train split) and a seeded subset of the test queries,
 * each engine in its own process per round, in interleaved rounds (radcbir, FAISS, FAISS; the
 * next round in reverse order). FAISS runs with OPENBLAS_CORETYPE unset and set to Haswell; the
 * faster by median is the anchor of the ratio, reported as median and range with the load average.
 *
 *   node --import tsx bench/scale.ts                          # full study size, d = 768 and 1024 (hours; ~45 GB disk)
 *   node --import tsx bench/scale.ts --rows 50000 --dims 768  # a quick run
 *   node --import tsx bench/scale.ts --scale 0.1 --out runs/scale --keep
 *   node --import tsx bench/scale.ts --rows 50000 --dims 768 --rounds 7 --faiss-queries 2000 --tsne-points 3000
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { File as H5File } from 'h5wasm/node';
import { loadH5wasm } from '../src/workbench/embeddings/hdf5.js';
import { Rng } from '../src/workbench/util/rng.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The study's combined dataset: index and queries from ../shared/study/README.md; val is an
 * estimate (the study's "1.6 million images" minus index and queries), as its val split size is
 * not among the tables here; the class-size range of the combined set.
 */
export const STUDY = { index: 1_322_552, queries: 171_753, val: 105_695, minClass: 13, maxClass: 226_000 } as const;

/** All images of the study's layout at full size (index + queries + val). */
export const STUDY_ROWS = STUDY.index + STUDY.queries + STUDY.val;

/** One modality × class kind: its classes and its test images (the queries), Table 9. */
export interface StudyGroup {
  modality: 'CT' | 'MR' | 'US' | 'XR';
  kind: 'anatomical' | 'pathological';
  classes: number;
  queries: number;
}

/**
 * Table 9's classes and samples per modality and kind. Table 9 lists 14 X-ray pathologies with
 * test images, while its totals (and the study) count 185 classes of which 161 pathological: the
 * 5 more are X-ray pathologies, so XR has 19 here.
 */
export const STUDY_GROUPS: readonly StudyGroup[] = [
  { modality: 'CT', kind: 'anatomical', classes: 2, queries: 33_067 },
  { modality: 'CT', kind: 'pathological', classes: 32, queries: 30_131 },
  { modality: 'MR', kind: 'anatomical', classes: 7, queries: 14_257 },
  { modality: 'MR', kind: 'pathological', classes: 109, queries: 42_846 },
  { modality: 'US', kind: 'anatomical', classes: 14, queries: 28_561 },
  { modality: 'US', kind: 'pathological', classes: 1, queries: 2_511 },
  { modality: 'XR', kind: 'anatomical', classes: 1, queries: 10_883 },
  { modality: 'XR', kind: 'pathological', classes: 19, queries: 9_497 },
];

/** The study's source datasets: manifest `dataset` value (= `<dataset>.h5`), CSV file, image folder. */
export interface StudyDataset {
  name: string;
  csv: string;
  folder: string;
  modalities: readonly StudyGroup['modality'][];
  /** Share of the X-ray rows (public image counts of NIH ChestX-ray14, MIMIC-CXR, CheXpert). */
  xrWeight: number;
}

/** In the study's `h5_paths` order. */
export const STUDY_DATASETS: readonly StudyDataset[] = [
  { name: 'nih14', csv: 'nih14.csv', folder: 'nih14', modalities: ['XR'], xrWeight: 112_120 },
  { name: 'mimic', csv: 'mimic.csv', folder: 'mimic', modalities: ['XR'], xrWeight: 377_110 },
  { name: 'radiology_ai', csv: 'radimagenet.csv', folder: 'radiology_ai', modalities: ['CT', 'MR', 'US'], xrWeight: 0 },
  { name: 'CheXpert', csv: 'CheXpert.csv', folder: 'CheXpert', modalities: ['XR'], xrWeight: 224_316 },
];

const SPLIT_NAMES = ['train', 'val', 'test'] as const;

/** One generated class: its name, size and rows per dataset and split. */
export interface LayoutClass {
  name: string;
  modality: StudyGroup['modality'];
  region: string;
  kind: StudyGroup['kind'];
  size: number;
  train: number;
  val: number;
  test: number;
  /** rows[dataset index][split: 0 train, 1 val, 2 test] */
  rows: number[][];
}

export interface StudyLayout {
  rows: number;
  index: number;
  queries: number;
  val: number;
  classes: LayoutClass[];
}

/** Split `total` over `weights` in proportion (largest remainder), capped per item by `cap` when given. */
function apportion(total: number, weights: readonly number[], cap?: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const out = weights.map((w) => (sum > 0 ? Math.floor((total * w) / sum) : 0));
  const order = weights
    .map((w, i) => ({ i, r: sum > 0 ? (total * w) / sum - out[i] : 0 }))
    .sort((a, b) => b.r - a.r || a.i - b.i);
  let left = total - out.reduce((a, b) => a + b, 0);
  for (let k = 0; left > 0 && k < order.length; k++, left--) out[order[k].i]++;
  if (cap) {
    let spill = 0;
    for (let i = 0; i < out.length; i++) if (out[i] > cap[i]) ((spill += out[i] - cap[i]), (out[i] = cap[i]));
    // what did not fit goes to the items with the most room
    const room = out.map((o, i) => ({ i, room: cap[i] - o })).sort((a, b) => b.room - a.room);
    for (const { i } of room) {
      const take = Math.min(spill, cap[i] - out[i]);
      out[i] += take;
      spill -= take;
    }
    if (spill > 0) throw new Error(`cannot place ${spill} rows within the caps`);
  }
  return out;
}

/**
 * Long-tailed class sizes, largest first, summing to `total`: log n(t) = log max − (log max −
 * log min)·t^p over ranks t ∈ [0, 1], with p fitted so the sizes sum to `total`; none below `min`.
 */
export function longTailSizes(total: number, classes: number, min: number, max: number): number[] {
  if (!(total >= classes * min))
    throw new Error(`${total} rows cannot hold ${classes} classes of at least ${min} images (${classes * min} needed)`);
  const hi = Math.max(min, Math.ceil(total / classes), Math.min(max, total - (classes - 1) * min));
  const [lmax, lmin] = [Math.log(hi), Math.log(min)];
  const sizes = (p: number) =>
    Array.from({ length: classes }, (_, k) =>
      Math.max(min, Math.round(Math.exp(lmax - (lmax - lmin) * (classes > 1 ? k / (classes - 1) : 0) ** p))),
    );
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  let [lo, up] = [-12, 12]; // ln p: the sum grows with p
  for (let it = 0; it < 80; it++) {
    const mid = (lo + up) / 2;
    if (sum(sizes(Math.exp(mid))) < total) lo = mid;
    else up = mid;
  }
  const out = sizes(Math.exp(up));
  // rounding: take the difference from (or give it to) the largest classes, never below min
  let diff = total - sum(out);
  for (let k = 0; diff !== 0; k = (k + 1) % classes) {
    if (diff > 0) (out[k]++, diff--);
    else if (out[k] > min) (out[k]--, diff++);
  }
  return out.sort((a, b) => b - a);
}

/** 185 class names and regions: per modality, one "normal" class per anatomical region, pathologies spread over the regions. */
function studyClasses(): Omit<LayoutClass, 'size' | 'train' | 'val' | 'test' | 'rows'>[] {
  const out: Omit<LayoutClass, 'size' | 'train' | 'val' | 'test' | 'rows'>[] = [];
  for (const m of ['XR', 'CT', 'MR', 'US'] as const) {
    const anat = STUDY_GROUPS.find((g) => g.modality === m && g.kind === 'anatomical')!.classes;
    const path = STUDY_GROUPS.find((g) => g.modality === m && g.kind === 'pathological')!.classes;
    const region = (i: number) => (m === 'XR' ? 'chest' : `region${String((i % anat) + 1).padStart(2, '0')}`);
    for (let i = 0; i < anat; i++)
      out.push({
        name: `${m}/${region(i)}/${m === 'XR' ? 'No Finding' : 'normal'}`,
        modality: m,
        region: region(i),
        kind: 'anatomical',
      });
    for (let i = 0; i < path; i++) {
      const label = `pathology${String(i + 1).padStart(3, '0')}`;
      out.push({ name: `${m}/${region(i)}/${label}`, modality: m, region: region(i), kind: 'pathological' });
    }
  }
  return out;
}

/** Size, splits and datasets of every class for `rows` images (index + queries + `val`). */
export function studyLayout(opts: { rows?: number; scale?: number; val?: number } = {}): StudyLayout {
  const full = STUDY_ROWS;
  const rows = opts.rows ?? Math.round(full * (opts.scale ?? 1));
  const val = opts.val ?? Math.round((STUDY.val * rows) / full);
  const queries = Math.round((STUDY.queries * rows) / full);
  const names = studyClasses();
  const sizes = longTailSizes(rows, names.length, STUDY.minClass, Math.round((STUDY.maxClass * rows) / full));
  // each modality takes the next size when its share of filled class slots is the smallest, so
  // every modality gets a long tail; within a modality the anatomical classes come first
  const mods = ['XR', 'CT', 'MR', 'US'] as const;
  const slots = mods.map((m) => names.filter((c) => c.modality === m).length);
  const filled = mods.map(() => 0);
  const sizeOf = new Array<number>(names.length);
  for (const s of sizes) {
    let best = -1;
    for (let j = 0; j < mods.length; j++)
      if (filled[j] < slots[j] && (best < 0 || filled[j] / slots[j] < filled[best] / slots[best])) best = j;
    const cls = names.filter((c) => c.modality === mods[best])[filled[best]++];
    sizeOf[names.indexOf(cls)] = s;
  }
  const modQueries = apportion(
    queries,
    mods.map((m) => STUDY_GROUPS.filter((g) => g.modality === m).reduce((a, g) => a + g.queries, 0)),
  );
  const test = new Array<number>(names.length).fill(0);
  mods.forEach((m, j) => {
    const ids = names.flatMap((c, i) => (c.modality === m ? [i] : []));
    const got = apportion(
      modQueries[j],
      ids.map((i) => sizeOf[i]),
      ids.map((i) => sizeOf[i] - 1),
    );
    ids.forEach((i, k) => (test[i] = got[k]));
  });
  const valOf = apportion(
    val,
    sizeOf,
    sizeOf.map((s, i) => s - 1 - test[i]),
  );
  const classes = names.map((c, i) => ({
    ...c,
    size: sizeOf[i],
    test: test[i],
    val: valOf[i],
    train: sizeOf[i] - test[i] - valOf[i],
    rows: [] as number[][],
  }));
  for (const c of classes) c.rows = datasetRows(c);
  return { rows, index: rows - queries - val, queries, val, classes };
}

/** Rows of a class per dataset and split: RadImageNet holds CT, MR and US; X-ray rows are shared by weight. */
function datasetRows(c: Omit<LayoutClass, 'rows'>): number[][] {
  const own = STUDY_DATASETS.map((d) => d.modalities.includes(c.modality));
  const weights = STUDY_DATASETS.map((d, i) => (own[i] ? (c.modality === 'XR' ? d.xrWeight : 1) : 0));
  const per = [c.train, c.val, c.test].map((n) => apportion(n, weights));
  return STUDY_DATASETS.map((_, d) => [per[0][d], per[1][d], per[2][d]]);
}

/** Buffered line writer (writeSync in 1 MiB chunks). */
class Lines {
  private buf: string[] = [];
  private size = 0;
  private readonly fd: number;
  constructor(file: string) {
    this.fd = openSync(file, 'w');
  }
  add(line: string): void {
    this.buf.push(line);
    this.size += line.length + 1;
    if (this.size > 1 << 20) this.flush();
  }
  flush(): void {
    if (this.buf.length) writeSync(this.fd, this.buf.join('\n') + '\n');
    this.buf = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** One image row in generation order: its dataset, split, class and path. */
export interface LayoutRow {
  dataset: number;
  split: 0 | 1 | 2;
  cls: number;
  path: string;
}

/** Every row in file order: dataset by dataset, train then val then test, class by class. */
export function* layoutRows(layout: StudyLayout): Generator<LayoutRow> {
  let n = 0;
  for (let d = 0; d < STUDY_DATASETS.length; d++)
    for (const split of [0, 1, 2] as const)
      for (let c = 0; c < layout.classes.length; c++) {
        const cls = layout.classes[c];
        for (let k = 0; k < cls.rows[d][split]; k++)
          yield {
            dataset: d,
            split,
            cls: c,
            path: `${STUDY_DATASETS[d].folder}/${cls.name}/${String(n++).padStart(7, '0')}.png`,
          };
      }
}

/** The per-dataset CSVs (their own class columns) and the combined manifest (all 185). */
export function writeStudyCsvs(layout: StudyLayout, out: string): { manifestDir: string; csvs: string[] } {
  const fixed = 'filepath,dataset,split,modality,anatomic_region';
  const names = layout.classes.map((c) => c.name);
  const onehot = (cols: number[]) => {
    const at = new Map(cols.map((c, k) => [c, k]));
    return (c: number) => {
      const cells = new Array<string>(cols.length).fill('0');
      cells[at.get(c)!] = '1';
      return cells.join(',');
    };
  };
  mkdirSync(join(out, 'datasets'), { recursive: true });
  const manifestDir = join(out, 'manifest');
  mkdirSync(manifestDir, { recursive: true });
  const all = layout.classes.map((_, i) => i);
  const combined = new Lines(join(manifestDir, 'manifest.csv'));
  combined.add(`${fixed},${names.join(',')}`);
  const allHot = all.map(onehot(all));
  const csvs = STUDY_DATASETS.map((d, di) => {
    const cols = all.filter((c) => layout.classes[c].rows[di].some((n) => n > 0));
    const hot = onehot(cols);
    const file = join(out, 'datasets', d.csv);
    const w = new Lines(file);
    w.add(`${fixed},${cols.map((c) => names[c]).join(',')}`);
    const own = new Map(cols.map((c) => [c, hot(c)]));
    for (const r of layoutRows(layout)) {
      if (r.dataset !== di) continue;
      const c = layout.classes[r.cls];
      const head = `${r.path},${d.name},${SPLIT_NAMES[r.split]},${c.modality},${c.region}`;
      w.add(`${head},${own.get(r.cls)}`);
      combined.add(`${head},${allHot[r.cls]}`);
    }
    w.close();
    return file;
  });
  combined.close();
  return { manifestDir, csvs };
}

/** Class centres (near their modality's centre) and the shared within-class basis for one model. */
function vectorModel(layout: StudyLayout, dim: number, seed: number) {
  const rng = new Rng(seed);
  const unit = (v: Float64Array) => {
    let s = 0;
    for (const x of v) s += x * x;
    const inv = 1 / Math.sqrt(s);
    return v.map((x) => x * inv);
  };
  const gauss = () => Float64Array.from({ length: dim }, () => rng.normal());
  const modCentre = new Map(['CT', 'MR', 'US', 'XR'].map((m) => [m, unit(gauss())]));
  const centres = layout.classes.map((c) => {
    const m = modCentre.get(c.modality)!;
    const r = unit(gauss());
    return unit(m.map((x, i) => 0.8 * x + 0.6 * r[i]));
  });
  const latent = 8;
  const basis = Array.from({ length: latent }, () => unit(gauss()));
  return { rng, centres, basis };
}

/** One clustered unit vector of class `c`: centre + 0.5·(low-rank part) + 0.5·(isotropic noise), L2-normalised. */
function makeVector(m: ReturnType<typeof vectorModel>, c: number, out: Float32Array): void {
  const dim = out.length;
  const { rng, centres, basis } = m;
  const row = new Float64Array(centres[c]);
  const ns = (0.5 * Math.sqrt(3)) / Math.sqrt(dim); // uniform noise with expected norm 0.5
  for (let d = 0; d < dim; d++) row[d] += ns * (2 * rng.next() - 1);
  for (const b of basis) {
    const z = (0.5 / Math.sqrt(basis.length)) * rng.normal();
    for (let d = 0; d < dim; d++) row[d] += z * b[d];
  }
  let s = 0;
  for (let d = 0; d < dim; d++) s += row[d] * row[d];
  const inv = 1 / Math.sqrt(s);
  for (let d = 0; d < dim; d++) out[d] = row[d] * inv;
}

/** Write `<dir>/<dataset>.h5` for every dataset: one float32 dataset per image path, nested groups included. */
export async function writeStudyH5(
  layout: StudyLayout,
  dir: string,
  opts: { dim: number; seed: number; model: string; log?: (s: string) => void },
): Promise<string[]> {
  const lib = await loadH5wasm();
  mkdirSync(dir, { recursive: true });
  const files: { file: H5File; groups: Set<string>; path: string }[] = STUDY_DATASETS.map((d) => {
    const path = join(dir, `${d.name}.h5`);
    const file = new lib.File(path, 'w');
    file.create_attribute('radcbir_model', opts.model);
    return { file, groups: new Set(['']), path };
  });
  const m = vectorModel(layout, opts.dim, opts.seed);
  const v = new Float32Array(opts.dim);
  let n = 0;
  try {
    for (const r of layoutRows(layout)) {
      const f = files[r.dataset];
      const parent = r.path.slice(0, r.path.lastIndexOf('/'));
      if (!f.groups.has(parent)) {
        const parts = parent.split('/');
        for (let p = 1; p <= parts.length; p++) {
          const g = parts.slice(0, p).join('/');
          if (!f.groups.has(g) && f.file.get(g) === null) f.file.create_group(g);
          f.groups.add(g);
        }
      }
      makeVector(m, r.cls, v);
      f.file.create_dataset({ name: r.path, data: v, shape: [opts.dim], dtype: '<f' });
      if (++n % 100_000 === 0) opts.log?.(`  ${n.toLocaleString('en')} / ${layout.rows.toLocaleString('en')} vectors`);
    }
  } finally {
    for (const f of files) f.file.close();
  }
  return files.map((f) => f.path);
}

/** What one measured step used. */
export interface StepUsage {
  step: string;
  code: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  error?: string;
  /** What an in-process task reports besides (e.g. the search time alone). */
  extra?: Record<string, number>;
}

/**
 * Run `cbir <args>` in a child process (this file with --child) and read back its wall time,
 * CPU time and peak RSS (process.resourceUsage, worker threads included; tsx start excluded).
 */
export function measureCli(step: string, args: string[], log: (s: string) => void, echo = true): Promise<StepUsage> {
  const usageFile = join(mkdtempSync(join(tmpdir(), 'cbir-scale-usage-')), 'usage.json');
  return new Promise((res, rej) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', usageFile, '--', ...args],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let tail = '';
    const keep = (b: Buffer) => {
      if (echo) process.stderr.write(b);
      tail = (tail + b.toString()).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', rej);
    child.on('close', (code) => {
      let u: Omit<StepUsage, 'step' | 'error'> = {
        code: code ?? 1,
        wallSeconds: NaN,
        cpuSeconds: NaN,
        peakRssMiB: NaN,
      };
      try {
        u = JSON.parse(readFileSync(usageFile, 'utf8'));
      } catch {
        // killed before it could write (e.g. out of memory): keep the NaNs
      }
      rmSync(dirname(usageFile), { recursive: true, force: true });
      const r: StepUsage = { step, ...u, code: u.code || (code ?? 1) };
      if (r.code !== 0) r.error = tail.trim().split('\n').slice(-3).join(' ');
      log(`  ${step}: exit ${r.code}, ${r.wallSeconds.toFixed(1)} s wall, ${r.peakRssMiB.toFixed(0)} MiB peak`);
      res(r);
    });
  });
}

/** What a child runs: the CLI (`cbir <args>`), or a task of this file (`@exact …`, `@tsne …`). */
async function childTask(args: string[]): Promise<() => Promise<{ code: number; extra?: Record<string, number> }>> {
  if (args[0] === '@exact') return async () => ({ code: 0, extra: await exactTask(args.slice(1)) });
  if (args[0] === '@tsne') return async () => ({ code: 0, extra: await tsneTask(args.slice(1)) });
  const { main } = await import('../src/cli/main.js');
  return async () => ({ code: await main(args) });
}

/** The child side of measureCli: run the CLI or a task in this process, then write what it used. */
async function child(usageFile: string, args: string[]): Promise<void> {
  const task = await childTask(args);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let code = 1;
  let extra: Record<string, number> | undefined;
  try {
    ({ code, extra } = await task());
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  } finally {
    const c = process.cpuUsage(c0);
    const usage = {
      code,
      wallSeconds: (performance.now() - t0) / 1000,
      cpuSeconds: (c.user + c.system) / 1e6,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      ...(extra ? { extra } : {}),
    };
    writeSync(openSync(usageFile, 'w'), JSON.stringify(usage));
  }
  process.exit(code);
}

/** Read `count` float32 values of a file into one array (reads of at most 256 MiB: no Buffer over 2 GiB). */
function readF32(file: string, count: number): Float32Array {
  const out = new Float32Array(count);
  const fd = openSync(file, 'r');
  try {
    const step = 1 << 28;
    for (let off = 0; off < out.byteLength; off += step) {
      const view = new Uint8Array(out.buffer, off, Math.min(step, out.byteLength - off));
      for (let got = 0; got < view.length;) {
        const n = readSync(fd, view, got, view.length - got, off + got);
        if (n === 0) throw new Error(`${file} is shorter than ${count} float32 values`);
        got += n;
      }
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/**
 * `@exact <xb> <xq> <nb> <nq> <dim> <k> <threads> <ids out>`: the k-NN table's exact search
 * (buildIndex as computeKnnTable calls it, queries in blocks of 4096), search timed alone after
 * a 64-query warm-up; the neighbour positions are written as int32.
 */
async function exactTask(a: string[]): Promise<Record<string, number>> {
  const { buildIndex } = await import('../src/workbench/search/index.js');
  const [nb, nq, dim, k, threads] = a.slice(2, 7).map(Number);
  const x = readF32(a[0], nb * dim);
  const q = readF32(a[1], nq * dim);
  const b0 = performance.now();
  const index = await buildIndex(x, dim, { kind: 'exact', threads }, {});
  const buildSeconds = (performance.now() - b0) / 1000;
  const ids = new Int32Array(nq * k);
  try {
    await index.search(q.subarray(0, Math.min(nq, 64) * dim), k);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let q0 = 0; q0 < nq; q0 += 4096) {
      const b = Math.min(4096, nq - q0);
      ids.set((await index.search(q.subarray(q0 * dim, (q0 + b) * dim), k)).ids, q0 * k);
    }
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    writeSync(openSync(a[7], 'w'), new Uint8Array(ids.buffer));
    return { seconds, cpu: (c.user + c.system) / 1e6, buildSeconds };
  } finally {
    await index.close();
  }
}

/** `@tsne <manifest dir> <store> <points> <seed>`: the t-SNE maps of `cbir figures` (Fig. 4) for one store. */
async function tsneTask(a: string[]): Promise<Record<string, number>> {
  const { readManifest, openEmbeddings } = await import('../src/workbench/index.js');
  const { embeddingMapFigures } = await import('../src/workbench/figures/maps.js');
  const [m, store] = await Promise.all([readManifest(a[0]), openEmbeddings(a[1])]);
  const figures = await embeddingMapFigures(m, store, { maxPoints: Number(a[2]), seed: Number(a[3]) });
  return { figures: figures.length };
}

export interface ScaleBenchOptions {
  /** Images in all (index + queries + val); default STUDY_ROWS (1.6 M). */
  rows?: number;
  /** Fraction of the study's size (ignored when rows is given). */
  scale?: number;
  /** Val rows (default STUDY.val scaled: an estimate, see STUDY). */
  val?: number;
  /** Embedding dimensions, one synthetic model each; default 768 and 1024. */
  dims?: number[];
  seed?: number;
  /** Folder for the files; default a temporary folder, deleted afterwards unless keep. */
  out?: string;
  keep?: boolean;
  /** Bootstrap replicates of `cbir eval` (default its own, 1000). */
  replicates?: number;
  /** Measure the probe (study protocol), the index-size ablation and the t-SNE maps (default true). */
  analyses?: boolean;
  /** Points of the t-SNE sample (default 3000, as `cbir figures`). */
  tsnePoints?: number;
  /** Compare the exact search with FAISS IndexFlatIP (default true; skipped with a note without python3-faiss). */
  faiss?: boolean;
  /** Python with faiss and numpy; default $CBIR_PYTHON, /usr/bin/python3, python3. */
  python?: string;
  /** Test queries of the side-by-side comparison (a seeded subset; default 1000). */
  faissQueries?: number;
  /** Interleaved rounds of the side-by-side comparison (default 5). */
  rounds?: number;
  log?: (line: string) => void;
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const int = (x: number) => x.toLocaleString('en');

/** Per-dataset and per-modality counts of a layout, as Markdown. */
function layoutTables(layout: StudyLayout): string[] {
  const out = ['| dataset | file | index (train) | val | queries (test) | classes |', '|---|---|---:|---:|---:|---:|'];
  STUDY_DATASETS.forEach((d, di) => {
    const sum = (s: number) => layout.classes.reduce((a, c) => a + c.rows[di][s], 0);
    const classes = layout.classes.filter((c) => c.rows[di].some((n) => n > 0)).length;
    out.push(`| ${d.name} | ${d.csv}, ${d.name}.h5 | ${int(sum(0))} | ${int(sum(1))} | ${int(sum(2))} | ${classes} |`);
  });
  out.push('', '| modality | classes | index | queries | queries, Table 9 × scale |', '|---|---:|---:|---:|---:|');
  const scale = layout.rows / STUDY_ROWS;
  for (const m of ['CT', 'MR', 'US', 'XR'] as const) {
    const cs = layout.classes.filter((c) => c.modality === m);
    const t9 = STUDY_GROUPS.filter((g) => g.modality === m).reduce((a, g) => a + g.queries, 0);
    const sum = (f: (c: LayoutClass) => number) => int(cs.reduce((a, c) => a + f(c), 0));
    out.push(
      `| ${m} | ${cs.length} | ${sum((c) => c.train)} | ${sum((c) => c.test)} | ${int(Math.round(t9 * scale))} |`,
    );
  }
  const sizes = layout.classes.map((c) => c.size).sort((a, b) => a - b);
  const top = sizes.slice(-Math.ceil(sizes.length / 10)).reduce((a, b) => a + b, 0);
  out.push(
    '',
    `Class sizes: smallest ${int(sizes[0])}, median ${int(sizes[sizes.length >> 1])}, largest ${int(sizes[sizes.length - 1])}; the largest 10 % of the classes hold ${((100 * top) / layout.rows).toFixed(0)} % of the images.`,
  );
  return out;
}

/** The first python of `explicit`, $CBIR_PYTHON, /usr/bin/python3, python3 that imports faiss and numpy. */
function findPython(explicit?: string): string | null {
  for (const p of [explicit, process.env.CBIR_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c))
    if (spawnSync(p, ['-c', 'import faiss, numpy'], { stdio: 'ignore' }).status === 0) return p;
  return null;
}

/** FAISS IndexFlatIP on the same files as `@exact`: add, a 64-query warm-up, then the search timed alone. */
const FAISS_SCRIPT = `
import sys, json, time, resource, numpy as np, faiss
nb, nq, d, k, t = map(int, sys.argv[1:6]); xf, qf, out = sys.argv[6:9]
X = np.fromfile(xf, dtype=np.float32).reshape(nb, d)
Q = np.fromfile(qf, dtype=np.float32).reshape(nq, d)
faiss.omp_set_num_threads(t)
t0 = time.perf_counter(); index = faiss.IndexFlatIP(d); index.add(X); add = time.perf_counter() - t0
del X
index.search(Q[:64], k)
c0 = time.process_time(); t0 = time.perf_counter(); D, I = index.search(Q, k); s = time.perf_counter() - t0; c = time.process_time() - c0
I.astype(np.int32).tofile(out)
print(json.dumps({"seconds": s, "cpu": c, "add_seconds": add, "faiss": faiss.__version__, "numpy": np.__version__, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

interface FaissRun {
  seconds: number;
  cpu: number;
  add_seconds: number;
  faiss: string;
  numpy: string;
  peak_rss_mib: number;
}

/** Run FAISS_SCRIPT with OPENBLAS_CORETYPE unset (null) or set. */
function runFaiss(python: string, args: string[], coretype: string | null): Promise<FaissRun> {
  const env = { ...process.env };
  if (coretype === null) delete env.OPENBLAS_CORETYPE;
  else env.OPENBLAS_CORETYPE = coretype;
  return new Promise((res, rej) => {
    const p = spawn(python, ['-c', FAISS_SCRIPT, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (err += b));
    p.on('error', rej);
    p.on('close', (code) =>
      code === 0
        ? res(JSON.parse(out.trim().split('\n').at(-1)!))
        : rej(new Error(`the FAISS script exited ${code}: ${err.trim().slice(-500)}`)),
    );
  });
}

/**
 * The inputs of the side-by-side comparison, streamed from the store in blocks: `xb.f32` (every
 * train row, in row order) and `xq.f32` (a seeded subset of `queries` test rows, in row order).
 * Checks on the way that the store's rows are the layout's rows.
 */
async function writeSideBySideInputs(
  dir: string,
  layout: StudyLayout,
  storeDir: string,
  queries: number,
  seed: number,
): Promise<{ nb: number; nq: number; dim: number }> {
  const { openEmbeddings } = await import('../src/workbench/embeddings/index.js');
  const store = await openEmbeddings(storeDir);
  const split = new Uint8Array(store.count);
  let n = 0;
  for (const r of layoutRows(layout)) {
    if (store.ids[n] !== r.path) throw new Error(`store row ${n} is "${store.ids[n]}", not the layout's "${r.path}"`);
    split[n++] = r.split;
  }
  const tests = Int32Array.from(split.keys()).filter((i) => split[i] === 2);
  new Rng(seed + 101).shuffle(tests);
  const picked = new Uint8Array(store.count);
  const nq = Math.min(queries, tests.length);
  for (let j = 0; j < nq; j++) picked[tests[j]] = 1;
  const [fb, fq] = [openSync(join(dir, 'xb.f32'), 'w'), openSync(join(dir, 'xq.f32'), 'w')];
  let nb = 0;
  try {
    for await (const { start, data } of store.rows()) {
      const rows = data.length / store.dim;
      const [b, q] = [new Float32Array(data.length), new Float32Array(data.length)];
      let [bi, qi] = [0, 0];
      for (let i = 0; i < rows; i++) {
        const v = data.subarray(i * store.dim, (i + 1) * store.dim);
        if (split[start + i] === 0) b.set(v, bi++ * store.dim);
        else if (picked[start + i]) q.set(v, qi++ * store.dim);
      }
      writeSync(fb, new Uint8Array(b.buffer, 0, bi * store.dim * 4));
      writeSync(fq, new Uint8Array(q.buffer, 0, qi * store.dim * 4));
      nb += bi;
    }
  } finally {
    closeSync(fb);
    closeSync(fq);
  }
  return { nb, nq, dim: store.dim };
}

const median = (a: readonly number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');

/** Mean fraction of each query's top-k ids (int32 files, queries × k) that both files share. */
function topKOverlap(a: string, b: string, nq: number, k: number): number {
  const [x, y] = [a, b].map((f) => new Int32Array(readFileSync(f).buffer.slice(0)));
  let shared = 0;
  for (let q = 0; q < nq; q++) {
    const s = new Set(x.subarray(q * k, (q + 1) * k));
    for (let j = 0; j < k; j++) if (s.has(y[q * k + j])) shared++;
  }
  return shared / (nq * k);
}

/** One round of the side-by-side comparison: each engine's search time, CPU time and peak RSS. */
interface Round {
  load: number;
  radcbir: { seconds: number; cpu: number; rss: number; build: number };
  faiss: Record<'unset' | 'Haswell', FaissRun>;
}

const CORETYPES = [
  ['unset', null],
  ['Haswell', 'Haswell'],
] as const;

/** `rounds` interleaved rounds: radcbir, FAISS unset, FAISS Haswell; every other round in reverse order. */
async function interleavedRounds(
  dir: string,
  python: string,
  shape: { nb: number; nq: number; dim: number; k: number },
  rounds: number,
  log: (s: string) => void,
): Promise<Round[]> {
  const threads = availableParallelism();
  const files = ['xb.f32', 'xq.f32'].map((f) => join(dir, f));
  const sizes = [shape.nb, shape.nq, shape.dim, shape.k, threads].map(String);
  const out: Round[] = [];
  for (let r = 0; r < rounds; r++) {
    const load = loadavg()[0];
    const round: Partial<Round> = { load, faiss: {} as Round['faiss'] };
    const radcbir = async () => {
      const u = await measureCli(
        'exact',
        ['@exact', ...files, ...sizes, join(dir, `radcbir-${r}.i32`)],
        () => {},
        false,
      );
      if (u.code !== 0 || !u.extra) throw new Error(`radcbir's exact search failed: ${u.error ?? 'no result'}`);
      round.radcbir = { seconds: u.extra.seconds, cpu: u.extra.cpu, rss: u.peakRssMiB, build: u.extra.buildSeconds };
    };
    const faiss = (name: 'unset' | 'Haswell', coretype: string | null) => async () => {
      round.faiss![name] = await runFaiss(python, [...sizes, ...files, join(dir, `faiss-${name}-${r}.i32`)], coretype);
    };
    const steps = [radcbir, ...CORETYPES.map(([name, c]) => faiss(name, c))];
    for (const step of r % 2 ? steps.reverse() : steps) await step();
    const done = round as Round;
    log(
      `  round ${r + 1}/${rounds} (load ${load.toFixed(2)}): radcbir ${f2(done.radcbir.seconds)} s, FAISS ${f2(done.faiss.unset.seconds)} s (OPENBLAS_CORETYPE unset), ${f2(done.faiss.Haswell.seconds)} s (Haswell)`,
    );
    out.push(done);
  }
  return out;
}

/**
 * The k-NN table's exact search side by side with FAISS IndexFlatIP on the same vectors (see the
 * file header), as Markdown; a note when python3-faiss is missing or a run fails.
 */
async function sideBySide(dir: string, layout: StudyLayout, model: string, opts: ScaleBenchOptions): Promise<string[]> {
  const log = opts.log ?? (() => {});
  const dim = Number(model.replace(/^\D+/, ''));
  const head = `### k-NN table side by side with FAISS IndexFlatIP, d = ${dim}`;
  const python = findPython(opts.python);
  if (!python)
    return [
      head,
      '',
      'FAISS comparison skipped: no python3 with faiss and numpy found (apt-get install -y python3-faiss python3-numpy, or set CBIR_PYTHON).',
      '',
    ];
  const work = join(dir, 'side-by-side', model);
  mkdirSync(work, { recursive: true });
  try {
    log(`side by side with FAISS (${model})…`);
    const s = await writeSideBySideInputs(
      work,
      layout,
      join(dir, 'stores', model),
      opts.faissQueries ?? 1000,
      opts.seed ?? 0,
    );
    const shape = { ...s, k: Math.min(100, s.nb) };
    const rounds = await interleavedRounds(work, python, shape, opts.rounds ?? 5, log);
    return [head, '', ...sideBySideText(rounds, shape, work)];
  } catch (e) {
    return [head, '', `FAISS comparison failed: ${e instanceof Error ? e.message : String(e)}`, ''];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The rounds as a table, the anchor, the ratio's median and range, the load average, memory and agreement. */
function sideBySideText(
  rounds: Round[],
  shape: { nb: number; nq: number; dim: number; k: number },
  work: string,
): string[] {
  const med = (f: (r: Round) => number) => median(rounds.map(f));
  const anchor = med((r) => r.faiss.Haswell.seconds) < med((r) => r.faiss.unset.seconds) ? 'Haswell' : 'unset';
  const wall = rounds.map((r) => r.faiss[anchor].seconds / r.radcbir.seconds);
  const cpu = rounds.map((r) => r.faiss[anchor].cpu / r.radcbir.cpu);
  const loads = rounds.map((r) => r.load);
  const f = rounds[0].faiss.unset;
  const overlap = topKOverlap(join(work, 'radcbir-0.i32'), join(work, `faiss-${anchor}-0.i32`), shape.nq, shape.k);
  const anchorText = anchor === 'unset' ? 'OPENBLAS_CORETYPE unset' : 'OPENBLAS_CORETYPE=Haswell';
  return [
    `${int(shape.nq)} test queries (a seeded subset) against all ${int(shape.nb)} index (train) vectors, k = ${shape.k}, ${availableParallelism()} threads each (onnxruntime intra-op; FAISS ${f.faiss} OpenMP, numpy ${f.numpy}); ${rounds.length} interleaved rounds (radcbir, FAISS unset, FAISS Haswell, then reversed); each engine in a fresh process per round, its search timed alone after a 64-query warm-up (loading, the exact build and the FAISS add excluded).`,
    '',
    '| round | load avg (1 min) | radcbir s | FAISS s, OPENBLAS_CORETYPE unset | FAISS s, Haswell | anchor / radcbir (wall) |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rounds.map(
      (r, i) =>
        `| ${i + 1} | ${r.load.toFixed(2)} | ${f2(r.radcbir.seconds)} | ${f2(r.faiss.unset.seconds)} | ${f2(r.faiss.Haswell.seconds)} | ${f2(wall[i])} |`,
    ),
    '',
    `- Anchor: FAISS with ${anchorText}, the faster by median (${f2(med((r) => r.faiss.unset.seconds))} s unset, ${f2(med((r) => r.faiss.Haswell.seconds))} s Haswell).`,
    `- radcbir / FAISS speed (> 1: radcbir faster): **median ${f2(median(wall))}× (range ${f2(Math.min(...wall))}–${f2(Math.max(...wall))}×)** by wall time; median ${f2(median(cpu))}× (range ${f2(Math.min(...cpu))}–${f2(Math.max(...cpu))}×) by CPU time.`,
    `- Load average (1 min) at the start of each round: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} on ${cpus().length} cores.`,
    `- Median peak RSS: radcbir ${med((r) => r.radcbir.rss).toFixed(0)} MiB, FAISS ${med((r) => r.faiss[anchor].peak_rss_mib).toFixed(0)} MiB; radcbir exact build ${f2(med((r) => r.radcbir.build))} s, FAISS add ${f2(med((r) => r.faiss[anchor].add_seconds))} s; raw index vectors ${((shape.nb * shape.dim * 4) / 2 ** 20).toFixed(0)} MiB.`,
    `- Same top-${shape.k} sets as FAISS (round 1): ${(100 * overlap).toFixed(3)} % of the ids (differences are float near-ties).`,
    '',
  ];
}

/** The measured steps for one model: import, eval with an empty k-NN cache, eval with it filled, probe, ablation, t-SNE. */
async function measureModel(
  dir: string,
  manifestDir: string,
  model: string,
  opts: ScaleBenchOptions & { layout?: StudyLayout },
  echo: boolean,
): Promise<StepUsage[]> {
  const log = opts.log ?? (() => {});
  const store = join(dir, 'stores', model);
  const cache = join(dir, 'knn', model);
  const rep = opts.replicates !== undefined ? ['--replicates', String(opts.replicates)] : [];
  const evalArgs = (out: string, only = 'retrieval', extra: string[] = []) => [
    'eval',
    '--data',
    manifestDir,
    '--embeddings',
    store,
    '--out',
    out,
    '--only',
    only,
    '--cache',
    cache,
    ...rep,
    ...extra,
  ];
  const steps: StepUsage[] = [];
  steps.push(
    await measureCli(
      'import-h5',
      ['embeddings', 'import-h5', '--data', manifestDir, '--out', store, '--model', model, join(dir, 'h5', model)],
      log,
      echo,
    ),
  );
  if (steps[0].code !== 0) return steps;
  steps.push(
    await measureCli('k-NN table + tables (empty cache)', evalArgs(join(dir, 'eval', `${model}-cold`)), log, echo),
  );
  steps.push(await measureCli('tables (k-NN table cached)', evalArgs(join(dir, 'eval', `${model}-warm`)), log, echo));
  if (opts.analyses === false) return steps;
  const only = (what: string, extra: string[]) => evalArgs(join(dir, 'eval', `${model}-${what}`), what, extra);
  steps.push(
    await measureCli('probe, study protocol (+ tables, k-NN cached)', only('probe', ['--probe', 'study']), log, echo),
  );
  steps.push(
    await measureCli(
      `index-size ablation, ${ablationSetting(opts.layout)} (+ tables)`,
      only('index-size', ['--index-size', 'auto']),
      log,
      echo,
    ),
  );
  const points = opts.tsnePoints ?? 3000;
  steps.push(
    await measureCli(
      `t-SNE maps, ${int(points)}-point stratified sample (cbir figures)`,
      ['@tsne', manifestDir, store, String(points), String(opts.seed ?? 0)],
      log,
      echo,
    ),
  );
  return steps;
}

/** Which setting `--index-size auto` takes on a layout: the study's when ≥ 3 classes have 3000 index images. */
function ablationSetting(layout: StudyLayout | undefined): string {
  if (!layout) return 'auto setting';
  const big = layout.classes.filter((c) => c.train >= 3000).length;
  return big >= 3
    ? `the study's setting (${big} classes ≥ 3000 index images)`
    : `scaled setting (${big} classes ≥ 3000 index images)`;
}

/** Generate the files, run the steps for every model, and return the Markdown report. */
export async function run(opts: ScaleBenchOptions = {}): Promise<string> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const dims = opts.dims ?? [768, 1024];
  const seed = opts.seed ?? 0;
  const dir = opts.out ?? mkdtempSync(join(tmpdir(), 'cbir-bench-scale-'));
  const layout = studyLayout({ rows: opts.rows, scale: opts.scale, val: opts.val });
  const out = ['## Study-scale benchmark', ''];
  out.push(
    `- ${int(layout.rows)} images: ${int(layout.index)} index, ${int(layout.queries)} queries, ${int(layout.val)} val; ${layout.classes.length} classes; d = ${dims.join(', ')}; seed ${seed}`,
    `- machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load average at start ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' / ')}`,
    '- per-dataset counts: Table 1 is not among the study tables here; queries per modality follow Table 9 (scaled), X-ray rows are split over nih14 / mimic / CheXpert by their public image counts',
    '',
    ...layoutTables(layout),
    '',
  );
  try {
    const t0 = performance.now();
    log('writing the dataset CSVs and the combined manifest…');
    const { manifestDir } = writeStudyCsvs(layout, dir);
    out.push(`CSVs and manifest written in ${f1((performance.now() - t0) / 1000)} s.`, '');
    const rows = [
      '| d | step | exit | wall s | CPU s | peak RSS MiB | raw vectors MiB |',
      '|---:|---|---:|---:|---:|---:|---:|',
    ];
    const side: string[] = [];
    for (const dim of dims) {
      const model = `synthetic-d${dim}`;
      log(`writing ${model}/<dataset>.h5…`);
      const g0 = performance.now();
      await writeStudyH5(layout, join(dir, 'h5', model), { dim, seed: seed * 7919 + dim, model, log });
      const raw = (layout.rows * dim * 4) / 2 ** 20;
      rows.push(
        `| ${dim} | generate .h5 (in process) | 0 | ${f1((performance.now() - g0) / 1000)} | | | ${raw.toFixed(0)} |`,
      );
      const steps = await measureModel(dir, manifestDir, model, { ...opts, layout, log }, opts.log === undefined);
      for (const s of steps) {
        rows.push(
          `| ${dim} | ${s.step} | ${s.code} | ${f1(s.wallSeconds)} | ${f1(s.cpuSeconds)} | ${s.peakRssMiB.toFixed(0)} | ${raw.toFixed(0)} |`,
        );
        if (s.error) rows.push(`| | ↳ failed: ${s.error.replace(/\|/g, '\\|')} | | | | | |`);
      }
      if (opts.faiss !== false && steps[0].code === 0)
        side.push(...(await sideBySide(dir, layout, model, { ...opts, log })));
    }
    out.push(
      ...rows,
      '',
      "Wall and CPU time are measured inside each child process around the command (the tsx start is excluded); peak RSS is the child's resourceUsage().maxRSS. The probe and ablation rows include the tables (read from the k-NN cache): subtract the cached-tables row for the step alone.",
      '',
      ...side,
    );
  } finally {
    if (!opts.keep && !opts.out) rmSync(dir, { recursive: true, force: true });
  }
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv[2] === '--child') {
    await child(process.argv[3], process.argv.slice(process.argv.indexOf('--') + 1));
  } else {
    const { values } = parseArgs({
      options: {
        rows: { type: 'string' },
        scale: { type: 'string' },
        val: { type: 'string' },
        dims: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        keep: { type: 'boolean' },
        replicates: { type: 'string' },
        'no-analyses': { type: 'boolean' },
        'tsne-points': { type: 'string' },
        'no-faiss': { type: 'boolean' },
        python: { type: 'string' },
        'faiss-queries': { type: 'string' },
        rounds: { type: 'string' },
      },
    });
    const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
    const md = await run({
      rows: num(values.rows),
      scale: num(values.scale),
      val: num(values.val),
      dims: values.dims?.split(',').map(Number),
      seed: num(values.seed),
      out: values.out,
      keep: values.keep,
      replicates: num(values.replicates),
      analyses: !values['no-analyses'],
      tsnePoints: num(values['tsne-points']),
      faiss: !values['no-faiss'],
      python: values.python,
      faissQueries: num(values['faiss-queries']),
      rounds: num(values.rounds),
    });
    process.stdout.write(md + '\n');
  }
}
