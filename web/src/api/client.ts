// The one way the app talks to the platform: GraphQL over HTTP to the gateway's /graphql,
// same origin, with the signed-in user's bearer token. Never a subgraph.
//
// Every mutation a user asks for (one `run`) gets a fresh Idempotency-Key, and `run`
// repeats it with the same key when the answer says repeating is safe (the network failed,
// or every error is `retryable`): the services answer a repeat from the key's stored
// result, so a change whose answer was lost is never made twice.

import type { TypedDocumentString } from "../gql/graphql";
import { getSession, signOut } from "../auth/session";
import { ApiError, SignedOut, toErrorInfo, type ErrorInfo } from "./errors";

export type Document<R, V> = TypedDocumentString<R, V>;

/** `retryAfter`: seconds the server asked to wait before a repeat (Retry-After). */
export type Result<R> = { data: R | null; errors: ErrorInfo[]; retryAfter?: number };

export type RequestOptions = { idempotencyKey?: string };

function operationName(query: string): string | undefined {
  return /^\s*(?:query|mutation)\s+(\w+)/.exec(query)?.[1];
}

export async function execute<R, V>(
  document: Document<R, V>,
  variables?: V,
  options: RequestOptions = {},
): Promise<Result<R>> {
  const session = getSession();
  if (!session) {
    signOut("expired");
    throw new SignedOut();
  }
  const query = document.toString();
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json",
        authorization: `Bearer ${session.token}`,
        ...(options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {}),
      },
      body: JSON.stringify({ query, variables: variables ?? {}, operationName: operationName(query) }),
    });
  } catch {
    throw new ApiError([{ message: "Cannot reach the server. Check your connection and retry.", code: "NETWORK" }]);
  }
  let body: { data?: R | null; errors?: unknown[] };
  try {
    body = await response.json();
  } catch {
    throw new ApiError([{ message: `The server answered ${response.status} without a GraphQL body.`, code: "HTTP" }]);
  }
  const errors = (body.errors ?? []).map(toErrorInfo);
  if (response.status === 401 || errors.some((e) => e.code === "UNAUTHENTICATED")) {
    signOut("expired");
    throw new SignedOut();
  }
  const retryAfter = Number(response.headers.get("retry-after"));
  return { data: body.data ?? null, errors, ...(retryAfter > 0 ? { retryAfter } : {}) };
}

/** Waits before each repeat of `run` (two repeats at most). */
export const REPEAT_DELAYS_MS = [500, 1500];
// A server's Retry-After is honoured up to this many seconds.
const MAX_RETRY_AFTER_SECONDS = 5;

/** A fresh Idempotency-Key: 32 hex characters (getRandomValues works on plain http too). */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether repeating the request can help and cannot do anything twice. */
export function repeatable(errors: ErrorInfo[]): boolean {
  return errors.length > 0 && errors.every((e) => e.code === "NETWORK" || e.retryable === true);
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/**
 * A mutation (or a query whose partial data is no use): any error throws an ApiError.
 * A mutation is sent with a fresh Idempotency-Key, the same on each repeat.
 */
export async function run<R, V>(document: Document<R, V>, variables?: V, wait = sleep): Promise<R> {
  const isMutation = /^\s*mutation\b/m.test(document.toString());
  const options: RequestOptions = isMutation ? { idempotencyKey: newIdempotencyKey() } : {};
  for (let repeat = 0; ; repeat++) {
    let result: Result<R>;
    try {
      result = await execute(document, variables, options);
    } catch (error) {
      if (!(error instanceof ApiError) || !repeatable(error.errors)) throw error;
      result = { data: null, errors: error.errors };
    }
    const { data, errors } = result;
    if (!errors.length && data) return data;
    if (data || !repeatable(errors) || repeat >= REPEAT_DELAYS_MS.length) {
      throw new ApiError(errors.length ? errors : [{ message: "No data returned" }]);
    }
    const asked = Math.min(result.retryAfter ?? 0, MAX_RETRY_AFTER_SECONDS) * 1000;
    await wait(Math.max(asked, REPEAT_DELAYS_MS[repeat]));
  }
}
