// @vitest-environment jsdom
import { describe, expect, it, vi } from "vitest";
import { invalidate, onInvalidate } from "./live";

describe("invalidation signals", () => {
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

  it("refresh every topic when the window regains focus", () => {
    const listener = vi.fn();
    const off = onInvalidate(["tasks"], listener);
    window.dispatchEvent(new Event("focus"));
    expect(listener).toHaveBeenCalledTimes(1);
    off();
  });
});
