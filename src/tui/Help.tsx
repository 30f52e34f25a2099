import { Box, Text } from 'ink';
import { truncate } from './layout.js';

/**
 * Every key of the TUI, by screen (shown by `?`); 19 lines, so that it fits an 80 × 24 terminal.
 * Keys read together (a paste, tmux send-keys) act one by one, as if typed. s searches the
 * saved index of `cbir tui --index`, else the open report's train split for the current model.
 */
export const HELP: [string, [string, string][]][] = [
  [
    'everywhere',
    [
      ['0', 'run screen: new run, or its progress (s stop, n new run)'],
      ['1…7, Tab', 'views (overall … queries), as on the top line'],
      ['r / R, c', 'next / previous open report; c: compare them (Table 3 of each)'],
      ['e', 'export the current view (then c = CSV, m = Markdown)'],
      ['s', 'search with your image or folder: type or paste its path'],
      ['? / q', 'this help (Esc closes) / quit (asks again during a run)'],
    ],
  ],
  [
    'tables (* = best value of its column)',
    [
      ['↑↓←→ hjkl PgUp…', 'move, scroll; the bottom line explains the cell'],
      ['i, b', 'overall: i values → micro / macro CI; b ranking → re-rank'],
    ],
  ],
  [
    'queries',
    [
      ['← → PgUp PgDn', 'previous / next query (±10)'],
      ['↑ ↓', 'select a match (its image shows on the right)'],
      ['w / W', 'next / previous query whose top-1 match is wrong'],
      ['/', 'find a query by number, path or class'],
      ['m M, + -, v', 'next / previous model; more / fewer matches; images'],
      ['Esc (search)', 'back to the test queries (m: search with another model)'],
    ],
  ],
  ['run screen', [['↑↓ Enter Space', 'move · edit / start · tick (no weights: how to get them)']]],
];

/** The help overlay, cut to the box. */
export function Help(props: { width: number; height: number }) {
  const lines: { text: string; bold?: boolean }[] = [];
  for (const [section, keys] of HELP) {
    lines.push({ text: section, bold: true });
    for (const [k, what] of keys) lines.push({ text: `  ${k.padEnd(18)}${what}` });
  }
  const room = props.height;
  const shown =
    lines.length > room
      ? [...lines.slice(0, room - 1), { text: `… (${lines.length - room + 1} more lines: make the terminal taller)` }]
      : lines;
  return (
    <Box flexDirection="column" height={props.height}>
      {shown.map((l, i) => (
        <Text key={i} bold={l.bold} color={l.bold ? 'cyan' : undefined} wrap="truncate">
          {truncate(l.text, props.width)}
        </Text>
      ))}
    </Box>
  );
}
