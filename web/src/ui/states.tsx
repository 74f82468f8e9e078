// Loading, empty and error states, the same on every screen.

import type { ReactNode } from "react";
import type { ApiError, ErrorInfo } from "../api/errors";

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

export function ErrorNotice({ error, retry }: { error: ApiError | Error | string; retry?: () => void }) {
  const message = typeof error === "string" ? error : error.message;
  return (
    <div className="state state-error" role="alert">
      <strong>Something went wrong.</strong> {message}
      {retry && (
        <button type="button" className="link" onClick={retry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function PartialNotice({ errors }: { errors: ErrorInfo[] }) {
  if (!errors.length) return null;
  return (
    <div className="notice" role="status">
      Some details could not be loaded: {errors.map((e) => e.message).join("; ")}
    </div>
  );
}

export function FieldError({ message, id }: { message?: string; id?: string }) {
  if (!message) return null;
  return (
    <span className="field-error" role="alert" id={id}>
      {message}
    </span>
  );
}

/** The standard trio: loading on first load, the error with a retry, else the content. */
export function QueryView<R>({
  state,
  what,
  children,
}: {
  state: { data: R | null; error: ApiError | null; loading: boolean; partial: ErrorInfo[]; refetch: () => void };
  what: string;
  children: (data: R) => ReactNode;
}) {
  if (state.error && !state.data) return <ErrorNotice error={state.error} retry={state.refetch} />;
  if (!state.data) return <Loading what={`Loading ${what}`} />;
  return (
    <>
      <PartialNotice errors={state.partial} />
      {children(state.data)}
    </>
  );
}
