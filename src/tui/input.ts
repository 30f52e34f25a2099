/**
 * Keys, one at a time and in order. Ink reads the terminal in chunks and passes a chunk of text
 * ("jj") to `useInput` as one input; and every `useInput` handler of a chunk runs before React
 * re-renders, so a key that switches screens would reach the old screen's handler. Here the App
 * owns the only `useInput`: it splits each chunk into keys (`splitKeys`) and feeds them, one by
 * one, to the current screen's handler (registered with `useKeys`) and then to the global keys.
 * When a key changes what has the keys (another screen, the help, the export prompt…), the
 * rest of the chunk waits until the screen that now has them is rendered (`KeyQueue`).
 */
import { createContext, useContext, useLayoutEffect, useRef, type MutableRefObject } from 'react';
import { useInput } from 'ink';
import { splitKeys, type KeyLike, type Keypress } from './keys.js';

export type KeyHandler = (input: string, key: KeyLike) => void;

/** A screen's key handler as registered: the latest handler and whether it has the keys now. */
export type KeySlot = MutableRefObject<{ handler: KeyHandler; active: boolean }>;

/** The screens' key handlers, in registration order. */
export type KeyBus = Set<KeySlot>;

export const KeyBusContext = createContext<KeyBus | null>(null);

/**
 * `useInput` for a screen: inside the App (a `KeyBusContext`), the handler gets the App's keys
 * one by one; standalone (a component rendered alone), it listens to Ink itself and splits
 * chunks the same way.
 */
export function useKeys(handler: KeyHandler, opts: { isActive?: boolean } = {}): void {
  const bus = useContext(KeyBusContext);
  const active = opts.isActive !== false;
  const slot: KeySlot = useRef({ handler, active });
  slot.current.handler = handler;
  slot.current.active = active;
  // registered as the screen is committed (a layout effect), not later: Ink prints the frame at
  // the commit, and a key typed as soon as the screen shows must reach this handler
  useLayoutEffect(() => {
    if (!bus) return;
    bus.add(slot);
    return () => {
      bus.delete(slot);
    };
  }, [bus]);
  useInput(
    (input, key) => {
      for (const k of splitKeys(input, key)) slot.current.handler(k.input, k.key);
    },
    { isActive: active && !bus },
  );
}

/** Whether two lists hold the same values (compared with ===). */
function sameTarget(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Keys waiting to be handled, in order. `handle` acts on one key; `target` says what has the
 * keys now (compared element by element). After a key that changes the target, the queue waits
 * until `rendered(t)` reports a render of that target (a render of an earlier state, whose
 * effects may run late, does not count), so the rest goes to the new screen's handlers. A
 * render that never comes is covered by a timer.
 */
export class KeyQueue {
  private queue: Keypress[] = [];
  private waiting = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly handle: (k: Keypress) => void,
    private readonly target: () => readonly unknown[],
    private readonly fallbackMs = 100,
  ) {}

  /** Add keys (one input of Ink's, split) and handle what can be handled now. */
  push(keys: Keypress[]): void {
    this.queue.push(...keys);
    this.drain();
  }

  /** The App rendered a state whose target is `rendered` (none: any): keys held back for it go on. */
  rendered(rendered?: readonly unknown[]): void {
    if (!this.waiting || (rendered && !sameTarget(rendered, this.target()))) return;
    this.waiting = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.drain();
  }

  /** Keys not handled yet. */
  get pending(): number {
    return this.queue.length;
  }

  /** Drop waiting keys and the timer (the App unmounts). */
  clear(): void {
    this.queue = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private drain(): void {
    while (!this.waiting && this.queue.length > 0) {
      const before = this.target();
      this.handle(this.queue.shift()!);
      if (this.queue.length > 0 && !sameTarget(before, this.target())) {
        this.waiting = true;
        this.timer = setTimeout(() => this.rendered(), this.fallbackMs);
      }
    }
  }
}
