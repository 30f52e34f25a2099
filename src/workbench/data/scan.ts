import { existsSync, statSync } from 'node:fs';
import { readdir, open, realpath, stat } from 'node:fs/promises';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { CbirError, errorCode, errorMessage } from '../errors.js';
import { readCsvRecords } from '../util/csv.js';
import { parseSplit, SPLITS, type Split } from './manifest.js';
import type { SourceSpec } from './sources.js';
import type { ReportRow } from './report.js';

/** File extensions read as images by folder and csv sources (decoded with sharp). */
export const IMAGE_EXTENSIONS = /\.(png|jpe?g|tiff?|webp)$/i;
const DICOM_EXTENSIONS = /\.(dcm|dicom)$/i;
const SPLIT_DIRS: Record<string, Split> = {
  train: 'train',
  training: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  test: 'test',
  testing: 'test',
};

/** One image found in a source, before decoding. */
export interface Candidate {
  /** Index of the source in the prepare run. */
  source: number;
  kind: 'image' | 'dicom' | 'npz';
  /** Path relative to the source root (forward slashes), e.g. `Training/glioma/x.jpg`; for npz `train/00012.png`. */
  rel: string;
  /** `dataset/rel`: unique, location-independent name; breaks duplicate ties. */
  ref: string;
  /** Absolute path of the file (image and dicom). */
  file?: string;
  /** npz array member and index. */
  npz?: { images: string; index: number };
  /** Class label; undefined while it still has to be looked up (dicom + label CSV, after decoding). */
  label?: string;
  /** Split given by the source. */
  given?: Split;
  /** Carve val out of the given train split. */
  carve?: boolean;
  /** Group key (patient / preprint / …); defaults to the ref itself. */
  group: string;
}

export interface ScanResult {
  candidates: Candidate[];
  rows: ReportRow[];
  /** For dicom sources with a label CSV: the label table to apply after decoding. */
  labelTable?: LabelTable;
}

/** Forward-slash relative path. */
function relPath(root: string, file: string): string {
  return relative(root, file).split(sep).join('/');
}

function hidden(name: string): boolean {
  return name.startsWith('.') || name === '__MACOSX' || name === 'Thumbs.db' || name === 'desktop.ini';
}

function sourceError(spec: SourceSpec, msg: string, hint: string, code: string): CbirError {
  return new CbirError(`${spec.dataset}: ${msg}`, { file: spec.origin ?? spec.path, row: spec.originRow, hint, code });
}

/** The group key of a file: the spec's `group` regex on the file name (capture 1 or named `group`), else undefined. */
export function groupOf(spec: SourceSpec, file: string): string | undefined {
  if (!spec.group) return undefined;
  const m = new RegExp(spec.group).exec(basename(file));
  if (!m) return undefined;
  const g = m.groups?.group ?? m[1] ?? m[0];
  return g === undefined || g === '' ? undefined : `${spec.dataset}:${g}`;
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []); // an unreadable hidden folder counts as empty
  for (const e of entries) {
    if (e.isDirectory()) n += await countFiles(join(dir, e.name));
    else n++;
  }
  return n;
}

type FileKind = 'image' | 'dicom';

async function isDicomFile(file: string): Promise<boolean> {
  if (DICOM_EXTENSIONS.test(file)) return true;
  if (extname(file) !== '' && !/^\.\d+$/.test(extname(file))) return false;
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(132);
    const { bytesRead } = await fh.read(b, 0, 132, 0);
    return bytesRead === 132 && b.toString('latin1', 128, 132) === 'DICM';
  } finally {
    await fh.close();
  }
}

/** A folder entry with symbolic links followed: what it is, and for links that lead nowhere, why. */
interface DirEntry {
  name: string;
  path: string;
  kind: 'dir' | 'file' | 'special' | 'broken';
  /** For special entries: FIFO, device or socket; for broken links: why they cannot be followed. */
  what?: string;
}

/** Why a file-system call failed, in words. */
function fsWhy(e: unknown): string {
  const c = errorCode(e);
  if (c === 'EACCES' || c === 'EPERM') return 'permission denied';
  if (c === 'ENOENT') return 'it does not exist';
  if (c === 'ENOTDIR') return 'a part of the path is a file, not a folder';
  if (c === 'ELOOP') return 'too many levels of symbolic links';
  return errorMessage(e).split('\n')[0];
}

/** The CbirError for a folder that cannot be listed (EACCES, ENOTDIR, …). */
function folderError(dataset: string, dir: string, e: unknown): CbirError {
  return new CbirError(`${dataset}: cannot read the folder (${fsWhy(e)})`, {
    file: dir,
    hint: 'make the folder readable (or remove it from the source), then run again',
    code: 'source/unreadable-folder',
    cause: e,
  });
}

/** What a non-regular, non-folder file is. */
function specialKind(st: { isFIFO(): boolean; isSocket(): boolean }): string {
  return st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device';
}

/** The entries of `dir`, sorted by name, with symbolic links followed (never opened: a FIFO cannot block). */
async function listDir(dir: string, dataset: string): Promise<DirEntry[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw folderError(dataset, dir, e);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: DirEntry[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    let st: { isDirectory(): boolean; isFile(): boolean; isFIFO(): boolean; isSocket(): boolean } = e;
    if (e.isSymbolicLink()) {
      try {
        st = await stat(path);
      } catch (err) {
        out.push({
          name: e.name,
          path,
          kind: 'broken',
          what: `a symbolic link that cannot be followed: ${fsWhy(err)}`,
        });
        continue;
      }
    }
    if (st.isDirectory()) out.push({ name: e.name, path, kind: 'dir' });
    else if (st.isFile()) out.push({ name: e.name, path, kind: 'file' });
    else out.push({ name: e.name, path, kind: 'special', what: specialKind(st) });
  }
  return out;
}

/** A name that cannot go into a manifest (a line break or another control character). */
function badName(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(name);
}

/**
 * The report row for an entry that is not scanned: a bad name, a FIFO/device/socket, a broken
 * link (null for entries that are scanned).
 */
function unusableEntry(e: DirEntry, root: string, dataset: string): ReportRow | null {
  const file = relPath(root, e.path) + (e.kind === 'dir' ? '/' : '');
  if (badName(e.name))
    return {
      kind: 'bad-name',
      dataset,
      file,
      class: '',
      action: 'skipped',
      detail: `the name ${JSON.stringify(e.name)} holds a line break or another control character, which a manifest cannot hold; rename it`,
    };
  if (e.kind === 'special')
    return {
      kind: 'ignored-special',
      dataset,
      file,
      class: '',
      action: 'skipped',
      detail: `not a regular file (${e.what}); not read`,
    };
  if (e.kind === 'broken') return { kind: 'unreadable', dataset, file, class: '', action: 'skipped', detail: e.what! };
  return null;
}

/**
 * Walk `dir` recursively (sorted), returning image files of `kind`; hidden folders/files and
 * non-image files are reported (ignored-hidden, ignored-non-image) relative to `root`, and so
 * are names with line breaks (bad-name), FIFOs, devices and sockets (ignored-special) and broken
 * links (unreadable). Symbolic links to folders are followed, except back into a folder being
 * walked (ignored-loop). `ancestors` holds the real paths of the folders above.
 */
async function walkImages(
  dir: string,
  root: string,
  kind: FileKind,
  dataset: string,
  rows: ReportRow[],
  skip?: string,
  ancestors: ReadonlySet<string> = new Set(),
): Promise<string[]> {
  const out: string[] = [];
  const here = new Set(ancestors).add(await realpath(dir).catch(() => resolve(dir)));
  for (const e of await listDir(dir, dataset)) {
    const p = e.path;
    if (hidden(e.name)) {
      rows.push(await hiddenRow(e, root, dataset));
      continue;
    }
    const bad = unusableEntry(e, root, dataset);
    if (bad) {
      rows.push(bad);
      continue;
    }
    if (e.kind === 'dir') {
      const real = await realpath(p).catch(() => resolve(p));
      if (here.has(real))
        rows.push({
          kind: 'ignored-loop',
          dataset,
          file: relPath(root, p) + '/',
          class: '',
          action: 'skipped',
          detail: `a symbolic link back to ${real}, a folder already being scanned; not followed (a loop)`,
        });
      else out.push(...(await walkImages(p, root, kind, dataset, rows, skip, here)));
      continue;
    }
    if (skip !== undefined && resolve(p) === skip) continue;
    const ok = kind === 'image' ? IMAGE_EXTENSIONS.test(e.name) : await isDicomFile(p);
    if (ok) out.push(p);
    else
      rows.push({
        kind: 'ignored-non-image',
        dataset,
        file: relPath(root, p),
        class: '',
        action: 'skipped',
        detail: kind === 'image' ? `not an image file (${extname(e.name) || 'no extension'})` : 'not a DICOM file',
      });
  }
  return out;
}

/** The ignored-hidden row of a hidden file or folder (folders with their file count). */
async function hiddenRow(e: DirEntry, root: string, dataset: string): Promise<ReportRow> {
  if (e.kind !== 'dir')
    return {
      kind: 'ignored-hidden',
      dataset,
      file: relPath(root, e.path),
      class: '',
      action: 'skipped',
      detail: 'hidden file',
    };
  const n = await countFiles(e.path);
  return {
    kind: 'ignored-hidden',
    dataset,
    file: relPath(root, e.path) + '/',
    class: '',
    action: 'skipped',
    detail: `hidden folder with ${n} file${n === 1 ? '' : 's'}`,
  };
}

function requireDir(spec: SourceSpec, dir: string, what: string): void {
  if (!existsSync(dir))
    throw sourceError(
      spec,
      `${what} not found: ${dir}`,
      'check the path (and CBIR_DATASETS for recipes)',
      'source/not-found',
    );
  if (!statSync(dir).isDirectory())
    throw sourceError(
      spec,
      `${what} is not a folder: ${dir}`,
      'point path at the folder that holds the class folders',
      'source/not-a-folder',
    );
}

/** The shared state of one class-folder scan: where it is and what it has found so far. */
interface FolderScan {
  spec: SourceSpec;
  sourceIndex: number;
  kind: FileKind;
  root: string;
  rows: ReportRow[];
  candidates: Candidate[];
  /** Carve val out of the given train split (train + test folders only). */
  carve: boolean;
}

/** The usable sub-folders of a listing: folders (or links to folders) that are not hidden and have a usable name. */
function subFolders(entries: DirEntry[]): DirEntry[] {
  return entries.filter((e) => e.kind === 'dir' && !hidden(e.name) && !badName(e.name));
}

/**
 * Scan a class-folder layout: `root/<class>/...` or `root/<split>/<class>/...` (split folders
 * Training/Testing/train/val/test, case-insensitive). The given split is kept when there is a test
 * folder (train + test only: val is carved out of train later); split folders without a test
 * folder are treated as unsplit. Files directly in the root or a split folder have no class and
 * are reported as missing-label. Symbolic links to class folders are followed.
 */
async function scanClassFolders(spec: SourceSpec, sourceIndex: number, kind: FileKind): Promise<ScanResult> {
  const root = spec.path;
  requireDir(spec, root, 'source folder');
  const top = await listDir(root, spec.dataset);
  const dirs = subFolders(top);
  const splitDirs = dirs.filter((e) => SPLIT_DIRS[e.name.toLowerCase()] !== undefined);
  if (splitDirs.length > 0 && splitDirs.length < dirs.length) {
    const other = dirs.filter((e) => SPLIT_DIRS[e.name.toLowerCase()] === undefined).map((e) => e.name);
    throw sourceError(
      spec,
      `the folder mixes split folders (${splitDirs.map((e) => e.name).join(', ')}) with other folders (${other.join(', ')})`,
      'use either <split>/<class>/ folders (Training/Testing, train/val/test) or <class>/ folders, not both',
      'source/mixed-layout',
    );
  }
  const splitLayout = splitDirs.length > 0;
  const givenSplits = new Set(splitDirs.map((e) => SPLIT_DIRS[e.name.toLowerCase()]));
  // Split folders are used only when they hold a test split (the queries); train + test only → val carved from train.
  const useSplits = splitLayout && givenSplits.has('test');
  const carve = useSplits && givenSplits.has('train') && !givenSplits.has('val');
  const scan: FolderScan = { spec, sourceIndex, kind, root, rows: [], candidates: [], carve };
  const rootReal = await realpath(root).catch(() => resolve(root));
  await looseFiles(scan, top);
  if (splitLayout) {
    for (const sd of splitDirs) {
      const split = SPLIT_DIRS[sd.name.toLowerCase()];
      const entries = await listDir(sd.path, spec.dataset);
      await looseFiles(scan, entries);
      const above = new Set([rootReal, await realpath(sd.path).catch(() => resolve(sd.path))]);
      for (const cd of subFolders(entries)) await addClassDir(scan, cd, useSplits ? split : undefined, above);
    }
  } else {
    for (const cd of dirs) await addClassDir(scan, cd, undefined, new Set([rootReal]));
  }
  if (scan.candidates.length === 0) {
    throw sourceError(
      spec,
      `no ${kind === 'image' ? 'image' : 'DICOM'} files in class folders under ${root}`,
      'a folder source holds one folder per class (optionally under Training/Testing or train/val/test folders)',
      'source/empty',
    );
  }
  return { candidates: scan.candidates, rows: scan.rows };
}

/** Add every image under one class folder as a candidate of that class (a link back to a folder above is a loop). */
async function addClassDir(
  scan: FolderScan,
  cd: DirEntry,
  given: Split | undefined,
  above: Set<string>,
): Promise<void> {
  const { spec, root } = scan;
  const real = await realpath(cd.path).catch(() => resolve(cd.path));
  if (above.has(real)) {
    scan.rows.push({
      kind: 'ignored-loop',
      dataset: spec.dataset,
      file: relPath(root, cd.path) + '/',
      class: '',
      action: 'skipped',
      detail: `a symbolic link back to ${real}, a folder already being scanned; not followed (a loop)`,
    });
    return;
  }
  const mapped = spec.labels?.[cd.name] ?? cd.name;
  for (const f of await walkImages(cd.path, root, scan.kind, spec.dataset, scan.rows, undefined, above)) {
    const rel = relPath(root, f);
    const ref = `${spec.dataset}/${rel}`;
    scan.candidates.push({
      source: scan.sourceIndex,
      kind: scan.kind,
      rel,
      ref,
      file: f,
      label: mapped,
      given,
      carve: given === 'train' ? scan.carve : undefined,
      group: groupOf(spec, f) ?? ref,
    });
  }
}

/**
 * Report the entries of a folder above the class folders that are not class folders: hidden
 * files and folders, images outside any class folder, non-images, bad names, FIFOs, devices and
 * broken links.
 */
async function looseFiles(scan: FolderScan, entries: DirEntry[]): Promise<void> {
  const { spec, root, kind } = scan;
  const row = (e: DirEntry, k: string, detail: string) =>
    scan.rows.push({
      kind: k,
      dataset: spec.dataset,
      file: relPath(root, e.path),
      class: '',
      action: 'skipped',
      detail,
    });
  for (const e of entries) {
    if (hidden(e.name)) {
      scan.rows.push(await hiddenRow(e, root, spec.dataset));
      continue;
    }
    const bad = unusableEntry(e, root, spec.dataset);
    if (bad) scan.rows.push(bad);
    else if (e.kind === 'dir') continue;
    else if (kind === 'image' ? IMAGE_EXTENSIONS.test(e.name) : await isDicomFile(e.path))
      row(e, 'missing-label', 'image is not inside a class folder');
    else row(e, 'ignored-non-image', `not an image file (${extname(e.name) || 'no extension'})`);
  }
}

/** A parsed label CSV: id → labels (0, 1 or several), with the CSV row. */
export interface LabelTable {
  file: string;
  /** Keyed by the id as written (trimmed). */
  rows: Map<string, { row: number; labels: string[]; split?: Split }>;
}

const TRUE_CELL = /^(1|1\.0|true|yes)$/i;
const FALSE_CELL = /^(0|0\.0|false|no|)$/i;

/** Where the columns of a label CSV are, from its header. */
interface LabelColumns {
  header: string[];
  idCol: number;
  /** The `split` column, or -1. */
  splitCol: number;
  labelCols: number[];
  /** One label column (cells are labels) rather than several one-hot columns. */
  single: boolean;
}

/**
 * Read a label CSV. Header cells are trimmed (`id, hemorrhage` works) and matched
 * case-insensitively. With one label column each cell is a label (through `spec.labels` when
 * given; a 0/1 column needs that map); several labels in a cell (`a|b`, `a;b`) make a
 * multi-label row. With several label columns they are one-hot (column name = label). An
 * optional `split` column gives the split.
 */
export async function readLabelTable(file: string, spec: SourceSpec): Promise<LabelTable> {
  if (!existsSync(file))
    throw sourceError(
      spec,
      `label CSV not found: ${file}`,
      'set csv= to the label file (relative to path)',
      'source/not-found',
    );
  const rows = new Map<string, { row: number; labels: string[]; split?: Split }>();
  let cols: LabelColumns | null = null;
  const binary: number[] = [];
  for await (const { cells, line } of readCsvRecords(file)) {
    if (cols === null) {
      cols = labelColumns(cells, line, file, spec);
      continue;
    }
    if (cells.length === 1 && cells[0].trim() === '') continue;
    const id = (cells[cols.idCol] ?? '').trim();
    if (id === '')
      throw new CbirError('empty id', {
        file,
        row: line,
        hint: 'every row needs the id (file name or stem) of its image',
        code: 'labels/empty-id',
      });
    const labels = cols.single
      ? cellLabels(cells[cols.labelCols[0]], line, file, spec, binary)
      : oneHotLabels(cells, line, file, spec, cols);
    let split: Split | undefined;
    if (cols.splitCol >= 0 && (cells[cols.splitCol] ?? '').trim() !== '')
      split = parseSplit(cells[cols.splitCol], { file, row: line });
    const prev = rows.get(id);
    if (prev) {
      prev.labels = [...new Set([...prev.labels, ...labels])];
    } else {
      rows.set(id, { row: line, labels: [...new Set(labels)], split });
    }
  }
  if (cols === null)
    throw new CbirError('the label CSV is empty', {
      file,
      hint: 'it needs a header row (id,label) and one row per image',
      code: 'labels/empty',
    });
  if (cols.single && binary.length > 0 && !spec.labels)
    throw needsLabelMap(file, cols.header[cols.labelCols[0]], binary[0]);
  return { file, rows };
}

/** Find the id, split and label columns in the header row of a label CSV. */
function labelColumns(cells: string[], line: number, file: string, spec: SourceSpec): LabelColumns {
  const header = cells.map((c) => c.trim());
  const find = (name: string, what: string) => {
    const i = header.findIndex((h) => h.toLowerCase() === name.trim().toLowerCase());
    if (i < 0)
      throw new CbirError(`no ${what} column "${name}" in the header (columns: ${header.join(', ')})`, {
        file,
        row: line,
        hint: `set ${what === 'id' ? 'id' : 'label'}= to one of the columns`,
        code: 'labels/missing-column',
      });
    return i;
  };
  const idCol = spec.id ? find(spec.id, 'id') : 0;
  const splitCol = header.findIndex((h, i) => i !== idCol && h.toLowerCase() === 'split');
  let labelCols: number[];
  if (spec.label) labelCols = [find(spec.label, 'label')];
  else labelCols = header.map((_, i) => i).filter((i) => i !== idCol && i !== splitCol);
  if (labelCols.length === 0)
    throw new CbirError('the label CSV has no label column', {
      file,
      row: line,
      hint: 'it needs an id column and a label column (or one 0/1 column per label)',
      code: 'labels/no-label-column',
    });
  return { header, idCol, splitCol, labelCols, single: labelCols.length === 1 };
}

/** The labels of a single label cell (`a`, `a|b`, `a;b`), mapped through `spec.labels`; 0/1 rows are noted in `binary`. */
function cellLabels(
  cell: string | undefined,
  line: number,
  file: string,
  spec: SourceSpec,
  binary: number[],
): string[] {
  const labels: string[] = [];
  const v = (cell ?? '').trim();
  const parts =
    v === ''
      ? []
      : v
          .split(/[|;]/)
          .map((x) => x.trim())
          .filter((x) => x !== '');
  for (const p of parts) {
    if (spec.labels) {
      const mapped = spec.labels[p];
      if (mapped === undefined)
        throw new CbirError(`label value "${p}" is not in the labels map (${Object.keys(spec.labels).join(', ')})`, {
          file,
          row: line,
          hint: "add it to the source's labels map, e.g. labels=0:normal;1:hemorrhage",
          code: 'labels/unknown-value',
        });
      labels.push(mapped);
    } else {
      if (/^[01]$/.test(p)) binary.push(line);
      labels.push(p);
    }
  }
  return labels;
}

/** The labels of a row with one-hot label columns (column name = label). */
function oneHotLabels(cells: string[], line: number, file: string, spec: SourceSpec, cols: LabelColumns): string[] {
  const labels: string[] = [];
  const { header } = cols;
  for (const c of cols.labelCols) {
    const v = (cells[c] ?? '').trim();
    if (TRUE_CELL.test(v)) labels.push(spec.labels?.[header[c]] ?? header[c]);
    else if (!FALSE_CELL.test(v))
      throw new CbirError(`column "${header[c]}" holds "${v}", expected 0 or 1`, {
        file,
        row: line,
        hint: "with several label columns each is one-hot: 1 for the image's label, 0 elsewhere",
        code: 'labels/bad-cell',
      });
  }
  return labels;
}

/** The error for a 0/1 label column without a labels map to name its classes. */
function needsLabelMap(file: string, column: string, row: number): CbirError {
  return new CbirError(`label column "${column}" holds 0/1 values but the source has no labels map`, {
    file,
    row,
    hint: `name the classes, e.g. labels=0:normal;1:${column} (JSON: "labels": {"0": "normal", "1": "${column}"})`,
    code: 'labels/needs-map',
  });
}

/** Normalised numeric id (leading zeros stripped) of an all-digit id, else undefined. */
function numericId(s: string): string | undefined {
  return /^\d+$/.test(s) ? String(BigInt(s)) : undefined;
}

/**
 * Match label-table ids to files: by file name, by stem, then by number (so id 7 matches
 * 007.png); `extraKeys` adds ids per file (e.g. its SOPInstanceUID), `byFileName` false matches
 * only those. Returns the label row per file (or undefined) and the ids that matched no file.
 */
export function matchLabels(
  table: LabelTable,
  files: readonly string[],
  extraKeys?: (i: number) => string[],
  byFileName = true,
): {
  byFile: ({ id: string; row: number; labels: string[]; split?: Split } | undefined)[];
  unmatched: { id: string; row: number; labels: string[] }[];
} {
  const byName = new Map<string, string>();
  const byNumber = new Map<string, string>();
  for (const id of table.rows.keys()) {
    byName.set(id, id);
    byName.set(id.toLowerCase(), id);
    const n = numericId(id);
    if (n !== undefined && !byNumber.has(n)) byNumber.set(n, id);
  }
  const used = new Set<string>();
  const byFile = files.map((f, i) => {
    const name = basename(f);
    const stem = name.slice(0, name.length - extname(name).length);
    const keys = [
      ...(byFileName ? [name, stem, name.toLowerCase(), stem.toLowerCase()] : []),
      ...(extraKeys ? extraKeys(i) : []),
    ];
    let id: string | undefined;
    for (const k of keys) if ((id = byName.get(k)) !== undefined) break;
    if (id === undefined && byFileName) {
      const n = numericId(stem);
      if (n !== undefined) id = byNumber.get(n);
    }
    if (id === undefined) return undefined;
    used.add(id);
    const r = table.rows.get(id)!;
    return { id, ...r };
  });
  const unmatched = [...table.rows.entries()]
    .filter(([id]) => !used.has(id))
    .map(([id, r]) => ({ id, row: r.row, labels: r.labels }));
  return { byFile, unmatched };
}

/** Turn a label-table hit into a label, or report why the file is excluded. */
export function labelFromRow(
  hit: { id: string; row: number; labels: string[] } | undefined,
  where: { dataset: string; rel: string; csv: string },
  rows: ReportRow[],
): string | undefined {
  const csvName = basename(where.csv);
  if (!hit) {
    rows.push({
      kind: 'missing-label',
      dataset: where.dataset,
      file: where.rel,
      class: '',
      action: 'skipped',
      detail: `no row in ${csvName}`,
    });
    return undefined;
  }
  if (hit.labels.length === 0) {
    rows.push({
      kind: 'unlabeled',
      dataset: where.dataset,
      file: where.rel,
      class: '',
      action: 'excluded',
      detail: `${csvName} row ${hit.row} (id ${hit.id}) gives no label`,
    });
    return undefined;
  }
  if (hit.labels.length > 1) {
    rows.push({
      kind: 'multi-label',
      dataset: where.dataset,
      file: where.rel,
      class: hit.labels.join('+'),
      action: 'excluded',
      detail: `${csvName} row ${hit.row} (id ${hit.id}) gives ${hit.labels.length} labels (${hit.labels.join(', ')}); the study is single-label`,
    });
    return undefined;
  }
  return hit.labels[0];
}

/** Report the label rows that matched no file. */
function reportUnmatched(
  unmatched: { id: string; row: number; labels: string[] }[],
  spec: SourceSpec,
  csv: string,
  rows: ReportRow[],
): void {
  for (const u of unmatched)
    rows.push({
      kind: 'missing-file',
      dataset: spec.dataset,
      file: u.id,
      class: u.labels.join('+'),
      action: 'skipped',
      detail: `${basename(csv)} row ${u.row}: no image file for id ${u.id}`,
    });
}

/** Scan a csv source: image files under `images` labelled through the label CSV. */
async function scanCsv(spec: SourceSpec, sourceIndex: number): Promise<ScanResult> {
  const root = spec.path;
  requireDir(spec, root, 'source folder');
  const imagesDir = resolve(root, spec.images ?? '.');
  requireDir(spec, imagesDir, 'images folder');
  const csv = resolve(root, spec.csv!);
  const rows: ReportRow[] = [];
  const table = await readLabelTable(csv, spec);
  const files = await walkImages(imagesDir, root, 'image', spec.dataset, rows, csv);
  const { byFile, unmatched } = matchLabels(table, files);
  const candidates: Candidate[] = [];
  files.forEach((f, i) => {
    const rel = relPath(root, f);
    const label = labelFromRow(byFile[i], { dataset: spec.dataset, rel, csv }, rows);
    if (label === undefined) return;
    const ref = `${spec.dataset}/${rel}`;
    candidates.push({
      source: sourceIndex,
      kind: 'image',
      rel,
      ref,
      file: f,
      label,
      given: byFile[i]!.split,
      group: groupOf(spec, f) ?? ref,
    });
  });
  reportUnmatched(unmatched, spec, csv, rows);
  return { candidates, rows };
}

/** Scan a dicom source: class folders, or all DICOM files under path with a label CSV (labels applied after decoding). */
async function scanDicom(spec: SourceSpec, sourceIndex: number): Promise<ScanResult> {
  if (!spec.csv) return scanClassFolders(spec, sourceIndex, 'dicom');
  const root = spec.path;
  requireDir(spec, root, 'source folder');
  const rows: ReportRow[] = [];
  const csv = resolve(root, spec.csv);
  const table = await readLabelTable(csv, spec);
  const files = await walkImages(resolve(root, spec.images ?? '.'), root, 'dicom', spec.dataset, rows, csv);
  const candidates = files.map((f): Candidate => {
    const rel = relPath(root, f);
    const ref = `${spec.dataset}/${rel}`;
    return { source: sourceIndex, kind: 'dicom', rel, ref, file: f, group: groupOf(spec, f) ?? ref };
  });
  return { candidates, rows, labelTable: table };
}

/** The .npz file of an npz source: `path` itself, or the only .npz in the folder `path`. */
export async function npzFileOf(spec: SourceSpec): Promise<string> {
  if (!existsSync(spec.path))
    throw sourceError(
      spec,
      `not found: ${spec.path}`,
      'point path at the .npz file (or a folder holding exactly one)',
      'source/not-found',
    );
  if (statSync(spec.path).isFile()) return spec.path;
  const npz = (await readdir(spec.path)).filter((f) => f.toLowerCase().endsWith('.npz') && !hidden(f)).sort();
  if (npz.length !== 1)
    throw sourceError(
      spec,
      `${npz.length === 0 ? 'no' : npz.length} .npz files in ${spec.path}${npz.length > 1 ? ` (${npz.join(', ')})` : ''}`,
      'point path at one .npz file',
      'source/npz-count',
    );
  return join(spec.path, npz[0]);
}

/** An npz source's arrays: per split (or one unsplit set) the images and labels members. */
export interface NpzLayout {
  file: string;
  parts: { split?: Split; images: string; labels: string; n: number }[];
}

/** Find `{split}_images`/`{split}_labels` (or `images`/`labels`) in an npz member list with shapes. */
export function npzLayout(file: string, shapes: Record<string, number[]>, spec: SourceSpec): NpzLayout {
  const parts: NpzLayout['parts'] = [];
  for (const s of SPLITS) {
    if (shapes[`${s}_images`]) {
      if (!shapes[`${s}_labels`])
        throw new CbirError(`array ${s}_labels is missing next to ${s}_images`, {
          file,
          hint: 'a MedMNIST-style .npz holds {split}_images and {split}_labels',
          code: 'npz/missing-labels',
        });
      parts.push({ split: s, images: `${s}_images`, labels: `${s}_labels`, n: shapes[`${s}_images`][0] });
    }
  }
  if (parts.length === 0 && shapes.images && shapes.labels)
    parts.push({ images: 'images', labels: 'labels', n: shapes.images[0] });
  if (parts.length === 0)
    throw new CbirError(`no image arrays found (the file holds: ${Object.keys(shapes).join(', ')})`, {
      file,
      hint: 'expected train_images/train_labels, val_…, test_… (MedMNIST) or images/labels',
      code: 'npz/no-images',
    });
  for (const p of parts) {
    const ls = shapes[p.labels];
    if (ls[0] !== p.n)
      throw new CbirError(`${p.labels} has ${ls[0]} rows but ${p.images} has ${p.n} images`, {
        file,
        hint: 'labels and images must have one row per image',
        code: 'npz/length-mismatch',
      });
  }
  void spec;
  return { file, parts };
}

/**
 * Scan one source into candidate images plus report rows (hidden, non-image, label problems).
 * npz sources are listed from their arrays by prepare itself (see prepare.ts).
 */
export async function scanSource(spec: SourceSpec, sourceIndex: number): Promise<ScanResult> {
  switch (spec.type) {
    case 'folder':
      return scanClassFolders(spec, sourceIndex, 'image');
    case 'csv':
      return scanCsv(spec, sourceIndex);
    case 'dicom':
      return scanDicom(spec, sourceIndex);
    default:
      throw new Error(`scanSource: ${spec.type} sources are read by prepare`);
  }
}

export { reportUnmatched };
