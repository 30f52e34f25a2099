import { existsSync, statSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CbirError, errorMessage, errorCode } from '../errors.js';
import { CACHE_DIR, PROJECT_ROOT } from '../paths.js';
import { Rng } from '../util/rng.js';
import { sha256 } from '../util/fsx.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { encodePng, type RgbImage } from '../images/decode.js';
import { Manifest, readManifest, writeManifest, type ManifestEntry, type Split, type DatasetMeta } from './manifest.js';
import { PHANTOM_CLASSES, type PhantomClass } from './phantom/classes.js';
import { renderGray } from './phantom/anatomy.js';

/**
 * The embedded default dataset: a deterministic synthetic "phantom" of radiology-like images
 * (CT head/chest/abdomen, MR brain, XR chest/hand/knee, US breast; 24 classes, long-tailed),
 * so the whole pipeline runs with no download. Same seed, scale and size give byte-identical
 * PNGs and the same manifest hash.
 */

export { PHANTOM_CLASSES, type PhantomClass };

/** Bump when the drawing code or the class table changes: cached datasets are then rebuilt. */
export const PHANTOM_VERSION = 1;
export const PHANTOM_DEFAULT_SEED = 0;
export const PHANTOM_DEFAULT_SCALE = 1;
export const PHANTOM_DEFAULT_SIZE = 64;
/** Images per class and split are at least this (so every split holds every class). */
export const PHANTOM_MIN_PER_SPLIT = 2;
const GENERATOR = 'radcbir-phantom';

export interface PhantomOptions {
  seed?: number;
  /** Multiplies the class sizes (1 → 1,935 images); each class keeps at least 3 × PHANTOM_MIN_PER_SPLIT. */
  scale?: number;
  /** Width and height of the images in pixels. */
  size?: number;
}

/** The plan of a phantom dataset: its rows and each image's own seed, before any pixel is drawn. */
export interface PhantomPlan {
  seed: number;
  scale: number;
  size: number;
  classes: readonly PhantomClass[];
  /** Manifest rows in order (filepaths relative to the dataset folder). */
  entries: ManifestEntry[];
  /** Class of each row (index into `classes`). */
  classIndex: Uint16Array;
  /** Seed of each row's Rng for `renderPhantom`. */
  imageSeeds: Uint32Array;
}

/** Render one phantom image of a class (name or table row) with the given Rng, without disk. */
export function renderPhantom(cls: string | PhantomClass, rng: Rng, size = PHANTOM_DEFAULT_SIZE): RgbImage {
  const c = typeof cls === 'string' ? PHANTOM_CLASSES.find((k) => k.name === cls) : cls;
  if (!c) {
    throw new CbirError(`unknown phantom class "${String(cls)}"`, {
      hint: `use one of ${PHANTOM_CLASSES.map((k) => k.name).join(', ')}`,
      code: 'phantom/unknown-class',
    });
  }
  checkSize(size);
  const g = renderGray(c.modality, c.region, c.label, rng, size);
  const data = new Uint8Array(size * size * 3);
  for (let p = 0; p < g.length; p++) {
    data[3 * p] = g[p];
    data[3 * p + 1] = g[p];
    data[3 * p + 2] = g[p];
  }
  return { width: size, height: size, channels: 3, data, grayscale: true };
}

/** Number of images of each class (indexed like PHANTOM_CLASSES) at a scale. */
export function phantomCounts(scale = PHANTOM_DEFAULT_SCALE): Int32Array {
  checkScale(scale);
  return Int32Array.from(PHANTOM_CLASSES, (c) => Math.max(3 * PHANTOM_MIN_PER_SPLIT, Math.round(c.count * scale)));
}

/**
 * Plan the dataset: per class, n images split stratified ~70/10/20 (test = max(2, round(0.2 n)),
 * val = max(2, round(0.1 n)), train = the rest) by a seeded shuffle; each image gets its own seed
 * so any image can be rendered alone.
 */
export function planPhantom(opts: PhantomOptions = {}): PhantomPlan {
  const { seed, scale, size } = resolveOptions(opts);
  const counts = phantomCounts(scale);
  const splitRng = new Rng(mix(seed, 0x5eed, 0));
  const entries: ManifestEntry[] = [];
  const cls: number[] = [];
  const seeds: number[] = [];
  PHANTOM_CLASSES.forEach((c, ci) => {
    const n = counts[ci];
    const nTest = Math.max(PHANTOM_MIN_PER_SPLIT, Math.round(0.2 * n));
    const nVal = Math.max(PHANTOM_MIN_PER_SPLIT, Math.round(0.1 * n));
    const order = splitRng.shuffle(Int32Array.from({ length: n }, (_, k) => k)) as Int32Array;
    const split: Split[] = new Array(n);
    for (let r = 0; r < n; r++) split[order[r]] = r < nTest ? 'test' : r < nTest + nVal ? 'val' : 'train';
    const digits = Math.max(4, String(n - 1).length);
    for (let k = 0; k < n; k++) {
      entries.push({
        filepath: `images/${c.modality}/${c.region}/${c.label}/${String(k).padStart(digits, '0')}.png`,
        dataset: c.dataset,
        split: split[k],
        modality: c.modality,
        anatomicRegion: c.region,
        className: c.name,
      });
      cls.push(ci);
      seeds.push(mix(seed, ci + 1, k + 1));
    }
  });
  return {
    seed,
    scale,
    size,
    classes: PHANTOM_CLASSES,
    entries,
    classIndex: Uint16Array.from(cls),
    imageSeeds: Uint32Array.from(seeds),
  };
}

/**
 * Fingerprint of the drawing code: sha256 of one small rendered image per class. Stored in
 * dataset.json so a cache made by different drawing code is not reused even without a version bump.
 */
export function phantomFingerprint(): string {
  const parts: Uint8Array[] = PHANTOM_CLASSES.map((c, ci) => renderPhantom(c, new Rng(mix(12345, ci, 7)), 32).data);
  const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return sha256(all);
}

export interface GeneratePhantomOptions extends PhantomOptions {
  /** Folder to write into (created); images go under `<out>/images/`. */
  out: string;
  onProgress?: ProgressListener;
}

/**
 * Render every image of the plan as an 8-bit grayscale PNG under `<out>/images/...`, then write
 * manifest.csv, classes.csv and dataset.json (generator, version, seed, scale, size, fingerprint)
 * last, so a folder without dataset.json is never a finished dataset. Writes in place (files already
 * in `out` that the plan does not name are left alone); use `ensurePhantom` for an atomic, cached build.
 */
export async function generatePhantom(opts: GeneratePhantomOptions): Promise<Manifest> {
  const plan = planPhantom(opts);
  const out = resolve(opts.out);
  const dirs = new Set(plan.entries.map((e) => dirname(join(out, e.filepath))));
  for (const d of dirs) await mkdir(d, { recursive: true });
  const tracker = new ProgressTracker('phantom', plan.entries.length, opts.onProgress, 'images');
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < plan.entries.length; i++) {
    const img = renderPhantom(plan.classes[plan.classIndex[i]], new Rng(plan.imageSeeds[i]), plan.size);
    const file = join(out, plan.entries[i].filepath);
    const job: Promise<void> = encodePng(img)
      .then((png) => writeFile(file, png))
      .then(() => {
        inFlight.delete(job);
        tracker.add();
      });
    inFlight.add(job);
    if (inFlight.size >= 4) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  tracker.finish();
  const meta: DatasetMeta = {
    name: 'phantom',
    generator: GENERATOR,
    version: PHANTOM_VERSION,
    seed: plan.seed,
    scale: plan.scale,
    size: plan.size,
    fingerprint: phantomFingerprint(),
    description: 'Synthetic radiology-like phantom images (radcbir embedded default dataset)',
  };
  const manifest = Manifest.fromEntries(plan.entries, plan.classes.map(toClassInfo), {
    dir: out,
    imagesRoot: '.',
    meta,
  });
  await writeManifest(out, manifest, meta);
  return readManifest(out);
}

export interface EnsurePhantomOptions extends PhantomOptions {
  /** Dataset folder; default `<project root>/.cache/phantom-v<version>-s<seed>-x<scale>[-<size>px]`. */
  dir?: string;
  onProgress?: ProgressListener;
}

/** The project root (the folder holding package.json), found from this file's location. */
export { PROJECT_ROOT };

/** Default cache folder of a phantom dataset. */
export function phantomCacheDir(opts: PhantomOptions = {}): string {
  const { seed, scale, size } = resolveOptions(opts);
  const px = size === PHANTOM_DEFAULT_SIZE ? '' : `-${size}px`;
  return join(CACHE_DIR, `phantom-v${PHANTOM_VERSION}-s${seed}-x${scale}${px}`);
}

/**
 * Return the phantom dataset, generating it only when needed: an existing folder is reused when
 * its dataset.json matches (generator, version, seed, scale, size, fingerprint), its manifest
 * reads back with the planned hash and every image file is there. Otherwise it is generated in
 * a temporary sibling folder and renamed into place when complete, so a killed run never leaves
 * a half dataset that looks complete (stale temporary folders of dead processes are removed).
 */
export async function ensurePhantom(opts: EnsurePhantomOptions = {}): Promise<Manifest> {
  const o = resolveOptions(opts);
  const dir = resolve(opts.dir ?? phantomCacheDir(o));
  const existing = await loadIfComplete(dir, o);
  if (existing) return existing;

  assertReplaceable(dir);
  await mkdir(dirname(dir), { recursive: true });
  await removeStaleTemps(dir);
  const tag = `${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`;
  const tmp = `${dir}.tmp-${tag}`;
  try {
    await generatePhantom({ ...o, out: tmp, onProgress: opts.onProgress });
    const old = `${dir}.old-${tag}`;
    if (existsSync(dir)) await rename(dir, old);
    try {
      await rename(tmp, dir);
    } catch (e) {
      // another process finished first: use theirs when it is complete
      const theirs = await loadIfComplete(dir, o);
      if (theirs) return theirs;
      throw new CbirError(`could not move the generated phantom into place (${errorMessage(e)})`, {
        file: dir,
        hint: 'remove this folder and run again',
        code: 'phantom/rename',
        cause: e,
      });
    }
    await rm(old, { recursive: true, force: true });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const made = await loadIfComplete(dir, o);
  if (!made)
    throw new CbirError('the generated phantom dataset does not check out', {
      file: dir,
      hint: 'remove this folder and run again; if it persists, report a bug',
      code: 'phantom/incomplete',
    });
  return made;
}

async function loadIfComplete(dir: string, o: Required<PhantomOptions>): Promise<Manifest | null> {
  const metaPath = join(dir, 'dataset.json');
  if (!existsSync(metaPath) || !existsSync(join(dir, 'manifest.csv'))) return null;
  let meta: DatasetMeta;
  try {
    meta = JSON.parse(await readFile(metaPath, 'utf8'));
  } catch {
    return null;
  }
  if (
    meta.generator !== GENERATOR ||
    meta.version !== PHANTOM_VERSION ||
    meta.seed !== o.seed ||
    meta.scale !== o.scale ||
    meta.size !== o.size
  )
    return null;
  if (meta.fingerprint !== phantomFingerprint()) return null;
  const plan = planPhantom(o);
  const expected = Manifest.fromEntries(plan.entries, plan.classes.map(toClassInfo)).hash;
  if (meta.manifestHash !== expected) return null;
  let m: Manifest;
  try {
    m = await readManifest(dir);
  } catch {
    return null;
  }
  if (m.hash !== expected) return null;
  for (let i = 0; i < m.size; i++) {
    const p = m.resolvePath(i);
    try {
      if (statSync(p).size === 0) return null;
    } catch {
      return null;
    }
  }
  return m;
}

/** Remove `<dir>.tmp-<pid>-…` / `<dir>.old-<pid>-…` folders left by processes that no longer run. */
async function removeStaleTemps(dir: string): Promise<void> {
  const parent = dirname(dir);
  const prefix = dir.slice(parent.length + 1) + '.';
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(?:tmp|old)-(\d+)-/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    await rm(join(parent, name), { recursive: true, force: true });
  }
}

/** Files a phantom folder may hold; anything else means the folder is someone else's. */
const PHANTOM_ENTRIES = new Set(['images', 'manifest.csv', 'classes.csv', 'dataset.json']);

/** Refuse to replace a folder that is not a (possibly broken) phantom dataset. */
function assertReplaceable(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) {
    throw new CbirError('exists and is not a folder', {
      file: dir,
      hint: 'choose another folder for the phantom dataset, or remove this file',
      code: 'phantom/not-a-folder',
    });
  }
  const foreign = readdirSync(dir).filter((n) => !PHANTOM_ENTRIES.has(n) && !n.startsWith('.'));
  if (foreign.length > 0) {
    throw new CbirError(
      `folder holds files that are not part of a phantom dataset (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); not replacing it`,
      { file: dir, hint: 'pass an empty or new folder for the phantom dataset', code: 'phantom/foreign-folder' },
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errorCode(e) === 'EPERM';
  }
}

function toClassInfo(c: PhantomClass) {
  return { name: c.name, modality: c.modality, region: c.region, label: c.label, kind: c.kind };
}

function resolveOptions(opts: PhantomOptions): Required<PhantomOptions> {
  const seed = opts.seed ?? PHANTOM_DEFAULT_SEED;
  const scale = opts.scale ?? PHANTOM_DEFAULT_SCALE;
  const size = opts.size ?? PHANTOM_DEFAULT_SIZE;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new CbirError(`phantom seed ${seed} is not an integer in 0..4294967295`, {
      hint: 'pass a whole number such as 0 or 42',
      code: 'phantom/bad-seed',
    });
  }
  checkScale(scale);
  checkSize(size);
  return { seed, scale, size };
}

function checkScale(scale: number): void {
  if (!Number.isFinite(scale) || scale <= 0 || scale > 100) {
    throw new CbirError(`phantom scale ${scale} is out of range`, {
      hint: 'use a number in (0, 100]; 1 gives 1,935 images, 0.1 a quick test set',
      code: 'phantom/bad-scale',
    });
  }
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 16 || size > 1024) {
    throw new CbirError(`phantom image size ${size} is out of range`, {
      hint: 'use a whole number of pixels from 16 to 1024 (default 64)',
      code: 'phantom/bad-size',
    });
  }
}

/** A 32-bit hash of three integers (murmur3 finaliser per step), for per-image seeds. */
function mix(a: number, b: number, c: number): number {
  let h = fmix(a >>> 0);
  h = fmix((h + Math.imul(b >>> 0, 0x9e3779b1)) >>> 0);
  h = fmix((h + Math.imul(c >>> 0, 0x85ebca77)) >>> 0);
  return h;
}

function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
