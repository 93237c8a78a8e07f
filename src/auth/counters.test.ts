import { afterEach, describe, expect, it, vi } from "vitest";
import { createWindowCounter } from "./counters.ts";

afterEach(() => {
  vi.useRealTimers();
});

describe("the in-process window counter", () => {
  it("counts within a window that starts with a key's first points, and starts again after it", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const counter = createWindowCounter({ name: "test", windowSeconds: 60 });
    expect(await counter.get("k")).toEqual({ count: 0, resetMs: 60_000 });
    expect(await counter.add("k", 2)).toEqual({ count: 2, resetMs: 60_000 });
    vi.advanceTimersByTime(20_000);
    expect(await counter.add("k", 1)).toEqual({ count: 3, resetMs: 40_000 });
    await counter.remove("k", 1);
    expect(await counter.get("k")).toEqual({ count: 2, resetMs: 40_000 });
    expect(await counter.get("other")).toEqual({ count: 0, resetMs: 60_000 });
    vi.advanceTimersByTime(40_000);
    expect(await counter.get("k")).toEqual({ count: 0, resetMs: 60_000 });
    expect(await counter.add("k", 1)).toEqual({ count: 1, resetMs: 60_000 });
    await counter.clear("k");
    expect(await counter.get("k")).toEqual({ count: 0, resetMs: 60_000 });
  });
});
