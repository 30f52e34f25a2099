/** A report from the evaluations of one run (pure: no disk but the version of the package). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../data/manifest.js';
import type { ModelEvaluation } from '../benchmark/evaluate.js';
import { precisionAtNTable, knnClassificationTable, probeTable, probeSummaries } from '../benchmark/tables.js';
import type { Table } from '../tables/write.js';
import { PROJECT_ROOT } from '../paths.js';
import {
  REPORT_FORMAT,
  REPORT_VERSION,
  type ReportBeyond,
  type ReportData,
  type ReportDataset,
  type ReportModel,
  type ReportProtocol,
  type ReportStore,
  type ReportTableName,
} from './types.js';

let version: string | null = null;
/** The radcbir version (package.json). */
export function toolVersion(): string {
  if (version === null) {
    try {
      version = String(
        (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version?: string }).version,
      );
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

/** What a report says about its dataset. */
export function datasetOf(m: Manifest): ReportDataset {
  return {
    dir: m.dir,
    hash: m.hash,
    images: m.size,
    classes: m.classes.length,
    anatomical: m.classes.filter((c) => c.kind === 'anatomical').length,
    pathological: m.classes.filter((c) => c.kind === 'pathological').length,
    modalities: [...m.modalities],
    datasets: [...m.datasets],
    splits: { train: m.indicesOf('train').length, val: m.indicesOf('val').length, test: m.indicesOf('test').length },
  };
}

function modelOf(e: ModelEvaluation, store: ReportStore): ReportModel {
  return {
    modelId: e.modelId,
    store,
    knn: { test: e.knnDirs.test, val: e.knnDirs.val, k: e.table.k },
    precision: precisionAtNTable(e.modelId, e.precision, e.intervals, e.baselines?.chance),
    knnClassification: knnClassificationTable(e),
    probe: probeTable(e),
    probes: probeSummaries(e),
    indexSizeSkipped: e.indexSizeSkipped ?? null,
    notes: [...e.notes],
    files: [],
  };
}

/** The report of one run, in memory (dir null until saved). */
export function buildReport(o: {
  manifest: Manifest;
  evaluations: ModelEvaluation[];
  stores: ReportStore[];
  protocol: ReportProtocol;
  tables: Record<string, Table>;
  work: string;
  /** Ranking metrics and re-ranking beyond the study (omitted: the report has none). */
  beyond?: ReportBeyond;
}): ReportData {
  return {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    createdAt: new Date().toISOString(),
    tool: { name: 'radcbir', version: toolVersion() },
    dir: null,
    work: o.work,
    dataset: datasetOf(o.manifest),
    protocol: o.protocol,
    models: o.evaluations.map((e, i) => modelOf(e, o.stores[i])),
    tables: o.tables as Partial<Record<ReportTableName, Table>>,
    figures: null,
    ...(o.beyond ? { beyond: o.beyond } : {}),
    files: [],
  };
}
