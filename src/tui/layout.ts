/**
 * Pure layout helpers for a fixed-size terminal: truncation, which columns fit, which rows show.
 * Kept apart from the components so they can be tested without rendering.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import type { ViewModel } from './views.js';

/** Cut `s` to `width` characters, ending with '…' when cut. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return '';
  if (s.length <= width) return s;
  return width === 1 ? '…' : s.slice(0, width - 1) + '…';
}

/** Cut `s` from the left to `width` characters (keeps the end of a path), starting with '…'. */
export function truncateLeft(s: string, width: number): string {
  if (width <= 0) return '';
  if (s.length <= width) return s;
  return width === 1 ? '…' : '…' + s.slice(s.length - width + 1);
}

/** Pad or cut to exactly `width` characters; numbers are right-aligned. */
export function fit(s: string, width: number, align: 'left' | 'right' = 'left'): string {
  const t = truncate(s, width);
  return align === 'right' ? t.padStart(width) : t.padEnd(width);
}

/**
 * Column widths of a view: the longest label or cell, plus `pad` leading spaces (the gap to the
 * column on the left), plus one cell for the `*` best mark in a column that has one, so that a
 * star never touches the value before it. Column 0 (the row label) is capped at `maxLabel`.
 */
export function columnWidths(v: Pick<ViewModel, 'labels' | 'rows'>, maxLabel = 16, pad = 1): number[] {
  return v.labels.map((l, c) => {
    let w = l.length;
    let star = 0;
    for (const r of v.rows) {
      const cell = r.cells[c];
      w = Math.max(w, cell?.text.length ?? 0);
      if (cell?.best) star = 1;
    }
    return c === 0 ? Math.min(w, maxLabel) : w + pad + star;
  });
}

/** A count with its noun: `1 class`, `3 classes`, `? queries` when unknown. */
export function plural(n: unknown, one: string, many = `${one}s`): string {
  const shown = typeof n === 'number' ? (Number.isInteger(n) ? String(n) : n.toFixed(3)) : n ? String(n) : '?';
  return `${shown} ${n === 1 ? one : many}`;
}

/**
 * The size (columns × text rows) of each of the query browser's two images (query above, match
 * below, a caption line each) in a content box of `width` × `height`, or null when there is no
 * room: about square (a text row holds two pixel rows), at least 16 × 7 (the size at 80 × 24),
 * at most 62 × 30, and at most a third of the width, so the match list keeps 48 columns or more.
 */
export function queryImageSize(width: number, height: number): { cols: number; rows: number } | null {
  const rows = Math.min(30, Math.floor((height - 4) / 2));
  const cols = Math.min(2 * rows + 2, Math.floor(width / 3), width - 48);
  if (rows < 7 || cols < 16) return null;
  return { cols, rows: Math.min(rows, Math.ceil(cols / 2)) };
}

/** Column widths with two spaces before each value when the whole table then fits in `width`, else one. */
export function tableWidths(v: Pick<ViewModel, 'labels' | 'rows'>, width: number, maxLabel = 16): number[] {
  const wide = columnWidths(v, maxLabel, 2);
  return wide.reduce((a, b) => a + b, 0) + 3 <= width ? wide : columnWidths(v, maxLabel, 1);
}

/**
 * Which data columns (1…n-1) are shown, given the screen width: column 0 is always shown, then
 * a run of columns from `start` that fits (2 characters are kept for the ◂ ▸ scroll marks).
 * `start` is moved so that the cursor column is inside the run.
 */
export function visibleColumns(
  widths: number[],
  width: number,
  cursor: number,
  start: number,
): { start: number; end: number } {
  const n = widths.length;
  if (n <= 1) return { start: 1, end: 1 };
  const avail = Math.max(1, width - widths[0] - 2);
  const cur = Math.min(Math.max(cursor, 1), n - 1);
  let s = Math.min(Math.max(start, 1), cur);
  const endFrom = (from: number) => {
    let used = 0,
      e = from;
    while (e < n && used + widths[e] <= avail) used += widths[e++];
    return Math.max(e, from + 1); // at least one column, even when it does not fit
  };
  let e = endFrom(s);
  while (cur >= e) {
    s++;
    e = endFrom(s);
  }
  // use spare room on the right by scrolling back left
  while (s > 1 && endFrom(s - 1) >= Math.min(n, e)) {
    s--;
    e = endFrom(s);
  }
  return { start: s, end: e };
}

/** The first row to show so that `cursor` is inside a window of `height` rows (keeping `offset` when possible). */
export function scrollOffset(count: number, height: number, cursor: number, offset: number): number {
  if (count <= height) return 0;
  let o = Math.min(Math.max(offset, 0), count - height);
  if (cursor < o) o = cursor;
  if (cursor >= o + height) o = cursor - height + 1;
  return o;
}

/** Clamp `i` into 0…n-1 (0 when n is 0). */
export function clamp(i: number, n: number): number {
  return n <= 0 ? 0 : Math.min(Math.max(i, 0), n - 1);
}

/** A path as shown: relative to the working folder when it is inside it, else absolute. */
export function displayPath(p: string, cwd = process.cwd()): string {
  const r = relative(cwd, resolve(cwd, p));
  return r === '' ? '.' : r.startsWith('..') || isAbsolute(r) ? resolve(cwd, p) : r;
}

/**
 * `text` in lines of at most `width` characters: its own lines (leading spaces dropped), each
 * wrapped at spaces (a word longer than the line is cut), at most `max` lines (the last one
 * ending with '…' when text is left over).
 */
export function wrapLines(text: string, width: number, max = Infinity): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.trim().split(/ +/)) {
      let w = word;
      if (line && line.length + 1 + w.length > width) {
        out.push(line);
        line = '';
      }
      for (; w.length > width; w = w.slice(width)) out.push(w.slice(0, width));
      line = line ? `${line} ${w}` : w;
    }
    out.push(line);
  }
  if (out.length <= max) return out;
  return [...out.slice(0, max - 1), truncate(`${out[max - 1]} …`, width)];
}
