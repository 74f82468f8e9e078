// The PKCE and state handling of the OIDC sign-in, against a fake issuer (fetch stubbed).
// The browser test tests/e2e/browser/test_oidc_sign_in.py runs the whole flow against a
// real local provider and the platform in production mode.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { authorizationUrl, completeSignIn } from "./oidc";

const ISSUER = "http://127.0.0.1:9999";
const APP = "http://127.0.0.1:4000";

class MemoryStorage {
  private items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
  clear() {
    this.items.clear();
  }
}
const config = { issuer: ISSUER, clientId: "crm-web", scope: "openid profile" };

function b64url(bytes: ArrayBuffer | Uint8Array | string): string {
  const raw = typeof bytes === "string" ? new TextEncoder().encode(bytes) : new Uint8Array(bytes);
  return btoa(String.fromCharCode(...raw)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function jwt(claims: object): string {
  return `${b64url(JSON.stringify({ alg: "RS256" }))}.${b64url(JSON.stringify(claims))}.${b64url("sig")}`;
}

const discovery = {
  issuer: ISSUER,
  authorization_endpoint: `${ISSUER}/authorize`,
  token_endpoint: `${ISSUER}/token`,
  jwks_uri: `${ISSUER}/jwks`,
};

describe("OIDC authorization code + PKCE", () => {
  let tokenRequests: URLSearchParams[] = [];

  beforeEach(() => {
    tokenRequests = [];
    vi.stubGlobal("sessionStorage", new MemoryStorage());
    vi.stubGlobal("location", new URL(`${APP}/sign-in`));
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
        const url = String(input instanceof Request ? input.url : input);
        if (url.endsWith("/.well-known/openid-configuration")) return Response.json(discovery);
        if (url.endsWith("/token")) {
          const body = new URLSearchParams(String(init?.body ?? ""));
          tokenRequests.push(body);
          const pending = JSON.parse(sessionStorage.getItem("crm.test.nonce") ?? "{}") as { nonce?: string };
          const now = Math.floor(Date.now() / 1000);
          return Response.json({
            access_token: jwt({ sub: "u-1", ws: "acme", roles: ["rep"], exp: now + 600, aud: "crm" }),
            id_token: jwt({ iss: ISSUER, sub: "u-1", aud: "crm-web", nonce: pending.nonce, iat: now, exp: now + 600, name: "Morgan Lee" }),
            token_type: "Bearer",
            expires_in: 600,
          });
        }
        return new Response("not found", { status: 404 });
      }),
    );
  });

  afterEach(() => vi.unstubAllGlobals());

  it("sends an S256 challenge of a fresh verifier, and redeems the code with that verifier", async () => {
    const url = await authorizationUrl(config, "/tasks");
    expect(url.origin + url.pathname).toBe(`${ISSUER}/authorize`);
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("response_type")).toBe("code");
    expect(url.searchParams.get("redirect_uri")).toBe(`${APP}/auth/callback`);
    const state = url.searchParams.get("state")!;
    const nonce = url.searchParams.get("nonce")!;
    sessionStorage.setItem("crm.test.nonce", JSON.stringify({ nonce }));

    const callback = new URL(`${APP}/auth/callback?code=abc&state=${state}`);
    const { session, next } = await completeSignIn(config, callback);
    expect(next).toBe("/tasks");
    expect(session).toMatchObject({ userId: "u-1", workspace: "acme", roles: ["rep"], name: "Morgan Lee", method: "oidc" });

    const [sent] = tokenRequests;
    expect(sent.get("code")).toBe("abc");
    const verifier = sent.get("code_verifier")!;
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    expect(b64url(digest)).toBe(url.searchParams.get("code_challenge"));
  });

  it("refuses a callback whose state is not the one sent, and redeems nothing", async () => {
    await authorizationUrl(config, "/board");
    const forged = new URL(`${APP}/auth/callback?code=abc&state=someone-elses`);
    await expect(completeSignIn(config, forged)).rejects.toThrow();
    expect(tokenRequests).toHaveLength(0);
  });

  it("refuses a callback when no sign-in was started in this tab", async () => {
    const stray = new URL(`${APP}/auth/callback?code=abc&state=x`);
    await expect(completeSignIn(config, stray)).rejects.toThrow(/No sign-in was started/);
  });
});
