import { describe, expect, it } from "vitest";
import { isExpired, readClaims } from "./jwt";

function token(claims: object): string {
  const encode = (part: object) =>
    btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(part))))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
  return `${encode({ alg: "HS256" })}.${encode(claims)}.signature`;
}

describe("reading a bearer token's claims", () => {
  it("reads subject, workspace, roles, expiry and name", () => {
    const claims = readClaims(token({ sub: "darcel-schlecht", ws: "demo", roles: ["rep", 7], exp: 2000, name: "Darcel Schlecht" }));
    expect(claims).toEqual({ sub: "darcel-schlecht", ws: "demo", roles: ["rep"], exp: 2000, name: "Darcel Schlecht" });
  });

  it("decodes UTF-8 names", () => {
    expect(readClaims(token({ sub: "x", name: "Zoë Ñandú" }))?.name).toBe("Zoë Ñandú");
  });

  it("refuses what is not a JWT with a subject", () => {
    expect(readClaims("not-a-token")).toBeNull();
    expect(readClaims(token({ ws: "demo" }))).toBeNull();
    expect(readClaims("a.!!!.c")).toBeNull();
  });

  it("is expired a little before exp (clock skew, latency)", () => {
    expect(isExpired({ sub: "x", exp: 1000 }, 990)).toBe(false);
    expect(isExpired({ sub: "x", exp: 1000 }, 996)).toBe(true);
    expect(isExpired({ sub: "x" }, 10 ** 12)).toBe(false);
  });
});
