import { join } from 'node:path';
import { csvLine } from '../util/csv.js';
import { writeFileAtomic } from '../util/fsx.js';

/** One line of report.csv: what happened to a file (or a class, for split rows) and why. */
export interface ReportRow {
  /**
   * duplicate-kept, duplicate-dropped, label-conflict, near-duplicate-kept, near-duplicate-dropped,
   * near-label-conflict, similar-across-splits, corrupt, unreadable, ignored-hidden,
   * ignored-non-image, ignored-special (FIFO, device, socket), ignored-loop, bad-name,
   * missing-label, missing-file, multi-label, unlabeled, split-assigned.
   */
  kind: string;
  dataset: string;
  /** Path relative to the source root (a folder ends in '/'); for missing-file the CSV id; for split-assigned empty. */
  file: string;
  /** Class label (or class name for split rows); empty when unknown. */
  class: string;
  /** kept, dropped, skipped, excluded, assigned. */
  action: string;
  detail: string;
}

export const REPORT_COLUMNS = ['kind', 'dataset', 'file', 'class', 'action', 'detail'] as const;

/** Report kinds in the order the report lists them. */
export const REPORT_KINDS = [
  'label-conflict',
  'duplicate-dropped',
  'duplicate-kept',
  'near-label-conflict',
  'near-duplicate-dropped',
  'near-duplicate-kept',
  'similar-across-splits',
  'corrupt',
  'unreadable',
  'missing-label',
  'missing-file',
  'multi-label',
  'unlabeled',
  'ignored-hidden',
  'ignored-non-image',
  'ignored-special',
  'ignored-loop',
  'bad-name',
  'split-assigned',
] as const;

/** The duplicate policy, as written at the top of report.md. */
export const DUPLICATE_POLICY = [
  'Exact duplicates are found by content: the sha256 of the file bytes and the sha256 of the decoded pixels (width, height and RGB values); images sharing either hash (transitively) form one group, also across sources.',
  '(a) A group whose copies carry different classes is a **label conflict**: all its copies are dropped, because we cannot know which label is true.',
  "(b) Copies with the same class: **one is kept** — the copy in the query split wins (test, then val, then train, then copies whose source gives no split), ties broken by the lexicographically first path (`dataset/relative/path`) — so a query's twin never stays in the index; the other copies are dropped.",
  'Duplicates are removed before splitting, so copies of one image never end up in different splits.',
];

export interface ReportSummaryRow {
  dataset: string;
  found: number;
  kept: number;
  train: number;
  val: number;
  test: number;
}

export interface ReportContext {
  title?: string;
  seed: number;
  ratios: readonly [number, number, number];
  valFraction: number;
  sources: { dataset: string; type: string; path: string }[];
  /** The folder the manifest's file paths are relative to (dataset.json `imagesRoot`). */
  imagesRoot?: string;
  summary: ReportSummaryRow[];
  /** Split table per class. */
  splits: { dataset: string; className: string; kind: string; train: number; val: number; test: number; how: string }[];
  rows: readonly ReportRow[];
  /** Markdown lines, one per duplicate group (label conflicts first). */
  duplicateLines: string[];
  conflictLines: string[];
  /** Things to check, listed near the top of report.md. */
  warnings?: readonly string[];
  /** More policy lines (the near-duplicate rules), after DUPLICATE_POLICY. */
  policy?: readonly string[];
  /** More sections (title, Markdown lines), after the duplicates. */
  sections?: readonly { title: string; lines: readonly string[] }[];
}

/** Count report rows per kind. */
export function countKinds(rows: readonly ReportRow[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[r.kind] = (out[r.kind] ?? 0) + 1;
  return out;
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10} %`;
}

function code(s: string): string {
  return '`' + s.replace(/`/g, "'") + '`';
}

/** The summary table of report.md: images found, kept and per split, per dataset and in all. */
function summaryTable(summary: readonly ReportSummaryRow[]): string[] {
  const L = [
    '## Summary',
    '',
    '| dataset | images found | kept | train | val | test |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  const tot = { found: 0, kept: 0, train: 0, val: 0, test: 0 };
  for (const s of summary) {
    L.push(`| ${s.dataset} | ${s.found} | ${s.kept} | ${s.train} | ${s.val} | ${s.test} |`);
    tot.found += s.found;
    tot.kept += s.kept;
    tot.train += s.train;
    tot.val += s.val;
    tot.test += s.test;
  }
  L.push(`| **all** | ${tot.found} | ${tot.kept} | ${tot.train} | ${tot.val} | ${tot.test} |`);
  return L;
}

/** report.md: policy, summary tables, splits, then every case by kind. */
export function renderReportMd(ctx: ReportContext): string {
  const L: string[] = [];
  const counts = countKinds(ctx.rows);
  L.push(`# ${ctx.title ?? 'Data preparation report'}`, '');
  L.push(
    `Made by \`cbir data prepare\`: seed ${ctx.seed}; sources without a split are split train/val/test ${ctx.ratios.map(pct).join(' / ')} (stratified per dataset and class, grouped by patient/group where one is known); sources that give train + test only have ${pct(ctx.valFraction)} of train carved out as val.`,
    '',
  );
  if (ctx.warnings?.length) {
    L.push(`## Warnings (${ctx.warnings.length})`, '');
    for (const w of ctx.warnings) L.push(`- ${w}`);
    L.push('');
  }
  L.push('## Duplicate policy', '');
  for (const p of [...DUPLICATE_POLICY, ...(ctx.policy ?? [])]) L.push(`- ${p}`);
  L.push(
    '- Corrupt or unreadable files (and FIFOs, devices, names with line breaks) are listed and skipped; multi-label and unlabeled rows of label CSVs are listed and excluded; hidden folders/files and non-image files are ignored and listed.',
    '',
  );
  L.push('## Sources', '', '| dataset | type | path |', '|---|---|---|');
  for (const s of ctx.sources) L.push(`| ${s.dataset} | ${s.type} | ${code(s.path)} |`);
  if (ctx.imagesRoot)
    L.push(
      '',
      `Image paths in manifest.csv are relative to the images root ${code(ctx.imagesRoot)} (\`imagesRoot\` in dataset.json; change it there when the images move).`,
    );
  L.push('', ...summaryTable(ctx.summary), '');
  L.push('| case | rows in report.csv |', '|---|---:|');
  for (const k of REPORT_KINDS) L.push(`| ${k} | ${counts[k] ?? 0} |`);
  L.push('');
  L.push(
    '## Splits per class',
    '',
    '| dataset | class | kind | train | val | test | how |',
    '|---|---|---|---:|---:|---:|---|',
  );
  for (const s of ctx.splits)
    L.push(`| ${s.dataset} | ${s.className} | ${s.kind} | ${s.train} | ${s.val} | ${s.test} | ${s.how} |`);
  L.push('');
  L.push(
    `## Label conflicts (${ctx.conflictLines.length} group${ctx.conflictLines.length === 1 ? '' : 's'}, ${counts['label-conflict'] ?? 0} images dropped)`,
    '',
  );
  L.push(...(ctx.conflictLines.length ? ctx.conflictLines : ['None.']), '');
  L.push(
    `## Duplicates (${ctx.duplicateLines.length} group${ctx.duplicateLines.length === 1 ? '' : 's'}, ${counts['duplicate-dropped'] ?? 0} copies dropped)`,
    '',
  );
  L.push(...(ctx.duplicateLines.length ? ctx.duplicateLines : ['None.']), '');
  for (const sec of ctx.sections ?? []) L.push(`## ${sec.title}`, '', ...sec.lines, '');
  const section = (title: string, kinds: string[]) => {
    const rs = ctx.rows.filter((r) => kinds.includes(r.kind));
    L.push(`## ${title} (${rs.length})`, '');
    if (rs.length === 0) L.push('None.');
    for (const r of rs)
      L.push(
        `- ${r.kind}: ${code(`${r.dataset}/${r.file}`)}${r.class ? ` (${r.class})` : ''} — ${r.action}: ${r.detail}`,
      );
    L.push('');
  };
  section('Corrupt or unreadable files', ['corrupt', 'unreadable']);
  section('Label problems', ['missing-label', 'missing-file', 'multi-label', 'unlabeled']);
  section('Ignored files and folders', [
    'ignored-hidden',
    'ignored-non-image',
    'ignored-special',
    'ignored-loop',
    'bad-name',
  ]);
  return L.join('\n');
}

/** Write report.csv (every row) and report.md into `dir`. */
export async function writeReport(dir: string, ctx: ReportContext): Promise<void> {
  const lines = [
    csvLine(REPORT_COLUMNS),
    ...ctx.rows.map((r) => csvLine([r.kind, r.dataset, r.file, r.class, r.action, r.detail])),
  ];
  await writeFileAtomic(join(dir, 'report.csv'), lines.join('\n') + '\n');
  await writeFileAtomic(join(dir, 'report.md'), renderReportMd(ctx));
}
