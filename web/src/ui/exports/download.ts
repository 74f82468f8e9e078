// An export's file from the gateway (`downloadUrl`), fetched with the session's bearer token
// (a bare link would need none: the file may hold the workspace's addresses and amounts),
// then saved by the browser under the name the server gives.

import { getSession, signOut } from "../../auth/session";
import { ApiError, SignedOut } from "../../api/errors";

/** The file name of a `Content-Disposition: attachment; filename="…"` header. */
export function fileNameOf(disposition: string | null, fallback: string): string {
  const found = /filename="([^"]+)"/.exec(disposition ?? "");
  return found ? found[1] : fallback;
}

/** The file's bytes and name; ApiError when the server refuses (expired, not yours). */
export async function fetchExport(url: string, fallbackName: string): Promise<{ blob: Blob; name: string }> {
  const session = getSession();
  if (!session) {
    signOut("expired");
    throw new SignedOut();
  }
  let response: Response;
  try {
    response = await fetch(url, { headers: { authorization: `Bearer ${session.token}` } });
  } catch {
    throw new ApiError([{ message: "Cannot reach the server. Check your connection and retry.", code: "NETWORK" }]);
  }
  if (response.status === 401) {
    signOut("expired");
    throw new SignedOut();
  }
  if (!response.ok) {
    let message = `The server answered ${response.status}.`;
    try {
      const body = (await response.json()) as { error?: { message?: string } };
      message = body.error?.message ?? message;
    } catch {
      /* not JSON: the status says it */
    }
    throw new ApiError([{ message, code: "HTTP" }]);
  }
  return { blob: await response.blob(), name: fileNameOf(response.headers.get("content-disposition"), fallbackName) };
}

/** Fetches the file and hands it to the browser's downloads. */
export async function downloadExport(url: string, fallbackName: string): Promise<void> {
  const { blob, name } = await fetchExport(url, fallbackName);
  const href = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = href;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}
