import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CbirError, errorMessage } from '../errors.js';
import { PROJECT_ROOT, datasetsDir } from '../paths.js';

/**
 * Source specs: where a dataset's images are and how their labels are found. A spec is written
 * either as a CLI string `type:key=value,key=value` (e.g.
 * `folder:path=/data/mr,dataset=mr-brain-tumor,modality=MR,region=brain`) or as a JSON object
 * with the same fields; a recipe JSON lists several of them under `sources`.
 *
 * Source types:
 * - `folder`: one folder per class, optionally under split folders (Training/Testing,
 *   train/val/test, case-insensitive).
 * - `csv`: image files (in `images`, default `path`) plus a label CSV (`csv`) mapping file ids to
 *   labels; ids match file stems, also when the file names are zero-padded (id 7 ↔ 007.png).
 * - `npz`: a MedMNIST-style `.npz` (`{split}_images`, `{split}_labels`); its split is kept and each
 *   image is written out as a PNG.
 * - `dicom`: DICOM files, labelled by class folders or by a label CSV keyed by file name or
 *   SOPInstanceUID; grouped by PatientID for splitting; written out as PNGs.
 */
export type SourceType = 'folder' | 'csv' | 'npz' | 'dicom';
export const SOURCE_TYPES: readonly SourceType[] = ['folder', 'csv', 'npz', 'dicom'];

export interface SourceSpec {
  type: SourceType;
  /** Root folder of the source (the `.npz` file, or a folder holding exactly one, for npz). Absolute once loaded. */
  path: string;
  /** Dataset name (manifest `dataset` column; also the folder name for written-out images). */
  dataset: string;
  /** Modality, e.g. MR, CT, XR, US. */
  modality: string;
  /** Anatomic region, e.g. brain, chest. */
  region: string;
  /** Label of the region's normal (anatomical) class; default: labels matching NORMAL_LABEL. */
  normal?: string;
  /** Regex on the file name whose first capture group (or named group `group`) is the patient/group id; files that do not match form their own group. */
  group?: string;
  /** Map from label values (CSV cells, npz label codes, folder names) to class labels, e.g. {"0":"normal","1":"hemorrhage"}. */
  labels?: Record<string, string>;
  /** Label CSV (csv and dicom sources); relative to `path`. */
  csv?: string;
  /** Folder holding the image files of a csv source; relative to `path`. Default: `path`. */
  images?: string;
  /** Id column of the label CSV (default: the first column). */
  id?: string;
  /** Label column of the label CSV (default: the second column when there are two; otherwise every other column is a one-hot label column). */
  label?: string;
  /** For dicom sources with a label CSV: match ids against the file name, the SOPInstanceUID, or either (default). */
  key?: 'file' | 'sop' | 'auto';
  /** For dicom sources: the display window (default: the file's own window, else min–max). */
  window?: { center: number; width: number };
  /** Where the spec came from, for error messages (file or `--source`). */
  origin?: string;
  /** Line of the spec in its recipe file, for error messages. */
  originRow?: number;
}

/** A recipe: several sources combined into one dataset, plus optional split settings. */
export interface Recipe {
  name?: string;
  seed?: number;
  ratios?: [number, number, number];
  valFraction?: number;
  /** Near-duplicate threshold: thumbnail MAD in gray levels (0 = off); see data/thumbs.ts. */
  nearDuplicateMad?: number;
  /** Similar-pair (possible patient leak) threshold, thumbnail MAD in gray levels (0 = off). */
  similarMad?: number;
  /**
   * Graded relevance of the prepared dataset, written verbatim as `<out>/relevance.json` (ordinal
   * label orders per `MODALITY/region`, multi-label datasets); see benchmark/beyond.ts.
   */
  relevance?: Record<string, unknown>;
  sources: SourceSpec[];
  /** The recipe file (absolute). */
  file?: string;
}

const KEYS = new Set([
  'type',
  'path',
  'dataset',
  'modality',
  'region',
  'normal',
  'group',
  'labels',
  'csv',
  'images',
  'id',
  'label',
  'key',
  'window',
]);
const RECIPE_KEYS = new Set([
  'name',
  'seed',
  'ratios',
  'valFraction',
  'nearDuplicateMad',
  'similarMad',
  'relevance',
  'sources',
  'description',
]);

export { PROJECT_ROOT, datasetsDir };

/**
 * Parse one source spec: a JSON object (string starting with `{`) or `type:key=value,...`.
 * In the string form `labels` is written `0:normal;1:hemorrhage` and `window` `center:width`.
 * Relative paths are resolved against `baseDir` (default: the working directory).
 */
export function parseSourceSpec(spec: string, baseDir = process.cwd(), origin = '--source'): SourceSpec {
  const text = spec.trim();
  let raw: Record<string, unknown>;
  if (text.startsWith('{')) {
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new CbirError(`source spec is not valid JSON (${errorMessage(e)})`, {
        file: origin,
        hint: 'write it as {"type":"folder","path":"...","dataset":"...","modality":"MR","region":"brain"} or as folder:path=...,dataset=...',
        code: 'source/bad-json',
      });
    }
  } else {
    const m = /^([A-Za-z]+):(.*)$/s.exec(text);
    raw = {};
    let body = text;
    if (m && !m[1].includes('=')) {
      if (!SOURCE_TYPES.includes(m[1] as SourceType)) {
        throw new CbirError(`unknown source type "${m[1]}"`, {
          file: origin,
          hint: `start the spec with one of ${SOURCE_TYPES.map((t) => t + ':').join(', ')}`,
          code: 'source/bad-type',
        });
      }
      raw.type = m[1];
      body = m[2];
    }
    // Split at commas followed by `key=`, so values (regexes, paths) may hold commas.
    for (const part of body.split(/,(?=\s*[A-Za-z_]+\s*=)/)) {
      if (part.trim() === '') continue;
      const eq = part.indexOf('=');
      if (eq < 0) {
        throw new CbirError(`"${part}" in the source spec is not key=value`, {
          file: origin,
          hint: 'write the spec as type:key=value,key=value, e.g. folder:path=data/mr,dataset=mr,modality=MR,region=brain',
          code: 'source/bad-spec',
        });
      }
      const key = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim();
      if (key === 'labels') raw.labels = parseLabelMap(value, origin);
      else if (key === 'window') raw.window = parseWindow(value, origin);
      else raw[key] = value;
    }
  }
  return validateSource(raw, { origin, baseDir });
}

function parseLabelMap(value: string, origin: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of value.split(/[;|]/)) {
    if (pair.trim() === '') continue;
    const i = pair.indexOf(':');
    if (i < 0)
      throw new CbirError(`labels entry "${pair}" is not value:label`, {
        file: origin,
        hint: 'write labels=0:normal;1:hemorrhage',
        code: 'source/bad-labels',
      });
    out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}

function parseWindow(value: string, origin: string): { center: number; width: number } {
  const [c, w] = value.split(/[:/]/).map(Number);
  if (!Number.isFinite(c) || !Number.isFinite(w) || w <= 0) {
    throw new CbirError(`window "${value}" is not center:width`, {
      file: origin,
      hint: 'e.g. window=40:400 (center 40, width 400)',
      code: 'source/bad-window',
    });
  }
  return { center: c, width: w };
}

/** Builds the CbirError of a bad source spec (prefixed with the source's label, naming its origin). */
type SpecFail = (msg: string, hint: string, code: string) => CbirError;

/**
 * Check a raw spec object and return a SourceSpec with an absolute `path`. Keys starting with `_`
 * are comments and ignored; any other unknown key is an error (it is usually a typo).
 */
export function validateSource(
  raw: Record<string, unknown>,
  where: { origin?: string; row?: number; baseDir?: string; label?: string } = {},
): SourceSpec {
  const origin = where.origin ?? '--source';
  const label = where.label ? `${where.label}: ` : '';
  const fail: SpecFail = (msg, hint, code) => new CbirError(label + msg, { file: origin, row: where.row, hint, code });
  checkSpecKeys(raw, fail);
  const type = checkSpecType(raw.type, fail);
  const path = specString(raw, 'path', true, fail)!;
  const dataset = specString(raw, 'dataset', true, fail)!;
  const modality = specString(raw, 'modality', true, fail)!;
  const region = specString(raw, 'region', true, fail)!;
  checkSpecNames(dataset, modality, region, fail);
  const group = checkGroupRegex(specString(raw, 'group', false, fail), fail);
  const labels = specLabels(raw.labels, fail);
  const window = specWindow(raw.window, fail);
  const key = specString(raw, 'key', false, fail);
  if (key !== undefined && !['file', 'sop', 'auto'].includes(key))
    throw fail(
      `key "${key}" must be file, sop or auto`,
      'file: ids are file names; sop: ids are SOPInstanceUIDs',
      'source/bad-value',
    );
  if (type === 'csv' && raw.csv === undefined)
    throw fail(
      'a csv source needs "csv" (the label CSV)',
      'add csv=labels.csv (relative to path)',
      'source/missing-key',
    );
  const baseDir = where.baseDir ?? process.cwd();
  const spec: SourceSpec = {
    type,
    path: isAbsolute(path) ? path : resolve(baseDir, path),
    dataset,
    modality,
    region,
    normal: specString(raw, 'normal', false, fail),
    group,
    labels,
    csv: specString(raw, 'csv', false, fail),
    images: specString(raw, 'images', false, fail),
    id: specString(raw, 'id', false, fail),
    label: specString(raw, 'label', false, fail),
    key: key as SourceSpec['key'],
    window,
    origin,
    originRow: where.row,
  };
  for (const k of Object.keys(spec) as (keyof SourceSpec)[]) if (spec[k] === undefined) delete spec[k];
  return spec;
}

/** The spec must be a plain object whose keys are all known (or `_` comments). */
function checkSpecKeys(raw: Record<string, unknown>, fail: SpecFail): void {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw fail(
      'a source must be an object',
      'write {"type":"folder","path":"...","dataset":"...","modality":"MR","region":"brain"}',
      'source/not-object',
    );
  for (const k of Object.keys(raw)) {
    if (!k.startsWith('_') && !KEYS.has(k))
      throw fail(
        `unknown key "${k}" in the source`,
        `known keys: ${[...KEYS].join(', ')} (keys starting with _ are comments)`,
        'source/unknown-key',
      );
  }
}

/** The source type, one of SOURCE_TYPES. */
function checkSpecType(type: unknown, fail: SpecFail): SourceType {
  if (typeof type !== 'string' || !SOURCE_TYPES.includes(type as SourceType)) {
    throw fail(
      `source type ${type === undefined ? 'is missing' : `"${String(type)}" is unknown`}`,
      `start the spec with one of ${SOURCE_TYPES.map((t) => t + ':').join(', ')} or set "type"`,
      'source/bad-type',
    );
  }
  return type as SourceType;
}

/** A string field of the spec; empty counts as absent (an error when `required`). */
function specString(raw: Record<string, unknown>, k: string, required: boolean, fail: SpecFail): string | undefined {
  const v = raw[k];
  if (v === undefined || v === '') {
    if (required)
      throw fail(
        `the source has no "${k}"`,
        `add ${k}=... (required: path, dataset, modality, region)`,
        'source/missing-key',
      );
    return undefined;
  }
  if (typeof v !== 'string') throw fail(`"${k}" must be a string`, `write "${k}": "..."`, 'source/bad-value');
  return v;
}

/** The dataset name is also a folder name; modality and region are parts of class names. */
function checkSpecNames(dataset: string, modality: string, region: string, fail: SpecFail): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(dataset))
    throw fail(
      `dataset name "${dataset}" may only hold letters, digits, '.', '_' and '-'`,
      'the name is also a folder name; e.g. mr-brain-tumor',
      'source/bad-dataset',
    );
  for (const [k, v] of [
    ['modality', modality],
    ['region', region],
  ] as const) {
    if (/[/,]/.test(v))
      throw fail(
        `${k} "${v}" must not hold '/' or ','`,
        'class names are MODALITY/region/label, so the parts cannot hold a slash',
        'source/bad-value',
      );
  }
}

/** The group regex, checked to compile. */
function checkGroupRegex(group: string | undefined, fail: SpecFail): string | undefined {
  if (group !== undefined) {
    try {
      new RegExp(group);
    } catch (e) {
      throw fail(
        `group regex "${group}" is invalid (${errorMessage(e)})`,
        'give a JavaScript regex whose first capture group is the patient/group id',
        'source/bad-group',
      );
    }
  }
  return group;
}

/** The labels map: an object of non-empty label names. */
function specLabels(labels: unknown, fail: SpecFail): Record<string, string> | undefined {
  if (labels === undefined) return undefined;
  if (
    typeof labels !== 'object' ||
    labels === null ||
    Array.isArray(labels) ||
    Object.values(labels).some((v) => typeof v !== 'string' || v === '')
  ) {
    throw fail(
      '"labels" must map values to label names',
      'e.g. "labels": {"0": "normal", "1": "hemorrhage"}',
      'source/bad-labels',
    );
  }
  return labels as Record<string, string>;
}

/** The display window: {center, width > 0}. */
function specWindow(window: unknown, fail: SpecFail): SourceSpec['window'] {
  if (window === undefined) return undefined;
  const w = window as { center?: unknown; width?: unknown };
  if (
    typeof w !== 'object' ||
    w === null ||
    typeof w.center !== 'number' ||
    typeof w.width !== 'number' ||
    !(w.width > 0)
  ) {
    throw fail(
      '"window" must be {"center": number, "width": number > 0}',
      'e.g. "window": {"center": 40, "width": 400}',
      'source/bad-window',
    );
  }
  return { center: w.center, width: w.width };
}

/**
 * Replace `${VAR}` in a string from the environment; `${CBIR_DATASETS}` defaults to
 * ../shared/datasets relative to the project root. An unset variable is an error.
 */
export function expandVars(
  value: string,
  env: NodeJS.ProcessEnv = process.env,
  where: { file?: string; row?: number } = {},
): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    if (name === 'CBIR_DATASETS') return datasetsDir(env);
    const v = env[name];
    if (v === undefined)
      throw new CbirError(`environment variable ${name} is not set`, {
        ...where,
        hint: `set ${name} or write the path out`,
        code: 'recipe/unset-variable',
      });
    return v;
  });
}

function expandDeep(v: unknown, env: NodeJS.ProcessEnv, where: { file?: string; row?: number }): unknown {
  if (typeof v === 'string') return expandVars(v, env, where);
  if (Array.isArray(v)) return v.map((x) => expandDeep(x, env, where));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expandDeep(x, env, where)]));
  return v;
}

/** 1-based line of the first occurrence of `needle` in `text` at or after `from`, or undefined. */
function lineOf(text: string, needle: string, from = 0): number | undefined {
  const i = text.indexOf(needle, from);
  if (i < 0) return undefined;
  let n = 1;
  for (let k = 0; k < i; k++) if (text.charCodeAt(k) === 10) n++;
  return n;
}

/**
 * Load a recipe JSON: `{ "name", "seed", "ratios": [train, val, test], "valFraction", "sources": [...] }`.
 * `${CBIR_DATASETS}` (and other `${VAR}`s) are expanded, relative paths are resolved against
 * the recipe file's folder. Errors name the recipe file and the line of the offending source.
 */
export function loadRecipe(file: string, env: NodeJS.ProcessEnv = process.env): Recipe {
  if (!existsSync(file))
    throw new CbirError('recipe not found', {
      file,
      hint: 'check the path, e.g. data-splits/radiology5.json',
      code: 'recipe/not-found',
    });
  const text = readFileSync(file, 'utf8');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec(errorMessage(e));
    throw new CbirError(`recipe is not valid JSON (${errorMessage(e)})`, {
      file,
      row: m ? lineOf(text, text.slice(Number(m[1]), Number(m[1]) + 1), Number(m[1])) : undefined,
      hint: 'fix the JSON syntax (no comments or trailing commas; use "_comment" keys for notes)',
      code: 'recipe/bad-json',
    });
  }
  if (!raw || typeof raw !== 'object' || !Array.isArray(raw.sources) || raw.sources.length === 0) {
    throw new CbirError('recipe needs a non-empty "sources" array', {
      file,
      row: 1,
      hint: 'e.g. {"sources": [{"type":"folder","path":"${CBIR_DATASETS}/mr","dataset":"mr","modality":"MR","region":"brain"}]}',
      code: 'recipe/no-sources',
    });
  }
  for (const k of Object.keys(raw)) {
    if (!k.startsWith('_') && !RECIPE_KEYS.has(k))
      throw new CbirError(`unknown key "${k}" in the recipe`, {
        file,
        row: lineOf(text, `"${k}"`),
        hint: `known keys: ${[...RECIPE_KEYS].join(', ')} (keys starting with _ are comments)`,
        code: 'recipe/unknown-key',
      });
  }
  const baseDir = dirname(resolve(file));
  let searchFrom = text.indexOf('"sources"');
  const sources = (raw.sources as unknown[]).map((s, i) => {
    const ds = (s as { dataset?: unknown })?.dataset;
    const row = typeof ds === 'string' ? lineOf(text, JSON.stringify(ds), searchFrom) : undefined;
    if (row !== undefined) searchFrom = text.indexOf(JSON.stringify(ds), searchFrom) + 1;
    const expanded = expandDeep(s, env, { file, row }) as Record<string, unknown>;
    return validateSource(expanded, { origin: file, row, baseDir, label: `sources[${i}]` });
  });
  const recipe: Recipe = { sources, file: resolve(file) };
  if (typeof raw.name === 'string') recipe.name = raw.name;
  if (raw.seed !== undefined) {
    if (!Number.isInteger(raw.seed))
      throw new CbirError('"seed" must be an integer', { file, row: lineOf(text, '"seed"'), code: 'recipe/bad-seed' });
    recipe.seed = raw.seed as number;
  }
  if (raw.ratios !== undefined) recipe.ratios = checkRatios(raw.ratios, { file, row: lineOf(text, '"ratios"') });
  if (raw.valFraction !== undefined)
    recipe.valFraction = checkFraction(raw.valFraction, { file, row: lineOf(text, '"valFraction"') });
  for (const k of ['nearDuplicateMad', 'similarMad'] as const)
    if (raw[k] !== undefined) recipe[k] = checkMad(raw[k], { file, row: lineOf(text, `"${k}"`) });
  if (raw.relevance !== undefined) {
    if (!raw.relevance || typeof raw.relevance !== 'object' || Array.isArray(raw.relevance))
      throw new CbirError('"relevance" must be an object (it is written as relevance.json)', {
        file,
        row: lineOf(text, '"relevance"'),
        hint: 'e.g. "relevance": {"ordinal": {"US/breast": ["normal", "benign", "malignant"]}}',
        code: 'recipe/bad-relevance',
      });
    recipe.relevance = raw.relevance as Record<string, unknown>;
  }
  return recipe;
}

/** Validate split ratios [train, val, test]: three non-negative numbers with a positive sum, normalised to sum 1. */
export function checkRatios(v: unknown, where: { file?: string; row?: number } = {}): [number, number, number] {
  let arr = v;
  if (typeof v === 'string') arr = v.split(',').map((x) => Number(x.trim()));
  if (
    !Array.isArray(arr) ||
    arr.length !== 3 ||
    arr.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0) ||
    (arr as number[]).reduce((a, b) => a + b, 0) <= 0
  ) {
    throw new CbirError(`split ratios ${JSON.stringify(v)} must be three non-negative numbers train,val,test`, {
      ...where,
      hint: 'e.g. 0.7,0.1,0.2',
      code: 'split/bad-ratios',
    });
  }
  const a = arr as number[];
  const s = a[0] + a[1] + a[2];
  return [a[0] / s, a[1] / s, a[2] / s];
}

/**
 * Validate a thumbnail threshold: a mean absolute difference in gray levels of 255, given as a
 * number (2), a fraction of 255 ("2/255") or "off" (0, the check is skipped); below 255.
 */
export function checkMad(v: unknown, where: { file?: string; row?: number } = {}): number {
  let x = v;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    const m = /^([0-9.]+)\s*\/\s*255$/.exec(t);
    x = t === 'off' ? 0 : m ? Number(m[1]) : t === '' ? NaN : Number(t);
  }
  if (typeof x !== 'number' || !(x >= 0 && x < 255))
    throw new CbirError(`threshold ${JSON.stringify(v)} must be a mean absolute difference in gray levels, 0 to 255`, {
      ...where,
      hint: 'e.g. 2 (or "2/255") for near-identical thumbnails, 6 for similar ones, or "off"',
      code: 'prepare/bad-threshold',
    });
  return x;
}

/** Validate a fraction in [0, 1). */
export function checkFraction(v: unknown, where: { file?: string; row?: number } = {}): number {
  const x = typeof v === 'string' ? Number(v) : v;
  if (typeof x !== 'number' || !(x >= 0 && x < 1))
    throw new CbirError(`fraction ${JSON.stringify(v)} must be a number in [0, 1)`, {
      ...where,
      hint: 'e.g. 0.1 for 10 % of train as val',
      code: 'split/bad-fraction',
    });
  return x;
}
