// One hook per screen query: fetch, keep the last data while re-fetching, and re-fetch when
// one of the query's topics is invalidated (a mutation here, focus today, a subscription
// event once issue 13 lands). Mutations name the topics they change.

import { useCallback, useEffect, useRef, useState } from "react";
import { execute, run, type Document } from "./client";
import { ApiError, SignedOut, type ErrorInfo } from "./errors";
import { invalidate, onInvalidate, type Topic } from "./live";

export type QueryState<R> = {
  data: R | null;
  /** The request failed or returned no data. */
  error: ApiError | null;
  /** Data came back with errors on some fields (e.g. a subgraph down): shown as a notice. */
  partial: ErrorInfo[];
  loading: boolean;
  refetch: () => void;
};

export function useQuery<R, V>(
  document: Document<R, V>,
  variables: V,
  options: { topics: readonly Topic[]; skip?: boolean },
): QueryState<R> {
  const [state, setState] = useState<Omit<QueryState<R>, "refetch">>({
    data: null,
    error: null,
    partial: [],
    loading: !options.skip,
  });
  const key = JSON.stringify(variables);
  const latest = useRef(0);
  const topicsKey = options.topics.join(",");

  const load = useCallback(async () => {
    const ticket = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const { data, errors } = await execute(document, JSON.parse(key) as V);
      if (ticket !== latest.current) return;
      setState(
        data
          ? { data, error: null, partial: errors, loading: false }
          : { data: null, error: new ApiError(errors), partial: [], loading: false },
      );
    } catch (error) {
      if (ticket !== latest.current || error instanceof SignedOut) return;
      setState((s) => ({
        ...s,
        error: error instanceof ApiError ? error : new ApiError([{ message: String(error) }]),
        loading: false,
      }));
    }
  }, [document, key]);

  useEffect(() => {
    if (options.skip) return;
    void load();
  }, [load, options.skip]);

  useEffect(() => {
    if (options.skip) return;
    return onInvalidate(topicsKey.split(",") as Topic[], () => void load());
  }, [load, topicsKey, options.skip]);

  return { ...state, refetch: () => void load() };
}

export type MutationState = { pending: boolean; error: ApiError | null; reset: () => void };

export function useMutation<R, V>(
  document: Document<R, V>,
  invalidates: readonly Topic[],
): [(variables: V) => Promise<R>, MutationState] {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const mutate = useCallback(
    async (variables: V) => {
      setPending(true);
      setError(null);
      try {
        const data = await run(document, variables);
        invalidate(...invalidates);
        return data;
      } catch (caught) {
        if (caught instanceof ApiError) setError(caught);
        throw caught;
      } finally {
        setPending(false);
      }
    },
    [document, invalidates.join(",")],
  );
  return [mutate, { pending, error, reset: () => setError(null) }];
}

/** Runs a mutation from an event handler, leaving its error to the MutationState. */
export function fire(promise: Promise<unknown>): void {
  promise.catch(() => undefined);
}
