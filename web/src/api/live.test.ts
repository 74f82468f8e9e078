// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from "vitest";
import { COALESCE_MS, invalidate, invalidateSoon, onInvalidate, setLiveConnected } from "./live";

describe("invalidation signals", () => {
  afterEach(() => {
    setLiveConnected(false);
    vi.useRealTimers();
  });

  it("call each listener of the invalidated topics once, and stop after unsubscribe", () => {
    const deals = vi.fn();
    const both = vi.fn();
    const offDeals = onInvalidate(["deals"], deals);
    const offBoth = onInvalidate(["deals", "tasks"], both);
    invalidate("deals", "tasks");
    expect(deals).toHaveBeenCalledTimes(1);
    expect(both).toHaveBeenCalledTimes(1);
    invalidate("contacts");
    expect(deals).toHaveBeenCalledTimes(1);
    offDeals();
    offBoth();
    invalidate("deals");
    expect(deals).toHaveBeenCalledTimes(1);
    expect(both).toHaveBeenCalledTimes(1);
  });

  it("refresh every topic when the window regains focus while live updates are down", () => {
    const listener = vi.fn();
    const off = onInvalidate(["tasks"], listener);
    setLiveConnected(true);
    window.dispatchEvent(new Event("focus"));
    expect(listener).toHaveBeenCalledTimes(0);
    setLiveConnected(false);
    window.dispatchEvent(new Event("focus"));
    expect(listener).toHaveBeenCalledTimes(1);
    off();
  });

  it("coalesce a burst of live events into one refresh per listener", () => {
    vi.useFakeTimers();
    const listener = vi.fn();
    const off = onInvalidate(["deals", "analytics"], listener);
    invalidateSoon("deals", "analytics");
    invalidateSoon("deals");
    expect(listener).toHaveBeenCalledTimes(0);
    vi.advanceTimersByTime(COALESCE_MS);
    expect(listener).toHaveBeenCalledTimes(1);
    off();
  });
});
