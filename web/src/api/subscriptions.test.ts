import { describe, expect, it, vi } from "vitest";
import { LiveClient, PROTOCOL, type LiveStatus } from "./subscriptions";

// A WebSocket that records what the client sends and lets the test play the gateway.
class FakeSocket {
  static opened: FakeSocket[] = [];
  readyState = 0;
  sent: { type: string; id?: string; payload?: unknown }[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  closedWith: number | null = null;

  constructor(
    readonly url: string,
    readonly protocol: string,
  ) {
    FakeSocket.opened.push(this);
  }

  send(raw: string): void {
    this.sent.push(JSON.parse(raw));
  }

  close(code: number): void {
    this.closedWith = code;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }

  gateway(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  drop(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }

  subscribes(): { id: string; query: string }[] {
    return this.sent
      .filter((m) => m.type === "subscribe")
      .map((m) => ({ id: m.id!, query: (m.payload as { query: string }).query }));
  }
}

function client(token: () => string | null = () => "t0k3n") {
  FakeSocket.opened = [];
  const statuses: LiveStatus[] = [];
  const reconnected = vi.fn();
  const unauthenticated = vi.fn();
  const live = new LiveClient({
    url: "ws://gateway/graphql",
    token,
    onStatus: (s) => statuses.push(s),
    onReconnected: reconnected,
    onUnauthenticated: unauthenticated,
    WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
    backoff: () => 0,
  });
  return { live, statuses, reconnected, unauthenticated };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("the graphql-transport-ws client", () => {
  it("authenticates in connection_init, subscribes once acknowledged and delivers each result", () => {
    const { live, statuses } = client();
    const got: unknown[] = [];
    live.subscribe("subscription { dealChanged { dealId } }", {}, (data) => got.push(data));
    const socket = FakeSocket.opened[0];
    expect(socket.protocol).toBe(PROTOCOL);
    socket.open();
    expect(socket.sent).toEqual([{ type: "connection_init", payload: { authorization: "Bearer t0k3n" } }]);
    socket.gateway({ type: "connection_ack" });
    const [sub] = socket.subscribes();
    expect(sub.query).toContain("dealChanged");
    socket.gateway({ type: "next", id: sub.id, payload: { data: { dealChanged: { dealId: "d1" } } } });
    socket.gateway({ type: "ping" });
    expect(got).toEqual([{ dealChanged: { dealId: "d1" } }]);
    expect(socket.sent.at(-1)).toEqual({ type: "pong" });
    expect(statuses).toEqual(["connecting", "live"]);
  });

  it("shares one socket between subscriptions and completes one when asked", () => {
    const { live } = client();
    const endDeals = live.subscribe("subscription { dealChanged { dealId } }", {}, () => {});
    live.subscribe("subscription { taskChanged { taskId } }", {}, () => {});
    const socket = FakeSocket.opened[0];
    socket.open();
    socket.gateway({ type: "connection_ack" });
    expect(FakeSocket.opened).toHaveLength(1);
    const [deals] = socket.subscribes();
    endDeals();
    expect(socket.sent.at(-1)).toEqual({ id: deals.id, type: "complete" });
  });

  it("reconnects after a drop, subscribes again and says events were missed", async () => {
    const { live, statuses, reconnected } = client();
    live.subscribe("subscription { dealChanged { dealId } }", {}, () => {});
    const first = FakeSocket.opened[0];
    first.open();
    first.gateway({ type: "connection_ack" });
    first.drop(1012); // the gateway restarting
    await tick();
    const second = FakeSocket.opened[1];
    expect(second).toBeDefined();
    second.open();
    second.gateway({ type: "connection_ack" });
    expect(second.subscribes()).toHaveLength(1);
    expect(reconnected).toHaveBeenCalledTimes(1);
    expect(statuses).toEqual(["connecting", "live", "offline", "connecting", "live"]);
  });

  it("stops on a refused token once the session is gone, and never resubscribes a final error", async () => {
    let token: string | null = "t0k3n";
    const { live, unauthenticated } = client(() => token);
    live.subscribe("subscription { notificationReceived { id } }", {}, () => {});
    const socket = FakeSocket.opened[0];
    socket.open();
    socket.gateway({ type: "connection_ack" });
    const [sub] = socket.subscribes();
    socket.gateway({
      type: "error",
      id: sub.id,
      payload: [{ message: "Token expired.", extensions: { code: "UNAUTHENTICATED" } }],
    });
    token = null;
    socket.drop(4403);
    await tick();
    expect(unauthenticated).toHaveBeenCalledTimes(1);
    expect(FakeSocket.opened).toHaveLength(1);
  });

  it("asks again for a subscription the gateway completed (its subgraph could not resume)", async () => {
    const { live } = client();
    live.subscribe("subscription { taskChanged { taskId } }", {}, () => {});
    const socket = FakeSocket.opened[0];
    socket.open();
    socket.gateway({ type: "connection_ack" });
    const [sub] = socket.subscribes();
    socket.gateway({ type: "complete", id: sub.id });
    await tick();
    expect(socket.subscribes()).toHaveLength(2);
  });
});
