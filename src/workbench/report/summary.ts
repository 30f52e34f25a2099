/**
 * summary.md of a report: a pure function of the report (and, optionally, the study's reported
 * Table 3 for reference). Written once per save; nothing reads it back.
 */
import { tableToMarkdown, type Table } from '../tables/write.js';
import type { ReportData, ReportFigures, ReportTableName } from './types.js';

const SUMMARY_TABLES: readonly ReportTableName[] = [
  'table3_retrieval',
  'comparison',
  'table4_modality',
  'table9_anatomy_pathology',
  'table10_dataset',
  'table5_embedding_quality',
  'index_size',
];

function header(r: ReportData): string[] {
  const d = r.dataset;
  return [
    '# radcbir benchmark report',
    '',
    `Dataset: \`${d.dir}\` — ${d.images} images, ${d.classes} classes (${d.anatomical} anatomical, ${d.pathological} pathological), modalities ${d.modalities.join(', ')}; index (train) ${d.splits.train}, val ${d.splits.val}, queries (test) ${d.splits.test}. Manifest hash \`${d.hash.slice(0, 12)}\`.`,
    '',
    `Models: ${r.models.map((m) => `\`${m.modelId}\``).join(', ')}. Retrieval by ${r.protocol.index.kind === 'hnsw' ? 'approximate (HNSW)' : 'exact'} cosine similarity (inner product of L2-normalised embeddings); P@N by the ${r.protocol.definition === 'study' ? "study's definition (n = min(N, index images of the query's class))" : 'textbook definition (divide by N)'}.`,
    '',
  ];
}

function tablesSection(r: ReportData): string[] {
  const lines: string[] = [];
  for (const key of SUMMARY_TABLES) {
    const t = r.tables[key];
    if (!t) continue;
    if (key === 'index_size' && t.rows.length === 0) {
      const why = r.models.find((m) => m.indexSizeSkipped)?.indexSizeSkipped ?? 'no eligible class';
      lines.push(`### ${t.title}`, '', r.protocol.indexSize ? `Skipped: ${why}.` : 'Skipped (disabled).', '');
      continue;
    }
    lines.push(tableToMarkdown(t), `Files: [${key}.csv](${key}.csv), [${key}.json](${key}.json)`, '');
  }
  return lines;
}

function reportedSection(reported: Table): string[] {
  return [
    '### For reference: Table 3 as reported by the study (1.3 M index images, 171,753 queries)',
    '',
    tableToMarkdown({ ...reported, title: '' }, { heading: false }),
    "These numbers are on the study's combined dataset; they are comparable with the ones above only when the same data and model weights are used.",
    '',
  ];
}

function modelFilesSection(r: ReportData): string[] {
  const lines = ['### Per-model files', ''];
  for (const m of r.models) {
    const links = m.files.filter((f) => f.endsWith('.csv')).map((f) => `[${f.split('/').pop()}](${f})`);
    lines.push(`- \`${m.modelId}\` (top ${m.knn.k} neighbours; embeddings: ${m.store.source}): ${links.join(', ')}`);
    for (const n of m.notes) lines.push(`  - _${n}_`);
  }
  lines.push(
    '',
    'Per-class P@1 (Fig. 5 data): [per_class_p1.csv](per_class_p1.csv). Everything above, typed: [report.json](report.json).',
    '',
  );
  return lines;
}

/** The Figures section (links to every figure, and what was skipped). */
export function figuresSection(f: ReportFigures): string[] {
  const lines = ['### Figures', ''];
  for (const x of f.files) {
    const links = [x.png && `[PNG](${x.png})`, x.html && `[HTML](${x.html})`, x.json && `[plotly JSON](${x.json})`];
    lines.push(`- ${x.title}: ${links.filter(Boolean).join(' · ')}`);
  }
  if (f.notes.length) lines.push('', ...f.notes.map((n) => `_${n.replace(/_/g, '\\_')}_`));
  lines.push(
    '',
    'HTML figures work offline (plotly is inlined or next to them); regenerate with `cbir figures --report <this folder>`.',
    '',
  );
  return lines;
}

/** summary.md of `r`; `reported` is the study's Table 3 (shown for reference when given). */
export function renderSummary(r: ReportData, reported: Table | null = null): string {
  return [
    ...header(r),
    ...tablesSection(r),
    ...(reported ? reportedSection(reported) : []),
    ...modelFilesSection(r),
    ...(r.figures ? figuresSection(r.figures) : []),
  ].join('\n');
}
