/**
 * Pure key handling shared by the screens: a key is Ink's `Key` (every flag optional, so tests
 * can write `{ escape: true }`), and text fields take typed and pasted text the same way.
 */
import type { Key } from 'ink';

/** A key as the handlers read it. */
export type KeyLike = Partial<Key>;

/** What a key does to a text field being edited. */
export type TextEdit =
  { kind: 'cancel' } | { kind: 'commit'; text: string } | { kind: 'edit'; text: string } | { kind: 'ignore' };

/**
 * A key in a text field holding `value`: Esc cancels, Enter commits, Backspace deletes,
 * Ctrl-U clears (when `clear`), text is appended; a pasted chunk that ends with Enter commits.
 */
export function editText(value: string, input: string, key: KeyLike, opts: { clear?: boolean } = {}): TextEdit {
  if (key.escape) return { kind: 'cancel' };
  if (key.return) return { kind: 'commit', text: value };
  if (key.backspace || key.delete) return { kind: 'edit', text: value.slice(0, -1) };
  if (opts.clear && key.ctrl && input === 'u') return { kind: 'edit', text: '' };
  if (!input || key.ctrl || key.meta || key.tab) return { kind: 'ignore' };
  const text = value + input.replace(/[\r\n]/g, '');
  return /[\r\n]/.test(input) ? { kind: 'commit', text } : { kind: 'edit', text };
}

/** One key: the text Ink would pass for it and its flags. */
export interface Keypress {
  input: string;
  key: KeyLike;
}

const CSI_KEYS: Record<string, KeyLike> = {
  A: { upArrow: true },
  B: { downArrow: true },
  C: { rightArrow: true },
  D: { leftArrow: true },
  H: { home: true },
  F: { end: true },
  Z: { tab: true, shift: true },
  '1~': { home: true },
  '7~': { home: true },
  '4~': { end: true },
  '8~': { end: true },
  '3~': { delete: true },
  '5~': { pageUp: true },
  '6~': { pageDown: true },
};

/** One character as a key: Enter, Tab, Backspace, Ctrl-letter, or text (capitals with shift). */
function charKey(ch: string): Keypress {
  if (ch === '\r' || ch === '\n') return { input: '', key: { return: true } };
  if (ch === '\t') return { input: '', key: { tab: true } };
  if (ch === '\b') return { input: '', key: { backspace: true } };
  if (ch === '\x7f') return { input: '', key: { delete: true } };
  if (ch === '\x1b') return { input: '', key: { escape: true, meta: true } };
  if (ch.length === 1 && ch < ' ') return { input: String.fromCharCode(ch.charCodeAt(0) + 96), key: { ctrl: true } };
  return { input: ch, key: /^[A-Z]$/.test(ch) ? { shift: true } : {} };
}

/**
 * A terminal's bytes as keys, in order: escape sequences (CSI `ESC [ … final`, SS3 `ESC O x`),
 * Esc alone, and one key per other character. Unknown sequences become a key with no flags.
 */
export function parseKeys(raw: string): Keypress[] {
  const out: Keypress[] = [];
  const chars = Array.from(raw);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    const next = chars[i + 1];
    if (ch !== '\x1b' || (next !== '[' && next !== 'O')) {
      out.push(charKey(ch));
      continue;
    }
    let j = i + 2;
    if (next === '[') while (j < chars.length && /[0-9;?]/.test(chars[j])) j++;
    const body = chars.slice(i + 2, j + 1).join('');
    const code = next === '[' ? body.replace(/^1;\d+(?=[A-Z])/, '') : body;
    out.push({ input: '', key: CSI_KEYS[code] ?? {} });
    i = j;
  }
  return out;
}

/** Whether Ink already recognised the key (an arrow, Enter, Esc…): then its input is one key, not text. */
function namedKey(key: KeyLike): boolean {
  return !!(
    key.upArrow ||
    key.downArrow ||
    key.leftArrow ||
    key.rightArrow ||
    key.pageUp ||
    key.pageDown ||
    key.home ||
    key.end ||
    key.return ||
    key.escape ||
    key.tab ||
    key.backspace ||
    key.delete ||
    key.ctrl
  );
}

/**
 * The keys of one `useInput` call. Ink passes several keys read at once (tmux `send-keys jj`, a
 * fast typist, a paste) as one input ("jj"); they are split here so that each one acts, in
 * order. Ink ≥ 6 already delivers escape sequences apart; a chunk that still holds one (after
 * the Esc Ink strips) is split too.
 */
export function splitKeys(input: string, key: KeyLike): Keypress[] {
  if (namedKey(key) || Array.from(input).length <= 1) return [{ input, key }];
  const raw = key.meta && /^[[O]/.test(input) ? '\x1b' + input : input;
  return parseKeys(raw);
}
