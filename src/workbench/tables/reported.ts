import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCsv } from '../util/csv.js';
import { studyDir } from '../paths.js';
import type { Table } from './write.js';

export { studyDir };

export const REPORTED_TABLES = {
  models: 'table2_models.csv',
  retrieval: 'table3_retrieval.csv',
  modality: 'table4_modality.csv',
  embeddingQuality: 'table5_embedding_quality.csv',
  anatomyPathology: 'table9_anatomy_pathology.csv',
  dataset: 'table10_dataset.csv',
} as const;

/**
 * One of the study's reported tables (Denner et al.), for "reported vs reproduced" views.
 * Returns null when the folder is absent (a fresh clone without ../shared/study).
 */
export async function readReportedTable(which: keyof typeof REPORTED_TABLES): Promise<Table | null> {
  const file = join(studyDir(), REPORTED_TABLES[which]);
  if (!existsSync(file)) return null;
  const records = [...parseCsv(await readFile(file, 'utf8'), file)];
  const [header, ...rest] = records;
  return {
    title: `Reported (Denner et al.): ${REPORTED_TABLES[which]}`,
    columns: header.cells,
    rows: rest.map((r) => r.cells.map((c) => (c !== '' && /^-?\d*\.?\d+(e-?\d+)?$/i.test(c) ? Number(c) : c))),
  };
}
