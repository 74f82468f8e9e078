// Invalidation signals: a screen's queries name the topics they read, and re-fetch when one
// of them is invalidated. Today the signals are a local mutation and the window regaining
// focus; once the gateway offers subscriptions (issue 13) a subscription calls
// `invalidate(topic)` on each event and nothing else changes.

export type Topic = "deals" | "tasks" | "contacts" | "pipelines" | "teams" | "analytics";

const ALL: Topic[] = ["deals", "tasks", "contacts", "pipelines", "teams", "analytics"];
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

// Focus and visibility fire together when a tab comes back: one refresh for both.
let lastFocusRefresh = 0;
function refreshOnReturn(): void {
  if (document.visibilityState !== "visible") return;
  const now = Date.now();
  if (now - lastFocusRefresh < 1000) return;
  lastFocusRefresh = now;
  invalidate(...ALL);
}

if (typeof window !== "undefined") {
  window.addEventListener("focus", refreshOnReturn);
  document.addEventListener("visibilitychange", refreshOnReturn);
}
