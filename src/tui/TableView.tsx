import { useEffect } from 'react';
import { Box, Text, useInput } from 'ink';
import type { ViewModel } from './views.js';
import { clamp, fit, tableWidths, scrollOffset, truncate, visibleColumns } from './layout.js';
import { useSyncState } from './hooks.js';

/** Cursor and scroll position of a table view. */
export interface TableCursor {
  row: number;
  col: number;
  rowOffset: number;
  colStart: number;
}

export const START_CURSOR: TableCursor = { row: 0, col: 1, rowOffset: 0, colStart: 1 };

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

/**
 * A table of a view in a fixed box: column 0 stays, other columns scroll sideways (◂ ▸ show
 * hidden ones), rows scroll; the best value of a column is marked `*` (bold green); the line
 * under the table describes the selected cell. Keys: arrows / hjkl, PgUp/PgDn, Home/End.
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
  const [cur, setCur, curRef] = useSyncState<TableCursor>(placeCursor(props.cursor ?? START_CURSOR, dims));
  const { row, col, rowOffset, colStart: start } = placeCursor(cur, dims);
  const { end } = visibleColumns(widths, width - 1, col, start);
  const onCursor = props.onCursor;
  useEffect(() => {
    onCursor?.(cur);
  }, [cur]);

  useInput(
    (input, key) => {
      const c = curRef.current;
      let r = c.row,
        k = c.col;
      if (key.upArrow || input === 'k') r--;
      else if (key.downArrow || input === 'j') r++;
      else if (key.leftArrow || input === 'h') k--;
      else if (key.rightArrow || input === 'l') k++;
      else if (key.pageUp) r -= dims.bodyHeight;
      else if (key.pageDown) r += dims.bodyHeight;
      else if (key.home) {
        r = 0;
        k = 1;
      } else if (key.end) {
        r = dims.nRows - 1;
        k = dims.nCols - 1;
      } else return;
      setCur(placeCursor({ ...c, row: r, col: k }, dims));
    },
    { isActive: active },
  );

  if (view.empty) {
    return (
      <Box height={height} flexDirection="column">
        <Text color="yellow">{truncate(view.empty, width)}</Text>
      </Box>
    );
  }

  const visible: number[] = [];
  for (let c = start; c < end; c++) visible.push(c);
  const w0 = widths[0];
  const leftMark = start > 1 ? '◂' : ' ';
  const rightMark = end < nCols ? '▸' : ' ';

  // Group line: one label per run of visible columns sharing a group.
  let groupLine = ' ' + ' '.repeat(w0) + ' ';
  if (hasGroups) {
    let i = 0;
    while (i < visible.length) {
      const g = view.groups[visible[i]];
      let j = i,
        w = 0;
      while (j < visible.length && view.groups[visible[j]] === g) w += widths[visible[j++]];
      groupLine += g ? (' ' + truncate(g, w - 2) + ' ').padEnd(w, '─').slice(0, w) : ' '.repeat(w);
      i = j;
    }
  }
  const labelLine =
    ' ' +
    fit(view.labels[0], w0) +
    leftMark +
    visible.map((c) => fit(view.labels[c], widths[c], 'right')).join('') +
    rightMark;
  const shown = view.rows.slice(rowOffset, rowOffset + bodyHeight);
  const detail = view.detail(row, col);
  const pos = nRows > bodyHeight ? `  [${row + 1}/${nRows}]` : '';

  return (
    <Box flexDirection="column" height={height}>
      {hasGroups ? <Text dimColor>{truncate(groupLine, width)}</Text> : null}
      <Text bold>{truncate(labelLine, width)}</Text>
      {shown.map((r, k) => {
        const ri = rowOffset + k;
        const isCur = ri === row;
        return (
          <Text key={ri} dimColor={r.meta} wrap="truncate">
            <Text color={isCur ? 'cyan' : undefined}>{isCur ? '›' : ' '}</Text>
            <Text bold={isCur}>{fit(r.cells[0]?.text ?? '', w0)}</Text>
            <Text>{ri === rowOffset ? leftMark : ' '}</Text>
            {visible.map((c) => {
              const cell = r.cells[c] ?? { text: '' };
              const text = ((cell.best ? '*' : '') + cell.text).padStart(widths[c]).slice(-widths[c]);
              return (
                <Text
                  key={c}
                  inverse={isCur && c === col && active}
                  bold={cell.best || cell.flag}
                  color={cell.best ? 'green' : cell.flag ? 'yellow' : undefined}
                >
                  {text}
                </Text>
              );
            })}
            <Text>{ri === rowOffset ? rightMark : ' '}</Text>
          </Text>
        );
      })}
      <Box flexGrow={1} />
      <Text color="cyan" wrap="truncate">
        {truncate(detail, Math.max(0, width - pos.length)) + pos}
      </Text>
    </Box>
  );
}
