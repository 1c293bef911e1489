import { type Accessor, createEffect, createSignal, on, onCleanup } from 'solid-js';
import { type AppError, toAppError } from './errors.js';

export interface Query<T> {
  /** The last successful result; kept while a refetch runs, so lists do not flash empty. */
  data: Accessor<T | undefined>;
  error: Accessor<AppError | undefined>;
  loading: Accessor<boolean>;
  refetch: () => Promise<void>;
}

/**
 * Loads `fetcher(source())` now and whenever `source` changes; `source` returning `false` skips loading.
 * Never throws: failures land in `error`. Stale responses (from an earlier source) are dropped.
 */
export function createQuery<S, T>(source: Accessor<S | false>, fetcher: (input: S) => Promise<T>): Query<T> {
  const [data, setData] = createSignal<T>();
  const [error, setError] = createSignal<AppError>();
  const [loading, setLoading] = createSignal(false);
  let latest = 0;
  let current: S | false = false;
  let disposed = false;
  onCleanup(() => {
    disposed = true;
  });

  async function load(input: S) {
    const call = ++latest;
    setLoading(true);
    try {
      const result = await fetcher(input);
      if (call !== latest || disposed) return;
      setData(() => result);
      setError(undefined);
    } catch (caught) {
      if (call !== latest || disposed) return;
      setError(toAppError(caught));
    } finally {
      if (call === latest && !disposed) setLoading(false);
    }
  }

  createEffect(
    on(source, (input) => {
      current = input;
      if (input !== false) void load(input);
    }),
  );

  return {
    data,
    error,
    loading,
    refetch: async () => {
      if (current !== false) await load(current);
    },
  };
}

export interface Action<I, O> {
  /** Resolves to the result, or `undefined` when the call failed (the failure is in `error`). */
  run: (input: I) => Promise<O | undefined>;
  pending: Accessor<boolean>;
  error: Accessor<AppError | undefined>;
  setError: (error: AppError | undefined) => void;
}

/** Wraps a mutation for a form or button: tracks pending state and the last error. */
export function createAction<I, O>(perform: (input: I) => Promise<O>): Action<I, O> {
  const [pending, setPending] = createSignal(false);
  const [error, setError] = createSignal<AppError>();
  return {
    pending,
    error,
    setError: (value) => setError(() => value),
    run: async (input) => {
      setPending(true);
      setError(undefined);
      try {
        return await perform(input);
      } catch (caught) {
        setError(toAppError(caught));
        return undefined;
      } finally {
        setPending(false);
      }
    },
  };
}

/** A signal that follows `source` after it has been still for `ms` milliseconds (for search boxes). */
export function createDebounced<T>(source: Accessor<T>, ms: number): [Accessor<T>, (value: T) => void] {
  const [value, setValue] = createSignal<T>(source());
  let timer: ReturnType<typeof setTimeout> | undefined;
  createEffect(
    on(
      source,
      (next) => {
        clearTimeout(timer);
        timer = setTimeout(() => setValue(() => next), ms);
      },
      { defer: true },
    ),
  );
  onCleanup(() => clearTimeout(timer));
  /** Applies a value at once (a submitted search should not wait). */
  const flush = (next: T) => {
    clearTimeout(timer);
    setValue(() => next);
  };
  return [value, flush];
}

/**
 * Refetches `query` every `ms` milliseconds while the screen is shown and the tab is visible; the data
 * stays on screen during a refetch, so lists update in place.
 */
export function refreshEvery(query: { refetch: () => Promise<void> }, ms: number): void {
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') void query.refetch();
  }, ms);
  onCleanup(() => clearInterval(timer));
}
