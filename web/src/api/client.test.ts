import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Document } from "./client";

vi.mock("../auth/session", () => ({
  getSession: () => ({ token: "t" }),
  signOut: vi.fn(),
}));

const { REPEAT_DELAYS_MS, newIdempotencyKey, repeatable, run } = await import("./client");

const MUTATION = "\n    mutation MakeTask($t: String!) { createTask(input: {title: $t}) { id } }" as unknown as Document<
  { createTask: { id: string } },
  { t: string }
>;
const QUERY = "query Me { me { id } }" as unknown as Document<{ me: { id: string } }, Record<string, never>>;

type Answer = { status?: number; body?: unknown; network?: boolean; retryAfter?: string };

/** A fetch that answers from `answers` in turn and records the headers it was sent. */
function serve(answers: Answer[]) {
  const sent: Record<string, string>[] = [];
  const fetch = vi.fn(async (_url: string, init: { headers: Record<string, string> }) => {
    sent.push(init.headers);
    const answer = answers[sent.length - 1];
    if (answer.network) throw new TypeError("Failed to fetch");
    const headers = new Headers(answer.retryAfter ? { "retry-after": answer.retryAfter } : {});
    return new Response(JSON.stringify(answer.body), { status: answer.status ?? 200, headers });
  });
  vi.stubGlobal("fetch", fetch);
  return sent;
}

const waits: number[] = [];
const wait = async (ms: number) => {
  waits.push(ms);
};
const unavailable = (retryable: boolean) => ({
  errors: [{ message: "down", extensions: { code: "SERVICE_UNAVAILABLE", retryable } }],
});
const made = { data: { createTask: { id: "t1" } } };

describe("mutations carry an idempotency key and repeat only when that is safe", () => {
  beforeEach(() => {
    waits.length = 0;
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("sends a fresh key per mutation asked for, and none with a query", async () => {
    const sent = serve([{ body: made }, { body: made }, { body: { data: { me: { id: "u" } } } }]);
    await run(MUTATION, { t: "a" }, wait);
    await run(MUTATION, { t: "a" }, wait);
    await run(QUERY, {}, wait);
    const keys = sent.map((headers) => headers["idempotency-key"]);
    expect(keys[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(keys[1]).toMatch(/^[0-9a-f]{32}$/);
    expect(keys[0]).not.toBe(keys[1]);
    expect(keys[2]).toBeUndefined();
  });

  it("repeats a lost or retryable answer with the same key, then succeeds", async () => {
    const sent = serve([
      { network: true },
      { status: 503, body: unavailable(true), retryAfter: "2" },
      { body: made },
    ]);
    await expect(run(MUTATION, { t: "a" }, wait)).resolves.toEqual(made.data);
    const keys = new Set(sent.map((headers) => headers["idempotency-key"]));
    expect(sent).toHaveLength(3);
    expect(keys.size).toBe(1);
    expect(waits).toEqual([REPEAT_DELAYS_MS[0], 2000]); // Retry-After when longer
  });

  it("does not repeat what the server says may not be repeated, and gives up in time", async () => {
    serve([{ status: 502, body: unavailable(false) }]);
    await expect(run(MUTATION, { t: "a" }, wait)).rejects.toThrow("down");
    expect(waits).toEqual([]);
    const sent = serve([{ network: true }, { network: true }, { network: true }, { body: made }]);
    await expect(run(MUTATION, { t: "a" }, wait)).rejects.toThrow("Cannot reach the server");
    expect(sent).toHaveLength(1 + REPEAT_DELAYS_MS.length);
  });

  it("tells which errors are safe to repeat", () => {
    expect(repeatable([{ message: "x", code: "NETWORK" }])).toBe(true);
    expect(repeatable([{ message: "x", code: "IDEMPOTENCY_KEY_IN_USE", retryable: true }])).toBe(true);
    expect(repeatable([{ message: "x", code: "CONFLICT" }])).toBe(false);
    expect(repeatable([])).toBe(false);
    expect(newIdempotencyKey()).not.toBe(newIdempotencyKey());
  });
});
