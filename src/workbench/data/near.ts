/**
 * The near-duplicate and similar-pair checks of `prepare`, between the exact-duplicate stage and
 * the write stage: near-duplicates (thumbnail MAD below the near threshold) are grouped and
 * resolved like exact duplicates; similar images that end up in different splits (MAD below the
 * similar threshold) are reported as possible patient leaks and kept.
 */
import { findNearDuplicates, type DuplicateGroup } from './duplicates.js';
import { SPLITS, type Split } from './manifest.js';
import type { ReportRow } from './report.js';
import { THUMB_PIXELS, findNearPairs, forEachNearPair, thumbL1 } from './thumbs.js';

/** One image as these checks see it. */
export interface NearRecord {
  ref: string;
  dataset: string;
  /** Path relative to its source (report.csv's `file`). */
  rel: string;
  label: string;
  className: string;
  thumb: Uint8Array;
}

export interface NearOutcome {
  /** Per record: 0 kept, 1 dropped as a near-duplicate, 2 dropped as a near-duplicate label conflict. */
  drop: Uint8Array;
  rows: ReportRow[];
  /** report.md lines, one per group. */
  lines: string[];
  conflictLines: string[];
  stats: {
    /** MAD threshold in gray levels (0: the check was off). */
    threshold: number;
    groups: number;
    dropped: number;
    conflictGroups: number;
    conflictDropped: number;
    /** Pairs below the threshold (before grouping). */
    pairs: number;
    /** Seconds the pair search took. */
    seconds: number;
  };
}

/** Thumbnails of records, packed (n × 256). */
function packThumbs(records: readonly NearRecord[]): Uint8Array {
  const t = new Uint8Array(records.length * THUMB_PIXELS);
  records.forEach((r, i) => t.set(r.thumb, i * THUMB_PIXELS));
  return t;
}

/** A MAD in gray levels as report text: "MAD 1.23/255". */
function madText(l1: number): string {
  return `MAD ${(l1 / THUMB_PIXELS).toFixed(2)}/255`;
}

const where = (r: NearRecord, split?: Split) => `\`${r.ref}\`${split ? ` (${split})` : ''}`;

/**
 * Near-duplicates among `records` (the images the exact stage kept; `given` their given splits):
 * pairs with thumbnail MAD < `threshold` gray levels are joined into groups (union-find); a group
 * whose copies carry different classes is dropped whole (a label conflict), otherwise the copy in
 * the query split is kept (test > val > train > no split, then the first ref).
 */
export function nearDuplicateStage(
  records: readonly NearRecord[],
  given: readonly (Split | undefined)[],
  threshold: number,
): NearOutcome {
  const t0 = performance.now();
  const thumbs = packThumbs(records);
  const pairs = findNearPairs(thumbs, records.length, threshold);
  const seconds = (performance.now() - t0) / 1000;
  const res = findNearDuplicates(
    records.map((r, i) => ({ ref: r.ref, className: r.className, split: given[i] })),
    pairs,
  );
  const out: NearOutcome = {
    drop: res.drop,
    rows: [],
    lines: [],
    conflictLines: [],
    stats: { threshold, groups: 0, dropped: 0, conflictGroups: 0, conflictDropped: 0, pairs: pairs.count, seconds },
  };
  const ctx: NearGroupContext = { out, records, given, thumbs };
  for (const g of res.groups) {
    if (g.conflict) reportNearConflict(ctx, g);
    else reportNearGroup(ctx, g);
  }
  return out;
}

/** What the group reports read (records, their given splits, packed thumbnails) and write (out). */
interface NearGroupContext {
  out: NearOutcome;
  records: readonly NearRecord[];
  given: readonly (Split | undefined)[];
  thumbs: Uint8Array;
}

/** Rows and the report.md line of a near-duplicate group whose copies carry different classes (all dropped). */
function reportNearConflict(ctx: NearGroupContext, g: DuplicateGroup): void {
  const { out, records, given, thumbs } = ctx;
  const first = g.members[0];
  out.conflictLines.push(
    `- ${g.members.map((k) => `${where(records[k], given[k])} as ${records[k].className}`).join('; ')} — near-identical thumbnails; all ${g.members.length} copies dropped`,
  );
  for (const k of g.members) {
    const r = records[k];
    const other = k === first ? g.members[1] : first;
    const others = g.members.filter((o) => o !== k).map((o) => `${records[o].ref} (${records[o].className})`);
    out.rows.push({
      kind: 'near-label-conflict',
      dataset: r.dataset,
      file: r.rel,
      class: r.label,
      action: 'dropped',
      detail: `near-identical to ${others.join(', ')} (${madText(thumbL1(thumbs, k, other))} to ${records[other].ref}); classes differ (${g.classes.join(' vs ')}), all copies dropped`,
    });
  }
  out.stats.conflictGroups++;
  out.stats.conflictDropped += g.members.length;
}

/** Rows and the report.md line of a near-duplicate group (the first member kept, the rest dropped). */
function reportNearGroup(ctx: NearGroupContext, g: DuplicateGroup): void {
  const { out, records, given, thumbs } = ctx;
  const kept = g.members[0];
  const rest = g.members.slice(1);
  const kr = records[kept];
  const ks = given[kept];
  out.lines.push(
    `- kept ${where(kr, ks)}; dropped ${rest.map((o) => `${where(records[o], given[o])} (${madText(thumbL1(thumbs, kept, o))})`).join(', ')} — class ${g.classes[0]}`,
  );
  out.rows.push({
    kind: 'near-duplicate-kept',
    dataset: kr.dataset,
    file: kr.rel,
    class: kr.label,
    action: 'kept',
    detail: `near-identical to ${rest.map((o) => records[o].ref + (given[o] ? ` (${given[o]})` : '')).join(', ')}; this copy kept${ks ? ` (split ${ks})` : ''}`,
  });
  for (const k of rest) {
    const r = records[k];
    out.rows.push({
      kind: 'near-duplicate-dropped',
      dataset: r.dataset,
      file: r.rel,
      class: r.label,
      action: 'dropped',
      detail: `near-identical to ${kr.ref}${ks ? ` (kept, in ${ks})` : ' (kept)'}, thumbnail ${madText(thumbL1(thumbs, kept, k))}${given[k] && ks && given[k] !== ks ? `; this copy was in ${given[k]}` : ''}`,
    });
  }
  out.stats.groups++;
  out.stats.dropped += rest.length;
}

/** Similar pairs across splits, per dataset (or dataset pair, "a × b"). */
export interface SimilarCount {
  dataset: string;
  pairs: number;
  /** Val and test images with a similar image in an earlier split (train, or train/val for test). */
  queries: number;
}

export interface SimilarOutcome {
  rows: ReportRow[];
  lines: string[];
  stats: {
    /** MAD threshold in gray levels (0: the check was off). */
    threshold: number;
    pairs: number;
    queries: number;
    byDataset: SimilarCount[];
    /** Pairs listed in report.csv (at most SIMILAR_ROWS). */
    listed: number;
    seconds: number;
  };
}

/** At most this many similar pairs are listed one by one in report.csv (all are counted). */
export const SIMILAR_ROWS = 10_000;

/**
 * Similar but distinct images in different splits: pairs of kept images (`split` their assigned
 * split codes) with thumbnail MAD < `threshold`. Near-identical pairs no longer exist among kept
 * images (the near stage left one copy per group), so these are different pictures — such as
 * adjacent slices of one scan — and a pair across splits may be a patient leak. Counted per
 * dataset, listed (up to SIMILAR_ROWS) and kept.
 */
export function similarPairStage(records: readonly NearRecord[], split: Uint8Array, threshold: number): SimilarOutcome {
  const t0 = performance.now();
  const thumbs = packThumbs(records);
  const counts = new Map<string, { pairs: number; queries: Set<number> }>();
  const rows: ReportRow[] = [];
  let pairs = 0;
  const queries = new Set<number>();
  forEachNearPair(
    thumbs,
    records.length,
    threshold,
    (i, j, l1) => {
      const [a, b] = split[i] <= split[j] ? [i, j] : [j, i]; // a in the earlier split (the index side)
      const ds =
        records[a].dataset === records[b].dataset
          ? records[a].dataset
          : `${records[a].dataset} × ${records[b].dataset}`;
      let c = counts.get(ds);
      if (!c) counts.set(ds, (c = { pairs: 0, queries: new Set() }));
      c.pairs++;
      c.queries.add(b);
      queries.add(b);
      pairs++;
      if (rows.length < SIMILAR_ROWS)
        rows.push({
          kind: 'similar-across-splits',
          dataset: records[b].dataset,
          file: records[b].rel,
          class: records[b].label,
          action: 'kept',
          detail: `${SPLITS[split[b]]} image similar to ${records[a].ref} (${SPLITS[split[a]]}, ${records[a].label}), thumbnail ${madText(l1)}: a possible patient leak`,
        });
    },
    (i, j) => split[i] !== split[j],
  );
  const byDataset = [...counts.entries()]
    .map(([dataset, c]) => ({ dataset, pairs: c.pairs, queries: c.queries.size }))
    .sort((x, y) => y.pairs - x.pairs || (x.dataset < y.dataset ? -1 : 1));
  const lines = byDataset.map((d) => `| ${d.dataset} | ${d.pairs} | ${d.queries} |`);
  const seconds = (performance.now() - t0) / 1000;
  return { rows, lines, stats: { threshold, pairs, queries: queries.size, byDataset, listed: rows.length, seconds } };
}

/** The warning of a similar-pair outcome (null when there are no pairs). */
export function similarWarning(s: SimilarOutcome['stats']): string | null {
  if (s.pairs === 0) return null;
  const per = s.byDataset.map((d) => `${d.dataset} ${d.pairs}`).join(', ');
  return `${s.pairs} pairs of similar but not near-identical images lie in different splits (thumbnail MAD < ${s.threshold}/255; ${per}); ${s.queries} val/test images have one. They may be adjacent slices of one patient, a patient leak: where a source gives no split, a "group" pattern that names the patient keeps one patient's images in one split; the pairs are listed in report.csv (kind similar-across-splits)`;
}

/** The near-duplicate lines of the policy at the top of report.md. */
export function nearPolicy(near: number, similar: number): string[] {
  const measure =
    'the mean absolute difference (MAD) of their 16×16 grayscale thumbnails (luma averaged over exact areas, 8-bit)';
  return [
    near > 0
      ? `**Near-duplicates** — images (left after exact duplicates) whose thumbnails differ by a MAD below ${near}/255, by ${measure} — are the same picture re-encoded or re-saved: they are grouped transitively and resolved by the same rules, (a) and (b).`
      : 'Near-duplicates were not checked (the near-duplicate threshold is off).',
    similar > 0
      ? `**Similar images across splits** — kept images in different splits whose thumbnails differ by a MAD below ${similar}/255 (but not near-identical) — are different pictures, such as adjacent slices of one scan; they are kept and reported as possible patient leaks.`
      : 'Similar images across splits were not checked (the similar-pair threshold is off).',
  ];
}

/** The report.md sections of the near-duplicate and similar-pair checks. */
export function nearSections(near: NearOutcome, similar: SimilarOutcome): { title: string; lines: string[] }[] {
  const n = near.stats;
  const s = similar.stats;
  const off = ['Not checked (threshold off).'];
  const sections = [
    {
      title: `Near-duplicate label conflicts (${n.conflictGroups} group${n.conflictGroups === 1 ? '' : 's'}, ${n.conflictDropped} images dropped)`,
      lines: n.threshold === 0 ? off : near.conflictLines.length ? near.conflictLines : ['None.'],
    },
    {
      title: `Near-duplicates (${n.groups} group${n.groups === 1 ? '' : 's'}, ${n.dropped} copies dropped; thumbnail MAD < ${n.threshold}/255)`,
      lines: n.threshold === 0 ? off : near.lines.length ? near.lines : ['None.'],
    },
  ];
  let lines = off;
  if (s.threshold > 0 && s.pairs === 0) lines = ['None.'];
  else if (s.threshold > 0)
    lines = [
      'Pairs of kept images in different splits with similar thumbnails, per dataset (`a × b`: across datasets), and the val/test images among them. They are kept; each pair is a row of report.csv (kind `similar-across-splits`)' +
        (s.listed < s.pairs ? `, the first ${s.listed} of ${s.pairs}.` : '.'),
      '',
      '| dataset | pairs | val/test images |',
      '|---|---:|---:|',
      ...similar.lines,
      `| **all** | ${s.pairs} | ${s.queries} |`,
    ];
  sections.push({
    title: `Similar images across splits: possible patient leaks (${s.pairs} pair${s.pairs === 1 ? '' : 's'}; thumbnail MAD < ${s.threshold}/255)`,
    lines,
  });
  return sections;
}
