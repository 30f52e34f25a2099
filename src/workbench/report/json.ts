/**
 * report.json: encoding (non-finite numbers, paths relative to the report folder) and the schema
 * check on load. Every problem names the field (`models[1].precision.rows[3]`) and says to re-run.
 */
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CbirError } from '../errors.js';
import type { Table } from '../tables/write.js';
import {
  BEYOND_VERSION,
  REPORT_FORMAT,
  REPORT_TABLES,
  REPORT_VERSION,
  type ReportBeyond,
  type ReportData,
  type ReportModel,
  type ReportProbe,
  type ReportStore,
} from './types.js';

type Cell = string | number | null;
const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/** A table cell as JSON: non-finite numbers become `{"num": "NaN"}` (JSON has no NaN). */
function encodeCell(v: Cell): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? { num: String(v) } : v;
}

function encodeTable(t: Table): unknown {
  return { ...t, rows: t.rows.map((r) => r.map(encodeCell)) };
}

/** A path as stored: relative to the report folder when inside it (posix separators), else absolute. */
function storePath(p: string, dir: string): string {
  const rel = relative(dir, p);
  if (rel === '') return '.';
  if (rel.startsWith('..') || isAbsolute(rel)) return p;
  return rel.split(sep).join('/');
}

function loadPath(p: string, dir: string): string {
  return isAbsolute(p) ? p : resolve(join(dir, p));
}

function mapPaths(r: ReportData, f: (p: string) => string): ReportData {
  const store = (s: ReportStore): ReportStore => ({ ...s, dir: f(s.dir), ...(s.from ? { from: f(s.from) } : {}) });
  return {
    ...r,
    work: f(r.work),
    dataset: { ...r.dataset, dir: f(r.dataset.dir) },
    models: r.models.map((m) => ({
      ...m,
      store: store(m.store),
      knn: { ...m.knn, test: f(m.knn.test), val: f(m.knn.val) },
    })),
  };
}

/** The text of `<dir>/report.json` for `r`. */
export function encodeReport(r: ReportData, dir: string): string {
  const { dir: _omit, ...rel } = mapPaths(r, (p) => storePath(p, dir));
  const out = {
    ...rel,
    models: rel.models.map((m) => ({
      ...m,
      precision: encodeTable(m.precision),
      knnClassification: encodeTable(m.knnClassification),
      probe: m.probe && encodeTable(m.probe),
    })),
    tables: Object.fromEntries(Object.entries(rel.tables).map(([k, t]) => [k, encodeTable(t!)])),
    ...(rel.beyond
      ? {
          beyond: {
            ...rel.beyond,
            ranking: encodeTable(rel.beyond.ranking),
            rerank: rel.beyond.rerank && encodeTable(rel.beyond.rerank),
          },
        }
      : {}),
  };
  return JSON.stringify(out, null, 1) + '\n';
}

/** A schema violation at `path`. */
class SchemaError extends Error {
  constructor(
    readonly path: string,
    what: string,
  ) {
    super(`${path}: ${what}`);
  }
}

type Json = unknown;
const isObj = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

function obj(v: Json, path: string): Record<string, Json> {
  if (!isObj(v)) throw new SchemaError(path, 'expected an object');
  return v;
}
function str(v: Json, path: string): string {
  if (typeof v !== 'string') throw new SchemaError(path, 'expected a string');
  return v;
}
function num(v: Json, path: string): number {
  if (typeof v !== 'number') throw new SchemaError(path, 'expected a number');
  return v;
}
function arr(v: Json, path: string): Json[] {
  if (!Array.isArray(v)) throw new SchemaError(path, 'expected an array');
  return v;
}
const strings = (v: Json, path: string) => arr(v, path).map((x, i) => str(x, `${path}[${i}]`));

function decodeCell(v: Json, path: string): Cell {
  if (v === null || typeof v === 'string' || typeof v === 'number') return v;
  if (isObj(v) && typeof v.num === 'string' && v.num in NON_FINITE) return NON_FINITE[v.num];
  throw new SchemaError(path, 'expected a number, a string, null or {"num": "NaN"}');
}

function decodeTable(v: Json, path: string): Table {
  const o = obj(v, path);
  const columns = strings(o.columns, `${path}.columns`);
  const rows = arr(o.rows, `${path}.rows`).map((r, i) => {
    const cells = arr(r, `${path}.rows[${i}]`);
    if (cells.length !== columns.length) {
      throw new SchemaError(`${path}.rows[${i}]`, `${cells.length} cells, ${columns.length} columns`);
    }
    return cells.map((c, j) => decodeCell(c, `${path}.rows[${i}][${j}]`));
  });
  const notes = o.notes === undefined ? undefined : strings(o.notes, `${path}.notes`);
  return { title: str(o.title, `${path}.title`), columns, rows, ...(notes ? { notes } : {}) };
}

function decodeStore(v: Json, path: string): ReportStore {
  const o = obj(v, path);
  const source = str(o.source, `${path}.source`);
  if (source !== 'embedded' && source !== 'store' && source !== 'hdf5' && source !== 'knn-csv') {
    throw new SchemaError(`${path}.source`, `"${source}" is not embedded, store, hdf5 or knn-csv`);
  }
  return {
    dir: str(o.dir, `${path}.dir`),
    source,
    ...(o.from !== undefined ? { from: str(o.from, `${path}.from`) } : {}),
    contentHash: str(o.contentHash, `${path}.contentHash`),
    dim: num(o.dim, `${path}.dim`),
    count: num(o.count, `${path}.count`),
  };
}

function decodeProbe(v: Json, path: string): ReportProbe {
  const o = obj(v, path);
  const protocol = str(o.protocol, `${path}.protocol`);
  if (protocol !== 'logistic' && protocol !== 'study') {
    throw new SchemaError(`${path}.protocol`, `"${protocol}" is not logistic or study`);
  }
  return {
    method: str(o.method, `${path}.method`),
    protocol,
    flags: strings(o.flags, `${path}.flags`),
    accuracy: num(o.accuracy, `${path}.accuracy`),
    setting: str(o.setting, `${path}.setting`),
    steps: num(o.steps, `${path}.steps`),
    maxSteps: num(o.maxSteps, `${path}.maxSteps`),
  };
}

function decodeModel(v: Json, path: string): ReportModel {
  const o = obj(v, path);
  const knn = obj(o.knn, `${path}.knn`);
  return {
    modelId: str(o.modelId, `${path}.modelId`),
    store: decodeStore(o.store, `${path}.store`),
    knn: {
      test: str(knn.test, `${path}.knn.test`),
      val: str(knn.val, `${path}.knn.val`),
      k: num(knn.k, `${path}.knn.k`),
    },
    precision: decodeTable(o.precision, `${path}.precision`),
    knnClassification: decodeTable(o.knnClassification, `${path}.knnClassification`),
    probe: o.probe === null ? null : decodeTable(o.probe, `${path}.probe`),
    ...(o.probes === undefined
      ? {}
      : { probes: arr(o.probes, `${path}.probes`).map((p, i) => decodeProbe(p, `${path}.probes[${i}]`)) }),
    indexSizeSkipped: o.indexSizeSkipped === null ? null : str(o.indexSizeSkipped, `${path}.indexSizeSkipped`),
    notes: strings(o.notes, `${path}.notes`),
    files: strings(o.files, `${path}.files`),
  };
}

function decodeDataset(v: Json, path: string): ReportData['dataset'] {
  const o = obj(v, path);
  const s = obj(o.splits, `${path}.splits`);
  const n = (k: string) => num(o[k], `${path}.${k}`);
  return {
    dir: str(o.dir, `${path}.dir`),
    hash: str(o.hash, `${path}.hash`),
    images: n('images'),
    classes: n('classes'),
    anatomical: n('anatomical'),
    pathological: n('pathological'),
    modalities: strings(o.modalities, `${path}.modalities`),
    datasets: strings(o.datasets, `${path}.datasets`),
    splits: {
      train: num(s.train, `${path}.splits.train`),
      val: num(s.val, `${path}.splits.val`),
      test: num(s.test, `${path}.splits.test`),
    },
  };
}

function decodeProtocol(v: Json, path: string): ReportData['protocol'] {
  const o = obj(v, path);
  const definition = str(o.definition, `${path}.definition`);
  if (definition !== 'study' && definition !== 'textbook')
    throw new SchemaError(`${path}.definition`, 'expected study or textbook');
  const rule = str(o.indexSizeRule, `${path}.indexSizeRule`);
  if (!['auto', 'study', 'custom', 'off'].includes(rule))
    throw new SchemaError(`${path}.indexSizeRule`, 'expected auto, study, custom or off');
  let indexSize: ReportData['protocol']['indexSize'] = false;
  if (o.indexSize !== false) {
    const i = obj(o.indexSize, `${path}.indexSize`);
    const nums = (k: string) =>
      arr(i[k], `${path}.indexSize.${k}`).map((x, j) => num(x, `${path}.indexSize.${k}[${j}]`));
    indexSize = {
      minIndexPerClass: num(i.minIndexPerClass, `${path}.indexSize.minIndexPerClass`),
      queriesPerClass: num(i.queriesPerClass, `${path}.indexSize.queriesPerClass`),
      sizes: nums('sizes'),
      seeds: nums('seeds'),
    };
  }
  return {
    k: num(o.k, `${path}.k`),
    definition,
    replicates: num(o.replicates, `${path}.replicates`),
    bootstrapSeed: num(o.bootstrapSeed, `${path}.bootstrapSeed`),
    index: obj(o.index, `${path}.index`) as ReportData['protocol']['index'],
    probe: o.probe === false ? false : (obj(o.probe, `${path}.probe`) as Record<string, number | string>),
    indexSizeRule: rule as ReportData['protocol']['indexSizeRule'],
    indexSize,
  };
}

function decodeFigures(v: Json, path: string): ReportData['figures'] {
  if (v === null) return null;
  const o = obj(v, path);
  const files = arr(o.files, `${path}.files`).map((f, i) => {
    const p = `${path}.files[${i}]`;
    const x = obj(f, p);
    const opt = (k: string) => (x[k] === undefined ? {} : { [k]: str(x[k], `${p}.${k}`) });
    return {
      name: str(x.name, `${p}.name`),
      title: str(x.title, `${p}.title`),
      ...opt('html'),
      ...opt('png'),
      ...opt('json'),
    };
  });
  return { files, notes: strings(o.notes, `${path}.notes`) };
}

/** The `beyond` field (ranking metrics, re-ranking); its own version is checked like the report's. */
function decodeBeyond(v: Json, path: string, file: string): ReportBeyond {
  const o = obj(v, path);
  if (o.version !== BEYOND_VERSION) {
    throw new CbirError(
      `${path}.version is ${JSON.stringify(o.version)}; this radcbir reads version ${BEYOND_VERSION} of the ranking tables`,
      {
        file,
        hint:
          typeof o.version === 'number' && o.version > BEYOND_VERSION
            ? 'the report was written by a newer radcbir: update radcbir to open it'
            : 're-run the report with this radcbir (its embeddings and k-NN tables in the work folder are reused)',
        code: 'report/version',
      },
    );
  }
  const ord = obj(o.ordinal, `${path}.ordinal`);
  return {
    version: BEYOND_VERSION,
    k: num(o.k, `${path}.k`),
    ordinal: Object.fromEntries(Object.entries(ord).map(([s, l]) => [s, strings(l, `${path}.ordinal.${s}`)])),
    ...(o.multiLabel === undefined ? {} : { multiLabel: strings(o.multiLabel, `${path}.multiLabel`) }),
    ranking: decodeTable(o.ranking, `${path}.ranking`),
    rerank: o.rerank === null ? null : decodeTable(o.rerank, `${path}.rerank`),
    notes: strings(o.notes, `${path}.notes`),
  };
}

/** Check the header: a radcbir report of a version this code reads. */
function checkHeader(o: Record<string, Json>, file: string): void {
  if (o.format !== REPORT_FORMAT) {
    throw new CbirError(`not a radcbir report (format is ${JSON.stringify(o.format)}, expected "${REPORT_FORMAT}")`, {
      file,
      hint: 'open the report.json that a benchmark report wrote into its output folder',
      code: 'report/bad-format',
    });
  }
  if (o.version !== REPORT_VERSION) {
    const newer = typeof o.version === 'number' && o.version > REPORT_VERSION;
    throw new CbirError(
      `report format version ${JSON.stringify(o.version)}; this radcbir reads version ${REPORT_VERSION}`,
      {
        file,
        hint: newer
          ? 'the report was written by a newer radcbir: update radcbir to open it'
          : 're-run the report with this radcbir (its embeddings and k-NN tables in the work folder are reused)',
        code: 'report/version',
      },
    );
  }
}

/** Parse and check report.json text; `dir` is the report folder (relative paths are resolved against it). */
export function decodeReport(text: string, file: string, dir: string): ReportData {
  let raw: Json;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CbirError(`report.json is not valid JSON (${e instanceof Error ? e.message : String(e)})`, {
      file,
      hint: 'the file was cut short or edited; re-run the report (cached embeddings and k-NN tables are reused)',
      code: 'report/bad-json',
    });
  }
  if (!isObj(raw))
    throw new CbirError('report.json does not hold an object', {
      file,
      hint: 're-run the report',
      code: 'report/bad-json',
    });
  checkHeader(raw, file);
  try {
    const tool = obj(raw.tool, 'tool');
    const tablesIn = obj(raw.tables, 'tables');
    const tables: ReportData['tables'] = {};
    for (const name of REPORT_TABLES)
      if (tablesIn[name] !== undefined) tables[name] = decodeTable(tablesIn[name], `tables.${name}`);
    const r: ReportData = {
      format: REPORT_FORMAT,
      version: REPORT_VERSION,
      createdAt: str(raw.createdAt, 'createdAt'),
      tool: { name: 'radcbir', version: str(tool.version, 'tool.version') },
      dir,
      work: str(raw.work, 'work'),
      dataset: decodeDataset(raw.dataset, 'dataset'),
      protocol: decodeProtocol(raw.protocol, 'protocol'),
      models: arr(raw.models, 'models').map((m, i) => decodeModel(m, `models[${i}]`)),
      tables,
      figures: decodeFigures(raw.figures ?? null, 'figures'),
      ...(raw.beyond === undefined ? {} : { beyond: decodeBeyond(raw.beyond, 'beyond', file) }),
      files: strings(raw.files, 'files'),
    };
    if (r.models.length === 0) throw new SchemaError('models', 'no models');
    return mapPaths(r, (p) => loadPath(p, dir));
  } catch (e) {
    if (!(e instanceof SchemaError)) throw e;
    throw new CbirError(`report.json does not match the report schema: ${e.message}`, {
      file,
      hint: 'the file was edited or written by another program; re-run the report (cached embeddings and k-NN tables are reused)',
      code: 'report/schema',
    });
  }
}
