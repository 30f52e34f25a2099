import { useRef } from 'react';
import { resolve } from 'node:path';
import { Box, Text } from 'ink';
import { findCard, weightsDirs, type ModelInfo } from '../workbench/index.js';
import { clamp, displayPath, scrollOffset, truncate } from './layout.js';
import { reportCommand, type RunRequest } from './runner.js';
import { useSyncState } from './hooks.js';
import { editText, type KeyLike } from './keys.js';
import { useKeys } from './input.js';

/** The setup screen's choices. */
export interface SetupState {
  /** Manifest folder; '' = the phantom dataset. */
  data: string;
  /** Report folder; '' = the default for the dataset. */
  out: string;
  replicates: string;
  probe: boolean;
  indexSize: boolean;
  figures: boolean;
  models: string[];
  /** Report folder to open instead of running. */
  open: string;
}

/** The run the setup describes (empty dataset = phantom; empty report folder = `defaultOut(data)`). */
export function setupRequest(s: SetupState, defaultOut: (data: string) => string): RunRequest {
  return {
    data: s.data.trim() || null,
    models: s.models,
    out: s.out || defaultOut(s.data.trim()),
    replicates: /^\d+$/.test(s.replicates) ? Number(s.replicates) : undefined,
    probe: s.probe,
    indexSize: s.indexSize,
    figures: s.figures,
  };
}

type Item =
  | { kind: 'text'; field: 'data' | 'out' | 'replicates' | 'open'; label: string }
  | { kind: 'toggle'; field: 'probe' | 'indexSize' | 'figures'; label: string }
  | { kind: 'model'; info: ModelInfo }
  | { kind: 'start' }
  | { kind: 'heading'; label: string };

/** The setup screen's lines: fields, toggles, Start, Or open, then the models (runnable first). */
function setupItems(models: ModelInfo[] | null): Item[] {
  const ready = (models ?? []).filter((x) => x.weightsPresent);
  const missing = (models ?? []).filter((x) => !x.weightsPresent);
  return [
    { kind: 'text', field: 'data', label: 'Dataset' },
    { kind: 'text', field: 'out', label: 'Report to' },
    { kind: 'text', field: 'replicates', label: 'Bootstrap' },
    { kind: 'toggle', field: 'probe', label: 'Linear probe' },
    { kind: 'toggle', field: 'indexSize', label: 'Index size' },
    { kind: 'toggle', field: 'figures', label: 'Figures' },
    { kind: 'start' },
    { kind: 'text', field: 'open', label: 'Or open' },
    { kind: 'heading', label: 'Models' },
    ...[...ready, ...missing].map((info) => ({ kind: 'model' as const, info })),
  ];
}

/** What a key does on the setup screen when no field is being edited. */
export type SetupKey =
  | { kind: 'focus'; to: number }
  | { kind: 'edit'; text: string }
  | { kind: 'state'; state: SetupState }
  | { kind: 'start' }
  | { kind: 'note'; text: string }
  | null;

/**
 * What to do about a model whose weights are not here: where they were looked for, and the two
 * ways to get them (pull, or export and place the ONNX file). `card` is the model's card (its
 * ONNX file name and download URL), when known.
 */
export function missingWeightsNote(
  info: ModelInfo,
  card: { file: string; url?: string | null } | null,
  dirs: string[],
): string {
  const file = card?.file ?? `${info.id}.onnx`;
  const noUrl = card !== null && !card.url;
  const pull = `\`cbir models pull ${info.id}${noUrl ? ' --url <url>' : ''}\`${noUrl ? ' (its card has no download URL)' : ''}`;
  return (
    `${info.id} cannot run here: its weights (${file}) are not in ${dirs.map((d) => displayPath(d)).join(' or ')}. ` +
    `Pull them with ${pull}, or export them with models/export/export_onnx.py ` +
    `and place ${file} in models/weights/ (or $CBIR_MODELS); then restart the UI to tick it.`
  );
}

/** The note for a model without weights, from its card on disk. */
function weightsNote(info: ModelInfo): string {
  let card: { file: string; url?: string | null } | null = null;
  try {
    const c = findCard(info.id);
    if (c) card = { file: c.onnx.file, url: c.onnx.url ?? null };
  } catch {
    card = null; // an unreadable card: the note names the usual file name
  }
  return missingWeightsNote(info, card, weightsDirs());
}

/** Pure: a key on item `focus` of `items` (↑↓ jk PgUp PgDn move; Enter edits / starts; Space or Enter toggles). */
function setupKey(
  s: SetupState,
  items: Item[],
  focus: number,
  input: string,
  key: KeyLike,
  defaultOut: (data: string) => string,
): SetupKey {
  const focusable = items.map((it, i) => (it.kind === 'heading' ? -1 : i)).filter((i) => i >= 0);
  const move = (d: number): SetupKey => ({
    kind: 'focus',
    to: focusable[Math.min(focusable.length - 1, Math.max(0, focusable.indexOf(focus) + d))],
  });
  if (key.upArrow || input === 'k') return move(-1);
  if (key.downArrow || input === 'j') return move(1);
  if (key.pageUp) return move(-8);
  if (key.pageDown) return move(8);
  if (!key.return && input !== ' ') return null;
  const it = items[clamp(focus, items.length)];
  if (it.kind === 'text' && key.return)
    return { kind: 'edit', text: it.field === 'out' ? setupRequest(s, defaultOut).out : s[it.field] };
  if (it.kind === 'toggle') return { kind: 'state', state: { ...s, [it.field]: !s[it.field] } };
  if (it.kind === 'model' && !it.info.weightsPresent) return { kind: 'note', text: weightsNote(it.info) };
  if (it.kind === 'model') {
    const id = it.info.id;
    return {
      kind: 'state',
      state: { ...s, models: s.models.includes(id) ? s.models.filter((y) => y !== id) : [...s.models, id] },
    };
  }
  return it.kind === 'start' && key.return ? { kind: 'start' } : null;
}

interface SetupProps {
  state: SetupState;
  /** The latest state (key handlers may run before a re-render). */
  read: () => SetupState;
  update: (s: SetupState) => void;
  models: ModelInfo[] | null;
  defaultOut: (data: string) => string;
  onStart: () => void;
  onOpen: (dir: string) => void;
  onCapture: (captured: boolean) => void;
  /** Shows a message on the status line (a model that cannot run: what to do). */
  onNote: (text: string) => void;
  /** The report open now (the views show it), if any. */
  openDir: string | null;
  width: number;
  height: number;
  active: boolean;
  message?: string;
}

/** Focus and the field being edited, moved and changed by keys. */
function useSetupKeys(props: SetupProps, items: Item[]): { focus: number; editing: string | null } {
  const [focus, setFocus, focusRef] = useSyncState(items.findIndex((it) => it.kind === 'start'));
  const [editing, setEditing, editingRef] = useSyncState<string | null>(null);
  const live = useRef(items);
  live.current = items;
  const edit = (v: string | null) => {
    setEditing(v);
    props.onCapture(v !== null);
  };
  useKeys(
    (input, key) => {
      const it = live.current[clamp(focusRef.current, live.current.length)];
      const ed = editingRef.current;
      if (ed === null) {
        const k = setupKey(props.read(), live.current, focusRef.current, input, key, props.defaultOut);
        if (k?.kind === 'focus') setFocus(k.to);
        else if (k?.kind === 'edit') edit(k.text);
        else if (k?.kind === 'state') props.update(k.state);
        else if (k?.kind === 'start') props.onStart();
        else if (k?.kind === 'note') props.onNote(k.text);
        return;
      }
      const e = editText(ed, input, key, { clear: true });
      if (e.kind === 'cancel') edit(null);
      else if (e.kind === 'edit') setEditing(e.text);
      else if (e.kind === 'commit' && it.kind === 'text') {
        edit(null);
        const v = e.text.trim();
        if (it.field === 'replicates' && !/^\d+$/.test(v)) return;
        props.update({ ...props.read(), [it.field]: v });
        if (it.field === 'open' && v) props.onOpen(v);
      } else if (e.kind === 'commit') edit(null);
    },
    { isActive: props.active },
  );
  return { focus: clamp(focus, items.length), editing };
}

/** The text of a field's value on screen; the report folder to open says when it is the one open now. */
function fieldText(
  s: SetupState,
  field: 'data' | 'out' | 'replicates' | 'open',
  out: string,
  openDir: string | null,
): string {
  if (field === 'data') return s.data || 'phantom (synthetic, made once in .cache/)';
  if (field === 'out') return displayPath(out);
  if (field === 'open') {
    if (!s.open) return openDir ? '(a report folder: Enter, type it)' : '(a report folder, e.g. runs/start)';
    return openDir && resolve(s.open) === resolve(openDir) ? `${s.open}  (open now · Enter: another folder)` : s.open;
  }
  return s.replicates + ' replicates';
}

/** One line of the setup screen. */
function SetupLine(props: {
  item: Item;
  focused: boolean;
  editing: string | null;
  active: boolean;
  state: SetupState;
  models: ModelInfo[] | null;
  req: RunRequest;
  openDir: string | null;
  width: number;
}) {
  const { item: it, focused: isF, state: s, width } = props;
  const mark = isF ? '›' : ' ';
  const lab = (t: string) => t.padEnd(13);
  switch (it.kind) {
    case 'heading': {
      const ready = (props.models ?? []).filter((x) => x.weightsPresent).length;
      const text = `${it.label} (Space ticks; ${s.models.length} ticked; ${ready} of ${props.models?.length ?? 0} can run here)`;
      return <Text bold>{truncate(text, width)}</Text>;
    }
    case 'text': {
      const shown =
        isF && props.editing !== null ? `${props.editing}▌` : fieldText(s, it.field, props.req.out, props.openDir);
      return (
        <Text wrap="truncate" inverse={isF && props.active && props.editing === null}>
          {truncate(`${mark} ${lab(it.label)}${shown}`, width)}
        </Text>
      );
    }
    case 'toggle':
      return (
        <Text
          wrap="truncate"
          inverse={isF && props.active}
        >{`${mark} ${lab(it.label)}${s[it.field] ? 'on' : 'off'}`}</Text>
      );
    case 'model': {
      const on = s.models.includes(it.info.id);
      const tail = it.info.weightsPresent
        ? `${it.info.kind}, ${it.info.dim}-d`
        : `weights missing: cbir models pull ${it.info.id}`;
      return (
        <Text wrap="truncate" dimColor={!it.info.weightsPresent} inverse={isF && props.active}>
          {truncate(`${mark}   [${on ? 'x' : ' '}] ${it.info.id.padEnd(18)} ${tail}`, width)}
        </Text>
      );
    }
    case 'start':
      return (
        <Text wrap="truncate" bold color="green" inverse={isF && props.active}>
          {truncate(`${mark} ▶ Start: ${reportCommand(props.req)}`, width)}
        </Text>
      );
  }
}

/** The hint line under the setup screen. */
function setupHint(item: Item, editing: string | null, message?: string): string {
  if (editing !== null) return 'editing: type · Enter keep · Esc cancel · Ctrl-U clear';
  if (message) return message;
  if (item.kind === 'text') return 'Enter: edit this field';
  if (item.kind === 'start') return 'Enter: start (finished steps are reused: a run resumes)';
  if (item.kind === 'model' && !item.info.weightsPresent)
    return `${item.info.id}: weights missing, cannot be ticked · Space: how to get them`;
  return 'Space/Enter: toggle';
}

/**
 * The new-run screen: dataset (a manifest folder; empty = the phantom), report folder, options,
 * the models (those whose weights are present can be ticked), Start, and a report folder to open
 * instead. ↑/↓ move, Enter edits a field / toggles / starts, Space toggles; while editing, every
 * key goes to the field (Enter keeps, Esc cancels).
 */
export function SetupView(props: SetupProps) {
  const { state: s, width, height } = props;
  const items = setupItems(props.models);
  const { focus, editing } = useSetupKeys(props, items);
  const req = setupRequest(s, props.defaultOut);
  const bodyHeight = Math.max(1, height - 1);
  const off = scrollOffset(items.length, bodyHeight, focus, 0);
  return (
    <Box flexDirection="column" height={height}>
      {props.models === null ? (
        <Text color="yellow">listing models…</Text>
      ) : (
        items.slice(off, off + bodyHeight).map((it, k) => (
          <Box key={off + k}>
            <SetupLine
              item={it}
              focused={off + k === focus}
              editing={editing}
              active={props.active}
              state={s}
              models={props.models}
              req={req}
              openDir={props.openDir}
              width={width}
            />
          </Box>
        ))
      )}
      <Box flexGrow={1} />
      <Text color={props.message ? 'yellow' : 'gray'} wrap="truncate">
        {truncate(setupHint(items[focus], editing, props.message), width)}
      </Text>
    </Box>
  );
}
