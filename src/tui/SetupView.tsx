import { useRef } from 'react';
import { Box, Text, useInput } from 'ink';
import type { ModelInfo } from '../workbench/models/registry.js';
import { clamp, displayPath, scrollOffset, truncate } from './layout.js';
import { reportCommand, type RunRequest } from './runner.js';
import { useSyncState } from './hooks.js';

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

/**
 * The new-run screen: dataset (a manifest folder; empty = the phantom), report folder, options,
 * the models (those whose weights are present can be ticked), Start, and a report folder to open
 * instead. ↑/↓ move, Enter edits a field / toggles / starts, Space toggles; while editing, every
 * key goes to the field (Enter keeps, Esc cancels).
 */
export function SetupView(props: {
  state: SetupState;
  update: (f: (s: SetupState) => SetupState) => void;
  models: ModelInfo[] | null;
  defaultOut: (data: string) => string;
  onStart: () => void;
  onOpen: (dir: string) => void;
  onCapture: (captured: boolean) => void;
  width: number;
  height: number;
  active: boolean;
  message?: string;
}) {
  const { state: s, width, height, active, update } = props;
  const ready = (props.models ?? []).filter((x) => x.weightsPresent);
  const missing = (props.models ?? []).filter((x) => !x.weightsPresent);
  const items: Item[] = [
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
  const focusable = items.map((it, i) => (it.kind === 'heading' ? -1 : i)).filter((i) => i >= 0);
  const [focus, setFocus, focusRef] = useSyncState(items.findIndex((it) => it.kind === 'start'));
  const [editing, setEditing, editingRef] = useSyncState<string | null>(null);
  const f = clamp(focus, items.length);
  const item = items[f];
  const req = setupRequest(s, props.defaultOut);
  const out = req.out;

  const live = useRef({ items, focusable });
  live.current = { items, focusable };
  const edit = (v: string | null) => {
    setEditing(v);
    props.onCapture(v !== null);
  };
  const commit = (it: Item, text: string) => {
    edit(null);
    if (it.kind !== 'text') return;
    const v = text.trim();
    if (it.field === 'replicates' && !/^\d+$/.test(v)) return;
    update((x) => ({ ...x, [it.field]: v }));
    if (it.field === 'open' && v) props.onOpen(v);
  };
  useInput(
    (input, key) => {
      const { items, focusable } = live.current;
      const it = items[clamp(focusRef.current, items.length)];
      const ed = editingRef.current;
      if (ed !== null) {
        if (key.escape) {
          edit(null);
          return;
        }
        if (key.return) {
          commit(it, ed);
          return;
        }
        if (key.backspace || key.delete) {
          setEditing(ed.slice(0, -1));
          return;
        }
        if (key.ctrl && input === 'u') {
          setEditing('');
          return;
        }
        if (input && !key.ctrl && !key.meta && !key.tab) {
          // typed or pasted text; a pasted chunk may end with Enter
          const text = ed + input.replace(/[\r\n]/g, '');
          if (/[\r\n]/.test(input)) commit(it, text);
          else setEditing(text);
        }
        return;
      }
      const move = (d: number) =>
        setFocus((cur) => focusable[Math.min(focusable.length - 1, Math.max(0, focusable.indexOf(cur) + d))]);
      if (key.upArrow || input === 'k') move(-1);
      else if (key.downArrow || input === 'j') move(1);
      else if (key.pageUp) move(-8);
      else if (key.pageDown) move(8);
      else if (key.return || input === ' ') {
        if (it.kind === 'text' && key.return) {
          update((x) => {
            edit(it.field === 'out' ? setupRequest(x, props.defaultOut).out : x[it.field]);
            return x;
          }); // reads the latest state
        } else if (it.kind === 'toggle') update((x) => ({ ...x, [it.field]: !x[it.field] }));
        else if (it.kind === 'model' && it.info.weightsPresent) {
          const id = it.info.id;
          update((x) => ({
            ...x,
            models: x.models.includes(id) ? x.models.filter((y) => y !== id) : [...x.models, id],
          }));
        } else if (it.kind === 'start' && key.return) props.onStart();
      }
    },
    { isActive: active },
  );

  const line = (it: Item, i: number) => {
    const isF = i === f;
    const lab = (t: string) => t.padEnd(13);
    switch (it.kind) {
      case 'heading': {
        return (
          <Text bold>
            {truncate(
              `${it.label} (Space ticks; ${s.models.length} ticked; ${ready.length} of ${props.models?.length ?? 0} can run here)`,
              width,
            )}
          </Text>
        );
      }
      case 'text': {
        const v =
          it.field === 'data'
            ? s.data || 'phantom (synthetic, made once in .cache/)'
            : it.field === 'out'
              ? displayPath(out)
              : it.field === 'open'
                ? s.open || '(a report folder, e.g. runs/start)'
                : s.replicates + ' replicates';
        const shown = isF && editing !== null ? `${editing}▌` : v;
        return (
          <Text wrap="truncate" inverse={isF && active && editing === null}>
            {truncate(`${isF ? '›' : ' '} ${lab(it.label)}${shown}`, width)}
          </Text>
        );
      }
      case 'toggle':
        return (
          <Text
            wrap="truncate"
            inverse={isF && active}
          >{`${isF ? '›' : ' '} ${lab(it.label)}${s[it.field] ? 'on' : 'off'}`}</Text>
        );
      case 'model': {
        const on = s.models.includes(it.info.id);
        const tail = it.info.weightsPresent
          ? `${it.info.kind}, ${it.info.dim}-d`
          : `weights missing: cbir models pull ${it.info.id}`;
        return (
          <Text wrap="truncate" dimColor={!it.info.weightsPresent} inverse={isF && active}>
            {truncate(`${isF ? '›' : ' '}   [${on ? 'x' : ' '}] ${it.info.id.padEnd(18)} ${tail}`, width)}
          </Text>
        );
      }
      case 'start':
        return (
          <Text wrap="truncate" bold color="green" inverse={isF && active}>
            {truncate(`${isF ? '›' : ' '} ▶ Start: ${reportCommand(req)}`, width)}
          </Text>
        );
    }
  };
  const bodyHeight = Math.max(1, height - 1);
  const off = scrollOffset(items.length, bodyHeight, f, 0);
  const hint =
    editing !== null
      ? 'editing: type · Enter keep · Esc cancel · Ctrl-U clear'
      : (props.message ??
        (item.kind === 'text'
          ? 'Enter: edit this field'
          : item.kind === 'start'
            ? 'Enter: start (finished steps are reused: a run resumes)'
            : 'Space/Enter: toggle'));
  return (
    <Box flexDirection="column" height={height}>
      {props.models === null ? (
        <Text color="yellow">listing models…</Text>
      ) : (
        items.slice(off, off + bodyHeight).map((it, k) => <Box key={off + k}>{line(it, off + k)}</Box>)
      )}
      <Box flexGrow={1} />
      <Text color={props.message ? 'yellow' : 'gray'} wrap="truncate">
        {truncate(hint, width)}
      </Text>
    </Box>
  );
}
