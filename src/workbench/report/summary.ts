/**
 * summary.md of a report: a pure function of the report (and, optionally, the study's reported
 * Table 3 for reference). Written once per save; nothing reads it back.
 */
import { tableToMarkdown, type Table } from '../tables/write.js';
import type { ReportData, ReportFigures, ReportTableName } from './types.js';
import { PROBE_FLAG_TEXT } from '../benchmark/tables.js';
import type { ProbeFlag } from '../metrics/index.js';
import { DATA_NOTE_PREFIX } from '../data/audit.js';

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
    ...(figuresFailure(r) === null
      ? []
      : [
          '**⚠ The figures are missing or incomplete: their phase failed (see "Figures incomplete" at the end). Make them with `cbir figures --report <this folder>`.**',
          '',
        ]),
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

/** A baseline row of a report table by its first cell, as column → value. */
function baselineRow(t: Table | undefined, name: string): ((column: string) => number) | null {
  const row = t?.rows.find((r) => r[0] === name);
  if (!t || !row) return null;
  return (c) => {
    const v = row[t.columns.indexOf(c)];
    return typeof v === 'number' ? v : NaN;
  };
}

/** What the probe protocol was, in words. */
function probeProtocolText(p: ReportData['protocol']['probe']): string {
  if (p === false) return 'Linear probing was skipped.';
  const parts: string[] = [];
  const protocol = String(p.protocol ?? 'study'); // reports written before the default probe ran only the study's
  if (protocol.includes('logistic'))
    parts.push(
      '`linear_probe` is multinomial logistic regression on standardised embeddings, its L2 penalty C chosen on val accuracy, solved with L-BFGS',
    );
  if (protocol.includes('study'))
    parts.push("`linear_probe_study` is the study's protocol (AdamW, lr 1e-3, batch 512, ≤ 100 epochs, patience 20)");
  return parts.join('; ') + '.';
}

/** Chance and majority-class levels, and every probe flagged as degenerate (single class, cap reached, …). */
export function baselinesSection(r: ReportData): string[] {
  const lines = ['### Baselines and probe checks', ''];
  const chance = baselineRow(r.tables.table3_retrieval, 'chance');
  const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
  if (chance)
    lines.push(
      `- Chance (a random ranking, same P@N definition): P@1 micro ${f3(chance('micro_p1'))}, macro ${f3(chance('macro_p1'))} — the \`chance\` rows of Tables 3, 4, 9 and 10.`,
    );
  const majority = baselineRow(r.tables.table5_embedding_quality, 'majority');
  if (majority)
    lines.push(
      `- Majority class (the most frequent train class for every test image): accuracy ${f3(majority('accuracy'))}, macro F1 ${f3(majority('macro_f1'))}, macro recall ${f3(majority('macro_recall'))} — the \`majority\` row of Table 5.`,
    );
  lines.push(`- ${probeProtocolText(r.protocol.probe)}`);
  const flagged = r.models.flatMap((m) => (m.probes ?? []).filter((p) => p.flags.length).map((p) => ({ m, p })));
  for (const { m, p } of flagged) {
    const why = p.flags.map((f) => `${f} (${PROBE_FLAG_TEXT[f as ProbeFlag] ?? f})`).join(', ');
    lines.push(
      `- **Flagged:** \`${m.modelId}\` ${p.method} (${p.setting}, ${p.steps}/${p.maxSteps} steps, accuracy ${f3(p.accuracy)}): ${why}. Read its row as a failed probe, not as the embedding's quality.`,
    );
  }
  if (r.protocol.probe !== false && flagged.length === 0 && r.models.some((m) => m.probes))
    lines.push('- No probe is flagged: none predicts a single class, stops at its cap or stays at the majority level.');
  lines.push('');
  return lines;
}

/** The report's notes about its data (copies of test queries in the index, excluded rows), once, near the top. */
export function dataWarningsSection(r: ReportData): string[] {
  const notes = [...new Set(r.models.flatMap((m) => m.notes.filter((n) => n.startsWith(DATA_NOTE_PREFIX))))];
  if (notes.length === 0) return [];
  return ['### ⚠ Data warnings', '', ...notes.map((n) => `- **${n.slice(DATA_NOTE_PREFIX.length)}**`), ''];
}

/** "Beyond the study": the ranking metrics with graded relevance and, when it ran, re-ranking (report.json `beyond`). */
export function beyondSection(r: ReportData): string[] {
  const b = r.beyond;
  if (!b) return [];
  const scales = Object.entries(b.ordinal).map(([s, l]) => `\`${s}\` (${l.join(' < ')})`);
  const lines = [
    '### Beyond the study',
    '',
    `Ranking metrics from the same k-NN tables (test queries against the train index, k = ${b.k}). ${scales.length ? `Ordinal grades from relevance.json: ${scales.join('; ')}.` : 'No ordinal grades are declared (relevance.json next to the manifest declares them, e.g. `{"ordinal": {"XR/knee": ["0", "1", "2", "3", "4"]}}`).'}${b.multiLabel?.length ? ` Multi-label datasets (relevance.json): ${b.multiLabel.join(', ')}; their queries are scored in the "multi-label (Jaccard)" rows (relevant = label sets intersect, gain = Jaccard).` : ''}`,
    '',
    ...b.notes.map((n) => `- _${n}_`),
    ...(b.notes.length ? [''] : []),
    tableToMarkdown(b.ranking),
  ];
  if (b.rerank) lines.push(tableToMarkdown(b.rerank));
  else
    lines.push(
      'Re-ranking and query expansion (αQE, DBA, k-reciprocal) were not run: `cbir report --rerank` adds them.',
      '',
    );
  lines.push('All of it, typed: the `beyond` field of [report.json](report.json).', '');
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
    for (const n of m.notes) if (!n.startsWith(DATA_NOTE_PREFIX)) lines.push(`  - _${n}_`);
  }
  lines.push(
    '',
    'Per-class P@1 (Fig. 5 data): [per_class_p1.csv](per_class_p1.csv). Everything above, typed: [report.json](report.json).',
    '',
  );
  return lines;
}

/** The Figures section (links to every figure, and what was skipped). */
/** A figures note starting with this records a figures phase that failed (`saveReport`, `addFigures`); the rest is why. */
export const FIGURES_FAILED_PREFIX = 'figures incomplete: ';

/** Why the figures of `r` are incomplete (its last figures phase failed), or null. */
export function figuresFailure(r: Pick<ReportData, 'figures'>): string | null {
  const n = r.figures?.notes.find((x) => x.startsWith(FIGURES_FAILED_PREFIX));
  return n === undefined ? null : n.slice(FIGURES_FAILED_PREFIX.length);
}

export function figuresSection(f: ReportFigures): string[] {
  const failed = figuresFailure({ figures: f });
  const lines = failed === null ? ['### Figures', ''] : figuresFailedLines(failed, f.files.length);
  const notes = f.notes.filter((n) => !n.startsWith(FIGURES_FAILED_PREFIX));
  for (const x of f.files) {
    const links = [x.png && `[PNG](${x.png})`, x.html && `[HTML](${x.html})`, x.json && `[plotly JSON](${x.json})`];
    lines.push(`- ${x.title}: ${links.filter(Boolean).join(' · ')}`);
  }
  if (notes.length) lines.push('', ...notes.map((n) => `_${n.replace(/_/g, '\\_')}_`));
  lines.push(
    '',
    'HTML figures work offline (plotly is inlined or next to them); regenerate with `cbir figures --report <this folder>`.',
    '',
  );
  return lines;
}

/** The head of the figures section when the figures phase failed: what is missing, why, and how to make them. */
function figuresFailedLines(why: string, listed: number): string[] {
  return [
    '### ⚠ Figures incomplete',
    '',
    `**The figures phase failed, so the figures are missing or incomplete${listed ? ' (the ones listed below are from an earlier run)' : ''}:** ${why}`,
    '',
    '**The tables above are complete. After fixing the cause, make the figures with `cbir figures --report <this folder>`.**',
    '',
  ];
}

/** summary.md of `r`; `reported` is the study's Table 3 (shown for reference when given). */
export function renderSummary(r: ReportData, reported: Table | null = null): string {
  return [
    ...header(r),
    ...dataWarningsSection(r),
    ...tablesSection(r),
    ...baselinesSection(r),
    ...beyondSection(r),
    ...(reported ? reportedSection(reported) : []),
    ...modelFilesSection(r),
    ...(r.figures ? figuresSection(r.figures) : []),
  ].join('\n');
}
