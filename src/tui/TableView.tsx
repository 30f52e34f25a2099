import { useEffect } from 'react';
import { Box, Text } from 'ink';
import type { DisplayRow, ViewModel } from './views.js';
import type { KeyLike } from './keys.js';
import { clamp, fit, tableWidths, scrollOffset, truncate, visibleColumns } from './layout.js';
import { useSyncState } from './hooks.js';
import { useKeys } from './input.js';

/** Cursor and scroll position of a table view. */
export interface TableCursor {
  row: number;
  col: number;
  rowOffset: number;
  colStart: number;
}

export const START_CURSOR: TableCursor = { row: 0, col: 1, rowOffset: 0, colStart: 1 };

/** Where the cursor starts in a view: its first data row (count rows such as 'classes' are skipped). */
export function startCursor(view: Pick<ViewModel, 'rows'>): TableCursor {
  const first = view.rows.findIndex((r) => !r.meta);
  return { ...START_CURSOR, row: Math.max(0, first) };
}

/** The cursor clamped to the table, with the row and column scroll that keeps it in view. */
export function placeCursor(
  c: TableCursor,
  d: { nRows: number; nCols: number; bodyHeight: number; widths: number[]; width: number },
): TableCursor {
  const row = clamp(c.row, d.nRows);
  const col = d.nCols > 1 ? Math.min(Math.max(c.col, 1), d.nCols - 1) : 0;
  return {
    row,
    col,
    rowOffset: scrollOffset(d.nRows, d.bodyHeight, row, c.rowOffset),
    colStart: visibleColumns(d.widths, d.width, col, c.colStart).start,
  };
}

/** Table geometry for one render. */
interface TableDims {
  nRows: number;
  nCols: number;
  bodyHeight: number;
  widths: number[];
  width: number;
}

/** The cursor after a key (arrows / hjkl, PgUp/PgDn, Home/End), or null when the key is not a move. */
export function tableKey(c: TableCursor, input: string, key: KeyLike, d: TableDims): TableCursor | null {
  let r = c.row,
    k = c.col;
  if (key.upArrow || input === 'k') r--;
  else if (key.downArrow || input === 'j') r++;
  else if (key.leftArrow || input === 'h') k--;
  else if (key.rightArrow || input === 'l') k++;
  else if (key.pageUp) r -= d.bodyHeight;
  else if (key.pageDown) r += d.bodyHeight;
  else if (key.home) [r, k] = [0, 1];
  else if (key.end) [r, k] = [d.nRows - 1, d.nCols - 1];
  else return null;
  return placeCursor({ ...c, row: r, col: k }, d);
}

/** The group line: one label per run of visible columns sharing a group. */
function groupLine(view: ViewModel, visible: number[], widths: number[]): string {
  let line = ' ' + ' '.repeat(widths[0]) + ' ';
  let i = 0;
  while (i < visible.length) {
    const g = view.groups[visible[i]];
    let j = i,
      w = 0;
    while (j < visible.length && view.groups[visible[j]] === g) w += widths[visible[j++]];
    line += g ? (' ' + truncate(g, w - 2) + ' ').padEnd(w, '─').slice(0, w) : ' '.repeat(w);
    i = j;
  }
  return line;
}

/** One body row: cursor mark, the row label, the visible cells (best bold green, flagged yellow). */
function TableRow(props: {
  row: DisplayRow;
  isCur: boolean;
  col: number;
  active: boolean;
  visible: number[];
  widths: number[];
  marks: [string, string];
}) {
  const { row: r, isCur, widths } = props;
  return (
    <Text dimColor={r.meta} wrap="truncate">
      <Text color={isCur ? 'cyan' : undefined}>{isCur ? '›' : ' '}</Text>
      <Text bold={isCur}>{fit(r.cells[0]?.text ?? '', widths[0])}</Text>
      <Text>{props.marks[0]}</Text>
      {props.visible.map((c) => {
        const cell = r.cells[c] ?? { text: '' };
        const text = ((cell.best ? '*' : '') + cell.text).padStart(widths[c]).slice(-widths[c]);
        return (
          <Text
            key={c}
            inverse={isCur && c === props.col && props.active}
            bold={cell.best || cell.flag}
            color={cell.best ? 'green' : cell.flag ? 'yellow' : undefined}
          >
            {text}
          </Text>
        );
      })}
      <Text>{props.marks[1]}</Text>
    </Text>
  );
}

/** The cursor of a table view, kept by the component (and reported to the App) and moved by keys. */
function useTableCursor(
  dims: TableDims,
  active: boolean,
  initial: TableCursor,
  onCursor?: (c: TableCursor) => void,
): TableCursor {
  const [cur, setCur, curRef] = useSyncState<TableCursor>(placeCursor(initial, dims));
  useEffect(() => {
    onCursor?.(cur);
  }, [cur]);
  useKeys(
    (input, key) => {
      const next = tableKey(curRef.current, input, key, dims);
      if (next) setCur(next);
    },
    { isActive: active },
  );
  return placeCursor(cur, dims);
}

/**
 * A table of a view in a fixed box: column 0 stays, other columns scroll sideways (◂ ▸ show
 * hidden ones), rows scroll; the best value of a column is marked `*` (bold green, in a cell of
 * its own: a gap always separates it from the value before); the line under the table describes
 * the selected cell; the cursor starts on the first data row. Keys: arrows / hjkl, PgUp/PgDn, Home/End.
 */
export function TableView(props: {
  view: ViewModel;
  width: number;
  height: number;
  active: boolean;
  cursor?: TableCursor;
  onCursor?: (c: TableCursor) => void;
}) {
  const { view, width, height, active } = props;
  const nRows = view.rows.length;
  const nCols = view.labels.length;
  const hasGroups = view.groups.some((g) => g !== '');
  const bodyHeight = Math.max(1, height - (hasGroups ? 3 : 2));
  const widths = tableWidths(view, width, Math.max(8, Math.floor(width / 4)));
  const dims = { nRows, nCols, bodyHeight, widths, width: width - 1 };
  const initial = props.cursor ?? startCursor(view);
  const { row, col, rowOffset, colStart: start } = useTableCursor(dims, active, initial, props.onCursor);
  if (view.empty) {
    return (
      <Box height={height} flexDirection="column">
        <Text color="yellow">{truncate(view.empty, width)}</Text>
      </Box>
    );
  }
  const { end } = visibleColumns(widths, width - 1, col, start);
  const visible = Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i);
  const marks: [string, string] = [start > 1 ? '◂' : ' ', end < nCols ? '▸' : ' '];
  const labelLine =
    ' ' +
    fit(view.labels[0], widths[0]) +
    marks[0] +
    visible.map((c) => fit(view.labels[c], widths[c], 'right')).join('') +
    marks[1];
  const pos = nRows > bodyHeight ? `  [${row + 1}/${nRows}]` : '';
  return (
    <Box flexDirection="column" height={height}>
      {hasGroups ? <Text dimColor>{truncate(groupLine(view, visible, widths), width)}</Text> : null}
      <Text bold>{truncate(labelLine, width)}</Text>
      {view.rows.slice(rowOffset, rowOffset + bodyHeight).map((r, k) => (
        <TableRow
          key={rowOffset + k}
          row={r}
          isCur={rowOffset + k === row}
          col={col}
          active={active}
          visible={visible}
          widths={widths}
          marks={k === 0 ? marks : [' ', ' ']}
        />
      ))}
      <Box flexGrow={1} />
      <Text color="cyan" wrap="truncate">
        {truncate(view.detail(row, col), Math.max(0, width - pos.length)) + pos}
      </Text>
    </Box>
  );
}
