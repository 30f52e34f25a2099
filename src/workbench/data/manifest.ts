import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve, isAbsolute, basename, relative } from 'node:path';
import { CbirError } from '../errors.js';
import { imagesRootEnv } from '../paths.js';
import { readCsvRecords, csvLine } from '../util/csv.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { sha256, writeFileAtomic, writeJsonAtomic } from '../util/fsx.js';

/**
 * The manifest is the study's dataset CSV: one row per image,
 * `filepath,dataset,split,modality,anatomic_region`, then one 0/1 column per class named
 * `MODALITY/region/label`, exactly one 1 per row. Next to it, `classes.csv` says for each
 * class whether it is anatomical (a region's normal class) or pathological, and
 * `dataset.json` records where the images live and how the manifest was made.
 *
 * Multi-label datasets: `relevance.json` next to the manifest may declare datasets (the `dataset`
 * column) multi-label, `{"multiLabel": ["nih14"]}`. Their rows may mark several classes; they are
 * kept, each with its label set (`Manifest.labelSets`, a bit mask per row). Every other dataset
 * keeps the study's single-label rule: a row with several classes is excluded and listed.
 */
export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];
/** Split codes as stored in `Manifest.split`. */
export const SPLIT_CODE: Record<Split, number> = { train: 0, val: 1, test: 2 };

export const FIXED_COLUMNS = ['filepath', 'dataset', 'split', 'modality', 'anatomic_region'] as const;

export type ClassKind = 'anatomical' | 'pathological';

export interface ClassInfo {
  /** `MODALITY/region/label`, the manifest column name. */
  name: string;
  modality: string;
  region: string;
  label: string;
  kind: ClassKind;
  /**
   * Only for the label-set class of a multi-label row: the class columns it combines, in column
   * order (see `labelSetClass`). Such a class is not a manifest column.
   */
  labels?: readonly string[];
}

/**
 * Rows with several classes marked, of a dataset declared multi-label: the class they count as
 * wherever one class per row is needed (P@N "same class", k-NN classification, the probe,
 * per-class tables). Rule: the label-set combination is its own class, named
 * `MODALITY/region/labelA+labelB` (labels in column order), i.e. "same class" = the exact same
 * label set. It keeps P@N strict and well defined without choosing a "main" finding, which the
 * data does not give; the graded view (label sets intersect, Jaccard gain) is the ranking
 * metrics' multi-label relevance. The members must share modality and region.
 */
export function labelSetClass(members: readonly ClassInfo[], where: { file?: string; row?: number } = {}): ClassInfo {
  const [first] = members;
  const mixed = members.find((c) => c.modality !== first.modality || c.region !== first.region);
  if (mixed) {
    throw new CbirError(`a multi-label row marks classes of different regions (${first.name}, ${mixed.name})`, {
      ...where,
      hint: 'the classes of one multi-label row must share MODALITY/region',
      code: 'manifest/multi-label-regions',
    });
  }
  const labels = members.map((c) => c.label);
  return {
    name: `${first.modality}/${first.region}/${labels.join('+')}`,
    modality: first.modality,
    region: first.region,
    label: labels.join('+'),
    kind: members.some((c) => c.kind === 'pathological') ? 'pathological' : 'anatomical',
    labels: members.map((c) => c.name),
  };
}

/** The most labels a label set may hold (one bit each of a Uint32 mask). */
export const MAX_LABELS = 32;

/** The label sets of a manifest with datasets declared multi-label. */
export interface LabelSets {
  /** Datasets declared multi-label (relevance.json `multiLabel`), as declared. */
  datasets: string[];
  /** Class index (into `Manifest.classes`, a class column) of each mask bit. */
  bits: Int32Array;
  /**
   * Per row: its label set as bits over `bits`. Rows of single-label datasets get the bit of
   * their class when it is one of `bits`, else 0 (a label set outside the multi-label labels).
   */
  masks: Uint32Array;
  /** Per row: 1 when its dataset is declared multi-label. */
  multiLabel: Uint8Array;
}

/** One image as a plain object (for building manifests and for display; not for bulk work). */
export interface ManifestEntry {
  filepath: string;
  dataset: string;
  split: Split;
  modality: string;
  anatomicRegion: string;
  /** Class name, `MODALITY/region/label`. */
  className: string;
  /**
   * Multi-label rows (declared datasets only): the class columns marked, ≥ 2; the row's class is
   * then their label-set class (`labelSetClass`), whatever `className` says.
   */
  labels?: readonly string[];
}

/** A row of the source CSV that was read but not kept (multi-label rows). */
export interface ExcludedRow {
  row: number;
  filepath: string;
  reason: string;
}

/** Metadata written next to a prepared manifest (`dataset.json`). */
export interface DatasetMeta {
  name?: string;
  /** Folder that manifest file paths are relative to; relative to the manifest folder when not absolute. */
  imagesRoot?: string;
  createdAt?: string;
  [key: string]: unknown;
}

/** Labels that mark the "normal" class of a region: the study's anatomical classes. */
export const NORMAL_LABEL =
  /^(normal|notumor|no[_ -]?tumou?r|no[_ -]?finding|healthy|ct_noncovid|noncovid|non[_ -]?covid|no[_ -]?hemorrhage|negative)$/i;

export function parseClassName(name: string, where: { file?: string; row?: number } = {}): Omit<ClassInfo, 'kind'> {
  const parts = name.split('/');
  if (parts.length < 3 || parts.some((p) => p.trim() === '')) {
    throw new CbirError(`class column "${name}" is not of the form MODALITY/region/label`, {
      ...where,
      hint: 'name class columns like MR/brain/glioma or XR/chest/Pneumonia',
      code: 'manifest/bad-class-name',
    });
  }
  return { name, modality: parts[0], region: parts[1], label: parts.slice(2).join('/') };
}

export function classInfoFromName(name: string, kind?: ClassKind): ClassInfo {
  const c = parseClassName(name);
  return { ...c, kind: kind ?? (NORMAL_LABEL.test(c.label) ? 'anatomical' : 'pathological') };
}

/**
 * A manifest held column-wise: typed arrays of codes for split, class, dataset, modality and
 * region, and one string per image for its path, so 1.6 M rows fit comfortably in memory.
 */
export class Manifest {
  constructor(
    /** Folder of the manifest (where manifest.csv, classes.csv and dataset.json live). */
    readonly dir: string,
    /** Absolute folder that `filepaths` are relative to. */
    readonly imagesRoot: string,
    readonly filepaths: string[],
    readonly datasets: string[],
    readonly datasetIndex: Uint16Array,
    readonly split: Uint8Array,
    readonly modalities: string[],
    readonly modalityIndex: Uint16Array,
    readonly regions: string[],
    readonly regionIndex: Uint16Array,
    readonly classes: ClassInfo[],
    readonly classIndex: Uint16Array,
    /** sha256 of the manifest content (rows in order, class table); identifies the dataset. */
    readonly hash: string,
    readonly excluded: ExcludedRow[] = [],
    readonly meta: DatasetMeta = {},
    /** Label sets per row, when datasets are declared multi-label (else null). */
    readonly labelSets: LabelSets | null = null,
  ) {}

  get size(): number {
    return this.filepaths.length;
  }

  /** Absolute path of image i. */
  resolvePath(i: number): string {
    const p = this.filepaths[i];
    return isAbsolute(p) ? p : join(this.imagesRoot, p);
  }

  entry(i: number): ManifestEntry {
    const c = this.classes[this.classIndex[i]];
    return {
      filepath: this.filepaths[i],
      dataset: this.datasets[this.datasetIndex[i]],
      split: SPLITS[this.split[i]],
      modality: this.modalities[this.modalityIndex[i]],
      anatomicRegion: this.regions[this.regionIndex[i]],
      className: c.name,
      ...(c.labels ? { labels: c.labels } : {}),
    };
  }

  /** Row indices of one split, in manifest order. */
  indicesOf(split: Split): Int32Array {
    const code = SPLIT_CODE[split];
    let n = 0;
    for (let i = 0; i < this.size; i++) if (this.split[i] === code) n++;
    const out = new Int32Array(n);
    let k = 0;
    for (let i = 0; i < this.size; i++) if (this.split[i] === code) out[k++] = i;
    return out;
  }

  /** Number of images per class (indexed like `classes`), optionally within one split. */
  classCounts(split?: Split): Int32Array {
    const out = new Int32Array(this.classes.length);
    const code = split === undefined ? -1 : SPLIT_CODE[split];
    for (let i = 0; i < this.size; i++) if (code < 0 || this.split[i] === code) out[this.classIndex[i]]++;
    return out;
  }

  /** Build from plain entries (used by `prepare`, the phantom generator and tests). */
  static fromEntries(
    entries: readonly ManifestEntry[],
    classes: readonly ClassInfo[],
    opts: { dir?: string; imagesRoot?: string; meta?: DatasetMeta; multiLabel?: readonly string[] } = {},
  ): Manifest {
    const dir = resolve(opts.dir ?? '.');
    const imagesRoot = resolve(dir, opts.imagesRoot ?? '.');
    // default: the datasets of the entries that carry several labels
    const declared = opts.multiLabel ?? [
      ...new Set(entries.filter((e) => (e.labels?.length ?? 0) > 1).map((e) => e.dataset)),
    ];
    const b = new ManifestBuilder(classes, declared);
    entries.forEach((e, k) => b.add(e, k + 2, '<entries>'));
    return b.build(dir, imagesRoot, [], opts.meta ?? {});
  }
}

/** Interns strings to small integer codes. */
class Interner {
  readonly values: string[] = [];
  private readonly map = new Map<string, number>();
  code(v: string): number {
    let c = this.map.get(v);
    if (c === undefined) {
      c = this.values.length;
      this.values.push(v);
      this.map.set(v, c);
    }
    return c;
  }
}

class ManifestBuilder {
  readonly filepaths: string[] = [];
  readonly classes: ClassInfo[];
  private readonly multiLabel: ReadonlySet<string>;
  private readonly datasets = new Interner();
  private readonly modalities = new Interner();
  private readonly regions = new Interner();
  private split: number[] = [];
  private ds: number[] = [];
  private mod: number[] = [];
  private reg: number[] = [];
  private cls: number[] = [];
  private readonly classCode = new Map<string, number>();
  private readonly seen = new Map<string, number>();

  constructor(
    classes: readonly ClassInfo[],
    readonly declared: readonly string[] = [],
  ) {
    this.classes = [...classes];
    this.multiLabel = new Set(declared);
    classes.forEach((c, i) => this.classCode.set(c.name, i));
    // a label-set class given without its member columns (a subset of a manifest): add them
    for (const c of classes)
      for (const name of c.labels ?? []) {
        if (this.classCode.has(name)) continue;
        this.classCode.set(name, this.classes.length);
        this.classes.push(classInfoFromName(name));
      }
  }

  /** The class code of an entry: its class, or the label-set class of its labels (added when new). */
  private classOf(e: ManifestEntry, row: number, file: string): number {
    if (!e.labels || e.labels.length < 2) {
      const c = this.classCode.get(e.className);
      if (c === undefined)
        throw new CbirError(`unknown class "${e.className}"`, { file, row, code: 'manifest/unknown-class' });
      return c;
    }
    if (!this.multiLabel.has(e.dataset)) {
      throw new CbirError(`row marks ${e.labels.length} classes but dataset "${e.dataset}" is single-label`, {
        file,
        row,
        hint: `declare it multi-label in relevance.json: {"multiLabel": ["${e.dataset}"]}`,
        code: 'manifest/multi-label-undeclared',
      });
    }
    const members = e.labels.map((name) => {
      const k = this.classCode.get(name);
      if (k === undefined || this.classes[k].labels)
        throw new CbirError(`unknown class "${name}"`, { file, row, code: 'manifest/unknown-class' });
      return k;
    });
    members.sort((a, b) => a - b);
    const set = labelSetClass(
      members.map((k) => this.classes[k]),
      { file, row },
    );
    let c = this.classCode.get(set.name);
    if (c === undefined) {
      c = this.classes.length;
      this.classes.push(set);
      this.classCode.set(set.name, c);
    }
    return c;
  }

  add(e: ManifestEntry, row: number, file: string): void {
    const c = this.classOf(e, row, file);
    const prev = this.seen.get(e.filepath);
    if (prev !== undefined) {
      throw new CbirError(`filepath "${e.filepath}" appears twice (rows ${prev} and ${row})`, {
        file,
        row,
        hint: 'each image must be listed once; remove the duplicate row',
        code: 'manifest/duplicate-path',
      });
    }
    this.seen.set(e.filepath, row);
    this.filepaths.push(e.filepath);
    this.split.push(SPLIT_CODE[e.split]);
    this.ds.push(this.datasets.code(e.dataset));
    this.mod.push(this.modalities.code(e.modality));
    this.reg.push(this.regions.code(e.anatomicRegion));
    this.cls.push(c);
  }

  /** The label sets of the rows (null when no dataset is declared multi-label). */
  private labelSets(file: string): LabelSets | null {
    if (this.multiLabel.size === 0) return null;
    const declared = this.datasets.values.map((d) => this.multiLabel.has(d));
    const multiLabel = Uint8Array.from(this.ds, (d) => (declared[d] ? 1 : 0));
    const columns = (c: number): number[] =>
      this.classes[c].labels ? this.classes[c].labels!.map((n) => this.classCode.get(n)!) : [c];
    const used = new Set<number>();
    this.cls.forEach((c, i) => multiLabel[i] && columns(c).forEach((k) => used.add(k)));
    const bits = Int32Array.from([...used].sort((a, b) => a - b));
    if (bits.length > MAX_LABELS) {
      throw new CbirError(
        `the multi-label datasets use ${bits.length} labels, more than the ${MAX_LABELS} a label set holds`,
        {
          file,
          hint: `declare fewer datasets multi-label, or merge rare findings so at most ${MAX_LABELS} class columns are marked in their rows`,
          code: 'manifest/too-many-labels',
        },
      );
    }
    const bitOf = new Map(Array.from(bits, (k, b) => [k, b]));
    const maskOf = this.classes.map((_, c) =>
      columns(c).reduce((m, k) => (bitOf.has(k) ? (m | (1 << bitOf.get(k)!)) >>> 0 : m), 0),
    );
    const masks = Uint32Array.from(this.cls, (c) => maskOf[c]);
    return { datasets: [...this.declared], bits, masks, multiLabel };
  }

  build(dir: string, imagesRoot: string, excluded: ExcludedRow[], meta: DatasetMeta, file = '<entries>'): Manifest {
    const labelSets = this.labelSets(file);
    const hash = manifestHash(
      this.filepaths,
      this.datasets.values,
      this.ds,
      this.split,
      this.modalities.values,
      this.mod,
      this.regions.values,
      this.reg,
      this.classes,
      this.cls,
    );
    return new Manifest(
      dir,
      imagesRoot,
      this.filepaths,
      this.datasets.values,
      Uint16Array.from(this.ds),
      Uint8Array.from(this.split),
      this.modalities.values,
      Uint16Array.from(this.mod),
      this.regions.values,
      Uint16Array.from(this.reg),
      [...this.classes],
      Uint16Array.from(this.cls),
      hash,
      excluded,
      meta,
      labelSets,
    );
  }
}

function manifestHash(
  paths: string[],
  dsv: string[],
  ds: number[],
  sp: number[],
  mv: string[],
  mod: number[],
  rv: string[],
  reg: number[],
  classes: readonly ClassInfo[],
  cls: number[],
): string {
  const lines: string[] = [classes.map((c) => `${c.name}:${c.kind}`).join('|')];
  for (let i = 0; i < paths.length; i++)
    lines.push(`${paths[i]}\t${dsv[ds[i]]}\t${SPLITS[sp[i]]}\t${mv[mod[i]]}\t${rv[reg[i]]}\t${classes[cls[i]].name}`);
  return sha256(lines.join('\n'));
}

const SPLIT_ALIASES: Record<string, Split> = {
  train: 'train',
  training: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  test: 'test',
  testing: 'test',
};

export function parseSplit(value: string, where: { file?: string; row?: number } = {}): Split {
  const s = SPLIT_ALIASES[value.trim().toLowerCase()];
  if (!s) {
    throw new CbirError(`unknown split "${value}"`, {
      ...where,
      hint: 'use train (the index), val (model selection) or test (the queries)',
      code: 'manifest/unknown-split',
    });
  }
  return s;
}

export interface ReadManifestOptions {
  /**
   * Folder the file paths are relative to; overrides everything else. Default: $CBIR_IMAGES_ROOT
   * for a manifest whose images lie outside its folder (see `manifestImagesRoot`), else
   * dataset.json's imagesRoot, else the manifest's folder.
   */
  imagesRoot?: string;
  /** Environment to read CBIR_IMAGES_ROOT from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Stop after this many errors and report them together. Default 20. */
  maxErrors?: number;
  /** Datasets whose rows may mark several classes; default: relevance.json's `multiLabel` (see `readMultiLabel`). */
  multiLabel?: readonly string[];
  /** Progress of reading the CSV, in MiB (phase 'read manifest'); worth it from about a million rows. */
  onProgress?: ProgressListener;
}

/** Where a manifest's files are. */
interface ManifestLocation {
  /** The manifest CSV. */
  csvPath: string;
  /** Folder of the manifest (classes.csv and dataset.json live here). */
  dir: string;
}

/** The parsed header row of a manifest CSV. */
interface ManifestHeader {
  header: string[];
  /** Column index by (trimmed) column name. */
  col: Record<string, number>;
  /** Indices of the class columns (names holding a '/'). */
  classCols: number[];
  /** One class per class column, in column order. */
  classes: ClassInfo[];
}

/** What one data row of a manifest gives: an image, an excluded (multi-label) row, a problem, or nothing (blank line). */
type ManifestRow =
  | { kind: 'entry'; entry: ManifestEntry }
  | { kind: 'excluded'; excluded: ExcludedRow }
  | { kind: 'error'; error: CbirError }
  | { kind: 'blank' };

/** Collects row problems; throws them together once `maxErrors` are reached. */
class ManifestErrors {
  readonly errors: CbirError[] = [];
  constructor(
    private readonly maxErrors: number,
    private readonly file: string,
  ) {}

  add(e: CbirError): void {
    this.errors.push(e);
    if (this.errors.length >= this.maxErrors) throw combine(this.errors, this.file);
  }
}

/**
 * Read and validate a manifest: a folder holding manifest.csv (plus optional classes.csv and
 * dataset.json), or a CSV file in the study's layout. Every problem names the file, the row
 * and what to fix; up to `maxErrors` problems are reported together. Multi-label rows are
 * excluded and listed in `manifest.excluded`, never silently kept.
 */
export async function readManifest(path: string, options: ReadManifestOptions = {}): Promise<Manifest> {
  const { csvPath, dir } = locateManifest(path);
  const meta: DatasetMeta = existsSync(join(dir, 'dataset.json'))
    ? JSON.parse(await readFile(join(dir, 'dataset.json'), 'utf8'))
    : {};
  const classKinds = await readClassKinds(dir, csvPath);
  const imagesRoot = manifestImagesRoot(dir, meta, options);
  const errors = new ManifestErrors(options.maxErrors ?? 20, csvPath);
  const declared = options.multiLabel ?? readMultiLabel(dir);

  let head: ManifestHeader | null = null;
  let builder: ManifestBuilder | null = null;
  const excluded: ExcludedRow[] = [];
  const mib = Math.max(1, Math.ceil(statSync(csvPath).size / 2 ** 20));
  const tracker = new ProgressTracker('read manifest', mib, options.onProgress, 'MiB');
  const onBytes = (b: number) => tracker.add(Math.min(mib, Math.floor(b / 2 ** 20)) - tracker.done);
  for await (const { cells, line } of readCsvRecords(csvPath, options.onProgress && onBytes)) {
    if (head === null) {
      head = parseManifestHeader(cells, line, csvPath, classKinds);
      builder = new ManifestBuilder(head.classes, declared);
      continue;
    }
    const r = parseManifestRow(cells, line, head, csvPath, declared);
    if (r.kind === 'error') errors.add(r.error);
    else if (r.kind === 'excluded') excluded.push(r.excluded);
    else if (r.kind === 'entry') {
      try {
        builder!.add(r.entry, line, csvPath);
      } catch (e) {
        errors.add(e as CbirError);
      }
    }
  }
  tracker.add(mib - tracker.done);
  if (head === null || builder === null) {
    throw new CbirError('the manifest is empty', {
      file: csvPath,
      hint: 'it needs a header row and one row per image',
      code: 'manifest/empty',
    });
  }
  if (errors.errors.length > 0) throw combine(errors.errors, csvPath);
  if (builder.filepaths.length === 0) {
    throw new CbirError('the manifest has a header but no images', {
      file: csvPath,
      hint: 'add one row per image',
      code: 'manifest/empty',
    });
  }
  return builder.build(dir, imagesRoot, excluded, meta, csvPath);
}

/** What `relevance.json` looks like, for hints. */
const RELEVANCE_EXAMPLE = '{"multiLabel": ["nih14", "chexpert"]}';

/**
 * The datasets `<dir>/relevance.json` declares multi-label (`"multiLabel": [dataset, …]`, names of
 * the manifest's dataset column); [] when there is no such file or key.
 */
export function readMultiLabel(dir: string): string[] {
  const file = join(dir, 'relevance.json');
  if (!existsSync(file)) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CbirError(`relevance.json is not valid JSON (${e instanceof Error ? e.message : String(e)})`, {
      file,
      hint: `e.g. ${RELEVANCE_EXAMPLE}`,
      code: 'manifest/bad-relevance',
    });
  }
  const v = raw !== null && typeof raw === 'object' ? (raw as { multiLabel?: unknown }).multiLabel : undefined;
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((d) => typeof d === 'string' && d.trim() !== '')) {
    throw new CbirError('relevance.json: "multiLabel" must be a list of dataset names', {
      file,
      hint: `name datasets as the manifest's dataset column does, e.g. ${RELEVANCE_EXAMPLE}`,
      code: 'manifest/bad-relevance',
    });
  }
  return v.map((d: string) => d.trim());
}

/**
 * The absolute folder a manifest's file paths are relative to. An explicit `imagesRoot` wins.
 * Then $CBIR_IMAGES_ROOT, but only for a manifest whose images lie outside its own folder
 * (dataset.json's imagesRoot points outside it, or there is no dataset.json, as for the study's
 * CSVs): a manifest that holds its images (images written out by data preparation, the phantom)
 * moves with them and ignores it. Then dataset.json's imagesRoot (relative to the manifest
 * folder), else the manifest folder itself.
 */
export function manifestImagesRoot(
  dir: string,
  meta: DatasetMeta,
  options: Pick<ReadManifestOptions, 'imagesRoot' | 'env'> = {},
): string {
  if (options.imagesRoot !== undefined) return resolve(dir, options.imagesRoot);
  const declared = resolve(dir, meta.imagesRoot ?? '.');
  const up = relative(resolve(dir), declared);
  const inside = meta.imagesRoot !== undefined && up !== '..' && !up.startsWith('../') && !isAbsolute(up);
  const env = imagesRootEnv(options.env);
  return env !== null && !inside ? env : declared;
}

/** The manifest CSV and its folder, for a folder (its manifest.csv) or a CSV path. */
function locateManifest(path: string): ManifestLocation {
  let csvPath = path;
  let dir = dirname(resolve(path));
  if (existsSync(path) && statSync(path).isDirectory()) {
    dir = resolve(path);
    csvPath = join(path, 'manifest.csv');
    if (!existsSync(csvPath)) {
      throw new CbirError('no manifest.csv in this folder', {
        file: path,
        hint: 'prepare the dataset into this folder first, or give the CSV file itself',
        code: 'manifest/not-found',
      });
    }
  } else if (!existsSync(path)) {
    throw new CbirError('manifest not found', {
      file: path,
      hint: "give a folder made by data preparation (holding manifest.csv) or a CSV in the study's layout",
      code: 'manifest/not-found',
    });
  }
  return { csvPath, dir };
}

/** The class kinds of the class table next to the manifest (classes.csv, or `<name>.classes.csv`), if there is one. */
async function readClassKinds(dir: string, csvPath: string): Promise<Map<string, ClassKind>> {
  const classTablePath = join(
    dir,
    basename(csvPath) === 'manifest.csv' ? 'classes.csv' : basename(csvPath).replace(/\.csv$/i, '') + '.classes.csv',
  );
  return existsSync(classTablePath) ? await readClassTable(classTablePath) : new Map<string, ClassKind>();
}

/** Check the header row: the fixed columns, then at least one class column named MODALITY/region/label. */
function parseManifestHeader(
  cells: string[],
  line: number,
  csvPath: string,
  classKinds: Map<string, ClassKind>,
): ManifestHeader {
  const header = cells.map((c) => c.trim());
  const col: Record<string, number> = {};
  header.forEach((h, i) => {
    col[h] = i;
  });
  const missing = FIXED_COLUMNS.filter((c) => col[c] === undefined);
  if (missing.length > 0) {
    throw new CbirError(
      `missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} in the header`,
      {
        file: csvPath,
        row: line,
        hint: `the header must start with ${FIXED_COLUMNS.join(',')} followed by one 0/1 column per class (MODALITY/region/label); found: ${header.join(',')}`,
        code: 'manifest/missing-column',
      },
    );
  }
  const classCols = header.map((h, i) => (h.includes('/') ? i : -1)).filter((i) => i >= 0);
  if (classCols.length === 0) {
    throw new CbirError('no class columns in the header', {
      file: csvPath,
      row: line,
      hint: 'add one 0/1 column per class, named MODALITY/region/label',
      code: 'manifest/no-classes',
    });
  }
  const classes = classCols.map((i): ClassInfo => {
    const c = parseClassName(header[i], { file: csvPath, row: line });
    return { ...c, kind: classKinds.get(c.name) ?? (NORMAL_LABEL.test(c.label) ? 'anatomical' : 'pathological') };
  });
  return { header, col, classCols, classes };
}

/** Validate one data row: its cell count, path, split and exactly one class marked. */
function parseManifestRow(
  cells: string[],
  line: number,
  head: ManifestHeader,
  csvPath: string,
  multiLabel: readonly string[],
): ManifestRow {
  const { header, col, classes } = head;
  const where = { file: csvPath, row: line };
  if (cells.length === 1 && cells[0].trim() === '') return { kind: 'blank' };
  if (cells.length !== header.length) {
    return rowError(`row has ${cells.length} cells, the header has ${header.length}`, where, {
      hint: 'check for a missing or extra comma, or an unquoted comma inside a path',
      code: 'manifest/ragged-row',
    });
  }
  const filepath = cells[col.filepath].trim();
  if (filepath === '') {
    return rowError('empty filepath', where, {
      hint: 'every row needs the path of its image',
      code: 'manifest/empty-path',
    });
  }
  let split: Split;
  try {
    split = parseSplit(cells[col.split], where);
  } catch (e) {
    return { kind: 'error', error: e as CbirError };
  }
  const ones = markedClasses(cells, head, where);
  if (ones instanceof CbirError) return { kind: 'error', error: ones };
  if (ones.length === 0) {
    return rowError(`no class marked for "${filepath}"`, where, {
      hint: 'set exactly one class column to 1, or remove the row',
      code: 'manifest/no-label',
    });
  }
  const dataset = cells[col.dataset].trim();
  if (ones.length > 1 && !multiLabel.includes(dataset)) {
    const reason = `multi-label (${ones.map((k) => classes[k].name).join(' + ')}); the study is single-label (relevance.json declares ${multiLabel.length ? `only ${multiLabel.join(', ')}` : 'no dataset'} multi-label)`;
    return { kind: 'excluded', excluded: { row: line, filepath, reason } };
  }
  const entry: ManifestEntry = {
    filepath,
    dataset,
    split,
    modality: cells[col.modality].trim(),
    anatomicRegion: cells[col.anatomic_region].trim(),
    className: classes[ones[0]].name,
    ...(ones.length > 1 ? { labels: ones.map((k) => classes[k].name) } : {}),
  };
  return { kind: 'entry', entry };
}

/** A row problem as a ManifestRow. */
function rowError(
  msg: string,
  where: { file: string; row: number },
  details: { hint: string; code: string },
): ManifestRow {
  return { kind: 'error', error: new CbirError(msg, { ...where, ...details }) };
}

/** Indices (into `classes`) of the class columns set to 1, or the error of the first cell that is not 0/1. */
function markedClasses(
  cells: string[],
  head: ManifestHeader,
  where: { file: string; row: number },
): number[] | CbirError {
  const ones: number[] = [];
  const { classCols, header } = head;
  for (let k = 0; k < classCols.length; k++) {
    const v = cells[classCols[k]].trim();
    if (v === '1' || v === '1.0' || v === 'True' || v === 'true') ones.push(k);
    else if (!(v === '0' || v === '0.0' || v === 'False' || v === 'false' || v === '')) {
      return new CbirError(`class column "${header[classCols[k]]}" holds "${v}", expected 0 or 1`, {
        ...where,
        hint: "class columns are one-hot: 1 for the image's class, 0 elsewhere",
        code: 'manifest/bad-label-cell',
      });
    }
  }
  return ones;
}

function combine(errors: CbirError[], file: string): CbirError {
  if (errors.length === 1) return errors[0];
  const e = new CbirError(
    `${errors.length}${errors.length >= 20 ? '+' : ''} problems in the manifest:\n` +
      errors.map((x) => '  - ' + x.message.replace(/\n/g, '\n    ')).join('\n'),
    { file, code: 'manifest/invalid' },
  );
  return e;
}

/** Read `classes.csv` (class,modality,region,label,kind). */
export async function readClassTable(file: string): Promise<Map<string, ClassKind>> {
  const out = new Map<string, ClassKind>();
  let header: string[] | null = null;
  for await (const { cells, line } of readCsvRecords(file)) {
    if (!header) {
      header = cells.map((c) => c.trim());
      continue;
    }
    const ci = header.indexOf('class');
    const ki = header.indexOf('kind');
    if (ci < 0 || ki < 0)
      throw new CbirError('class table needs columns "class" and "kind"', {
        file,
        row: 1,
        code: 'classes/missing-column',
      });
    const kind = cells[ki]?.trim();
    if (kind !== 'anatomical' && kind !== 'pathological') {
      throw new CbirError(`kind "${kind}" is neither anatomical nor pathological`, {
        file,
        row: line,
        hint: 'anatomical = the normal class of a region; every other class is pathological',
        code: 'classes/bad-kind',
      });
    }
    out.set(cells[ci].trim(), kind);
  }
  return out;
}

/**
 * The manifest CSV text in the study's layout (header + one-hot class columns; a multi-label row
 * marks each class of its label set, label-set classes are not columns).
 */
export function manifestCsvLines(m: Manifest): Generator<string> {
  const columns = m.classes.filter((c) => !c.labels);
  const at = new Map(columns.map((c, j) => [c.name, j]));
  const marks = m.classes.map((c) => (c.labels ?? [c.name]).map((n) => at.get(n)!));
  return (function* () {
    yield csvLine([...FIXED_COLUMNS, ...columns.map((c) => c.name)]);
    const onehot = new Array<number>(columns.length).fill(0);
    for (let i = 0; i < m.size; i++) {
      const e = m.entry(i);
      for (const j of marks[m.classIndex[i]]) onehot[j] = 1;
      yield csvLine([e.filepath, e.dataset, e.split, e.modality, e.anatomicRegion, ...onehot]);
      for (const j of marks[m.classIndex[i]]) onehot[j] = 0;
    }
  })();
}

/** Declare the manifest's multi-label datasets in `<dir>/relevance.json`, keeping its other keys. */
async function writeMultiLabel(dir: string, datasets: readonly string[]): Promise<void> {
  const file = join(dir, 'relevance.json');
  if (datasets.length === 0 && !existsSync(file)) return;
  const old: Record<string, unknown> = existsSync(file) ? JSON.parse(await readFile(file, 'utf8')) : {};
  readMultiLabel(dir); // a broken file is an error, not overwritten
  if (datasets.length === 0 && old.multiLabel === undefined) return;
  const { multiLabel: _, ...rest } = old;
  await writeJsonAtomic(file, datasets.length ? { ...rest, multiLabel: [...datasets] } : rest);
}

/**
 * Write manifest.csv, classes.csv and dataset.json into `dir` (each atomically).
 * `imagesRoot` is stored relative to `dir` when it lies below it.
 */
export async function writeManifest(dir: string, m: Manifest, meta: DatasetMeta = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const lines: string[] = [];
  for (const l of manifestCsvLines(m)) lines.push(l);
  await writeFileAtomic(join(dir, 'manifest.csv'), lines.join('\n') + '\n');
  await writeFileAtomic(join(dir, 'classes.csv'), classTableCsv(m.classes.filter((c) => !c.labels)));
  await writeMultiLabel(dir, m.labelSets?.datasets ?? []);
  const absDir = resolve(dir);
  const root = m.imagesRoot.startsWith(absDir + '/')
    ? m.imagesRoot.slice(absDir.length + 1)
    : m.imagesRoot === absDir
      ? '.'
      : m.imagesRoot;
  await writeJsonAtomic(join(dir, 'dataset.json'), {
    ...m.meta,
    ...meta,
    imagesRoot: root,
    manifestHash: m.hash,
    images: m.size,
    classes: m.classes.length,
  });
}

export function classTableCsv(classes: readonly ClassInfo[]): string {
  return (
    [
      csvLine(['class', 'modality', 'region', 'label', 'kind']),
      ...classes.map((c) => csvLine([c.name, c.modality, c.region, c.label, c.kind])),
    ].join('\n') + '\n'
  );
}
