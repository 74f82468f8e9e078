// The signed-in user: a bearer token and what it says (subject, workspace, roles, expiry).
// Kept in localStorage so every tab of the app (and GraphiQL) shares one sign-in.

import { useSyncExternalStore } from "react";
import { isExpired, readClaims } from "./jwt";

export type Role = "admin" | "manager" | "rep" | "viewer";

export type Session = {
  token: string;
  userId: string;
  name: string;
  workspace: string;
  roles: Role[];
  expiresAt: number | null; // epoch seconds
  method: "development" | "oidc";
};

const KEY = "crm.session";
const listeners = new Set<() => void>();
let cached: { raw: string | null; session: Session | null } = { raw: null, session: null };

function read(): Session | null {
  const raw = localStorage.getItem(KEY);
  if (raw === cached.raw) return cached.session;
  let session: Session | null = null;
  try {
    session = raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    session = null;
  }
  cached = { raw, session };
  return session;
}

function emit(): void {
  listeners.forEach((listener) => listener());
}

export function sessionFromToken(
  token: string,
  method: Session["method"],
  displayName?: string,
): Session | null {
  const claims = readClaims(token);
  if (!claims) return null;
  return {
    token,
    userId: claims.sub,
    name: displayName || claims.name || claims.sub,
    workspace: claims.ws ?? "",
    roles: (claims.roles ?? []) as Role[],
    expiresAt: claims.exp ?? null,
    method,
  };
}

export function signIn(session: Session): void {
  localStorage.setItem(KEY, JSON.stringify(session));
  emit();
}

/** Why the last session ended, for the sign-in page ("expired" keeps the form drafts). */
export function signOut(reason: "expired" | "signed-out" = "signed-out"): void {
  localStorage.removeItem(KEY);
  sessionStorage.setItem("crm.signout-reason", reason);
  emit();
}

export function lastSignOutReason(): string | null {
  return sessionStorage.getItem("crm.signout-reason");
}

export function getSession(): Session | null {
  const session = read();
  if (!session) return null;
  const claims = readClaims(session.token);
  if (!claims || isExpired(claims)) return null;
  return session;
}

export function currentToken(): string | null {
  return getSession()?.token ?? null;
}

export function hasRole(session: Session | null, ...roles: Role[]): boolean {
  return !!session && session.roles.some((role) => roles.includes(role));
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  const onStorage = (event: StorageEvent) => event.key === KEY && listener();
  window.addEventListener("storage", onStorage);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("storage", onStorage);
  };
}

export function useSession(): Session | null {
  // The stored value is the snapshot; expiry is checked where the token is used.
  return useSyncExternalStore(subscribe, read);
}
