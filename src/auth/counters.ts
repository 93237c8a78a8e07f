import type { Redis } from "ioredis";
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  type RateLimiterRes,
} from "rate-limiter-flexible";

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
 * A window counter built on rate-limiter-flexible: `RateLimiterRedis` when a Redis client is given
 * (atomic INCRBY + TTL in one Lua script), `RateLimiterMemory` otherwise. A key's window starts
 * with its first points and ends `windowSeconds` later.
 */
export function createWindowCounter(options: {
  name: string;
  windowSeconds: number;
  redis?: Redis;
}): WindowCounter {
  const settings = {
    keyPrefix: `bastion:${options.name}`,
    points: unbounded,
    duration: options.windowSeconds,
  };
  const inMemory = options.redis === undefined;
  const limiter: RateLimiterAbstract =
    options.redis === undefined
      ? new RateLimiterMemory(settings)
      : new RateLimiterRedis({ ...settings, storeClient: options.redis, useRedisPackage: false });
  const windowMs = options.windowSeconds * 1000;
  const read = (result: RateLimiterRes | null) =>
    // In memory, an ended window is dropped by a timer, which a busy event loop may run late;
    // until then `get` still finds it, with no time left. (Adding to it starts a new window.)
    result === null || (inMemory && result.msBeforeNext <= 0)
      ? { count: 0, resetMs: windowMs }
      : { count: result.consumedPoints, resetMs: result.msBeforeNext };
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

/** OpenAI's reset format: `20ms`, `1s`, `6m0s`. */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}
