// The sign-in page: demo users in development, the organisation's identity provider in
// production. After signing in the user returns where they were (`next`), drafts intact.

import { useEffect, useState } from "react";
import { navigate, useLocation } from "../router";
import { rememberPeople, type Person } from "../people";
import { ErrorNotice, Loading } from "../ui/states";
import { authConfig, type AuthConfig } from "./config";
import { authorizationUrl, completeSignIn } from "./oidc";
import { lastSignOutReason, sessionFromToken, signIn } from "./session";

function safeNext(next: string | null): string {
  // Only paths of this app: never an absolute URL someone put in a link.
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/board";
}

function ExpiredNotice() {
  if (lastSignOutReason() !== "expired") return null;
  return (
    <p className="notice" role="status">
      Your session ended. Sign in again to continue; anything you were typing is kept.
    </p>
  );
}

function DevSignIn({ config, next }: { config: { workspace: string }; next: string }) {
  const [users, setUsers] = useState<Person[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [workspace, setWorkspace] = useState(config.workspace);
  const [busy, setBusy] = useState<string | null>(null);

  useEffect(() => {
    fetch("/auth/dev/users")
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`demo users unavailable (${r.status})`))))
      .then((body: { users: Person[] }) => setUsers(body.users))
      .catch((e: Error) => setError(e.message));
  }, []);

  const choose = async (user: Person) => {
    setBusy(user.id);
    setError(null);
    try {
      const response = await fetch("/auth/dev/token", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ userId: user.id, workspace }),
      });
      const body = (await response.json()) as { token?: string; error?: string };
      if (!response.ok || !body.token) throw new Error(body.error ?? `sign-in failed (${response.status})`);
      const session = sessionFromToken(body.token, "development", user.name);
      if (!session) throw new Error("the platform returned an unreadable token");
      rememberPeople(users ?? []);
      signIn(session);
      navigate(next, { replace: true });
    } catch (e) {
      setError((e as Error).message);
      setBusy(null);
    }
  };

  if (error && !users) return <ErrorNotice error={error} />;
  if (!users) return <Loading what="Loading demo users" />;
  return (
    <>
      <p>Development mode: choose a demo user. Each gets a token for the workspace below.</p>
      <div className="field">
        <label htmlFor="workspace">Workspace</label>
        <input id="workspace" value={workspace} onChange={(e) => setWorkspace(e.target.value.trim())} />
      </div>
      {error && <ErrorNotice error={error} />}
      <ul className="user-list">
        {users.map((user) => (
          <li key={user.id}>
            <button
              type="button"
              className="user-choice"
              data-testid="demo-user"
              disabled={!!busy || !workspace}
              onClick={() => void choose(user)}
            >
              <span className="avatar" aria-hidden="true">
                {user.name.split(" ").map((p) => p[0]).slice(0, 2).join("")}
              </span>
              <span>
                <strong>{user.name}</strong>
                <span className="muted"> · {user.roles?.join(", ")}</span>
                {user.title && <span className="muted block">{user.title}</span>}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}

function OidcSignIn({ config, next }: { config: Extract<AuthConfig, { mode: "oidc" }>; next: string }) {
  const [error, setError] = useState<string | null>(null);
  const start = async () => {
    try {
      location.assign((await authorizationUrl(config, next)).toString());
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <>
      <p>Sign in with your organisation's account.</p>
      {error && <ErrorNotice error={error} />}
      <button type="button" className="primary" onClick={() => void start()} data-testid="oidc-sign-in">
        Sign in with {new URL(config.issuer).host}
      </button>
    </>
  );
}

export function SignInPage() {
  const { search } = useLocation();
  const next = safeNext(search.get("next"));
  const [config, setConfig] = useState<AuthConfig | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    authConfig().then(setConfig, (e: Error) => setError(e.message));
  }, []);
  return (
    <main className="sign-in" id="main">
      <h1>Sign in to the CRM</h1>
      <ExpiredNotice />
      {error && <ErrorNotice error={error} />}
      {!config && !error && <Loading />}
      {config?.mode === "development" && <DevSignIn config={config} next={next} />}
      {config?.mode === "oidc" && <OidcSignIn config={config} next={next} />}
    </main>
  );
}

// The code can be redeemed once: one exchange per page load, however often React mounts.
let exchange: Promise<string> | null = null;

export function OidcCallbackPage() {
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    exchange ??= authConfig().then(async (config) => {
      if (config.mode !== "oidc") throw new Error("this deployment does not use an identity provider");
      const { session, next } = await completeSignIn(config, new URL(location.href));
      signIn(session);
      return safeNext(next);
    });
    exchange.then((next) => navigate(next, { replace: true })).catch((e: Error) => setError(e.message));
  }, []);
  return (
    <main className="sign-in" id="main">
      <h1>Signing in…</h1>
      {error ? (
        <>
          <ErrorNotice error={error} />
          <a href="/sign-in">Back to sign-in</a>
        </>
      ) : (
        <Loading what="Completing sign-in" />
      )}
    </main>
  );
}
