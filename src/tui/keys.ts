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
