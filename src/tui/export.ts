/**
 * Export of what the TUI shows: a view's table as CSV or Markdown (the same writers as
 * `cbir report`), or the query browser's current query (or searched image) with its matches.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { tableToCsv, tableToMarkdown, writeFileAtomic, type Manifest, type Table } from '../workbench/index.js';
import { queryMatches, type QuerySet } from './queries.js';
import type { SearchSet } from './search.js';

export type ExportFormat = 'csv' | 'md';

/** Write `t` to `<dir>/<name>.<csv|md>` (folder created, file written atomically); returns the path. */
export async function exportTable(t: Table, format: ExportFormat, dir: string, name: string): Promise<string> {
  const file = resolve(join(dir, `${name.replace(/[^A-Za-z0-9._-]+/g, '_')}.${format}`));
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(file, format === 'csv' ? tableToCsv(t) : tableToMarkdown(t));
  return file;
}

/** The query browser's current query and its first `n` matches as a Table. */
export function queryTable(qs: QuerySet, m: Manifest, q: number, n: number): Table {
  const info = queryMatches(qs, m, q, n);
  return {
    title: `Query ${q + 1} (${info.path}, ${info.className}): top ${info.matches.length} of ${qs.model}`,
    columns: ['rank', 'filepath', 'class', 'similarity', 'correct'],
    rows: info.matches.map((x) => [x.rank, x.path, x.className, x.sim, x.correct ? 'yes' : 'no']),
    notes: [`${info.hits} of ${info.matches.length} matches have the query's class; neighbours from ${qs.source}.`],
  };
}

/** One searched image and its first `n` matches as a Table. */
export function searchTable(set: SearchSet, q: number, n: number): Table {
  const x = set.queries[q];
  const shown = x.matches.slice(0, n);
  const known = x.className !== null;
  const hits = shown.filter((h) => h.correct).length;
  return {
    title: `Search ${q + 1} (${x.path}, ${x.className ?? 'class unknown'}): top ${shown.length} of ${set.model}`,
    columns: ['rank', 'filepath', 'class', 'similarity', 'correct'],
    rows: shown.map((h) => [h.rank, h.path, h.className, h.sim, h.correct === null ? null : h.correct ? 'yes' : 'no']),
    notes: [
      `${set.where}.`,
      known ? `${hits} of ${shown.length} matches have the query's class.` : "The query's class is unknown.",
    ],
  };
}
