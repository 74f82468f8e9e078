// GraphQL subscriptions over one WebSocket to the gateway's /graphql, in the
// `graphql-transport-ws` protocol (the gateway's README, "Subscriptions"): the token goes in
// `connection_init`, every subscription of the tab shares the socket, and a dropped socket
// comes back by itself with a growing, jittered delay. While it is down nothing arrives, so
// the caller is told (`onStatus`) and refreshes what it shows once the socket is back.

export type LiveStatus = "connecting" | "live" | "offline";

export type LiveError = { message: string; code?: string };

type Subscription = {
  query: string;
  variables: Record<string, unknown>;
  onData: (data: unknown) => void;
  // Set while the gateway runs it; cleared when it ended (error, complete, socket closed).
  running: boolean;
  retries: number;
};

export type LiveClientOptions = {
  url: string;
  /** The bearer token to connect with now, or null when signed out (then no connection). */
  token: () => string | null;
  onStatus?: (status: LiveStatus) => void;
  /** The token was refused or expired (close 4403): the caller signs the user out. */
  onUnauthenticated?: () => void;
  /** Called when a socket is acknowledged again after a drop: events were missed. */
  onReconnected?: () => void;
  WebSocketImpl?: typeof WebSocket;
  /** Delay before the n-th reconnection attempt, in ms (tests make it 0). */
  backoff?: (attempt: number) => number;
};

export const PROTOCOL = "graphql-transport-ws";
// Codes after which retrying the same subscription cannot succeed.
const FINAL_CODES = new Set(["UNAUTHENTICATED", "FORBIDDEN", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"]);
const MAX_RESUBSCRIBES = 5;

export function defaultBackoff(attempt: number): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
  return base / 2 + Math.random() * (base / 2);
}

export function liveUrl(location: Location): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/graphql`;
}

export class LiveClient {
  private socket: WebSocket | null = null;
  private acknowledged = false;
  private everAcknowledged = false;
  private attempt = 0;
  private nextId = 1;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private readonly subscriptions = new Map<string, Subscription>();

  constructor(private readonly options: LiveClientOptions) {}

  /** Runs `query` until the returned function is called; `onData` gets each result's data. */
  subscribe(query: string, variables: Record<string, unknown>, onData: (data: unknown) => void): () => void {
    const id = String(this.nextId++);
    this.subscriptions.set(id, { query, variables, onData, running: false, retries: 0 });
    if (this.acknowledged) this.start(id);
    else this.connect();
    return () => {
      const sub = this.subscriptions.get(id);
      this.subscriptions.delete(id);
      if (sub?.running && this.acknowledged) this.send({ id, type: "complete" });
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.close(1000, "Normal Closure");
    this.socket = null;
    this.subscriptions.clear();
  }

  private connect(): void {
    if (this.closed || this.socket || this.timer) return;
    const token = this.options.token();
    if (!token) return;
    this.status("connecting");
    const Impl = this.options.WebSocketImpl ?? WebSocket;
    const socket = new Impl(this.options.url, PROTOCOL);
    this.socket = socket;
    socket.onopen = () => this.send({ type: "connection_init", payload: { authorization: `Bearer ${token}` } });
    socket.onmessage = (event: MessageEvent) => this.receive(String(event.data));
    socket.onclose = (event: CloseEvent) => this.dropped(socket, event.code);
  }

  private receive(raw: string): void {
    let message: { type?: string; id?: string; payload?: unknown };
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    const sub = message.id !== undefined ? this.subscriptions.get(message.id) : undefined;
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.attempt = 0;
        this.status("live");
        for (const id of this.subscriptions.keys()) this.start(id);
        if (this.everAcknowledged) this.options.onReconnected?.();
        this.everAcknowledged = true;
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next": {
        const data = (message.payload as { data?: unknown } | undefined)?.data;
        if (sub && data) {
          sub.retries = 0;
          sub.onData(data);
        }
        break;
      }
      case "error":
        if (sub) this.ended(message.id!, sub, errorsOf(message.payload));
        break;
      case "complete":
        // The gateway ended it (its subgraph could not be resumed): ask again shortly.
        if (sub) this.ended(message.id!, sub, []);
        break;
    }
  }

  private start(id: string): void {
    const sub = this.subscriptions.get(id);
    if (!sub || sub.running) return;
    sub.running = true;
    this.send({ id, type: "subscribe", payload: { query: sub.query, variables: sub.variables } });
  }

  private ended(id: string, sub: Subscription, errors: LiveError[]): void {
    sub.running = false;
    if (errors.some((e) => e.code && FINAL_CODES.has(e.code)) || sub.retries >= MAX_RESUBSCRIBES) {
      this.subscriptions.delete(id);
      return;
    }
    const delay = this.backoff(sub.retries++);
    setTimeout(() => {
      if (this.subscriptions.get(id) === sub && this.acknowledged) this.start(id);
    }, delay);
  }

  private dropped(socket: WebSocket, code: number): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.acknowledged = false;
    for (const sub of this.subscriptions.values()) sub.running = false;
    if (this.closed) return;
    this.status("offline");
    if (code === 4403) {
      // Refused or expired token: no point retrying with it.
      this.options.onUnauthenticated?.();
      if (!this.options.token()) return;
    }
    if (code === 4406 || code === 4400) return; // this client is wrong: retrying repeats it
    const delay = this.backoff(this.attempt++);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.subscriptions.size) this.connect();
    }, delay);
  }

  private backoff(attempt: number): number {
    return (this.options.backoff ?? defaultBackoff)(attempt);
  }

  private send(message: object): void {
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(message));
  }

  private status(status: LiveStatus): void {
    this.options.onStatus?.(status);
  }
}

function errorsOf(payload: unknown): LiveError[] {
  if (!Array.isArray(payload)) return [];
  return payload.map((e: { message?: string; extensions?: { code?: string } }) => ({
    message: String(e?.message ?? ""),
    code: e?.extensions?.code,
  }));
}
