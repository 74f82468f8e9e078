// Reading (not verifying: the gateway does that) the claims of a bearer token.

export type Claims = {
  sub: string;
  ws?: string;
  roles?: string[];
  exp?: number;
  name?: string;
};

function base64UrlDecode(part: string): string {
  const padded = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

export function readClaims(token: string): Claims | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(parts[1])) as Partial<Claims>;
    if (typeof claims.sub !== "string" || !claims.sub) return null;
    return {
      sub: claims.sub,
      ws: typeof claims.ws === "string" ? claims.ws : undefined,
      roles: Array.isArray(claims.roles) ? claims.roles.filter((r) => typeof r === "string") : [],
      exp: typeof claims.exp === "number" ? claims.exp : undefined,
      name: typeof claims.name === "string" ? claims.name : undefined,
    };
  } catch {
    return null;
  }
}

/** True when the token's `exp` is past (with a little slack for clock skew and latency). */
export function isExpired(claims: Claims, nowSeconds = Date.now() / 1000, slackSeconds = 5): boolean {
  return claims.exp !== undefined && claims.exp - slackSeconds <= nowSeconds;
}
