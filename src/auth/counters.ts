import type { Redis } from "ioredis";
import { type RateLimiterAbstract, RateLimiterRedis, type RateLimiterRes } from "rate-limiter-flexible";

/** A count per key over a fixed window, in process memory or in Redis (shared by every instance). */
export interface WindowCounter {
  /** Adds `points` and returns the count and the time to the window's end. */
  add(key: string, points: number): Promise<{ count: number; resetMs: number }>;
  /** The current count (0 when the window has ended). */
  get(key: string): Promise<{ count: number; resetMs: number }>;
  /** Takes `points` back within the current window. */
  remove(key: string, points: number): Promise<void>;
  /** Forgets the key. */
  clear(key: string): Promise<void>;
}

// rate-limiter-flexible refuses above `points`; Bastion's limits differ per key, so the counter
// never refuses by itself and callers compare the count with the key's own limit.
const unbounded = 2 ** 40;

/**
 * A window counter: rate-limiter-flexible's `RateLimiterRedis` when a Redis client is given (atomic
 * INCRBY + TTL in one Lua script), else a map in this process with the same fixed windows as
 * `RateLimiterMemory` (a key's window starts with its first points and ends `windowSeconds` later).
 */
export function createWindowCounter(options: {
  name: string;
  windowSeconds: number;
  redis?: Redis;
}): WindowCounter {
  if (options.redis === undefined) return memoryWindowCounter(options.windowSeconds);
  const settings = {
    keyPrefix: `bastion:${options.name}`,
    points: unbounded,
    duration: options.windowSeconds,
  };
  const limiter: RateLimiterAbstract = new RateLimiterRedis({
    ...settings,
    storeClient: options.redis,
    useRedisPackage: false,
  });
  const read = (result: RateLimiterRes | null) => ({
    count: result?.consumedPoints ?? 0,
    resetMs: result?.msBeforeNext ?? options.windowSeconds * 1000,
  });
  return {
    add: async (key, points) => read(await limiter.penalty(key, points)),
    get: async (key) => read(await limiter.get(key)),
    remove: async (key, points) => {
      await limiter.reward(key, points);
    },
    clear: async (key) => {
      await limiter.delete(key);
    },
  };
}

/**
 * The in-process counter: one map entry per key, no timer, no promise chain of its own (it runs on
 * every request, several times). Ended windows are dropped when next touched, and swept at most
 * once per window length.
 */
function memoryWindowCounter(windowSeconds: number): WindowCounter {
  const windowMs = windowSeconds * 1000;
  const entries = new Map<string, { count: number; end: number }>();
  let nextSweep = Date.now() + windowMs;
  const live = (key: string, now: number) => {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (now < entry.end) return entry;
    entries.delete(key);
    return undefined;
  };
  const add = (key: string, points: number) => {
    const now = Date.now();
    if (now >= nextSweep) {
      nextSweep = now + windowMs;
      for (const [name, entry] of entries) if (now >= entry.end) entries.delete(name);
    }
    let entry = live(key, now);
    if (entry === undefined) {
      entry = { count: 0, end: now + windowMs };
      entries.set(key, entry);
    }
    entry.count += points;
    return { count: entry.count, resetMs: entry.end - now };
  };
  return {
    add: async (key, points) => add(key, points),
    get: async (key) => {
      const now = Date.now();
      const entry = live(key, now);
      return entry === undefined
        ? { count: 0, resetMs: windowMs }
        : { count: entry.count, resetMs: entry.end - now };
    },
    remove: async (key, points) => {
      add(key, -points);
    },
    clear: async (key) => {
      entries.delete(key);
    },
  };
}

/** OpenAI's reset format: `20ms`, `1s`, `6m0s`. */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}
