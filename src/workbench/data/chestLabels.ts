import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { CbirError } from '../errors.js';
import { readCsvRecords, csvLine } from '../util/csv.js';
import { writeFileAtomic } from '../util/fsx.js';
import { Manifest, writeManifest, NORMAL_LABEL, SPLITS, type ClassInfo, type ManifestEntry } from './manifest.js';
import { assignSplits } from './splits.js';

/**
 * Multi-label chest X-ray label files → a manifest that keeps every labelled row with its label
 * set, declared multi-label in relevance.json:
 *
 * - `nih14`: NIH ChestX-ray14 `Data_Entry_2017.csv`: `Image Index`, `Finding Labels` (findings
 *   separated by `|`, or `No Finding`), `Patient ID`. Images are found by file name anywhere
 *   under the images folder (the images_001/images/… layout or one flat folder).
 * - `chexpert`: CheXpert `train.csv` / `valid.csv`: `Path` (relative to the folder holding
 *   `CheXpert-v1.0…/`) and the 14 observation columns. A cell `1` is positive; `0` and blank are
 *   negative; `-1` (uncertain) is negative with `uncertain: 'zero'` (default, "U-Zeros") or
 *   positive with `'one'` ("U-Ones"). The patient is the `patientNNNNN` part of the path.
 *
 * Rows with no positive label (CheXpert rows with only blanks and -1 under U-Zeros) and rows whose
 * image is missing are skipped and listed in `label-problems.csv`. Splits are seeded, grouped by
 * patient (a patient never straddles splits) and stratified by label set (default 70/10/20).
 */
export type ChestLabelFormat = 'nih14' | 'chexpert';
export const CHEST_LABEL_FORMATS: readonly ChestLabelFormat[] = ['nih14', 'chexpert'];

export const CHEXPERT_LABELS = [
  'No Finding',
  'Enlarged Cardiomediastinum',
  'Cardiomegaly',
  'Lung Opacity',
  'Lung Lesion',
  'Edema',
  'Consolidation',
  'Pneumonia',
  'Atelectasis',
  'Pneumothorax',
  'Pleural Effusion',
  'Pleural Other',
  'Fracture',
  'Support Devices',
] as const;

export interface ChestLabelOptions {
  format: ChestLabelFormat;
  /** The label CSV. */
  csv: string;
  /** Folder the images are under (NIH: searched by file name; CheXpert: `Path` is relative to it). */
  images: string;
  /** Manifest folder to write. */
  out: string;
  /** The manifest's dataset name (default: the format). */
  dataset?: string;
  /** CheXpert -1 cells: 'zero' (negative, default) or 'one' (positive). */
  uncertain?: 'zero' | 'one';
  seed?: number;
  ratios?: readonly [number, number, number];
}

/** A labelled row of the CSV, before its image is looked up. */
interface LabelRow {
  row: number;
  id: string;
  patient: string;
  labels: string[];
}

export interface ChestLabelResult {
  manifest: Manifest;
  /** Data rows in the CSV. */
  rows: number;
  /** Rows kept with several labels. */
  multiLabel: number;
  /** Skipped rows: no positive label, or no image file. */
  problems: { row: number; id: string; problem: string }[];
}

function labelError(file: string, row: number, msg: string, hint: string, code: string): CbirError {
  return new CbirError(msg, { file, row, hint, code });
}

/** Column index by name (case-insensitive), or a clear error naming the columns found. */
function column(header: string[], name: string, file: string): number {
  const i = header.findIndex((h) => h.trim().toLowerCase() === name.toLowerCase());
  if (i < 0)
    throw labelError(
      file,
      1,
      `no column "${name}" in the header (columns: ${header.join(', ')})`,
      'give the label CSV as distributed (NIH Data_Entry_2017.csv, CheXpert train.csv/valid.csv) with its format (nih14 or chexpert)',
      'labels/missing-column',
    );
  return i;
}

/** NIH `Data_Entry_2017.csv`: pipe-separated `Finding Labels`. */
async function readNih(file: string): Promise<{ rows: LabelRow[]; problems: ChestLabelResult['problems'] }> {
  const rows: LabelRow[] = [];
  const problems: ChestLabelResult['problems'] = [];
  let cols: [number, number, number] | null = null;
  for await (const { cells, line } of readCsvRecords(file)) {
    if (!cols) {
      cols = [
        column(cells, 'Image Index', file),
        column(cells, 'Finding Labels', file),
        column(cells, 'Patient ID', file),
      ];
      continue;
    }
    if (cells.length === 1 && cells[0].trim() === '') continue;
    const id = (cells[cols[0]] ?? '').trim();
    const labels = [
      ...new Set(
        (cells[cols[1]] ?? '')
          .split('|')
          .map((x) => x.trim())
          .filter(Boolean),
      ),
    ];
    if (labels.length === 0) problems.push({ row: line, id, problem: 'no label' });
    else rows.push({ row: line, id, patient: (cells[cols[2]] ?? '').trim() || id, labels });
  }
  return { rows, problems };
}

/** The value of a CheXpert observation cell: true (positive), false, or an error. */
function chexpertCell(v: string, uncertain: 'zero' | 'one', file: string, row: number, name: string): boolean {
  const c = v.trim();
  if (c === '1' || c === '1.0') return true;
  if (c === '' || c === '0' || c === '0.0') return false;
  if (c === '-1' || c === '-1.0') return uncertain === 'one';
  throw labelError(
    file,
    row,
    `column "${name}" holds "${v}", expected 1, 0, -1 or blank`,
    'give the CheXpert label CSV as distributed',
    'labels/bad-cell',
  );
}

/** CheXpert `train.csv` / `valid.csv`: the 14 observation columns, -1 mapped by `uncertain`. */
async function readChexpert(
  file: string,
  uncertain: 'zero' | 'one',
): Promise<{ rows: LabelRow[]; problems: ChestLabelResult['problems'] }> {
  const rows: LabelRow[] = [];
  const problems: ChestLabelResult['problems'] = [];
  let cols: { path: number; labels: number[] } | null = null;
  for await (const { cells, line } of readCsvRecords(file)) {
    if (!cols) {
      cols = { path: column(cells, 'Path', file), labels: CHEXPERT_LABELS.map((l) => column(cells, l, file)) };
      continue;
    }
    if (cells.length === 1 && cells[0].trim() === '') continue;
    const id = (cells[cols.path] ?? '').trim();
    const labels = CHEXPERT_LABELS.filter((l, k) =>
      chexpertCell(cells[cols!.labels[k]] ?? '', uncertain, file, line, l),
    );
    const patient = /patient\d+/.exec(id)?.[0] ?? id;
    if (labels.length === 0) problems.push({ row: line, id, problem: 'no positive label (only blank, 0 or -1)' });
    else rows.push({ row: line, id, patient, labels: [...labels] });
  }
  return { rows, problems };
}

/** NIH: every file under `root` by file name, as a path relative to it. */
async function filesByName(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const rel of await readdir(root, { recursive: true })) {
    const name = basename(rel);
    if (!out.has(name) && /\.(png|jpe?g)$/i.test(name)) out.set(name, rel.split('\\').join('/'));
  }
  return out;
}

/** The path of a row's image relative to the images folder, or null when it is not there. */
function imagePath(format: ChestLabelFormat, id: string, root: string, byName: Map<string, string>): string | null {
  if (format === 'nih14') return byName.get(id) ?? null;
  if (existsSync(join(root, id))) return id;
  const inner = id.split('/').slice(1).join('/'); // --images pointing inside CheXpert-v1.0…/
  return inner && existsSync(join(root, inner)) ? inner : null;
}

/** The class columns: the normal label first, then the others (CheXpert: in column order; NIH: sorted). */
function classColumns(format: ChestLabelFormat, rows: LabelRow[]): ClassInfo[] {
  const found = new Set(rows.flatMap((r) => r.labels));
  const order =
    format === 'chexpert' ? CHEXPERT_LABELS.filter((l) => found.has(l)) : [...found].sort((a, b) => a.localeCompare(b));
  const labels = [...order.filter((l) => NORMAL_LABEL.test(l)), ...order.filter((l) => !NORMAL_LABEL.test(l))];
  return labels.map((label) => ({
    name: `XR/chest/${label}`,
    modality: 'XR',
    region: 'chest',
    label,
    kind: NORMAL_LABEL.test(label) ? 'anatomical' : 'pathological',
  }));
}

/** Read an NIH14 or CheXpert label CSV and write a multi-label manifest of every labelled row found on disk. */
export async function chestLabelManifest(o: ChestLabelOptions): Promise<ChestLabelResult> {
  const root = resolve(o.images);
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new CbirError('images folder not found', {
      file: o.images,
      hint: 'give the folder the images are under',
      code: 'labels/no-images',
    });
  const dataset = o.dataset ?? o.format;
  const read = o.format === 'nih14' ? await readNih(o.csv) : await readChexpert(o.csv, o.uncertain ?? 'zero');
  const byName = o.format === 'nih14' ? await filesByName(root) : new Map<string, string>();
  const problems = [...read.problems];
  const found: { r: LabelRow; path: string }[] = [];
  for (const r of read.rows) {
    const path = imagePath(o.format, r.id, root, byName);
    if (path === null) problems.push({ row: r.row, id: r.id, problem: 'image not found under the images folder' });
    else found.push({ r, path });
  }
  if (found.length === 0)
    throw new CbirError(`none of the ${read.rows.length} labelled rows has its image under the images folder`, {
      file: o.images,
      hint: 'NIH: the folder holding images_001/… (or the PNGs); CheXpert: the folder holding CheXpert-v1.0…/',
      code: 'labels/no-images',
    });
  const classes = classColumns(
    o.format,
    found.map((f) => f.r),
  );
  const split = assignSplits(
    found.map(({ r }) => ({ stratum: r.labels.join('|'), group: r.patient })),
    { seed: o.seed ?? 0, ratios: o.ratios },
  ).split;
  const entries = found.map(({ r, path }, i): ManifestEntry => ({
    filepath: path,
    dataset,
    split: SPLITS[split[i]],
    modality: 'XR',
    anatomicRegion: 'chest',
    className: `XR/chest/${r.labels[0]}`,
    ...(r.labels.length > 1 ? { labels: r.labels.map((l) => `XR/chest/${l}`) } : {}),
  }));
  const meta = {
    name: dataset,
    source: {
      format: o.format,
      csv: resolve(o.csv),
      ...(o.format === 'chexpert' ? { uncertain: o.uncertain ?? 'zero' } : {}),
    },
    skippedRows: problems.length,
  };
  const manifest = Manifest.fromEntries(entries, classes, {
    dir: o.out,
    imagesRoot: root,
    meta,
    multiLabel: [dataset],
  });
  await writeManifest(o.out, manifest, meta);
  if (problems.length)
    await writeFileAtomic(
      join(o.out, 'label-problems.csv'),
      [csvLine(['row', 'id', 'problem']), ...problems.map((p) => csvLine([p.row, p.id, p.problem]))].join('\n') + '\n',
    );
  const multiLabel = entries.filter((e) => e.labels).length;
  return { manifest, rows: read.rows.length + read.problems.length, multiLabel, problems };
}
