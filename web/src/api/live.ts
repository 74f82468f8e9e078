// Invalidation signals: a screen's queries name the topics they read, and re-fetch when one
// of them is invalidated: by the user's own mutations, and by the gateway's subscriptions
// (`liveUpdates.ts`: each event of a colleague's change invalidates its topics). While the
// live connection is down, coming back to the window refreshes everything instead.

export type Topic = "deals" | "tasks" | "contacts" | "pipelines" | "teams" | "analytics" | "imports";

export const ALL_TOPICS: Topic[] = ["deals", "tasks", "contacts", "pipelines", "teams", "analytics", "imports"];
const listeners = new Map<Topic, Set<() => void>>();

export function invalidate(...topics: Topic[]): void {
  const called = new Set<() => void>();
  for (const topic of topics) {
    for (const listener of listeners.get(topic) ?? []) {
      if (!called.has(listener)) {
        called.add(listener);
        listener();
      }
    }
  }
}

export function onInvalidate(topics: readonly Topic[], listener: () => void): () => void {
  for (const topic of topics) {
    let set = listeners.get(topic);
    if (!set) listeners.set(topic, (set = new Set()));
    set.add(listener);
  }
  return () => topics.forEach((topic) => listeners.get(topic)?.delete(listener));
}

// Events come in bursts (an import, a playbook creating tasks after a move): topics
// invalidated within this window re-fetch once, at its end.
export const COALESCE_MS = 250;
const pending = new Set<Topic>();
let flushTimer: ReturnType<typeof setTimeout> | null = null;

/** Invalidate soon, once for every call within COALESCE_MS (for live events). */
export function invalidateSoon(...topics: Topic[]): void {
  topics.forEach((topic) => pending.add(topic));
  if (flushTimer) return;
  flushTimer = setTimeout(() => {
    flushTimer = null;
    const due = [...pending];
    pending.clear();
    invalidate(...due);
  }, COALESCE_MS);
}

// Whether the subscriptions are running: then they keep the screens current and focus
// changes nothing; otherwise focus is the signal that what is shown may be stale.
let liveConnected = false;
export function setLiveConnected(connected: boolean): void {
  liveConnected = connected;
}

// Focus and visibility fire together when a tab comes back: one refresh for both.
let lastFocusRefresh = 0;
function refreshOnReturn(): void {
  if (liveConnected || document.visibilityState !== "visible") return;
  const now = Date.now();
  if (now - lastFocusRefresh < 1000) return;
  lastFocusRefresh = now;
  invalidate(...ALL_TOPICS);
}

if (typeof window !== "undefined") {
  window.addEventListener("focus", refreshOnReturn);
  document.addEventListener("visibilitychange", refreshOnReturn);
}
