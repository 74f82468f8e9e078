// How this deployment signs people in, as the gateway says (GET /auth/config, public).

export type AuthConfig =
  | { mode: "development"; workspace: string }
  | { mode: "oidc"; issuer: string; clientId: string; scope: string };

let cached: Promise<AuthConfig> | null = null;

export function authConfig(): Promise<AuthConfig> {
  cached ??= fetch("/auth/config", { headers: { accept: "application/json" } }).then(async (response) => {
    if (!response.ok) throw new Error(`sign-in is not configured (${response.status})`);
    return (await response.json()) as AuthConfig;
  });
  return cached;
}
