import { useCallback, useRef, useState, type MutableRefObject } from 'react';

/**
 * State whose latest value is also in a ref, updated at once by the setter. Key handlers read
 * the ref: Ink re-registers a handler only after React's effects run, so a key that arrives
 * quickly after another may reach a handler from the previous render, whose closure is stale.
 */
export function useSyncState<T>(initial: T | (() => T)): [T, (v: T | ((prev: T) => T)) => void, MutableRefObject<T>] {
  const [value, setValue] = useState<T>(initial);
  const ref = useRef(value);
  const set = useCallback((v: T | ((prev: T) => T)) => {
    const next = typeof v === 'function' ? (v as (prev: T) => T)(ref.current) : v;
    ref.current = next;
    setValue(next);
  }, []);
  return [value, set, ref];
}

/**
 * `useReducer` whose latest state is also in a ref: `dispatch` applies the (pure) reducer at
 * once, so a key handler that dispatches and then reads the ref sees the result, even before
 * React re-renders (see `useSyncState`).
 */
export function useSyncReducer<S, A>(
  reducer: (s: S, a: A) => S,
  init: () => S,
): [S, (a: A) => void, MutableRefObject<S>] {
  const [state, set, ref] = useSyncState<S>(init);
  const dispatch = useCallback((a: A) => set((prev) => reducer(prev, a)), []);
  return [state, dispatch, ref];
}
