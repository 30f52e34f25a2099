import { useEffect, useRef, useState } from 'react';
import { Box, Text, useInput } from 'ink';
import type { Manifest } from '../workbench/data/manifest.js';
import { clamp, fit, scrollOffset, truncate, truncateLeft } from './layout.js';
import { findQuery, nextMiss, queryMatches, type QuerySet } from './queries.js';
import { terminalImage, type ImageMode } from './image.js';
import { useSyncState } from './hooks.js';

/** Where the query browser is (kept by the App so that export and model switching see it). */
export interface QueryCursor {
  /** Index of the model in the report's model list. */
  model: number;
  query: number;
  match: number;
  /** Matches shown per query. */
  n: number;
  images: boolean;
}

export const START_QUERY: QueryCursor = { model: 0, query: 0, match: 0, n: 10, images: true };

const IMG_COLS = 16;
const IMG_ROWS = 7;

/** Loads and caches image renderings (path → lines or an error line). */
function useImage(path: string | null, mode: ImageMode, enabled: boolean): string[] | null {
  const cache = useRef(new Map<string, string[]>());
  const [, bump] = useState(0);
  useEffect(() => {
    if (!path || !enabled || cache.current.has(path)) return;
    let live = true;
    terminalImage(path, IMG_COLS, IMG_ROWS, mode)
      .then((lines) => {
        cache.current.set(path, lines);
      })
      .catch(() => {
        cache.current.set(path, ['(unreadable)']);
      })
      .finally(() => {
        if (live) bump((x) => x + 1);
      });
    return () => {
      live = false;
    };
  }, [path, mode, enabled]);
  return path ? (cache.current.get(path) ?? null) : null;
}

/**
 * The query browser: one test query at a time with its top-n matches (rank, ✓/✗ for the same
 * class, cosine similarity, class, file), and the query and the selected match as terminal
 * images on the right when there is room.
 * Keys: ←/→ query, PgUp/PgDn ±10 queries, ↑/↓ match, w/W next/previous query whose top-1 is
 * wrong, / find (number or text), +/- matches shown, m/M model, v images on/off.
 */
export function QueryView(props: {
  models: string[];
  manifest: Manifest | null;
  set: QuerySet | null;
  loading: string | null;
  error: string | null;
  warning: string | null;
  cursor: QueryCursor;
  update: (f: (c: QueryCursor) => QueryCursor) => void;
  width: number;
  height: number;
  active: boolean;
  imageMode: ImageMode;
  onCapture?: (captured: boolean) => void;
}) {
  const { manifest: m, set: qs, cursor, width, height, active, update } = props;
  const [find, setFind, findRef] = useSyncState<string | null>(null);
  const [note, setNote] = useState<string>('');
  const nq = qs?.queryRows.length ?? 0;
  const q = clamp(cursor.query, nq);
  const info = qs && m && nq > 0 ? queryMatches(qs, m, q, cursor.n) : null;
  const match = clamp(cursor.match, info?.matches.length ?? 0);
  const showImages = cursor.images && width >= 64 && height >= 2 * IMG_ROWS + 4;
  const queryImg = useImage(info && m ? m.resolvePath(info.row) : null, props.imageMode, showImages && active);
  const sel = info?.matches[match];
  const matchImg = useImage(sel && m ? m.resolvePath(sel.row) : null, props.imageMode, showImages && active);

  // the latest data for key handlers (a handler may be from the render before the data arrived)
  const live = useRef({ qs, m });
  live.current = { qs, m };
  const runFind = (text: string) => {
    const { qs, m } = live.current;
    setFind(null);
    props.onCapture?.(false);
    if (!qs || !m || !text.trim()) return;
    update((c) => {
      const hit = findQuery(qs, m, clamp(c.query, qs.queryRows.length), text);
      setNote(hit >= 0 ? '' : `no query matches "${text}"`);
      return hit >= 0 ? { ...c, query: hit, match: 0 } : c;
    });
  };
  useInput(
    (input, key) => {
      const f = findRef.current;
      if (f !== null) {
        if (key.escape) {
          setFind(null);
          props.onCapture?.(false);
          return;
        }
        if (key.return) {
          runFind(f);
          return;
        }
        if (key.backspace || key.delete) {
          setFind(f.slice(0, -1));
          return;
        }
        if (input && !key.ctrl && !key.meta) {
          // typed or pasted text; a pasted chunk may end with Enter
          const text = f + input.replace(/[\r\n]/g, '');
          if (/[\r\n]/.test(input)) runFind(text);
          else setFind(text);
        }
        return;
      }
      if (input.length > 1 && input.startsWith('/')) {
        // '/' and a search typed in one burst
        const text = input.slice(1).replace(/[\r\n]/g, '');
        if (/[\r\n]/.test(input)) runFind(text);
        else {
          setFind(text);
          props.onCapture?.(true);
        }
        return;
      }
      const { qs, m } = live.current;
      if (input === 'm' || input === 'M') {
        update((c) => ({
          ...c,
          model: (c.model + (input === 'm' ? 1 : props.models.length - 1)) % props.models.length,
          match: 0,
        }));
        return;
      }
      if (input === 'v') {
        update((c) => ({ ...c, images: !c.images }));
        return;
      }
      if (input === '/') {
        setFind('');
        props.onCapture?.(true);
        return;
      }
      if (!qs || !m || qs.queryRows.length === 0) return;
      const n = qs.queryRows.length;
      const toQuery = (c: QueryCursor, i: number) => ({ ...c, query: clamp(i, n), match: 0 });
      const matchCount = (c: QueryCursor) => queryMatches(qs, m, clamp(c.query, n), c.n).matches.length;
      if (key.rightArrow || input === 'l') update((c) => toQuery(c, c.query + 1));
      else if (key.leftArrow || input === 'h') update((c) => toQuery(c, c.query - 1));
      else if (key.pageDown) update((c) => toQuery(c, c.query + 10));
      else if (key.pageUp) update((c) => toQuery(c, c.query - 10));
      else if (key.home) update((c) => toQuery(c, 0));
      else if (key.end) update((c) => toQuery(c, n - 1));
      else if (key.downArrow || input === 'j') update((c) => ({ ...c, match: clamp(c.match + 1, matchCount(c)) }));
      else if (key.upArrow || input === 'k') update((c) => ({ ...c, match: clamp(c.match - 1, matchCount(c)) }));
      else if (input === '+' || input === '=') update((c) => ({ ...c, n: Math.min(qs.k, c.n + 1) }));
      else if (input === '-')
        update((c) => ({ ...c, n: Math.max(1, c.n - 1), match: Math.min(c.match, Math.max(0, c.n - 2)) }));
      else if (input === 'w' || input === 'W') {
        update((c) => {
          const hit = nextMiss(qs, m, clamp(c.query, n), input === 'w' ? 1 : -1);
          setNote(hit >= 0 ? '' : "every query's top-1 match has the right class");
          return hit >= 0 ? toQuery(c, hit) : c;
        });
      }
    },
    { isActive: active },
  );

  const model = props.models[cursor.model] ?? '';
  if (props.error)
    return (
      <Box height={height} flexDirection="column">
        <Text color="red" wrap="wrap">
          {props.error}
        </Text>
      </Box>
    );
  if (props.loading || !qs || !m)
    return (
      <Box height={height}>
        <Text color="yellow">{truncate(props.loading ?? 'loading…', width)}</Text>
      </Box>
    );
  if (!info)
    return (
      <Box height={height}>
        <Text color="yellow">{`${model}: no test queries`}</Text>
      </Box>
    );

  const panel = showImages ? IMG_COLS + 2 : 0;
  const lw = width - panel;
  const listHeight = Math.max(1, height - 4);
  const off = scrollOffset(info.matches.length, listHeight, match, 0);
  const top1 = info.matches[0];
  const head1 = `Query ${q + 1}/${nq} · ${model} (${cursor.model + 1}/${props.models.length}) · top-1 ${top1?.correct ? '✓' : '✗'} · ${info.hits}/${info.matches.length} correct`;
  const simW = qs.sims ? 7 : 0;
  const classW = Math.min(24, Math.max(10, Math.floor((lw - 10 - simW) / 2)));
  const fileW = Math.max(4, lw - 3 - 1 - 2 - simW - 1 - classW - 1 - 1);
  const bottom =
    find !== null
      ? `find query (number, path or class): ${find}▌  Enter go · Esc cancel`
      : note ||
        props.warning ||
        (qs.sims ? '' : 'similarities: not in knn.csv (the work folder with the k-NN cache is gone)');

  return (
    <Box flexDirection="column" height={height}>
      <Box>
        <Box flexDirection="column" width={lw}>
          <Text bold wrap="truncate">
            {truncate(head1, lw)}
          </Text>
          <Text wrap="truncate">
            <Text color="cyan">{truncate(info.className, classW + 2)}</Text>
            {'  ' + truncateLeft(info.path, Math.max(4, lw - Math.min(info.className.length, classW + 2) - 2))}
          </Text>
          <Text dimColor>
            {' ' +
              fit('#', 3, 'right') +
              '   ' +
              (simW ? fit('sim', simW - 1, 'right') + ' ' : '') +
              fit('class', classW) +
              ' ' +
              'file'}
          </Text>
          {info.matches.slice(off, off + listHeight).map((x, i) => {
            const j = off + i;
            const isSel = j === match;
            return (
              <Text key={j} wrap="truncate" inverse={isSel && active}>
                {' '}
                {String(x.rank).padStart(3)} <Text color={x.correct ? 'green' : 'red'}>{x.correct ? '✓' : '✗'}</Text>{' '}
                {simW ? (x.sim === null ? '' : x.sim.toFixed(4)).padStart(simW - 1) + ' ' : ''}
                {fit(x.className, classW)} {truncateLeft(x.path, fileW)}
              </Text>
            );
          })}
        </Box>
        {showImages ? (
          <Box flexDirection="column" width={panel} paddingLeft={2}>
            <Text dimColor>query</Text>
            {(queryImg ?? ['…']).map((l, i) => (
              <Text key={i}>{l}</Text>
            ))}
            <Text dimColor>{sel ? `match #${sel.rank}` : ''}</Text>
            {(matchImg ?? ['…']).map((l, i) => (
              <Text key={i}>{l}</Text>
            ))}
          </Box>
        ) : null}
      </Box>
      <Box flexGrow={1} />
      <Text color={find !== null ? 'cyan' : 'yellow'} wrap="truncate">
        {truncate(bottom, width)}
      </Text>
    </Box>
  );
}
