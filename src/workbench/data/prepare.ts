import { existsSync, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { CbirError, isCbirError } from '../errors.js';
import { decodeImage, encodePng, type RgbImage } from '../images/decode.js';
import { readNpz, npyImage, type NpyArray } from '../images/npz.js';
import { decodeDicom } from '../images/dicom.js';
import { sha256, writeFileAtomic } from '../util/fsx.js';
import { csvLine, readCsvRecords } from '../util/csv.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import {
  Manifest,
  NORMAL_LABEL,
  SPLITS,
  writeManifest,
  type ClassInfo,
  type ClassKind,
  type ManifestEntry,
} from './manifest.js';
import { findDuplicates, type DuplicateItem } from './duplicates.js';
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
import { checkFraction, checkRatios, type SourceSpec } from './sources.js';

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
  duplicates: { groups: number; dropped: number; conflictGroups: number; conflictDropped: number };
}

/** What decoding one candidate gave. */
interface Decoded {
  byteHash: string;
  pixelHash: string;
  /** Manifest path of the image when prepare wrote it out (npz, dicom), relative to out. */
  written?: string;
  patientId?: string;
  sopInstanceUid?: string;
}

/** Hash cache of a prepare output folder: lets a re-run (or a run after a crash) skip decoding unchanged files. */
export const HASH_CACHE = '.prepare-cache.csv';
/** Bump when decoding or hashing changes, so old caches are ignored. */
const HASH_CACHE_VERSION = '1';

interface HashCache {
  get(file: string, size: number, mtimeMs: number): Decoded | undefined;
  put(file: string, size: number, mtimeMs: number, d: Decoded): Promise<void>;
  /** Rewrite the cache with only the entries of `keep`, and close it. */
  close(keep: string[]): Promise<void>;
}

/**
 * Open `<out>/.prepare-cache.csv` (file,size,mtime_ms,byte_sha256,pixel_sha256,version): entries
 * whose file size and mtime still match are reused (npz images: keyed `file.npz#member[i]` with
 * the .npz's size and mtime, reused only while their written PNG exists); new entries are appended as they are made,
 * so an interrupted run resumes where it stopped.
 */
async function openHashCache(path: string): Promise<HashCache> {
  const map = new Map<string, { size: number; mtimeMs: string; d: Decoded }>();
  if (existsSync(path)) {
    try {
      let first = true;
      for await (const { cells } of readCsvRecords(path)) {
        if (first) {
          first = false;
          continue;
        }
        if (cells.length !== 6 || cells[5] !== HASH_CACHE_VERSION) continue;
        map.set(cells[0], {
          size: Number(cells[1]),
          mtimeMs: cells[2],
          d: { byteHash: cells[3], pixelHash: cells[4] },
        });
      }
    } catch {
      map.clear(); // a damaged cache is only a lost speed-up
    }
  }
  const header = csvLine(['file', 'size', 'mtime_ms', 'byte_sha256', 'pixel_sha256', 'version']);
  if (!existsSync(path)) await writeFile(path, header + '\n');
  const stream = createWriteStream(path, { flags: 'a' });
  return {
    get(file, size, mtimeMs) {
      const e = map.get(file);
      return e && e.size === size && e.mtimeMs === String(mtimeMs) ? e.d : undefined;
    },
    async put(file, size, mtimeMs, d) {
      map.set(file, { size, mtimeMs: String(mtimeMs), d });
      if (!stream.write(csvLine([file, size, String(mtimeMs), d.byteHash, d.pixelHash, HASH_CACHE_VERSION]) + '\n'))
        await once(stream, 'drain');
    },
    async close(keep) {
      stream.end();
      await once(stream, 'finish');
      const lines = [header];
      for (const f of keep) {
        const e = map.get(f);
        if (e) lines.push(csvLine([f, e.size, e.mtimeMs, e.d.byteHash, e.d.pixelHash, HASH_CACHE_VERSION]));
      }
      await writeFileAtomic(path, lines.join('\n') + '\n');
    },
  };
}

/** sha256 of decoded pixels: dimensions then RGB bytes. */
export function pixelHash(img: RgbImage): string {
  return sha256(
    Buffer.concat([
      Buffer.from(`${img.width}x${img.height}\n`),
      Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength),
    ]),
  );
}

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
  const msg = isCbirError(e) ? e.message : ((e as Error)?.message ?? String(e));
  return msg.split('\n')[0].replace(/^<buffer>: /, '');
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
    const img = arrays[part.images];
    const chans = img.shape.length === 3 ? 1 : img.shape.length === 4 ? img.shape[3] : 0;
    if (img.dtype !== 'u1' || (chans !== 1 && chans !== 3)) {
      throw new CbirError(
        `${part.images} has dtype ${img.dtype} and shape (${img.shape.join(', ')}); expected uint8 (n, H, W) or (n, H, W, 3)`,
        { file, hint: 'save the images as uint8, as MedMNIST does', code: 'npz/not-images' },
      );
    }
    const lab = arrays[part.labels];
    const oneHot = lab.shape.length > 1 && lab.shape.slice(1).reduce((a, b) => a * b, 1) > 1;
    const width = Math.max(5, String(part.n - 1).length);
    for (let i = 0; i < part.n; i++) {
      const rel = `${part.split ?? 'all'}/${String(i).padStart(width, '0')}.png`;
      const where = `${name}:${part.labels}[${i}]`;
      const codes = npzLabelCodes(lab, i);
      const names = codes.map((c) => {
        const key = oneHot ? String(c) : String(c);
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

/** Hash-cache key of one npz image. */
function npzCacheKey(file: string, c: Candidate): string {
  return `${file}#${c.npz!.images}[${c.npz!.index}]`;
}

/** Manifest-relative path of an image that prepare writes out. */
function writtenPath(c: Candidate, dataset: string): string {
  const rel = c.kind === 'dicom' ? c.rel.slice(0, c.rel.length - extname(c.rel).length) + '.png' : c.rel;
  return `images/${dataset}/${rel}`;
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
  if (!options.sources || options.sources.length === 0)
    throw new CbirError('no sources given', {
      hint: 'pass --source <spec> (one or more) or --recipe <file.json>',
      code: 'prepare/no-sources',
    });
  if (!options.out) throw new CbirError('no output folder given', { hint: 'pass --out <dir>', code: 'prepare/no-out' });
  const out = resolve(options.out);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed))
    throw new CbirError(`seed ${seed} is not an integer`, {
      hint: 'pass --seed 0 (any integer)',
      code: 'prepare/bad-seed',
    });
  const ratios = checkRatios(options.ratios ?? [0.7, 0.1, 0.2]);
  const valFraction = checkFraction(options.valFraction ?? 0.1);
  const concurrency = Math.max(1, options.concurrency ?? Math.min(4, availableParallelism() + 1));
  const sources = options.sources;

  // 1. Scan.
  const rows: ReportRow[] = [];
  const candidates: Candidate[] = [];
  const npzArrays = new Map<
    number,
    { arrays: Record<string, NpyArray>; file: string; size: number; mtimeMs: number }
  >();
  const labelTables = new Map<number, LabelTable>();
  for (let s = 0; s < sources.length; s++) {
    const spec = sources[s];
    if (spec.type === 'npz') {
      const r = await scanNpz(spec, s, rows);
      const st = await stat(r.file);
      npzArrays.set(s, { arrays: r.arrays, file: r.file, size: st.size, mtimeMs: st.mtimeMs });
      candidates.push(...r.candidates);
    } else {
      const r = await scanSource(spec, s);
      rows.push(...r.rows);
      candidates.push(...r.candidates);
      if (r.labelTable) labelTables.set(s, r.labelTable);
    }
  }
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

  // 2. Decode and hash every image.
  await mkdir(out, { recursive: true });
  const decoded: (Decoded | undefined)[] = new Array(candidates.length);
  const progress = new ProgressTracker('decode', candidates.length, options.onProgress, 'images');
  const madeDirs = new Set<string>();
  const writeOut = async (c: Candidate, img: RgbImage): Promise<{ written: string; bytes: Buffer }> => {
    const written = writtenPath(c, sources[c.source].dataset);
    const abs = join(out, written);
    const d = dirname(abs);
    if (!madeDirs.has(d)) {
      await mkdir(d, { recursive: true });
      madeDirs.add(d);
    }
    const bytes = await encodePng(img);
    await writeFile(abs, bytes);
    return { written, bytes };
  };
  const cache = await openHashCache(join(out, HASH_CACHE));
  try {
    await pool(candidates.length, concurrency, async (i) => {
      const c = candidates[i];
      const spec = sources[c.source];
      try {
        if (c.kind === 'image') {
          const st = await stat(c.file!);
          const hit = cache.get(c.file!, st.size, st.mtimeMs);
          if (hit) {
            decoded[i] = hit;
          } else {
            const bytes = await readFile(c.file!);
            const img = await decodeImage(bytes, {}, c.file!);
            decoded[i] = { byteHash: sha256(bytes), pixelHash: pixelHash(img) };
            await cache.put(c.file!, st.size, st.mtimeMs, decoded[i]!);
          }
        } else if (c.kind === 'npz') {
          const { arrays, file, size, mtimeMs } = npzArrays.get(c.source)!;
          const key = npzCacheKey(file, c);
          const hit = cache.get(key, size, mtimeMs);
          const written = writtenPath(c, spec.dataset);
          if (hit && existsSync(join(out, written))) {
            decoded[i] = { ...hit, written };
          } else {
            const img = npyImage(arrays[c.npz!.images], c.npz!.index, `${file}:${c.npz!.images}`);
            const { bytes } = await writeOut(c, img);
            decoded[i] = { byteHash: sha256(bytes), pixelHash: pixelHash(img), written };
            await cache.put(key, size, mtimeMs, decoded[i]!);
          }
        } else {
          const bytes = await readFile(c.file!);
          const { image, meta } = await decodeDicom(bytes, spec.window ? { window: spec.window } : {});
          const { written } = await writeOut(c, image);
          decoded[i] = {
            byteHash: sha256(bytes),
            pixelHash: pixelHash(image),
            written,
            patientId: meta.patientId,
            sopInstanceUid: meta.sopInstanceUid,
          };
        }
      } catch (e) {
        rows.push({
          kind: 'corrupt',
          dataset: spec.dataset,
          file: c.rel,
          class: c.label ?? '',
          action: 'skipped',
          detail: firstLine(e),
        });
      }
      progress.add();
    });
    if (candidates.length === 0) progress.finish();
  } finally {
    await cache.close(
      candidates
        .filter((c) => c.kind !== 'dicom')
        .map((c) => (c.kind === 'image' ? c.file! : npzCacheKey(npzArrays.get(c.source)!.file, c))),
    );
  }

  // 3. DICOM: labels from a label CSV (by file name and/or SOPInstanceUID), groups by PatientID.
  for (const [s, table] of labelTables) {
    const spec = sources[s];
    const idx = candidates.map((c, i) => (c.source === s && decoded[i] ? i : -1)).filter((i) => i >= 0);
    const mode = spec.key ?? 'auto';
    const { byFile, unmatched } = matchLabels(
      table,
      idx.map((i) => candidates[i].file!),
      (k) => (mode !== 'file' && decoded[idx[k]]!.sopInstanceUid ? [decoded[idx[k]]!.sopInstanceUid!] : []),
      mode !== 'sop',
    );
    idx.forEach((i, k) => {
      const label = labelFromRow(byFile[k], { dataset: spec.dataset, rel: candidates[i].rel, csv: table.file }, rows);
      if (label === undefined) {
        decoded[i] = undefined;
        return;
      }
      candidates[i].label = label;
      if (byFile[k]!.split) candidates[i].given = byFile[k]!.split;
    });
    reportUnmatched(unmatched, spec, table.file, rows);
  }
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i];
    if (c.kind === 'dicom' && decoded[i] && !sources[c.source].group && decoded[i]!.patientId)
      c.group = `${sources[c.source].dataset}:patient:${decoded[i]!.patientId}`;
  }

  // 4. Classes.
  const classByName = new Map<string, ClassInfo>();
  const classOrder: ClassInfo[] = [];
  for (let s = 0; s < sources.length; s++) {
    const spec = sources[s];
    const labels = [
      ...new Set(
        candidates.filter((c, i) => c.source === s && decoded[i] && c.label !== undefined).map((c) => c.label!),
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
    for (const label of labels) {
      const name = `${spec.modality}/${spec.region}/${label}`;
      const kind = classKind(spec, label);
      const prev = classByName.get(name);
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
      classByName.set(name, info);
      classOrder.push(info);
    }
  }

  // 5. Duplicates.
  const valid = candidates.map((c, i) => (decoded[i] && c.label !== undefined ? i : -1)).filter((i) => i >= 0);
  const className = (i: number) =>
    `${sources[candidates[i].source].modality}/${sources[candidates[i].source].region}/${candidates[i].label}`;
  const dupItems: DuplicateItem[] = valid.map((i) => ({
    ref: candidates[i].ref,
    byteHash: decoded[i]!.byteHash,
    pixelHash: decoded[i]!.pixelHash,
    className: className(i),
    split: candidates[i].given,
  }));
  const dup = findDuplicates(dupItems);
  const duplicateLines: string[] = [];
  const conflictLines: string[] = [];
  const where = (k: number) => `\`${dupItems[k].ref}\`${dupItems[k].split ? ` (${dupItems[k].split})` : ''}`;
  let dropped = 0;
  let conflictDropped = 0;
  for (const g of dup.groups) {
    const how = g.identical === 'bytes' ? 'identical bytes' : 'identical decoded pixels';
    if (g.conflict) {
      conflictLines.push(
        `- ${g.members.map((k) => `${where(k)} as ${dupItems[k].className}`).join('; ')} — ${how}; all ${g.members.length} copies dropped`,
      );
      for (const k of g.members) {
        const c = candidates[valid[k]];
        const others = g.members.filter((o) => o !== k).map((o) => `${dupItems[o].ref} (${dupItems[o].className})`);
        rows.push({
          kind: 'label-conflict',
          dataset: sources[c.source].dataset,
          file: c.rel,
          class: c.label!,
          action: 'dropped',
          detail: `${how} to ${others.join(', ')}; classes differ (${g.classes.join(' vs ')}), all copies dropped`,
        });
        conflictDropped++;
      }
    } else {
      const kept = g.members[0];
      const rest = g.members.slice(1);
      duplicateLines.push(
        `- kept ${where(kept)}; dropped ${rest.map(where).join(', ')} — ${how}, class ${g.classes[0]}`,
      );
      const kc = candidates[valid[kept]];
      rows.push({
        kind: 'duplicate-kept',
        dataset: sources[kc.source].dataset,
        file: kc.rel,
        class: kc.label!,
        action: 'kept',
        detail: `${how} to ${rest.map((o) => dupItems[o].ref + (dupItems[o].split ? ` (${dupItems[o].split})` : '')).join(', ')}; this copy kept${dupItems[kept].split ? ` (split ${dupItems[kept].split})` : ''}`,
      });
      for (const k of rest) {
        const c = candidates[valid[k]];
        rows.push({
          kind: 'duplicate-dropped',
          dataset: sources[c.source].dataset,
          file: c.rel,
          class: c.label!,
          action: 'dropped',
          detail: `${how} to ${dupItems[kept].ref}${dupItems[kept].split ? ` (kept, in ${dupItems[kept].split})` : ' (kept)'}${dupItems[k].split && dupItems[kept].split && dupItems[k].split !== dupItems[kept].split ? `; this copy was in ${dupItems[k].split}` : ''}`,
        });
        dropped++;
      }
    }
  }
  const keptIdx = valid.filter((_, k) => dup.drop[k] === 0);
  // Written-out images of dropped copies are removed.
  for (let k = 0; k < valid.length; k++) {
    const w = decoded[valid[k]]!.written;
    if (dup.drop[k] !== 0 && w) await rm(join(out, w), { force: true });
  }

  // 6. Splits.
  const splitItems: SplitItem[] = keptIdx.map((i) => ({
    stratum: `${sources[candidates[i].source].dataset}\u0000${className(i)}`,
    group: candidates[i].group,
    given: candidates[i].given,
    carve: candidates[i].carve,
  }));
  const assigned = assignSplits(splitItems, { ratios, valFraction, seed });

  // 7. Manifest, ordered by source then ref.
  const order = keptIdx
    .map((_, k) => k)
    .sort((a, b) => {
      const ca = candidates[keptIdx[a]];
      const cb = candidates[keptIdx[b]];
      return ca.source - cb.source || (ca.ref < cb.ref ? -1 : ca.ref > cb.ref ? 1 : 0);
    });
  const entries: ManifestEntry[] = order.map((k) => {
    const i = keptIdx[k];
    const c = candidates[i];
    const spec = sources[c.source];
    const filepath = decoded[i]!.written ?? slash(relative(out, c.file!));
    return {
      filepath,
      dataset: spec.dataset,
      split: SPLITS[assigned.split[k]],
      modality: spec.modality,
      anatomicRegion: spec.region,
      className: className(i),
    };
  });
  const usedClasses = new Set(entries.map((e) => e.className));
  const classes = classOrder.filter((c) => usedClasses.has(c.name));
  const meta = {
    name: options.name,
    createdAt: new Date().toISOString(),
    seed,
    ratios,
    valFraction,
    recipe: options.recipe,
    sources: sources.map((s) => ({
      type: s.type,
      dataset: s.dataset,
      modality: s.modality,
      region: s.region,
      path: s.path,
    })),
  };
  const manifest = Manifest.fromEntries(entries, classes, { dir: out, imagesRoot: '.', meta });

  // 8. Split rows and summary.
  const splitTable: ReportContext['splits'] = [];
  const dsRank0 = new Map<string, number>();
  sources.forEach((s, i) => {
    if (!dsRank0.has(s.dataset)) dsRank0.set(s.dataset, i);
  });
  const perClass = new Map<string, { dataset: string; cls: string; n: number[]; how: Map<string, number> }>();
  const methodName = [
    'split given by the source',
    'seeded stratified split',
    `given train, ${Math.round(valFraction * 1000) / 10} % carved out as val`,
    'split inherited from its group',
  ];
  order.forEach((k) => {
    const i = keptIdx[k];
    const c = candidates[i];
    const key = `${sources[c.source].dataset}\u0000${className(i)}`;
    let p = perClass.get(key);
    if (!p) {
      p = { dataset: sources[c.source].dataset, cls: className(i), n: [0, 0, 0], how: new Map() };
      perClass.set(key, p);
    }
    p.n[assigned.split[k]]++;
    const m = methodName[assigned.method[k]];
    p.how.set(m, (p.how.get(m) ?? 0) + 1);
  });
  const classRank = new Map(classOrder.map((c, k) => [c.name, k]));
  for (const p of [...perClass.values()].sort(
    (a, b) => dsRank0.get(a.dataset)! - dsRank0.get(b.dataset)! || classRank.get(a.cls)! - classRank.get(b.cls)!,
  )) {
    const how = [...p.how.entries()].map(([m, n]) => `${m} (${n})`).join('; ');
    splitTable.push({
      dataset: p.dataset,
      className: p.cls,
      kind: classByName.get(p.cls)!.kind,
      train: p.n[0],
      val: p.n[1],
      test: p.n[2],
      how,
    });
    rows.push({
      kind: 'split-assigned',
      dataset: p.dataset,
      file: '',
      class: p.cls,
      action: 'assigned',
      detail: `train ${p.n[0]} / val ${p.n[1]} / test ${p.n[2]}; ${how}`,
    });
  }
  const summary: ReportSummaryRow[] = [];
  for (const ds of [...new Set(sources.map((s) => s.dataset))]) {
    const found = candidates.filter((c) => sources[c.source].dataset === ds).length;
    const n = [0, 0, 0];
    order.forEach((k) => {
      if (sources[candidates[keptIdx[k]].source].dataset === ds) n[assigned.split[k]]++;
    });
    summary.push({ dataset: ds, found, kept: n[0] + n[1] + n[2], train: n[0], val: n[1], test: n[2] });
  }
  if (entries.length === 0)
    throw new CbirError('no images left to write a manifest', {
      file: join(out, 'report.csv'),
      hint: 'see the report: every image was corrupt, unlabeled or a duplicate',
      code: 'prepare/empty',
    });

  // 9. Write (rows in a fixed order: by kind, dataset, file).
  const kindRank = (k: string) => {
    const r = (REPORT_KINDS as readonly string[]).indexOf(k);
    return r < 0 ? REPORT_KINDS.length : r;
  };
  const dsRank = new Map<string, number>();
  sources.forEach((s, i) => {
    if (!dsRank.has(s.dataset)) dsRank.set(s.dataset, i);
  });
  rows.sort(
    (a, b) =>
      kindRank(a.kind) - kindRank(b.kind) ||
      (dsRank.get(a.dataset) ?? 0) - (dsRank.get(b.dataset) ?? 0) ||
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      (a.class < b.class ? -1 : a.class > b.class ? 1 : 0),
  );
  await writeManifest(out, manifest, meta);
  await writeReport(out, {
    title: options.name ? `Data preparation report: ${options.name}` : undefined,
    seed,
    ratios,
    valFraction,
    sources: sources.map((s) => ({ dataset: s.dataset, type: s.type, path: s.path })),
    summary,
    splits: splitTable,
    rows,
    duplicateLines,
    conflictLines,
  });
  return {
    manifest,
    out,
    rows,
    counts: countKinds(rows),
    summary,
    found: candidates.length,
    duplicates: {
      groups: dup.groups.filter((g) => !g.conflict).length,
      dropped,
      conflictGroups: conflictLines.length,
      conflictDropped,
    },
  };
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
  L.push(
    `corrupt: ${c.corrupt ?? 0}; missing label: ${c['missing-label'] ?? 0}; missing file: ${c['missing-file'] ?? 0}; multi-label: ${c['multi-label'] ?? 0}; unlabeled: ${c.unlabeled ?? 0}; ignored hidden: ${c['ignored-hidden'] ?? 0}; ignored non-image: ${c['ignored-non-image'] ?? 0}`,
  );
  L.push(`wrote ${join(r.out, 'manifest.csv')}, classes.csv, dataset.json, report.md, report.csv`);
  return L.join('\n');
}
