import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
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

  it("ends a window on time even when the event loop was too busy to drop it", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const counter = createWindowCounter({ name: "test", windowSeconds: 60 });
    await counter.add("k", 5);
    // The clock moves past the window's end without any timer running (a busy event loop).
    vi.setSystemTime(1_000_000 + 60_000);
    expect(await counter.get("k")).toEqual({ count: 0, resetMs: 60_000 });
    expect(await counter.add("k", 1)).toEqual({ count: 1, resetMs: 60_000 });
  });

  it("keeps separate counts per counter name and per key", async () => {
    const requests = createWindowCounter({ name: "rpm", windowSeconds: 60 });
    const tokens = createWindowCounter({ name: "tpm", windowSeconds: 60 });
    await requests.add("key:a", 1);
    await tokens.add("key:a", 500);
    await requests.add("key:b", 2);
    expect((await requests.get("key:a")).count).toBe(1);
    expect((await tokens.get("key:a")).count).toBe(500);
    expect((await requests.get("key:b")).count).toBe(2);
  });
});

describe.each([
  { name: "memory", redisUrl: undefined },
  ...(process.env.TEST_REDIS_URL ? [{ name: "Redis", redisUrl: process.env.TEST_REDIS_URL }] : []),
])("the window counter in $name", ({ redisUrl }) => {
  const clients: Redis[] = [];
  afterAll(async () => {
    for (const client of clients.splice(0)) await client.quit();
  });
  const counter = () => {
    if (redisUrl === undefined) return createWindowCounter({ name: "test", windowSeconds: 60 });
    const client = new Redis(redisUrl);
    clients.push(client);
    return createWindowCounter({ name: "test", windowSeconds: 60, redis: client });
  };

  it("never refuses by itself: callers compare the count with their own limit", async () => {
    const key = `unbounded-${crypto.randomUUID()}`;
    const windows = counter();
    let last = { count: 0, resetMs: 0 };
    for (let index = 0; index < 50; index++) last = await windows.add(key, 1_000_000);
    expect(last.count).toBe(50_000_000);
    expect(last.resetMs).toBeGreaterThan(0);
    expect(last.resetMs).toBeLessThanOrEqual(60_000);
  });

  it("adds, takes back and forgets points", async () => {
    const key = `points-${crypto.randomUUID()}`;
    const windows = counter();
    expect(await windows.get(key)).toEqual({ count: 0, resetMs: 60_000 });
    expect((await windows.add(key, 3)).count).toBe(3);
    await windows.remove(key, 2);
    expect((await windows.get(key)).count).toBe(1);
    await windows.clear(key);
    expect(await windows.get(key)).toEqual({ count: 0, resetMs: 60_000 });
  });
});
