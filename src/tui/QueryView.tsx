import { useEffect, useRef, useState } from 'react';
import { Box, Text } from 'ink';
import { clamp, fit, queryImageSize, scrollOffset, truncate, truncateLeft } from './layout.js';
import type { Browse, BrowseMatch, BrowseQuery } from './browse.js';
import { terminalImage, type ImageMode } from './image.js';
import { useSyncState } from './hooks.js';
import { editText, type KeyLike } from './keys.js';
import { useKeys } from './input.js';

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

/** Loads and caches image renderings (path and size → lines or an error line). */
function useImage(
  path: string | null,
  mode: ImageMode,
  size: { cols: number; rows: number } | null,
  enabled: boolean,
): string[] | null {
  const cache = useRef(new Map<string, string[]>());
  const [, bump] = useState(0);
  const id = path && size ? `${size.cols}x${size.rows}:${path}` : null;
  useEffect(() => {
    if (!id || !path || !size || !enabled || cache.current.has(id)) return;
    let live = true;
    terminalImage(path, size.cols, size.rows, mode)
      .then((lines) => {
        cache.current.set(id, lines);
      })
      .catch(() => {
        cache.current.set(id, ['(unreadable)']);
      })
      .finally(() => {
        if (live) bump((x) => x + 1);
      });
    return () => {
      live = false;
    };
  }, [id, mode, enabled]);
  return id ? (cache.current.get(id) ?? null) : null;
}

/** What a navigation key does: the new cursor, and a note to show ('' clears it). */
export interface QueryMove {
  cursor: QueryCursor;
  note?: string;
}

/**
 * A navigation key of the query browser (not the find field): ←/→ hjkl PgUp/PgDn Home/End
 * query, ↑/↓ jk match, +/- matches shown, w/W next/previous miss, m/M model, v images.
 * null when the key does nothing here.
 */
export function queryKey(
  c: QueryCursor,
  input: string,
  key: KeyLike,
  d: { browse: Browse | null; models: number },
): QueryMove | null {
  if (input === 'm' || input === 'M')
    return { cursor: { ...c, model: (c.model + (input === 'm' ? 1 : d.models - 1)) % d.models, match: 0 } };
  if (input === 'v') return { cursor: { ...c, images: !c.images } };
  const b = d.browse;
  if (!b || b.count === 0) return null;
  const n = b.count;
  const to = (i: number): QueryMove => ({ cursor: { ...c, query: clamp(i, n), match: 0 } });
  const matchTo = (i: number): QueryMove => ({
    cursor: { ...c, match: clamp(i, b.query(clamp(c.query, n), c.n).matches.length) },
  });
  if (key.rightArrow || input === 'l') return to(c.query + 1);
  if (key.leftArrow || input === 'h') return to(c.query - 1);
  if (key.pageDown) return to(c.query + 10);
  if (key.pageUp) return to(c.query - 10);
  if (key.home) return to(0);
  if (key.end) return to(n - 1);
  if (key.downArrow || input === 'j') return matchTo(c.match + 1);
  if (key.upArrow || input === 'k') return matchTo(c.match - 1);
  if (input === '+' || input === '=') return { cursor: { ...c, n: Math.min(b.k, c.n + 1) } };
  if (input === '-')
    return { cursor: { ...c, n: Math.max(1, c.n - 1), match: Math.min(c.match, Math.max(0, c.n - 2)) } };
  if (input === 'w' || input === 'W') {
    const hit = b.nextMiss(clamp(c.query, n), input === 'w' ? 1 : -1);
    const none =
      b.kind === 'search'
        ? 'no top-1 match of another class (of a query whose class is known)'
        : "every query's top-1 match has the right class";
    return hit >= 0 ? { ...to(hit), note: '' } : { cursor: c, note: none };
  }
  return null;
}

/** The cursor after a find for `text` (a query number, or text in the path or class). */
export function findMove(c: QueryCursor, text: string, b: Browse | null): QueryMove | null {
  if (!b || b.count === 0 || !text.trim()) return null;
  const hit = b.find(clamp(c.query, b.count), text);
  return hit >= 0
    ? { cursor: { ...c, query: hit, match: 0 }, note: '' }
    : { cursor: c, note: `no query matches "${text}"` };
}

interface QueryViewProps {
  models: string[];
  /** The queries and their matches (null while loading). */
  browse: Browse | null;
  loading: string | null;
  error: string | null;
  warning: string | null;
  cursor: QueryCursor;
  /** The latest cursor (key handlers may run before a re-render). */
  read: () => QueryCursor;
  update: (c: QueryCursor) => void;
  width: number;
  height: number;
  active: boolean;
  imageMode: ImageMode;
  onCapture?: (captured: boolean) => void;
  /** Esc (when not finding): e.g. back from search results to the test queries. */
  onEscape?: () => void;
  /** The bottom line when there is nothing else to say. */
  hint?: string;
}

/** The find field and the browser's keys; returns the find text (null when not finding) and the note. */
function useQueryKeys(props: QueryViewProps): { find: string | null; note: string } {
  const [find, setFind, findRef] = useSyncState<string | null>(null);
  const [note, setNote] = useState<string>('');
  // the latest data for key handlers (a handler may be from the render before the data arrived)
  const live = useRef(props.browse);
  live.current = props.browse;
  const apply = (mv: QueryMove | null) => {
    if (!mv) return;
    props.update(mv.cursor);
    if (mv.note !== undefined) setNote(mv.note);
  };
  const finding = (text: string | null) => {
    setFind(text);
    props.onCapture?.(text !== null);
  };
  const runFind = (text: string) => {
    finding(null);
    apply(findMove(props.read(), text, live.current));
  };
  useKeys(
    (input, key) => {
      const f = findRef.current;
      if (f !== null) {
        const e = editText(f, input, key);
        if (e.kind === 'cancel') finding(null);
        else if (e.kind === 'commit') runFind(e.text);
        else if (e.kind === 'edit') setFind(e.text);
      } else if (input.startsWith('/')) {
        // '/' alone, or '/' and a search typed in one burst (a paste)
        const e = editText('', input.slice(1), {});
        if (e.kind === 'commit') runFind(e.text);
        else finding(e.kind === 'edit' ? e.text : '');
      } else if (key.escape && props.onEscape) props.onEscape();
      else apply(queryKey(props.read(), input, key, { browse: live.current, models: props.models.length }));
    },
    { isActive: props.active },
  );
  return { find, note };
}

/** A one-line message in the browser's box (loading, an error, no queries). */
function Message(props: { text: string; color: string; height: number; width: number; wrap?: boolean }) {
  return (
    <Box height={props.height} flexDirection="column">
      <Text color={props.color} wrap={props.wrap ? 'wrap' : 'truncate'}>
        {props.wrap ? props.text : truncate(props.text, props.width)}
      </Text>
    </Box>
  );
}

/** The query's matches: rank, ✓/✗ (blank when the query's class is unknown), similarity, class, file; the selected one inverse. */
function MatchList(props: {
  matches: BrowseMatch[];
  match: number;
  height: number;
  width: number;
  sims: boolean;
  active: boolean;
}) {
  const { matches, match, width: lw } = props;
  const simW = props.sims ? 7 : 0;
  const classW = Math.min(24, Math.max(10, Math.floor((lw - 10 - simW) / 2)));
  const fileW = Math.max(4, lw - 3 - 1 - 2 - simW - 1 - classW - 1 - 1);
  const off = scrollOffset(matches.length, props.height, match, 0);
  const head =
    ' ' + fit('#', 3, 'right') + '   ' + (simW ? fit('sim', simW - 1, 'right') + ' ' : '') + fit('class', classW);
  return (
    <>
      <Text dimColor>{head + ' file'}</Text>
      {matches.slice(off, off + props.height).map((x, i) => (
        <Text key={off + i} wrap="truncate" inverse={off + i === match && props.active}>
          {' '}
          {String(x.rank).padStart(3)}{' '}
          <Text color={x.correct ? 'green' : 'red'}>{x.correct === null ? ' ' : x.correct ? '✓' : '✗'}</Text>{' '}
          {simW ? (x.sim === null ? '' : x.sim.toFixed(4)).padStart(simW - 1) + ' ' : ''}
          {fit(x.className, classW)} {truncateLeft(x.path, fileW)}
        </Text>
      ))}
    </>
  );
}

/** The query and the selected match as terminal images. */
function ImagePanel(props: { width: number; query: string[] | null; match: string[] | null; rank: number | null }) {
  return (
    <Box flexDirection="column" width={props.width} paddingLeft={2}>
      <Text dimColor>query</Text>
      {(props.query ?? ['…']).map((l, i) => (
        <Text key={i}>{l}</Text>
      ))}
      <Text dimColor>{props.rank !== null ? `match #${props.rank}` : ''}</Text>
      {(props.match ?? ['…']).map((l, i) => (
        <Text key={i}>{l}</Text>
      ))}
    </Box>
  );
}

/** The title line: which query of how many, the model (and the index of a search), the top-1 mark and the hits. */
function headLine(b: Browse, q: number, info: BrowseQuery, model: string, models: number, modelAt: number): string {
  const marks =
    info.error !== null
      ? 'not searched'
      : info.hits === null
        ? 'class unknown: no ✓/✗'
        : `top-1 ${info.matches[0]?.correct ? '✓' : '✗'} · ${info.hits}/${info.matches.length} correct`;
  return b.kind === 'search'
    ? `Search ${q + 1}/${b.count} · ${marks} · ${b.about}`
    : `Query ${q + 1}/${b.count} · ${model} (${modelAt + 1}/${models}) · ${marks}`;
}

/**
 * The query browser: one query at a time (a test query of the report, or a searched image)
 * with its top-n matches (rank, ✓/✗ for the same class, cosine similarity, class, file), and
 * the query and the selected match as terminal images on the right when there is room.
 * Keys: ←/→ query, PgUp/PgDn ±10 queries, ↑/↓ match, w/W next/previous query whose top-1 is
 * wrong, / find (number or text), +/- matches shown, m/M model, v images on/off, Esc `onEscape`.
 */
export function QueryView(props: QueryViewProps) {
  const { browse: b, cursor, width, height, active } = props;
  const { find, note } = useQueryKeys(props);
  const nq = b?.count ?? 0;
  const q = clamp(cursor.query, nq);
  const info = b && nq > 0 ? b.query(q, cursor.n) : null;
  const match = clamp(cursor.match, info?.matches.length ?? 0);
  const size = cursor.images ? queryImageSize(width, height) : null;
  const showImages = size !== null;
  const sel = info?.matches[match];
  const queryImg = useImage(info?.file ?? null, props.imageMode, size, showImages && active);
  const matchImg = useImage(sel?.file ?? null, props.imageMode, size, showImages && active);
  const model = props.models[cursor.model] ?? '';
  if (props.error) return <Message text={props.error} color="red" height={height} width={width} wrap />;
  if (props.loading || !b)
    return <Message text={props.loading ?? 'loading…'} color="yellow" height={height} width={width} />;
  if (!info) return <Message text={`${model}: no test queries`} color="yellow" height={height} width={width} />;
  const panel = size ? size.cols + 2 : 0;
  const lw = width - panel;
  const head = headLine(b, q, info, model, props.models.length, cursor.model);
  const cls = info.className ?? 'class unknown';
  const classW = Math.min(24, Math.max(10, Math.floor((lw - 10 - (b.sims ? 7 : 0)) / 2)));
  const bottom =
    find !== null
      ? `find ${b.kind === 'search' ? 'image' : 'query'} (number, path or class): ${find}▌  Enter go · Esc cancel`
      : note ||
        props.warning ||
        (b.sims ? (props.hint ?? '') : 'similarities: not in knn.csv (the work folder with the k-NN cache is gone)');
  return (
    <Box flexDirection="column" height={height}>
      <Box>
        <Box flexDirection="column" width={lw}>
          <Text bold wrap="truncate">
            {truncate(head, lw)}
          </Text>
          <Text wrap="truncate">
            <Text color="cyan" dimColor={info.className === null}>
              {truncate(cls, classW + 2)}
            </Text>
            {'  ' + truncateLeft(info.path, Math.max(4, lw - Math.min(cls.length, classW + 2) - 2))}
          </Text>
          {info.error !== null ? (
            <Text color="red" wrap="wrap">
              {info.error}
            </Text>
          ) : (
            <MatchList
              matches={info.matches}
              match={match}
              height={Math.max(1, height - 4)}
              width={lw}
              sims={b.sims}
              active={active}
            />
          )}
        </Box>
        {showImages ? <ImagePanel width={panel} query={queryImg} match={matchImg} rank={sel?.rank ?? null} /> : null}
      </Box>
      <Box flexGrow={1} />
      <Text color={find !== null ? 'cyan' : 'yellow'} wrap="truncate">
        {truncate(bottom, width)}
      </Text>
    </Box>
  );
}
