// The one way the app talks to the platform: GraphQL over HTTP to the gateway's /graphql,
// same origin, with the signed-in user's bearer token. Never a subgraph.

import type { TypedDocumentString } from "../gql/graphql";
import { getSession, signOut } from "../auth/session";
import { ApiError, SignedOut, toErrorInfo, type ErrorInfo } from "./errors";

export type Document<R, V> = TypedDocumentString<R, V>;

export type Result<R> = { data: R | null; errors: ErrorInfo[] };

function operationName(query: string): string | undefined {
  return /^\s*(?:query|mutation)\s+(\w+)/.exec(query)?.[1];
}

export async function execute<R, V>(document: Document<R, V>, variables?: V): Promise<Result<R>> {
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
  return { data: body.data ?? null, errors };
}

/** A mutation (or a query whose partial data is no use): any error throws an ApiError. */
export async function run<R, V>(document: Document<R, V>, variables?: V): Promise<R> {
  const { data, errors } = await execute(document, variables);
  if (errors.length || !data) throw new ApiError(errors.length ? errors : [{ message: "No data returned" }]);
  return data;
}
