/**
 * Leakage audit of any manifest (prepared, hand-written or the study's CSVs): pairs of images in
 * different splits that are the same file (the same normalised path), the same bytes under
 * another name, near-identical pictures (thumbnail MAD below the near threshold) or similar ones
 * (below the similar threshold: possibly one patient). Cosine pairs from embeddings are added by
 * `auditDataset` (benchmark/audit.ts). Computing returns data; `auditCsv` / `formatAudit` render it.
 */
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { errorCode } from '../errors.js';
import { csvLine } from '../util/csv.js';
import type { ProgressListener } from '../util/progress.js';
import { SPLITS, type Manifest } from './manifest.js';
import { imageContents, openContentCache, type ContentCache, type ContentTable } from './content.js';
import { NEAR_DUPLICATE_MAD, SIMILAR_MAD, THUMB_PIXELS, forEachNearPair } from './thumbs.js';

/** What links the two images of a pair, most certain first. */
export const AUDIT_KINDS = ['same-path', 'same-bytes', 'near', 'similar', 'cosine'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** What each kind means, in words (table headings). */
export const AUDIT_KIND_TEXT: Record<AuditKind, string> = {
  'same-path': 'the same file (the same path once normalised)',
  'same-bytes': 'the same bytes under another path',
  near: 'near-identical pictures (thumbnail MAD below the near threshold)',
  similar: 'similar pictures, possibly one patient (thumbnail MAD below the similar threshold)',
  cosine: 'near-identical embeddings (cosine at or above the threshold)',
};

/** Two manifest rows in different splits; `a` is in the earlier split (train < val < test). */
export interface AuditPair {
  kind: AuditKind;
  a: number;
  b: number;
  /** Thumbnail MAD in gray levels (near, similar, also same-bytes), or the cosine (cosine); NaN when not measured. */
  value: number;
}

/** Pairs of one kind per dataset ("a × b" when the two images come from different datasets). */
export interface AuditCount {
  kind: AuditKind;
  dataset: string;
  pairs: number;
  /** Images of the later split (the queries: val or test) in such a pair. */
  queries: number;
}

export interface AuditThresholds {
  /** Near-identical below this thumbnail MAD (gray levels; default 2). */
  nearMad: number;
  /** Similar below this thumbnail MAD (default 6; 0: not checked). */
  similarMad: number;
  /** Cosine at or above this is a pair (default 0.9999); null when no embeddings were given. */
  cosine: number | null;
}

export interface AuditResult {
  /** The manifest folder and its row count. */
  dir: string;
  rows: number;
  thresholds: AuditThresholds;
  pairs: AuditPair[];
  counts: AuditCount[];
  /** Rows whose file could not be read or decoded (so only their path, or also their bytes, were compared). */
  unchecked: { row: number; path: string; message: string }[];
  /** Set when none of the probed image files exists (embeddings without their images): only paths were compared. */
  imagesAbsent?: ImagesAbsent;
}

/** Rows probed for their image file before the content check, spread evenly over the manifest. */
export const PRESENCE_PROBE_ROWS = 64;

/** Where the image files were looked for, and how many rows were probed, when none of them exists. */
export interface ImagesAbsent {
  root: string;
  probed: number;
}

export interface AuditOptions {
  nearMad?: number;
  similarMad?: number;
  /** A content cache file to read and extend (e.g. under the project's .cache). */
  cacheFile?: string;
  /** Only pairs whose later image is in one of these splits (default: val and test). */
  querySplits?: readonly ('val' | 'test')[];
  concurrency?: number;
  onProgress?: ProgressListener;
}

/** Pair key of rows a < b. */
const key = (a: number, b: number, n: number) => Math.min(a, b) * n + Math.max(a, b);

/** All cross-split pairs among rows sharing a key (rows listed per key). */
function pairsWithin(groups: Map<string, number[]>, m: Manifest, emit: (a: number, b: number) => void): void {
  for (const rows of groups.values()) {
    if (rows.length < 2) continue;
    for (let x = 0; x < rows.length; x++)
      for (let y = x + 1; y < rows.length; y++) if (m.split[rows[x]] !== m.split[rows[y]]) emit(rows[x], rows[y]);
  }
}

function groupBy(n: number, keyOf: (i: number) => string): Map<string, number[]> {
  const g = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const k = keyOf(i);
    if (k === '') continue;
    const l = g.get(k);
    if (l) l.push(i);
    else g.set(k, [i]);
  }
  return g;
}

/**
 * Content audit of a manifest: every pair of rows in different splits that is the same file
 * (path.resolve of both paths is equal, so `a/./b/x.png` and `a/b/x.png` are one file), the same
 * bytes (sha256), near-identical (thumbnail MAD < nearMad) or similar (MAD < similarMad); each
 * pair is listed once, under its most certain kind. The manifest folder's prepare cache is used
 * when present (read only); `cacheFile` keeps the content of files decoded here. When none of
 * the probed image files exists (probeImagesAbsent: embeddings without their images), only paths
 * are compared and `imagesAbsent` says so once, instead of one unreadable row per image.
 */
export async function auditManifest(m: Manifest, o: AuditOptions = {}): Promise<AuditResult> {
  const n = m.size;
  const nearMad = o.nearMad ?? NEAR_DUPLICATE_MAD;
  const similarMad = o.similarMad ?? SIMILAR_MAD;
  const queries = new Set((o.querySplits ?? ['val', 'test']).map((s) => SPLITS.indexOf(s)));
  const paths = m.filepaths.map((_, i) => resolve(m.resolvePath(i)));
  const absent = await probeImagesAbsent(m, paths);
  const content = absent ? noContent(n) : await readContents(m, paths, o);
  const seen = new Set<number>();
  const pairs: AuditPair[] = [];
  const emit = (kind: AuditKind, i: number, j: number, value: number) => {
    const [a, b] = m.split[i] <= m.split[j] ? [i, j] : [j, i];
    if (!queries.has(m.split[b]) || seen.has(key(a, b, n))) return;
    seen.add(key(a, b, n));
    pairs.push({ kind, a, b, value });
  };
  const mad = (i: number, j: number) => {
    if (!content.decoded[i] || !content.decoded[j]) return NaN;
    let s = 0;
    for (let p = 0; p < THUMB_PIXELS; p++)
      s += Math.abs(content.thumbs[i * THUMB_PIXELS + p] - content.thumbs[j * THUMB_PIXELS + p]);
    return s / THUMB_PIXELS;
  };
  pairsWithin(
    groupBy(n, (i) => paths[i]),
    m,
    (i, j) => emit('same-path', i, j, 0),
  );
  pairsWithin(
    groupBy(n, (i) => content.byteHash[i]),
    m,
    (i, j) => emit('same-bytes', i, j, mad(i, j)),
  );
  if (!absent) thumbnailPairs(m, content, nearMad, similarMad, (kind, i, j, v) => emit(kind, i, j, v));
  const unchecked = content.problems.map((p) => ({ row: p.index, path: m.filepaths[p.index], message: p.message }));
  const result: AuditResult = {
    dir: m.dir,
    rows: n,
    thresholds: { nearMad, similarMad, cosine: null },
    pairs: sortPairs(pairs),
    counts: [],
    unchecked,
    ...(absent ? { imagesAbsent: absent } : {}),
  };
  result.counts = countPairs(m, result.pairs);
  return result;
}

/** Byte hashes and thumbnails of every row's file, through the manifest folder's prepare cache and `o.cacheFile`. */
async function readContents(m: Manifest, paths: readonly string[], o: AuditOptions): Promise<ContentTable> {
  const lookup: ContentCache[] = [await openContentCache(resolve(m.dir, '.prepare-cache.csv'), { readOnly: true })];
  const cache = o.cacheFile ? await openContentCache(o.cacheFile).catch(() => undefined) : undefined; // only a speed-up
  try {
    return await imageContents(paths, { lookup, cache, concurrency: o.concurrency, onProgress: o.onProgress });
  } finally {
    await cache?.close().catch(() => {});
  }
}

/** A content table with nothing read (no byte hashes, no thumbnails, no per-row problems). */
function noContent(n: number): ContentTable {
  return {
    byteHash: new Array<string>(n).fill(''),
    thumbs: new Uint8Array(0),
    decoded: new Uint8Array(n),
    problems: [],
  };
}

/**
 * Whether the manifest's image files are absent (e.g. the study's published embeddings without
 * the images): PRESENCE_PROBE_ROWS rows spread evenly over the manifest (all rows when fewer) are
 * stat'ed; when none of their files exists the byte and pixel checks are skipped. Null when any
 * exists or fails otherwise (a permission problem is then reported per row, as usual).
 */
async function probeImagesAbsent(m: Manifest, paths: readonly string[]): Promise<ImagesAbsent | null> {
  const n = paths.length;
  if (n === 0) return null;
  const k = Math.min(n, PRESENCE_PROBE_ROWS);
  const rows = [...new Set(Array.from({ length: k }, (_, j) => Math.floor(((j + 0.5) * n) / k)))];
  const missing = await Promise.all(
    rows.map((i) =>
      stat(paths[i]).then(
        () => false,
        (e) => errorCode(e) === 'ENOENT' || errorCode(e) === 'ENOTDIR',
      ),
    ),
  );
  if (!missing.every(Boolean)) return null;
  return {
    root: probedRoot(
      m.imagesRoot,
      rows.map((i) => paths[i]),
    ),
    probed: rows.length,
  };
}

/** The manifest's images root when the probed files lie below it, else the deepest folder holding them all. */
function probedRoot(imagesRoot: string, files: readonly string[]): string {
  const below = (f: string) => {
    const r = relative(imagesRoot, f);
    return r !== '' && r !== '..' && !r.startsWith('..' + sep) && !isAbsolute(r);
  };
  if (files.every(below)) return imagesRoot;
  let root = dirname(files[0]);
  while (!files.every((f) => f.startsWith(root.endsWith(sep) ? root : root + sep)) && dirname(root) !== root)
    root = dirname(root);
  return root;
}

/** Cross-split pairs of decoded rows with thumbnail MAD < max(nearMad, similarMad), as near or similar. */
function thumbnailPairs(
  m: Manifest,
  content: ContentTable,
  nearMad: number,
  similarMad: number,
  emit: (kind: AuditKind, i: number, j: number, mad: number) => void,
): void {
  const rows = Int32Array.from({ length: m.size }, (_, i) => i).filter((i) => content.decoded[i] === 1);
  const thumbs = new Uint8Array(rows.length * THUMB_PIXELS);
  rows.forEach((i, k) =>
    thumbs.set(content.thumbs.subarray(i * THUMB_PIXELS, (i + 1) * THUMB_PIXELS), k * THUMB_PIXELS),
  );
  forEachNearPair(
    thumbs,
    rows.length,
    Math.max(nearMad, similarMad),
    (x, y, l1) => {
      const v = l1 / THUMB_PIXELS;
      emit(v < nearMad ? 'near' : 'similar', rows[x], rows[y], v);
    },
    (x, y) => m.split[rows[x]] !== m.split[rows[y]],
  );
}

/** Pairs in a fixed order: by kind, then by the later row, then the earlier. */
export function sortPairs(pairs: AuditPair[]): AuditPair[] {
  const rank = (k: AuditKind) => AUDIT_KINDS.indexOf(k);
  return pairs.sort((x, y) => rank(x.kind) - rank(y.kind) || x.b - y.b || x.a - y.a);
}

/** The dataset of a pair: one name, or "a × b". */
function pairDataset(m: Manifest, p: AuditPair): string {
  const da = m.datasets[m.datasetIndex[p.a]];
  const db = m.datasets[m.datasetIndex[p.b]];
  return da === db ? da : `${da} × ${db}`;
}

/** Pairs and query images per kind and dataset. */
export function countPairs(m: Manifest, pairs: readonly AuditPair[]): AuditCount[] {
  const by = new Map<string, { kind: AuditKind; dataset: string; pairs: number; q: Set<number> }>();
  for (const p of pairs) {
    const dataset = pairDataset(m, p);
    const k = `${p.kind}\u0000${dataset}`;
    let c = by.get(k);
    if (!c) by.set(k, (c = { kind: p.kind, dataset, pairs: 0, q: new Set() }));
    c.pairs++;
    c.q.add(p.b);
  }
  const rank = (k: AuditKind) => AUDIT_KINDS.indexOf(k);
  return [...by.values()]
    .map((c) => ({ kind: c.kind, dataset: c.dataset, pairs: c.pairs, queries: c.q.size }))
    .sort((x, y) => rank(x.kind) - rank(y.kind) || y.pairs - x.pairs || (x.dataset < y.dataset ? -1 : 1));
}

/** The audit as CSV lines: kind, value, then split, dataset, class and path of each image. */
export function auditCsvLines(r: AuditResult, m: Manifest): string[] {
  const cols = [
    'kind',
    'value',
    'split_a',
    'dataset_a',
    'class_a',
    'path_a',
    'split_b',
    'dataset_b',
    'class_b',
    'path_b',
  ];
  const side = (i: number) => [
    SPLITS[m.split[i]],
    m.datasets[m.datasetIndex[i]],
    m.classes[m.classIndex[i]].name,
    m.filepaths[i],
  ];
  return [
    csvLine(cols),
    ...r.pairs.map((p) => csvLine([p.kind, Number.isNaN(p.value) ? '' : p.value, ...side(p.a), ...side(p.b)])),
  ];
}

/** The value of a pair in words. */
function valueText(p: AuditPair): string {
  if (Number.isNaN(p.value)) return '';
  return p.kind === 'cosine' ? `cosine ${p.value.toFixed(5)}` : `MAD ${p.value.toFixed(2)}/255`;
}

/** The audit as text: per kind a table of pairs and query images per dataset, and the first `examples` pairs. */
export function formatAudit(r: AuditResult, m: Manifest, examples = 5): string {
  const t = r.thresholds;
  const L = [
    `audit of ${r.dir}: ${r.rows} rows; pairs of images in different splits (the later one a val/test query) by content` +
      (t.cosine !== null ? ' and by embedding' : '') +
      `; near: thumbnail MAD < ${t.nearMad}/255, similar: < ${t.similarMad}/255${t.cosine !== null ? `, cosine ≥ ${t.cosine}` : ''}`,
  ];
  for (const kind of AUDIT_KINDS) {
    if (kind === 'cosine' && t.cosine === null) continue;
    if (kind === 'similar' && t.similarMad <= t.nearMad) continue;
    const rows = r.counts.filter((c) => c.kind === kind);
    const pairs = r.pairs.filter((p) => p.kind === kind);
    L.push('', `${kind}: ${AUDIT_KIND_TEXT[kind]} — ${pairs.length} pair${pairs.length === 1 ? '' : 's'}`);
    if (rows.length === 0) continue;
    const w = Math.max(7, ...rows.map((c) => c.dataset.length));
    L.push(`  ${'dataset'.padEnd(w)}  ${'pairs'.padStart(7)}  ${'queries'.padStart(7)}`);
    for (const c of rows)
      L.push(`  ${c.dataset.padEnd(w)}  ${String(c.pairs).padStart(7)}  ${String(c.queries).padStart(7)}`);
    for (const p of pairs.slice(0, examples))
      L.push(
        `  e.g. ${SPLITS[m.split[p.b]]} ${m.filepaths[p.b]} ~ ${SPLITS[m.split[p.a]]} ${m.filepaths[p.a]}${valueText(p) ? ` (${valueText(p)})` : ''}`,
      );
  }
  if (r.imagesAbsent) L.push('', `${imagesAbsentText(r.imagesAbsent)}.`);
  if (r.unchecked.length)
    L.push(
      '',
      `${r.unchecked.length} row(s) could not be read or decoded, so only their path (or bytes) were compared: ${r.unchecked
        .slice(0, 3)
        .map((u) => `row ${u.row + 1} (${u.message})`)
        .join('; ')}${r.unchecked.length > 3 ? '; …' : ''}`,
    );
  return L.join('\n');
}

/** The note for an audit made without the image files. */
function imagesAbsentText(a: ImagesAbsent): string {
  return `image files not found under ${a.root}: the copy check compared paths only (none of ${a.probed} rows probed across the manifest has its file; same bytes and near-identical pictures were not checked)`;
}

/** The prefix of the notes a report records about its data (summary.md lists them under its data warnings). */
export const DATA_NOTE_PREFIX = 'Data check: ';

/**
 * The data notes of a report: test queries with a copy in the index (train) — the same file,
 * the same bytes, or a near-identical thumbnail — and rows excluded while reading the manifest
 * (multi-label). Empty when there is nothing to say.
 */
export function dataNotes(m: Manifest, audit: AuditResult | null): string[] {
  const notes: string[] = [];
  if (audit) {
    const leak = audit.pairs.filter(
      (p) => m.split[p.a] === 0 && m.split[p.b] === 2 && p.kind !== 'similar' && p.kind !== 'cosine',
    );
    if (leak.length) {
      const q = (k: AuditKind) => new Set(leak.filter((p) => p.kind === k).map((p) => p.b)).size;
      const all = new Set(leak.map((p) => p.b)).size;
      const tests = m.indicesOf('test').length;
      const first = leak[0];
      notes.push(
        `${DATA_NOTE_PREFIX}${all} of ${tests} test queries have a copy in the index (train): ${q('same-path')} the same file, ${q('same-bytes')} the same bytes under another name, ${q('near')} a near-identical picture (thumbnail MAD < ${audit.thresholds.nearMad}/255); e.g. \`${m.filepaths[first.b]}\` and \`${m.filepaths[first.a]}\`. Such a query finds its own copy at rank 1, so P@N is inflated: remove the copies (preparing the dataset does) and run again.`,
      );
    }
    if (audit.imagesAbsent) notes.push(`${DATA_NOTE_PREFIX}${imagesAbsentText(audit.imagesAbsent)}.`);
    if (audit.unchecked.length)
      notes.push(
        `${DATA_NOTE_PREFIX}${audit.unchecked.length} images could not be read or decoded for the copy check (e.g. row ${audit.unchecked[0].row + 1}: ${audit.unchecked[0].message}).`,
      );
  }
  if (m.excluded.length)
    notes.push(
      `${DATA_NOTE_PREFIX}${m.excluded.length} manifest row(s) were excluded while reading: ${m.excluded
        .slice(0, 3)
        .map((e) => `line ${e.row} (${e.reason})`)
        .join(', ')}${m.excluded.length > 3 ? ', …' : ''}; the report covers the other rows.`,
    );
  return notes;
}
