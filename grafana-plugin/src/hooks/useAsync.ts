/** Runs an async function when its deps change; exposes value, error, loading and a reload. */
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';

export interface AsyncState<T> {
  /** The last value for the current deps (kept while reloading). */
  value?: T;
  error?: unknown;
  loading: boolean;
  reload: () => void;
}

/** `deps` must be JSON-serialisable (names, URLs, numbers). */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]): AsyncState<T> {
  const key = JSON.stringify(deps);
  const [tick, setTick] = useState(0);
  const [state, setState] = useState<{ key?: string; tick?: number; value?: T; error?: unknown }>({});
  const fnRef = useRef(fn);
  useLayoutEffect(() => {
    fnRef.current = fn;
  });
  useEffect(() => {
    let live = true;
    fnRef.current().then(
      (value) => live && setState({ key, tick, value }),
      (error: unknown) => live && setState({ key, tick, error })
    );
    return () => {
      live = false;
    };
  }, [key, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const sameDeps = state.key === key;
  const loading = !sameDeps || state.tick !== tick;
  return { value: sameDeps ? state.value : undefined, error: loading ? undefined : state.error, loading, reload };
}
