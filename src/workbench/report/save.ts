/**
 * Saving and opening reports. `saveReport` writes a computed report into a folder: per model
 * `knn.csv` (the study's layout), `precision_at_n`, `knn_classification`, `linear_probing`; the
 * study's tables and the `beyond` tables (beyond_ranking, beyond_rerank) as CSV/Markdown/JSON;
 * the figures; `summary.md` (once); and `report.json` last, so a folder with a report.json is a
 * finished report. `openReport` loads and checks it.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { CbirError, errorMessage } from '../errors.js';
import { readManifest, type Manifest } from '../data/manifest.js';
import { writeKnnCsv } from '../knn/index.js';
import { writeTable, type Table } from '../tables/write.js';
import { readReportedTable } from '../tables/reported.js';
import { writeFileAtomic } from '../util/fsx.js';
import { fsError, withFsErrors } from '../util/fserrors.js';
import type { ModelEvaluation } from '../benchmark/evaluate.js';
import { writeFigures, type WriteFiguresOptions } from '../figures/index.js';
import { decodeReport, encodeReport } from './json.js';
import { FIGURES_FAILED_PREFIX, renderSummary } from './summary.js';
import type { ReportData, ReportModel } from './types.js';

export const REPORT_FILE = 'report.json';

/** What `saveReport` needs: the report and, for knn.csv, the run's in-memory evaluations and manifest. */
export interface SaveSource {
  report: ReportData;
  evaluations: readonly ModelEvaluation[];
  manifest: Manifest;
}

export interface SaveReportOptions {
  /** Figures into `<out>/figures` (default on); false = none (make them later with `addFigures`). */
  figures?: WriteFiguresOptions | false;
  log?: (line: string) => void;
}

const posix = (p: string) => p.split('\\').join('/');

/** Per-model files: knn.csv (from the run's k-NN table) and the model's tables. Returns their paths relative to `out`. */
async function writeModelFiles(out: string, model: ReportModel, e: ModelEvaluation, m: Manifest): Promise<string[]> {
  const dir = join(out, model.modelId);
  await mkdir(dir, { recursive: true });
  await writeKnnCsv(e.table, m.filepaths, join(dir, 'knn.csv'));
  const files = [join(dir, 'knn.csv')];
  const tables: [string, Table | null][] = [
    ['precision_at_n', model.precision],
    ['knn_classification', model.knnClassification],
    ['linear_probing', model.probe],
  ];
  for (const [name, t] of tables) {
    if (!t) continue;
    await writeTable(t, join(dir, name));
    files.push(...['csv', 'md', 'json'].map((x) => join(dir, `${name}.${x}`)));
  }
  return files.map((f) => posix(relative(out, f)));
}

/** Write summary.md and report.json (last) for `r`, whose `dir` is set. */
async function writeIndex(r: ReportData): Promise<void> {
  const dir = r.dir!;
  const reported = await readReportedTable('retrieval');
  await writeFileAtomic(join(dir, 'summary.md'), renderSummary(r, reported));
  await writeFileAtomic(join(dir, REPORT_FILE), encodeReport(r, dir));
}

/** Every file of a report (tables, per model, figures, summary, report.json). */
function allFiles(r: ReportData, tableFiles: string[]): string[] {
  const figs = (r.figures?.files ?? []).flatMap((f) => [f.html, f.png, f.json].filter((x): x is string => !!x));
  return [...new Set([...tableFiles, ...r.models.flatMap((m) => m.files), ...figs, 'summary.md', REPORT_FILE])];
}

/** What a failed write of the tables keeps (the report's --work caches), in the error. */
const TABLES_KEPT =
  'the embeddings and k-NN tables in the work folder are kept: the same command reuses them and only writes the report again';

/** The per-model files and the study's tables into `dir`; returns the models (files set) and the tables' files. */
async function writeTables(src: SaveSource, dir: string): Promise<{ models: ReportModel[]; tableFiles: string[] }> {
  const models: ReportModel[] = [];
  for (const m of src.report.models) {
    const e = src.evaluations.find((x) => x.modelId === m.modelId);
    if (!e) throw new Error(`internal: no evaluation of ${m.modelId}`);
    models.push({ ...m, files: await writeModelFiles(dir, m, e, src.manifest) });
  }
  const tableFiles: string[] = [];
  for (const [name, t] of Object.entries(src.report.tables)) {
    await writeTable(t!, join(dir, name));
    tableFiles.push(`${name}.csv`, `${name}.md`, `${name}.json`);
  }
  // report.json `beyond` as files too: beyond_ranking (always), beyond_rerank (with --rerank)
  const beyond = src.report.beyond;
  const extra: [string, Table | null | undefined][] = [
    ['beyond_ranking', beyond?.ranking],
    ['beyond_rerank', beyond?.rerank],
  ];
  for (const [name, t] of extra) {
    if (!t) continue;
    await writeTable(t, join(dir, name));
    tableFiles.push(`${name}.csv`, `${name}.md`, `${name}.json`);
  }
  return { models, tableFiles };
}

/**
 * Save a computed report into `out`; returns the report as saved (dir, files and figures set).
 * File-system failures (a full disk, a read-only folder, a file in the way) are CbirErrors naming
 * the path. When the figures fail, summary.md and report.json are still written, saying so, and
 * then the figures' error is thrown (see `figuresFailedError`).
 */
export async function saveReport(src: SaveSource, out: string, opts: SaveReportOptions = {}): Promise<ReportData> {
  const dir = resolve(out);
  await withFsErrors(
    dir,
    'creating the --out folder of the report',
    () => mkdir(dir, { recursive: true }),
    TABLES_KEPT,
  );
  const { models, tableFiles } = await withFsErrors(
    dir,
    'writing the report tables',
    () => writeTables(src, dir),
    TABLES_KEPT,
  );
  let report: ReportData = { ...src.report, dir, models };
  let failure: unknown = null;
  if (opts.figures !== false) {
    try {
      const f = await writeFigures(
        { report, manifest: src.manifest, evaluations: src.evaluations },
        opts.figures ?? {},
      );
      for (const n of f.notes) opts.log?.(`figures: ${n}`);
      report = { ...report, figures: { files: f.figures, notes: f.notes } };
    } catch (e) {
      failure = fsError(e, join(dir, 'figures'), 'writing the figures');
      report = { ...report, figures: { files: [], notes: [failedNote(failure)] } };
    }
  }
  report = { ...report, files: allFiles(report, tableFiles) };
  await withFsErrors(dir, 'writing summary.md and report.json', () => writeIndex(report), TABLES_KEPT);
  if (failure) throw figuresFailedError(failure, dir);
  return report;
}

/** The figures note recording a failed figures phase: the error's first line, without its path prefix. */
function failedNote(e: unknown): string {
  return `${FIGURES_FAILED_PREFIX}${coreMessage(e)}`;
}

/** An error's message without the "file: " prefix and the hint a CbirError adds. */
function coreMessage(e: unknown): string {
  const head = errorMessage(e).split('\n')[0];
  if (!(e instanceof CbirError) || !e.file) return head;
  const prefix = `${e.file}${e.row !== undefined ? `:${e.row}` : ''}: `;
  return head.startsWith(prefix) ? head.slice(prefix.length) : head;
}

/**
 * The error of a failed figures phase once summary.md and report.json say so: a CbirError (same
 * file and code) that adds what was kept and how to make the figures; anything else unchanged.
 */
function figuresFailedError(e: unknown, dir: string): unknown {
  if (!(e instanceof CbirError)) return e;
  return new CbirError(
    `${coreMessage(e)}; the tables, summary.md and report.json are saved, and summary.md says the figures are incomplete`,
    {
      file: e.file ?? join(dir, 'figures'),
      hint: `${e.hint ?? 'fix the cause'}; then make the figures of the saved report again (its tables are kept)`,
      code: e.code,
      cause: e,
    },
  );
}

/** The clear refusal for a folder without report.json. */
function noReportError(dir: string, given: string): CbirError {
  const old = existsSync(join(dir, 'table3_retrieval.csv')) || existsSync(join(dir, 'summary.md'));
  if (old) {
    return new CbirError('this report was written by an older radcbir, before report.json: it cannot be opened', {
      file: given,
      hint: 're-run the same report into this folder; the embeddings and k-NN tables in its work folder are reused, so only the tables are recomputed',
      code: 'report/old-format',
    });
  }
  return new CbirError('not a report folder: report.json is missing', {
    file: given,
    hint: 'give a folder a finished report was saved into (an unfinished run writes report.json when it ends; it resumes)',
    code: 'report/no-report',
  });
}

/** Load and check `<dir>/report.json`. */
export async function openReport(dir: string): Promise<ReportData> {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    throw new CbirError('report folder not found', {
      file: dir,
      hint: 'give the folder a report was saved into',
      code: 'report/not-found',
    });
  }
  const file = join(abs, REPORT_FILE);
  if (!existsSync(file)) throw noReportError(abs, dir);
  return decodeReport(await readFile(file, 'utf8'), file, abs);
}

/**
 * The manifest a report was made on (`override`: another copy of it). When its hash differs from
 * the report's, images and labels may not match the numbers: `changed: 'refuse'` (default) throws,
 * `'warn'` returns it with a warning (for browsing, which maps rows by path).
 */
export async function openReportManifest(
  r: ReportData,
  opts: { override?: string; changed?: 'refuse' | 'warn' } = {},
): Promise<{ manifest: Manifest; warning: string | null }> {
  const dir = opts.override ?? r.dataset.dir;
  if (!existsSync(dir)) {
    throw new CbirError("the report's dataset folder is gone", {
      file: dir,
      hint: 'give the folder of the same manifest (it may have moved)',
      code: 'report/no-dataset',
    });
  }
  const manifest = await readManifest(dir);
  if (manifest.hash === r.dataset.hash) return { manifest, warning: null };
  const what = `the manifest changed since the report was made (hash ${manifest.hash.slice(0, 12)}, the report's ${r.dataset.hash.slice(0, 12)})`;
  if (opts.changed === 'warn') return { manifest, warning: `${dir}: ${what}` };
  throw new CbirError(what, {
    file: dir,
    hint: 're-run the report on this manifest, or give the manifest it was made on',
    code: 'report/manifest-changed',
  });
}

/**
 * (Re)make the figures of a saved report, from report.json and the caches it names, and record
 * them in report.json and summary.md. `manifest`: another copy of the report's manifest folder.
 */
export async function addFigures(
  dir: string,
  opts: WriteFiguresOptions & { manifest?: string; log?: (line: string) => void } = {},
): Promise<ReportData> {
  const r = await openReport(dir);
  let manifest: Manifest | null = null;
  try {
    manifest = (await openReportManifest(r, { override: opts.manifest })).manifest;
  } catch (e) {
    if (opts.manifest || !(e instanceof CbirError) || e.code !== 'report/no-dataset') throw e;
  }
  let f: Awaited<ReturnType<typeof writeFigures>>;
  try {
    f = await writeFigures({ report: r, manifest }, opts);
  } catch (e) {
    throw await recordFailedFigures(r, fsError(e, join(r.dir!, 'figures'), 'writing the figures'));
  }
  const prev = new Set(r.figures?.files.flatMap((x) => [x.html, x.png, x.json]) ?? []);
  const figFiles = f.figures.flatMap((x) => [x.html, x.png, x.json].filter((p): p is string => !!p));
  const files = [...new Set([...r.files.filter((x) => !prev.has(x)), ...figFiles])];
  const report: ReportData = { ...r, figures: { files: f.figures, notes: f.notes }, files };
  await withFsErrors(r.dir!, 'writing summary.md and report.json', () => writeIndex(report));
  return report;
}

/**
 * After `addFigures` failed: summary.md and report.json say the figures are incomplete (the
 * figures of an earlier run stay listed: atomic writes never leave a figure half-written), and
 * the error to throw. When even that cannot be written (e.g. the disk is full), the report is
 * left as it was and the error says so.
 */
async function recordFailedFigures(r: ReportData, e: unknown): Promise<unknown> {
  const notes = [...(r.figures?.notes ?? []).filter((n) => !n.startsWith(FIGURES_FAILED_PREFIX)), failedNote(e)];
  try {
    await writeIndex({ ...r, figures: { files: r.figures?.files ?? [], notes } });
  } catch {
    return e; // the report as it was (its summary.md does not know of this failure)
  }
  return figuresFailedError(e, r.dir!);
}
