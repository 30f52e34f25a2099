import { existsSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { CbirError, errorMessage } from '../errors.js';
import { decodeImage, encodePng, type RgbImage } from '../images/decode.js';
import { readNpz, npyImage, type NpyArray } from '../images/npz.js';
import { decodeDicom } from '../images/dicom.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { contentOf, isUnreadable, openContentCache, readImageBytes, type ContentCache } from './content.js';
import { NEAR_DUPLICATE_MAD, SIMILAR_MAD } from './thumbs.js';
import {
  nearDuplicateStage,
  similarPairStage,
  similarWarning,
  nearPolicy,
  nearSections,
  type NearOutcome,
  type NearRecord,
  type SimilarOutcome,
} from './near.js';
import { withFsErrors } from '../util/fserrors.js';
import { writeFileAtomic } from '../util/fsx.js';
import {
  Manifest,
  NORMAL_LABEL,
  SPLITS,
  writeManifest,
  type ClassInfo,
  type ClassKind,
  type DatasetMeta,
  type ManifestEntry,
} from './manifest.js';
import { findDuplicates, type DuplicateGroup, type DuplicateItem } from './duplicates.js';
import { assignSplits, type SplitItem } from './splits.js';
import {
  scanSource,
  npzFileOf,
  npzLayout,
  matchLabels,
  labelFromRow,
  reportUnmatched,
  type Candidate,
  type LabelTable,
} from './scan.js';
import {
  countKinds,
  writeReport,
  REPORT_KINDS,
  type ReportRow,
  type ReportSummaryRow,
  type ReportContext,
} from './report.js';
import { checkFraction, checkMad, checkRatios, type SourceSpec } from './sources.js';

export interface PrepareOptions {
  /** Sources to combine into one manifest (see sources.ts). */
  sources: SourceSpec[];
  /** Output folder: manifest.csv, classes.csv, dataset.json, report.md, report.csv, images/. */
  out: string;
  /** Seed of the split assignment (default 0). */
  seed?: number;
  /** Train/val/test ratios for sources without a split (default 0.7/0.1/0.2). */
  ratios?: readonly [number, number, number];
  /** Fraction of a given train split carved out as val when a source gives train + test only (default 0.1). */
  valFraction?: number;
  /** Dataset name recorded in dataset.json. */
  name?: string;
  /** Images decoded at once (default min(4, cores + 1)). */
  concurrency?: number;
  onProgress?: ProgressListener;
  /** Recipe file the sources came from (recorded in dataset.json). */
  recipe?: string;
  /**
   * Near-duplicate threshold: images whose 16×16 thumbnails differ by a mean absolute difference
   * below this many gray levels (of 255) are copies of one picture, resolved like exact
   * duplicates (default NEAR_DUPLICATE_MAD = 2; 0 turns the check off). See data/thumbs.ts.
   */
  nearDuplicateMad?: number;
  /**
   * Similar-pair threshold: kept images in different splits whose thumbnails differ by less than
   * this (but are not near-identical) are reported as possible patient leaks, not removed
   * (default SIMILAR_MAD = 6; 0 turns the check off).
   */
  similarMad?: number;
  /** Written as `<out>/relevance.json` when given (the recipe's "relevance": ordinal orders, multi-label datasets). */
  relevance?: Record<string, unknown>;
}

export interface PrepareResult {
  manifest: Manifest;
  out: string;
  rows: ReportRow[];
  /** Report rows per kind. */
  counts: Record<string, number>;
  summary: ReportSummaryRow[];
  /** Candidate images found (before decoding, after label problems). */
  found: number;
  /** Exact duplicates (same bytes or decoded pixels). */
  duplicates: { groups: number; dropped: number; conflictGroups: number; conflictDropped: number };
  /** Near-duplicates (thumbnails within `threshold`), found among the images the exact stage kept. */
  nearDuplicates: NearOutcome['stats'];
  /** Similar images in different splits (possible patient leaks; reported, not removed). */
  similar: SimilarOutcome['stats'];
  /** Things the user should check (also in report.md), e.g. a source whose classes are all pathological. */
  warnings: string[];
}

/** What decoding one candidate gave. */
interface Decoded {
  byteHash: string;
  pixelHash: string;
  /** 16×16 grayscale thumbnail (the near-duplicate key). */
  thumb: Uint8Array;
  /** Manifest path of the image when prepare wrote it out (npz, dicom), relative to out. */
  written?: string;
  patientId?: string;
  sopInstanceUid?: string;
}

/**
 * Content cache of a prepare output folder (file,size,mtime_ms,byte_sha256,pixel_sha256,thumb16,version;
 * see data/content.ts): lets a re-run (or a run after a crash) skip decoding unchanged files.
 * npz images are keyed `file.npz#member[i]` with the .npz's size and mtime, reused only while
 * their written PNG exists.
 */
export const HASH_CACHE = '.prepare-cache.csv';

export { pixelHash } from './content.js';

function slash(p: string): string {
  return p.split(sep).join('/');
}

/** Run `fn` over 0..n-1 with at most `limit` in flight. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

function firstLine(e: unknown): string {
  return errorMessage(e)
    .split('\n')[0]
    .replace(/^<buffer>: /, '');
}

function classKind(spec: SourceSpec, label: string): ClassKind {
  if (spec.normal !== undefined) return label === spec.normal ? 'anatomical' : 'pathological';
  return NORMAL_LABEL.test(label) ? 'anatomical' : 'pathological';
}

/** Label code of row i of an npz label array (n), (n,1) or one-hot (n,k): the label codes set. */
function npzLabelCodes(arr: NpyArray, i: number): number[] {
  const k = arr.shape.length <= 1 ? 1 : arr.shape.slice(1).reduce((a, b) => a * b, 1);
  if (k === 1) return [Number(arr.data[i])];
  const out: number[] = [];
  for (let j = 0; j < k; j++) if (Number(arr.data[i * k + j]) !== 0) out.push(j);
  return out;
}

/** The arrays of an npz source, kept from scan to decode, with the file's size and mtime (the hash-cache key). */
interface NpzSource {
  arrays: Record<string, NpyArray>;
  file: string;
  size: number;
  mtimeMs: number;
}

/** List the images of an npz source (labels from its arrays); the arrays are kept for decoding. */
async function scanNpz(
  spec: SourceSpec,
  sourceIndex: number,
  rows: ReportRow[],
): Promise<{ candidates: Candidate[]; arrays: Record<string, NpyArray>; file: string }> {
  const file = await npzFileOf(spec);
  const arrays = await readNpz(file);
  const shapes = Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, a.shape]));
  const layout = npzLayout(file, shapes, spec);
  const candidates: Candidate[] = [];
  const name = basename(file);
  for (const part of layout.parts) {
    checkNpzImages(arrays[part.images], part.images, file);
    const lab = arrays[part.labels];
    const width = Math.max(5, String(part.n - 1).length);
    for (let i = 0; i < part.n; i++) {
      const rel = `${part.split ?? 'all'}/${String(i).padStart(width, '0')}.png`;
      const where = `${name}:${part.labels}[${i}]`;
      const names = npzLabelNames(spec, lab, i, where, file);
      if (names.length !== 1) {
        rows.push({
          kind: names.length === 0 ? 'unlabeled' : 'multi-label',
          dataset: spec.dataset,
          file: rel,
          class: names.join('+'),
          action: 'excluded',
          detail: `${where} ${names.length === 0 ? 'has no label' : `has ${names.length} labels (${names.join(', ')}); the study is single-label`}`,
        });
        continue;
      }
      const ref = `${spec.dataset}/${rel}`;
      candidates.push({
        source: sourceIndex,
        kind: 'npz',
        rel,
        ref,
        npz: { images: part.images, index: i },
        label: names[0],
        given: part.split,
        group: ref,
      });
    }
  }
  return { candidates, arrays, file };
}

/** An npz images member must be a uint8 stack (n, H, W) or (n, H, W, 3). */
function checkNpzImages(img: NpyArray, member: string, file: string): void {
  const chans = img.shape.length === 3 ? 1 : img.shape.length === 4 ? img.shape[3] : 0;
  if (img.dtype !== 'u1' || (chans !== 1 && chans !== 3)) {
    throw new CbirError(
      `${member} has dtype ${img.dtype} and shape (${img.shape.join(', ')}); expected uint8 (n, H, W) or (n, H, W, 3)`,
      { file, hint: 'save the images as uint8, as MedMNIST does', code: 'npz/not-images' },
    );
  }
}

/** The class labels of row i of an npz label array, named through the source's labels map. */
function npzLabelNames(spec: SourceSpec, lab: NpyArray, i: number, where: string, file: string): string[] {
  return npzLabelCodes(lab, i).map((c) => {
    const key = String(c);
    const mapped = spec.labels?.[key];
    if (mapped === undefined) {
      throw new CbirError(`label code ${key} of ${where} has no name in the source's labels map`, {
        file,
        row: i + 1,
        hint: `name the label codes, e.g. "labels": {"0": "normal", "1": "pneumonia"} (CLI: labels=0:normal;1:pneumonia)`,
        code: 'npz/needs-labels',
      });
    }
    return mapped;
  });
}

/** Hash-cache key of one npz image. */
function npzCacheKey(file: string, c: Candidate): string {
  return `${file}#${c.npz!.images}[${c.npz!.index}]`;
}

/** Manifest-relative path of an image that prepare writes out. */
function writtenPath(c: Candidate, dataset: string): string {
  const rel = c.kind === 'dicom' ? c.rel.slice(0, c.rel.length - extname(c.rel).length) + '.png' : c.rel;
  return `images/${dataset}/${rel}`;
}

// ---------------------------------------------------------------------------------------------
// The stages. One ImageRecord per candidate image flows through
//   scan → decode (+ hash) → label → classes → checks (duplicates) → split → write;
// a stage that excludes an image reports why in the report rows.

/** The checked options of a prepare run, shared by its stages. */
interface PrepareRun {
  out: string;
  seed: number;
  ratios: [number, number, number];
  valFraction: number;
  concurrency: number;
  sources: SourceSpec[];
  name?: string;
  recipe?: string;
  onProgress?: ProgressListener;
  /** Report rows, appended to by every stage (sorted by kind, dataset, file before writing). */
  rows: ReportRow[];
  /** Warnings, appended to by the stages. */
  warnings: string[];
  /** Near-duplicate and similar-pair thresholds (thumbnail MAD in gray levels; 0 = off). */
  nearDuplicateMad: number;
  similarMad: number;
  relevance?: Record<string, unknown>;
}

/** One candidate image on its way through the stages. */
interface ImageRecord {
  /** What the scan found; the label stage fills in label, given split and group of DICOM images. */
  candidate: Candidate;
  spec: SourceSpec;
  /** Set by the decode stage; undefined when decoding failed or the label stage excluded the image. */
  decoded?: Decoded;
}

/** A decoded image with a label: what the checks between hashing and splitting see. */
interface LabelledRecord extends ImageRecord {
  decoded: Decoded;
  label: string;
  /** `MODALITY/region/label`. */
  className: string;
}

/** A kept image with its split. */
interface PlacedRecord extends LabelledRecord {
  /** Split code (0 train, 1 val, 2 test). */
  split: number;
  /** SPLIT_METHOD code: how the image got its split. */
  method: number;
}

/** What the scan stage found. */
interface ScanOutcome {
  records: ImageRecord[];
  npz: Map<number, NpzSource>;
  /** Per DICOM source with a label CSV: the table to apply after decoding. */
  labelTables: Map<number, LabelTable>;
}

/** The classes of the run, in source then label order. */
interface ClassTable {
  byName: Map<string, ClassInfo>;
  order: ClassInfo[];
}

/**
 * What a check between hashing and splitting gives back: the records it keeps, and its
 * report.md lines. Duplicates are the first such check; later ones (near-duplicates,
 * patient leaks) take `kept` and return their own outcome.
 */
interface DuplicateOutcome {
  kept: LabelledRecord[];
  duplicateLines: string[];
  conflictLines: string[];
  stats: PrepareResult['duplicates'];
}

/**
 * Build a manifest from sources: scan every source, decode every image (a small concurrency
 * pool, progress through `onProgress`; corrupt files are reported and skipped), write npz and
 * DICOM images out as 8-bit PNGs under `<out>/images/<dataset>/`, remove exact duplicates by the
 * policy of `findDuplicates` (label conflicts dropped; otherwise the copy in the query split
 * kept), assign seeded stratified grouped splits where the source gives none (carving val out of
 * a given train split when the source gives train + test only), and write manifest.csv,
 * classes.csv, dataset.json (via writeManifest; file paths relative to `out`), report.md and
 * report.csv into `out`. Same sources and seed → same manifest.
 */
export async function prepareDataset(options: PrepareOptions): Promise<PrepareResult> {
  const run = checkOptions(options);
  const scan = await scanStage(run);
  await decodeStage(run, scan);
  labelStage(run, scan);
  const classes = classStage(run, scan.records);
  const labelled = labelledRecords(scan.records);
  // Checks between hashing and splitting plug in here, each taking the records the previous one kept.
  const dup = await duplicateStage(run, labelled);
  const near = await nearStage(run, dup.kept);
  const placed = splitStage(run, near.kept);
  const similar = similarStage(run, placed);
  return writeStage(run, scan.records, classes, placed, { ...dup, near: near.outcome, similar });
}

/** Check the options and resolve their defaults. */
function checkOptions(options: PrepareOptions): PrepareRun {
  if (!options.sources || options.sources.length === 0)
    throw new CbirError('no sources given', {
      hint: 'give one or more source specs, or a recipe JSON file',
      code: 'prepare/no-sources',
    });
  if (!options.out)
    throw new CbirError('no output folder given', { hint: 'give an output folder', code: 'prepare/no-out' });
  const out = resolve(options.out);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed))
    throw new CbirError(`seed ${seed} is not an integer`, {
      hint: 'use an integer seed, e.g. 0',
      code: 'prepare/bad-seed',
    });
  const ratios = checkRatios(options.ratios ?? [0.7, 0.1, 0.2]);
  const valFraction = checkFraction(options.valFraction ?? 0.1);
  const concurrency = Math.max(1, options.concurrency ?? Math.min(4, availableParallelism() + 1));
  const nearDuplicateMad = checkMad(options.nearDuplicateMad ?? NEAR_DUPLICATE_MAD);
  const similarMad = checkMad(options.similarMad ?? SIMILAR_MAD);
  return {
    out,
    seed,
    ratios,
    valFraction,
    concurrency,
    sources: options.sources,
    name: options.name,
    recipe: options.recipe,
    onProgress: options.onProgress,
    rows: [],
    warnings: [],
    nearDuplicateMad,
    similarMad,
    relevance: options.relevance,
  };
}

/** Scan stage: list the candidate images of every source (npz sources from their arrays). */
async function scanStage(run: PrepareRun): Promise<ScanOutcome> {
  const { sources, rows } = run;
  const candidates: Candidate[] = [];
  const npz = new Map<number, NpzSource>();
  const labelTables = new Map<number, LabelTable>();
  for (let s = 0; s < sources.length; s++) {
    const spec = sources[s];
    if (spec.type === 'npz') {
      const r = await scanNpz(spec, s, rows);
      const st = await stat(r.file);
      npz.set(s, { arrays: r.arrays, file: r.file, size: st.size, mtimeMs: st.mtimeMs });
      candidates.push(...r.candidates);
    } else {
      const r = await scanSource(spec, s);
      rows.push(...r.rows);
      candidates.push(...r.candidates);
      if (r.labelTable) labelTables.set(s, r.labelTable);
    }
  }
  checkRefClashes(sources, candidates);
  return { records: candidates.map((c) => ({ candidate: c, spec: sources[c.source] })), npz, labelTables };
}

/** Two sources must not name the same image (same dataset and relative path). */
function checkRefClashes(sources: SourceSpec[], candidates: Candidate[]): void {
  const refs = new Map<string, number>();
  for (const c of candidates) {
    const prev = refs.get(c.ref);
    if (prev !== undefined && prev !== c.source) {
      const spec = sources[c.source];
      throw new CbirError(`two sources of dataset "${spec.dataset}" both hold ${c.rel}`, {
        file: spec.origin,
        row: spec.originRow,
        hint: 'give the sources different dataset names, or point them at different folders',
        code: 'prepare/ref-clash',
      });
    }
    refs.set(c.ref, c.source);
  }
}

/**
 * Decode stage: decode and hash every image in a small pool (corrupt files become report rows),
 * with progress; the hash cache is rewritten with the current files even when a decode throws.
 */
async function decodeStage(run: PrepareRun, scan: ScanOutcome): Promise<void> {
  const { records } = scan;
  const progress = new ProgressTracker('decode', records.length, run.onProgress, 'images');
  const cache = await withFsErrors(run.out, 'making the output folder', async () => {
    await mkdir(run.out, { recursive: true });
    return openContentCache(join(run.out, HASH_CACHE));
  });
  const decoder = new Decoder(run.out, scan.npz, cache);
  try {
    await pool(records.length, run.concurrency, async (i) => {
      const r = records[i];
      try {
        await decoder.decode(r);
      } catch (e) {
        if (e instanceof CbirError && e.code?.startsWith('fs/')) throw e; // the output folder, not the image
        run.rows.push({
          kind: isUnreadable(e) ? 'unreadable' : 'corrupt',
          dataset: r.spec.dataset,
          file: r.candidate.rel,
          class: r.candidate.label ?? '',
          action: 'skipped',
          detail: firstLine(e),
        });
      }
      progress.add();
    });
    if (records.length === 0) progress.finish();
  } finally {
    await cache
      .close(
        records
          .map((r) => r.candidate)
          .filter((c) => c.kind !== 'dicom')
          .map((c) => (c.kind === 'image' ? resolve(c.file!) : npzCacheKey(scan.npz.get(c.source)!.file, c))),
      )
      .catch(() => {}); // the cache is only a speed-up; a failure to rewrite it must not hide the real error
  }
}

/**
 * Decodes one record (setting `record.decoded`): image files are read through the hash cache;
 * npz and DICOM images are written out as PNGs under `<out>/images/<dataset>/`.
 */
class Decoder {
  private readonly madeDirs = new Set<string>();

  constructor(
    private readonly out: string,
    private readonly npz: Map<number, NpzSource>,
    private readonly cache: ContentCache,
  ) {}

  /** Decode and hash one record by its kind. */
  async decode(r: ImageRecord): Promise<void> {
    if (r.candidate.kind === 'image') await this.decodeFile(r);
    else if (r.candidate.kind === 'npz') await this.decodeNpz(r);
    else await this.decodeDicomFile(r);
  }

  /**
   * An image file (png, jpeg, …), skipped when the cache has its size and mtime. Read safely
   * (readImageBytes: regular files only, non-blocking, at most 512 MiB).
   */
  private async decodeFile(r: ImageRecord): Promise<void> {
    const file = resolve(r.candidate.file!);
    const st = await stat(file).catch(() => null);
    const hit = st?.isFile() ? this.cache.get(file, st.size, st.mtimeMs) : undefined;
    if (hit) {
      r.decoded = { ...hit };
    } else {
      const bytes = await readImageBytes(file); // explains a file that stat could not see or that is not regular
      const img = await decodeImage(bytes, {}, file);
      r.decoded = contentOf(bytes, img);
      if (st) await this.cache.put(file, st.size, st.mtimeMs, r.decoded);
    }
  }

  /** One image of an npz stack, written out unless the cache has it and its PNG still exists. */
  private async decodeNpz(r: ImageRecord): Promise<void> {
    const c = r.candidate;
    const { arrays, file, size, mtimeMs } = this.npz.get(c.source)!;
    const key = npzCacheKey(file, c);
    const hit = this.cache.get(key, size, mtimeMs);
    const written = writtenPath(c, r.spec.dataset);
    if (hit && existsSync(join(this.out, written))) {
      r.decoded = { ...hit, written };
    } else {
      const img = npyImage(arrays[c.npz!.images], c.npz!.index, `${file}:${c.npz!.images}`);
      const { bytes } = await this.writeOut(r, img);
      r.decoded = { ...contentOf(bytes, img), written };
      await this.cache.put(key, size, mtimeMs, r.decoded);
    }
  }

  /** A DICOM file (never cached: its PatientID and SOPInstanceUID are needed too). */
  private async decodeDicomFile(r: ImageRecord): Promise<void> {
    const bytes = await readImageBytes(r.candidate.file!);
    const { image, meta } = await decodeDicom(bytes, r.spec.window ? { window: r.spec.window } : {});
    const { written } = await this.writeOut(r, image);
    r.decoded = {
      ...contentOf(bytes, image),
      written,
      patientId: meta.patientId,
      sopInstanceUid: meta.sopInstanceUid,
    };
  }

  /** Write an image out as PNG at its manifest path. */
  private async writeOut(r: ImageRecord, img: RgbImage): Promise<{ written: string; bytes: Buffer }> {
    const written = writtenPath(r.candidate, r.spec.dataset);
    const abs = join(this.out, written);
    const d = dirname(abs);
    const bytes = await encodePng(img);
    await withFsErrors(abs, 'writing an image out', async () => {
      if (!this.madeDirs.has(d)) {
        await mkdir(d, { recursive: true });
        this.madeDirs.add(d);
      }
      await writeFile(abs, bytes);
    });
    return { written, bytes };
  }
}

/** Label stage: DICOM labels from a label CSV (by file name and/or SOPInstanceUID), groups by PatientID. */
function labelStage(run: PrepareRun, scan: ScanOutcome): void {
  for (const [s, table] of scan.labelTables) applyLabelTable(run, scan.records, s, table);
  for (const r of scan.records) {
    const c = r.candidate;
    if (c.kind === 'dicom' && r.decoded && !r.spec.group && r.decoded.patientId)
      c.group = `${r.spec.dataset}:patient:${r.decoded.patientId}`;
  }
}

/** Label the decoded images of DICOM source `s` from its label table; unlabelled ones are excluded. */
function applyLabelTable(run: PrepareRun, records: ImageRecord[], s: number, table: LabelTable): void {
  const spec = run.sources[s];
  const mine = records.filter((r) => r.candidate.source === s && r.decoded);
  const mode = spec.key ?? 'auto';
  const { byFile, unmatched } = matchLabels(
    table,
    mine.map((r) => r.candidate.file!),
    (k) => (mode !== 'file' && mine[k].decoded!.sopInstanceUid ? [mine[k].decoded!.sopInstanceUid!] : []),
    mode !== 'sop',
  );
  mine.forEach((r, k) => {
    const label = labelFromRow(byFile[k], { dataset: spec.dataset, rel: r.candidate.rel, csv: table.file }, run.rows);
    if (label === undefined) {
      r.decoded = undefined;
      return;
    }
    r.candidate.label = label;
    if (byFile[k]!.split) r.candidate.given = byFile[k]!.split;
  });
  reportUnmatched(unmatched, spec, table.file, run.rows);
}

/** Classes stage: one class per modality/region/label found, anatomical or pathological by the source's normal label. */
function classStage(run: PrepareRun, records: ImageRecord[]): ClassTable {
  const byName = new Map<string, ClassInfo>();
  const order: ClassInfo[] = [];
  for (let s = 0; s < run.sources.length; s++) {
    const spec = run.sources[s];
    const labels = [
      ...new Set(
        records
          .filter((r) => r.candidate.source === s && r.decoded && r.candidate.label !== undefined)
          .map((r) => r.candidate.label!),
      ),
    ].sort();
    if (spec.normal !== undefined && !labels.includes(spec.normal)) {
      throw new CbirError(
        `${spec.dataset}: normal class "${spec.normal}" is not among the labels found (${labels.join(', ') || 'none'})`,
        {
          file: spec.origin,
          row: spec.originRow,
          hint: "set normal= to the label of the region's normal class, spelled as the folder or label map has it",
          code: 'source/bad-normal',
        },
      );
    }
    warnIfNoNormal(run, spec, labels);
    for (const label of labels) {
      const name = `${spec.modality}/${spec.region}/${label}`;
      const kind = classKind(spec, label);
      const prev = byName.get(name);
      if (prev) {
        if (prev.kind !== kind)
          throw new CbirError(`class ${name} is ${prev.kind} in one source and ${kind} in ${spec.dataset}`, {
            file: spec.origin,
            row: spec.originRow,
            hint: 'make the sources agree on the normal label (normal=...)',
            code: 'source/kind-clash',
          });
        continue;
      }
      const info: ClassInfo = { name, modality: spec.modality, region: spec.region, label, kind };
      byName.set(name, info);
      order.push(info);
    }
  }
  return { byName, order };
}

/**
 * A source without a normal label whose labels all look pathological: every one of its classes
 * becomes pathological, which is right only when the source has no normal class. Say so.
 */
function warnIfNoNormal(run: PrepareRun, spec: SourceSpec, labels: string[]): void {
  if (spec.normal !== undefined || labels.length === 0 || labels.some((l) => NORMAL_LABEL.test(l))) return;
  const where = spec.origin ? ` (${spec.origin}${spec.originRow !== undefined ? `:${spec.originRow}` : ''})` : '';
  run.warnings.push(
    `source ${spec.type}:${spec.dataset}${where} names no normal class and none of its labels (${labels.join(', ')}) looks like one, so all its classes are pathological; if one is the region's normal class, set the source's "normal" key to that label`,
  );
}

/** The records that decoded and have a label, in scan order, with their class names. */
function labelledRecords(records: ImageRecord[]): LabelledRecord[] {
  return records
    .filter((r) => r.decoded && r.candidate.label !== undefined)
    .map((r) => ({
      ...r,
      decoded: r.decoded!,
      label: r.candidate.label!,
      className: `${r.spec.modality}/${r.spec.region}/${r.candidate.label}`,
    }));
}

/** `ref` of a duplicate copy, with its given split, as report.md shows it. */
function dupWhere(d: DuplicateItem): string {
  return `\`${d.ref}\`${d.split ? ` (${d.split})` : ''}`;
}

/**
 * Duplicates stage: exact duplicates by byte or pixel hash (`findDuplicates`); label conflicts
 * are dropped entirely, otherwise one copy is kept. Written-out images of dropped copies are removed.
 */
async function duplicateStage(run: PrepareRun, records: LabelledRecord[]): Promise<DuplicateOutcome> {
  const items: DuplicateItem[] = records.map((r) => ({
    ref: r.candidate.ref,
    byteHash: r.decoded.byteHash,
    pixelHash: r.decoded.pixelHash,
    className: r.className,
    split: r.candidate.given,
  }));
  const dup = findDuplicates(items);
  const duplicateLines: string[] = [];
  const conflictLines: string[] = [];
  let dropped = 0;
  let conflictDropped = 0;
  for (const g of dup.groups) {
    if (g.conflict) {
      conflictLines.push(reportConflict(run, records, items, g));
      conflictDropped += g.members.length;
    } else {
      duplicateLines.push(reportDuplicate(run, records, items, g));
      dropped += g.members.length - 1;
    }
  }
  const kept = records.filter((_, k) => dup.drop[k] === 0);
  // Written-out images of dropped copies are removed.
  for (let k = 0; k < records.length; k++) {
    const w = records[k].decoded.written;
    if (dup.drop[k] !== 0 && w) await rm(join(run.out, w), { force: true });
  }
  const groups = dup.groups.filter((g) => !g.conflict).length;
  return {
    kept,
    duplicateLines,
    conflictLines,
    stats: { groups, dropped, conflictGroups: conflictLines.length, conflictDropped },
  };
}

/** How the copies of a group are identical, in words. */
function howIdentical(g: DuplicateGroup): string {
  return g.identical === 'bytes' ? 'identical bytes' : 'identical decoded pixels';
}

/** Report rows for a label-conflict group (every copy dropped); returns its report.md line. */
function reportConflict(run: PrepareRun, records: LabelledRecord[], items: DuplicateItem[], g: DuplicateGroup): string {
  const how = howIdentical(g);
  const line = `- ${g.members.map((k) => `${dupWhere(items[k])} as ${items[k].className}`).join('; ')} — ${how}; all ${g.members.length} copies dropped`;
  for (const k of g.members) {
    const r = records[k];
    const others = g.members.filter((o) => o !== k).map((o) => `${items[o].ref} (${items[o].className})`);
    run.rows.push({
      kind: 'label-conflict',
      dataset: r.spec.dataset,
      file: r.candidate.rel,
      class: r.label,
      action: 'dropped',
      detail: `${how} to ${others.join(', ')}; classes differ (${g.classes.join(' vs ')}), all copies dropped`,
    });
  }
  return line;
}

/** Report rows for a duplicate group (first member kept, the rest dropped); returns its report.md line. */
function reportDuplicate(
  run: PrepareRun,
  records: LabelledRecord[],
  items: DuplicateItem[],
  g: DuplicateGroup,
): string {
  const how = howIdentical(g);
  const kept = g.members[0];
  const rest = g.members.slice(1);
  const ki = items[kept];
  const line = `- kept ${dupWhere(ki)}; dropped ${rest.map((o) => dupWhere(items[o])).join(', ')} — ${how}, class ${g.classes[0]}`;
  const kr = records[kept];
  run.rows.push({
    kind: 'duplicate-kept',
    dataset: kr.spec.dataset,
    file: kr.candidate.rel,
    class: kr.label,
    action: 'kept',
    detail: `${how} to ${rest.map((o) => items[o].ref + (items[o].split ? ` (${items[o].split})` : '')).join(', ')}; this copy kept${ki.split ? ` (split ${ki.split})` : ''}`,
  });
  for (const k of rest) {
    const r = records[k];
    const ik = items[k];
    run.rows.push({
      kind: 'duplicate-dropped',
      dataset: r.spec.dataset,
      file: r.candidate.rel,
      class: r.label,
      action: 'dropped',
      detail: `${how} to ${ki.ref}${ki.split ? ` (kept, in ${ki.split})` : ' (kept)'}${ik.split && ki.split && ik.split !== ki.split ? `; this copy was in ${ik.split}` : ''}`,
    });
  }
  return line;
}

/** A labelled record as the near-duplicate checks see it. */
function nearRecord(r: LabelledRecord): NearRecord {
  return {
    ref: r.candidate.ref,
    dataset: r.spec.dataset,
    rel: r.candidate.rel,
    label: r.label,
    className: r.className,
    thumb: r.decoded.thumb,
  };
}

/**
 * Near-duplicate stage (after the exact one): thumbnails within the near threshold are grouped
 * and resolved by the duplicate policy (`nearDuplicateStage`); written-out images of dropped
 * copies are removed.
 */
async function nearStage(
  run: PrepareRun,
  records: LabelledRecord[],
): Promise<{ kept: LabelledRecord[]; outcome: NearOutcome }> {
  const outcome = nearDuplicateStage(
    records.map(nearRecord),
    records.map((r) => r.candidate.given),
    run.nearDuplicateMad,
  );
  run.rows.push(...outcome.rows);
  for (let k = 0; k < records.length; k++) {
    const w = records[k].decoded.written;
    if (outcome.drop[k] !== 0 && w) await rm(join(run.out, w), { force: true });
  }
  return { kept: records.filter((_, k) => outcome.drop[k] === 0), outcome };
}

/** Similar-pair stage (after splitting): similar images in different splits are reported (kept) and warned about. */
function similarStage(run: PrepareRun, placed: PlacedRecord[]): SimilarOutcome {
  const split = Uint8Array.from(placed, (r) => r.split);
  const outcome = similarPairStage(placed.map(nearRecord), split, run.similarMad);
  run.rows.push(...outcome.rows);
  const w = similarWarning(outcome.stats);
  if (w) run.warnings.push(w);
  return outcome;
}

/** Split stage: seeded stratified (dataset + class) grouped splits, keeping given splits. */
function splitStage(run: PrepareRun, records: LabelledRecord[]): PlacedRecord[] {
  const items: SplitItem[] = records.map((r) => ({
    stratum: `${r.spec.dataset}\u0000${r.className}`,
    group: r.candidate.group,
    given: r.candidate.given,
    carve: r.candidate.carve,
  }));
  const assigned = assignSplits(items, { ratios: run.ratios, valFraction: run.valFraction, seed: run.seed });
  return records.map((r, k) => ({ ...r, split: assigned.split[k], method: assigned.method[k] }));
}

/** Write stage: manifest (ordered by source then ref), split table, summary, then the files. */
async function writeStage(
  run: PrepareRun,
  records: ImageRecord[],
  classes: ClassTable,
  placed: PlacedRecord[],
  dup: DuplicateOutcome & { near: NearOutcome; similar: SimilarOutcome },
): Promise<PrepareResult> {
  const ordered = placed
    .slice()
    .sort(
      (a, b) =>
        a.candidate.source - b.candidate.source ||
        (a.candidate.ref < b.candidate.ref ? -1 : a.candidate.ref > b.candidate.ref ? 1 : 0),
    );
  const { manifest, meta } = buildManifest(run, ordered, classes);
  const splits = splitTable(run, ordered, classes);
  const summary = summarize(run, records, ordered);
  if (manifest.size === 0)
    throw new CbirError('no images left to write a manifest', {
      file: join(run.out, 'report.csv'),
      hint: 'see the report: every image was corrupt, unlabeled or a duplicate',
      code: 'prepare/empty',
    });
  sortRows(run);
  await withFsErrors(run.out, 'writing the manifest and report', async () => {
    await writeManifest(run.out, manifest, meta);
    if (run.relevance)
      await writeFileAtomic(join(run.out, 'relevance.json'), JSON.stringify(run.relevance, null, 2) + '\n');
    await writeReport(run.out, {
      title: run.name ? `Data preparation report: ${run.name}` : undefined,
      seed: run.seed,
      ratios: run.ratios,
      valFraction: run.valFraction,
      sources: run.sources.map((s) => ({ dataset: s.dataset, type: s.type, path: s.path })),
      imagesRoot: manifest.imagesRoot,
      summary,
      splits,
      rows: run.rows,
      duplicateLines: dup.duplicateLines,
      conflictLines: dup.conflictLines,
      warnings: run.warnings,
      policy: nearPolicy(run.nearDuplicateMad, run.similarMad),
      sections: nearSections(dup.near, dup.similar),
    });
  });
  return {
    manifest,
    out: run.out,
    rows: run.rows,
    counts: countKinds(run.rows),
    summary,
    found: records.length,
    duplicates: dup.stats,
    nearDuplicates: dup.near.stats,
    similar: dup.similar.stats,
    warnings: run.warnings,
  };
}

/**
 * The manifest of the placed images and the dataset.json metadata. File paths are relative to
 * the images root (`imagesRoot`): the deepest folder holding every source (images that prepare
 * writes out count as being in `out`), so they stay short and the images can move by changing
 * one field. The metadata records each source spec in full, so it can be rebuilt.
 */
function buildManifest(
  run: PrepareRun,
  ordered: PlacedRecord[],
  classes: ClassTable,
): { manifest: Manifest; meta: DatasetMeta } {
  const absolute = ordered.map((r) => (r.decoded.written ? join(run.out, r.decoded.written) : r.candidate.file!));
  const root = commonFolder([...run.sources.map((s) => sourceRoot(run, s)), ...absolute.map((f) => dirname(f))]);
  const entries: ManifestEntry[] = ordered.map((r, k) => ({
    filepath: slash(relative(root, absolute[k])),
    dataset: r.spec.dataset,
    split: SPLITS[r.split],
    modality: r.spec.modality,
    anatomicRegion: r.spec.region,
    className: r.className,
  }));
  const usedClasses = new Set(entries.map((e) => e.className));
  const used = classes.order.filter((c) => usedClasses.has(c.name));
  const meta = {
    name: run.name,
    createdAt: new Date().toISOString(),
    seed: run.seed,
    ratios: run.ratios,
    valFraction: run.valFraction,
    recipe: run.recipe,
    nearDuplicateMad: run.nearDuplicateMad,
    similarMad: run.similarMad,
    sources: run.sources.map(recordedSpec),
  };
  const manifest = Manifest.fromEntries(entries, used, { dir: run.out, imagesRoot: root, meta });
  return { manifest, meta };
}

/** Where a source's images are: its path (a file's folder), or `out` for sources whose images prepare writes out. */
function sourceRoot(run: PrepareRun, s: SourceSpec): string {
  if (s.type === 'npz' || s.type === 'dicom') return run.out;
  return s.path;
}

/** The deepest folder that holds every one of `dirs` (absolute folders). */
export function commonFolder(dirs: readonly string[]): string {
  let common = resolve(dirs[0]).split(sep);
  for (const d of dirs.slice(1)) {
    const parts = resolve(d).split(sep);
    let k = 0;
    while (k < common.length && k < parts.length && common[k] === parts[k]) k++;
    common = common.slice(0, k);
  }
  return common.join(sep) || sep;
}

/** A source spec as dataset.json records it: every key the spec gave (a valid source spec again), without where it came from. */
function recordedSpec(s: SourceSpec): Record<string, unknown> {
  const { origin: _origin, originRow: _row, ...spec } = s;
  return spec;
}

/** Rank of each dataset: the index of its first source. */
function datasetRanks(sources: SourceSpec[]): Map<string, number> {
  const rank = new Map<string, number>();
  sources.forEach((s, i) => {
    if (!rank.has(s.dataset)) rank.set(s.dataset, i);
  });
  return rank;
}

/** Split counts per dataset and class, with how the splits came about; adds a split-assigned row for each. */
function splitTable(run: PrepareRun, ordered: PlacedRecord[], classes: ClassTable): ReportContext['splits'] {
  const table: ReportContext['splits'] = [];
  const dsRank = datasetRanks(run.sources);
  const perClass = new Map<string, { dataset: string; cls: string; n: number[]; how: Map<string, number> }>();
  const methodName = [
    'split given by the source',
    'seeded stratified split',
    `given train, ${Math.round(run.valFraction * 1000) / 10} % carved out as val`,
    'split inherited from its group',
  ];
  for (const r of ordered) {
    const key = `${r.spec.dataset}\u0000${r.className}`;
    let p = perClass.get(key);
    if (!p) {
      p = { dataset: r.spec.dataset, cls: r.className, n: [0, 0, 0], how: new Map() };
      perClass.set(key, p);
    }
    p.n[r.split]++;
    const m = methodName[r.method];
    p.how.set(m, (p.how.get(m) ?? 0) + 1);
  }
  const classRank = new Map(classes.order.map((c, k) => [c.name, k]));
  for (const p of [...perClass.values()].sort(
    (a, b) => dsRank.get(a.dataset)! - dsRank.get(b.dataset)! || classRank.get(a.cls)! - classRank.get(b.cls)!,
  )) {
    const how = [...p.how.entries()].map(([m, n]) => `${m} (${n})`).join('; ');
    table.push({
      dataset: p.dataset,
      className: p.cls,
      kind: classes.byName.get(p.cls)!.kind,
      train: p.n[0],
      val: p.n[1],
      test: p.n[2],
      how,
    });
    run.rows.push({
      kind: 'split-assigned',
      dataset: p.dataset,
      file: '',
      class: p.cls,
      action: 'assigned',
      detail: `train ${p.n[0]} / val ${p.n[1]} / test ${p.n[2]}; ${how}`,
    });
  }
  return table;
}

/** Per dataset: images found, kept and per split. */
function summarize(run: PrepareRun, records: ImageRecord[], ordered: PlacedRecord[]): ReportSummaryRow[] {
  const summary: ReportSummaryRow[] = [];
  for (const ds of [...new Set(run.sources.map((s) => s.dataset))]) {
    const found = records.filter((r) => r.spec.dataset === ds).length;
    const n = [0, 0, 0];
    for (const r of ordered) if (r.spec.dataset === ds) n[r.split]++;
    summary.push({ dataset: ds, found, kept: n[0] + n[1] + n[2], train: n[0], val: n[1], test: n[2] });
  }
  return summary;
}

/** Put the report rows in a fixed order: by kind, dataset, file, class. */
function sortRows(run: PrepareRun): void {
  const kindRank = (k: string) => {
    const r = (REPORT_KINDS as readonly string[]).indexOf(k);
    return r < 0 ? REPORT_KINDS.length : r;
  };
  const dsRank = datasetRanks(run.sources);
  run.rows.sort(
    (a, b) =>
      kindRank(a.kind) - kindRank(b.kind) ||
      (dsRank.get(a.dataset) ?? 0) - (dsRank.get(b.dataset) ?? 0) ||
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      (a.class < b.class ? -1 : a.class > b.class ? 1 : 0),
  );
}

/** A short text summary of a prepare run (printed by the CLI). */
export function formatPrepareSummary(r: PrepareResult): string {
  const L: string[] = [];
  const w = Math.max(7, ...r.summary.map((s) => s.dataset.length));
  L.push(
    `${'dataset'.padEnd(w)}  ${'found'.padStart(6)}  ${'kept'.padStart(6)}  ${'train'.padStart(6)}  ${'val'.padStart(6)}  ${'test'.padStart(6)}`,
  );
  const t = [0, 0, 0, 0, 0];
  for (const s of r.summary) {
    L.push(
      `${s.dataset.padEnd(w)}  ${String(s.found).padStart(6)}  ${String(s.kept).padStart(6)}  ${String(s.train).padStart(6)}  ${String(s.val).padStart(6)}  ${String(s.test).padStart(6)}`,
    );
    t[0] += s.found;
    t[1] += s.kept;
    t[2] += s.train;
    t[3] += s.val;
    t[4] += s.test;
  }
  L.push(`${'all'.padEnd(w)}  ${t.map((x) => String(x).padStart(6)).join('  ')}`);
  const c = r.counts;
  L.push(
    '',
    `classes: ${r.manifest.classes.length} (${r.manifest.classes.filter((x) => x.kind === 'anatomical').length} anatomical)`,
  );
  L.push(
    `duplicates: ${r.duplicates.groups} groups, ${r.duplicates.dropped} copies dropped; label conflicts: ${r.duplicates.conflictGroups} groups, ${r.duplicates.conflictDropped} images dropped`,
  );
  const nd = r.nearDuplicates;
  L.push(
    nd.threshold > 0
      ? `near-duplicates (thumbnail MAD < ${nd.threshold}/255): ${nd.groups} groups, ${nd.dropped} copies dropped; label conflicts: ${nd.conflictGroups} groups, ${nd.conflictDropped} images dropped`
      : 'near-duplicates: not checked (off)',
  );
  const sm = r.similar;
  L.push(
    sm.threshold > 0
      ? `similar images across splits (thumbnail MAD < ${sm.threshold}/255, kept): ${sm.pairs} pairs, ${sm.queries} val/test images`
      : 'similar images across splits: not checked (off)',
  );
  L.push(
    `corrupt: ${c.corrupt ?? 0}; unreadable: ${c.unreadable ?? 0}; missing label: ${c['missing-label'] ?? 0}; missing file: ${c['missing-file'] ?? 0}; multi-label: ${c['multi-label'] ?? 0}; unlabeled: ${c.unlabeled ?? 0}; ignored hidden: ${c['ignored-hidden'] ?? 0}; ignored non-image: ${c['ignored-non-image'] ?? 0}; not regular files: ${c['ignored-special'] ?? 0}; link loops: ${c['ignored-loop'] ?? 0}; bad names: ${c['bad-name'] ?? 0}`,
  );
  L.push(`image paths relative to ${r.manifest.imagesRoot}`);
  for (const w of r.warnings) L.push(`warning: ${w}`);
  L.push(`wrote ${join(r.out, 'manifest.csv')}, classes.csv, dataset.json, report.md, report.csv`);
  return L.join('\n');
}
