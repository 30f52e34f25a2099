/** Reproduced tables next to the study's reported ones. */
import { listModels } from '../models/registry.js';
import { join } from 'node:path';
import { readReportedTable, REPORTED_TABLES, studyDir } from './reported.js';
import { noteHtml, sideBySide, tableHtml, type TableHtmlOptions } from './html.js';
import type { Table } from './write.js';

/**
 * Table 5 (one row per model and method) in the study's layout: knn_/lp_ × micro/macro "aurpc"
 * (which the study's code computes as ROC AUC, our `*_auroc`) and F1.
 */
export function table5StudyLayout(t: Table): Table {
  const at = (c: string) => t.columns.indexOf(c);
  const models = [...new Set(t.rows.map((r) => String(r[0])))];
  const columns = [
    'model',
    'knn_micro_aurpc',
    'knn_micro_f1',
    'knn_macro_aurpc',
    'knn_macro_f1',
    'lp_micro_aurpc',
    'lp_micro_f1',
    'lp_macro_aurpc',
    'lp_macro_f1',
  ];
  const rows = models.map((m) => {
    const pick = (method: string) => t.rows.find((r) => r[0] === m && r[at('method')] === method);
    const vals = (r: (string | number | null)[] | undefined) =>
      r ? [r[at('micro_auroc')], r[at('micro_f1')], r[at('macro_auroc')], r[at('macro_f1')]] : [null, null, null, null];
    // the study's numbers come from its own probe protocol: prefer that row when it ran
    return [m, ...vals(pick('knn')), ...vals(pick('linear_probe_study') ?? pick('linear_probe'))];
  });
  return {
    title: `${t.title} (the study's layout)`,
    columns,
    rows,
    notes: ["aurpc = one-vs-rest ROC AUC, as the study's code computes it."],
  };
}

/** Study name (Table 2, e.g. 'ResNet') of each model id that is a study model. */
export async function studyNames(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const m of await listModels()) if (m.studyName) out.set(m.id, m.studyName);
  return out;
}

/**
 * Reproduced values next to the study's reported ones, in long form (model, column, reproduced,
 * reported, difference), for the models whose study name appears in the reported table; null
 * when none does (e.g. built-in models on the phantom).
 */
export function compareReported(reproduced: Table, reported: Table, names: ReadonlyMap<string, string>): Table | null {
  const shared = reproduced.columns.filter((c, i) => i > 0 && reported.columns.includes(c));
  const rows: (string | number | null)[][] = [];
  for (const r of reproduced.rows) {
    const id = String(r[0]);
    const study = names.get(id);
    const rep = study ? reported.rows.find((x) => String(x[0]) === study) : undefined;
    if (!rep) continue;
    for (const c of shared) {
      const a = r[reproduced.columns.indexOf(c)],
        b = rep[reported.columns.indexOf(c)];
      rows.push([id, study!, c, a, b, typeof a === 'number' && typeof b === 'number' ? a - b : null]);
    }
  }
  if (rows.length === 0) return null;
  return {
    title: `${reproduced.title}: reproduced vs reported`,
    columns: ['model', 'study_model', 'column', 'reproduced', 'reported', 'difference'],
    rows,
  };
}

/**
 * HTML for one of the study's tables: the reproduced table, and next to it the study's reported
 * values (`readReportedTable`), or a reproduced-vs-reported comparison when some model is a study
 * model; a note when the reported tables are absent (no ../shared/study).
 */
export async function withReported(
  which: keyof typeof REPORTED_TABLES,
  reproduced: Table,
  opts: TableHtmlOptions = {},
): Promise<string> {
  const models = reproduced.rows.map((r) => String(r[0])).filter((m) => !['queries', 'classes', 'samples'].includes(m));
  const mine = tableHtml(reproduced, { highlight: models, ...opts });
  const reported = await readReportedTable(which);
  if (!reported) {
    const paper = /^table(\d+)_/.exec(REPORTED_TABLES[which])?.[1];
    return (
      mine +
      noteHtml(
        `The study's reported values are not on this machine: looked for ${join(studyDir(), REPORTED_TABLES[which])}. They are the paper's ${paper ? `Table ${paper}` : 'tables'} (Denner et al.), transcribed as CSV (table2_models.csv … table10_dataset.csv) in the shared study folder: put that folder at ../shared/study beside the project, or set the CBIR_STUDY environment variable to the folder holding them.`,
      )
    );
  }
  const cmp = compareReported(reproduced, reported, await studyNames());
  const reportedModels = reported.rows.map((r) => String(r[0])).filter((m) => !['classes', 'samples'].includes(m));
  const theirs = tableHtml(
    { ...reported, title: `Reported by the study (Denner et al.), ${REPORTED_TABLES[which]}` },
    { highlight: reportedModels, digits: opts.digits },
  );
  if (cmp) return sideBySide(mine, theirs) + tableHtml(cmp, { digits: opts.digits });
  return (
    sideBySide(mine, theirs) +
    noteHtml(
      'None of these models is a study model, so no row is comparable with the reported values: they are shown for orientation (the study: 1.3 M index images, 171,753 queries, 12 foundation models).',
    )
  );
}
