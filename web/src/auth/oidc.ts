// Production sign-in: OpenID Connect authorization code flow with PKCE against the
// organisation's issuer (oauth4webapi does the protocol checks). The access token, a JWT the
// gateway verifies, becomes the session's bearer token.

import * as oauth from "oauth4webapi";
import { sessionFromToken, type Session } from "./session";

const PENDING = "crm.oidc.pending";

type Pending = { verifier: string; state: string; nonce: string; next: string };

export function redirectUri(): string {
  return `${location.origin}/auth/callback`;
}

/** Plain http is accepted only for an issuer on this machine (tests, local providers). */
function options(issuer: URL): { [oauth.allowInsecureRequests]?: boolean } {
  const local = issuer.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(issuer.hostname);
  return local ? { [oauth.allowInsecureRequests]: true } : {};
}

async function discover(issuer: string): Promise<oauth.AuthorizationServer> {
  const url = new URL(issuer);
  const response = await oauth.discoveryRequest(url, { algorithm: "oidc", ...options(url) });
  return oauth.processDiscoveryResponse(url, response);
}

export async function authorizationUrl(
  config: { issuer: string; clientId: string; scope: string },
  next: string,
): Promise<URL> {
  const as = await discover(config.issuer);
  if (!as.authorization_endpoint) throw new Error("the issuer has no authorization endpoint");
  const pending: Pending = {
    verifier: oauth.generateRandomCodeVerifier(),
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    next,
  };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set("client_id", config.clientId);
  url.searchParams.set("redirect_uri", redirectUri());
  url.searchParams.set("response_type", "code");
  url.searchParams.set("scope", config.scope);
  url.searchParams.set("state", pending.state);
  url.searchParams.set("nonce", pending.nonce);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(pending.verifier));
  url.searchParams.set("code_challenge_method", "S256");
  return url;
}

/** Back from the issuer: check the state, redeem the code with the PKCE verifier. */
export async function completeSignIn(
  config: { issuer: string; clientId: string },
  callback: URL,
): Promise<{ session: Session; next: string }> {
  const raw = sessionStorage.getItem(PENDING);
  if (!raw) throw new Error("No sign-in was started in this tab; start again.");
  sessionStorage.removeItem(PENDING);
  const pending = JSON.parse(raw) as Pending;
  const as = await discover(config.issuer);
  const client: oauth.Client = { client_id: config.clientId };
  const params = oauth.validateAuthResponse(as, client, callback, pending.state);
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    client,
    oauth.None(),
    params,
    redirectUri(),
    pending.verifier,
    options(new URL(config.issuer)),
  );
  const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
    expectedNonce: pending.nonce,
    requireIdToken: true,
  });
  const idClaims = oauth.getValidatedIdTokenClaims(result);
  const name = typeof idClaims?.name === "string" ? idClaims.name : undefined;
  const session = sessionFromToken(result.access_token, "oidc", name);
  if (!session) throw new Error("The issuer's access token is not a JWT the platform can use.");
  return { session, next: pending.next };
}
