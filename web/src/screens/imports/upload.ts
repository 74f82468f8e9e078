// A file to the gateway by the GraphQL multipart request spec: the parts `operations` (the
// request, with null where the file goes), `map` (which part goes where), then the file.
// The gateway stores the file with the import service and runs `createImport` with its id.

import { getSession, signOut } from "../../auth/session";
import { ApiError, SignedOut, toErrorInfo } from "../../api/errors";
import type { ImportRecordType } from "../../gql/graphql";
import { CREATE_IMPORT } from "./queries";

export const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;

export function multipartBody(file: Blob, fileName: string, recordType: ImportRecordType): FormData {
  const body = new FormData();
  body.append(
    "operations",
    JSON.stringify({ query: CREATE_IMPORT, variables: { file: null, recordType }, operationName: "CreateImport" }),
  );
  body.append("map", JSON.stringify({ "0": ["variables.file"] }));
  body.append("0", file, fileName);
  return body;
}

/** The new import's id; ApiError (with the field to fix) when the file is refused. */
export async function uploadImport(file: File, recordType: ImportRecordType): Promise<string> {
  if (file.size > MAX_UPLOAD_BYTES) {
    throw new ApiError([{ message: "A file of at most 100 MB can be imported.", field: "file" }]);
  }
  const session = getSession();
  if (!session) {
    signOut("expired");
    throw new SignedOut();
  }
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { authorization: `Bearer ${session.token}`, accept: "application/json" },
      body: multipartBody(file, file.name, recordType),
    });
  } catch {
    throw new ApiError([{ message: "Cannot reach the server. Check your connection and retry.", code: "NETWORK" }]);
  }
  if (response.status === 401) {
    signOut("expired");
    throw new SignedOut();
  }
  let body: { data?: { createImport?: { id: string } } | null; errors?: unknown[] };
  try {
    body = await response.json();
  } catch {
    throw new ApiError([{ message: `The server answered ${response.status}.`, code: "HTTP" }]);
  }
  const created = body.data?.createImport;
  if (!created) throw new ApiError((body.errors ?? [{ message: "The file was not taken." }]).map(toErrorInfo));
  return created.id;
}
