import type { Redis } from "ioredis";
import type { LimitSettings } from "../config/auth-config.ts";
import { BastionError } from "../core/errors.ts";
import { createWindowCounter, formatReset, type WindowCounter } from "./counters.ts";

/** The limits that apply to one request: its key's and its tenant's (config defaults already merged). */
export interface LimitScopes {
  keyId?: string;
  tenantId: string;
  key: LimitSettings;
  tenant: LimitSettings;
}

/** A request let in: headers for the response, and `release` for its concurrency slot. */
export interface RateAdmission {
  headers: Record<string, string>;
  /** Whether a concurrency slot is held (so `release` must wait for the end of the answer). */
  holdsSlot: boolean;
  /**
   * Gives the slot back (idempotent: later calls return the first call's promise). Resolves once
   * the counters (Redis included) have it back, so that an answer ended after it lets the client
   * send its next request at once; a counter that cannot be reached keeps the slot until its lease
   * window ends, and the promise still resolves.
   */
  release(): Promise<void>;
}

export interface RateLimits {
  /** Counts the request against requests/min and concurrency, and checks tokens/min; throws 429 when over. */
  admit(scopes: LimitScopes): Promise<RateAdmission>;
  /** Adds a finished request's tokens to tokens/min (tokens are known only on completion). */
  recordTokens(scopes: LimitScopes, tokens: number): Promise<void>;
}

interface Scope {
  id: string;
  label: string;
  limits: LimitSettings;
}

const scopesOf = (scopes: Pick<LimitScopes, "keyId" | "tenantId"> & Partial<LimitScopes>): Scope[] => [
  ...(scopes.keyId === undefined
    ? []
    : [{ id: `key:${scopes.keyId}`, label: "this API key", limits: scopes.key ?? {} }]),
  { id: `tenant:${scopes.tenantId}`, label: `tenant '${scopes.tenantId}'`, limits: scopes.tenant ?? {} },
];

/** Thrown when a limit is reached; carries the `x-ratelimit-*` headers the refusal should still send. */
export class RateLimitError extends BastionError {
  readonly headers: Record<string, string>;
  constructor(message: string, retryAfterSeconds: number, headers: Record<string, string>) {
    super("rate_limited", message, { retryAfterSeconds });
    this.headers = headers;
  }
}

/**
 * Requests per minute, tokens per minute and concurrent requests, per key and per tenant, on
 * rate-limiter-flexible counters (memory, or Redis so that several instances share them).
 */
export function createRateLimits(
  options: { redis?: Redis; concurrencyLeaseSeconds?: number } = {},
): RateLimits {
  const redis = options.redis === undefined ? {} : { redis: options.redis };
  const requests: WindowCounter = createWindowCounter({ name: "rpm", windowSeconds: 60, ...redis });
  const tokens: WindowCounter = createWindowCounter({ name: "tpm", windowSeconds: 60, ...redis });
  // A slot held by a crashed instance is freed when this window ends.
  const running: WindowCounter = createWindowCounter({
    name: "concurrency",
    windowSeconds: options.concurrencyLeaseSeconds ?? 900,
    ...redis,
  });

  return {
    async admit(input) {
      const scopes = scopesOf(input);
      const headers: Record<string, string> = {};
      // The tightest scope speaks in the headers: the key's limit when it has one, else the tenant's.
      const headerScope = (kind: "rpm" | "tpm") => scopes.find((scope) => scope.limits[kind] !== undefined);

      for (const scope of scopes) {
        const limit = scope.limits.rpm;
        if (limit === undefined) continue;
        const { count, resetMs } = await requests.add(scope.id, 1);
        if (scope === headerScope("rpm")) {
          headers["x-ratelimit-limit-requests"] = String(limit);
          headers["x-ratelimit-remaining-requests"] = String(Math.max(0, limit - count));
          headers["x-ratelimit-reset-requests"] = formatReset(resetMs);
        }
        if (count > limit) {
          throw new RateLimitError(
            `Rate limit reached for requests: ${scope.label} allows ${limit} ${limit === 1 ? "request" : "requests"} per minute. Retry in ${formatReset(resetMs)}.`,
            resetMs / 1000,
            headers,
          );
        }
      }
      for (const scope of scopes) {
        const limit = scope.limits.tpm;
        if (limit === undefined) continue;
        const { count, resetMs } = await tokens.get(scope.id);
        if (scope === headerScope("tpm")) {
          headers["x-ratelimit-limit-tokens"] = String(limit);
          headers["x-ratelimit-remaining-tokens"] = String(Math.max(0, limit - count));
          headers["x-ratelimit-reset-tokens"] = formatReset(resetMs);
        }
        if (count >= limit) {
          throw new RateLimitError(
            `Rate limit reached for tokens: ${scope.label} allows ${limit} ${limit === 1 ? "token" : "tokens"} per minute and has used ${count}. Retry in ${formatReset(resetMs)}.`,
            resetMs / 1000,
            headers,
          );
        }
      }
      const held: Array<{ id: string; windowEnd: number }> = [];
      let released: Promise<void> | undefined;
      const release = () => {
        if (released !== undefined) return released;
        const now = Date.now();
        const removals: Array<Promise<void>> = [];
        for (const slot of held.splice(0)) {
          // After the lease window ended the counter restarted from zero: giving back would go negative.
          if (now < slot.windowEnd) removals.push(running.remove(slot.id, 1).catch(() => {}));
        }
        released = removals.length === 0 ? Promise.resolve() : Promise.all(removals).then(() => {});
        return released;
      };
      try {
        for (const scope of scopes) {
          const limit = scope.limits.concurrency;
          if (limit === undefined) continue;
          const { count, resetMs } = await running.add(scope.id, 1);
          held.push({ id: scope.id, windowEnd: Date.now() + resetMs });
          if (count > limit) {
            throw new RateLimitError(
              `Too many concurrent requests: ${scope.label} allows ${limit} at a time. Retry when one has finished.`,
              1,
              headers,
            );
          }
        }
      } catch (error) {
        // The refusal is written only once its own count is taken back: a client retrying after it
        // must not find the slot it was refused still counted.
        await release();
        throw error;
      }
      return { headers, holdsSlot: held.length > 0, release };
    },

    async recordTokens(input, count) {
      if (count <= 0) return;
      for (const scope of scopesOf(input)) {
        if (scope.limits.tpm !== undefined) await tokens.add(scope.id, count);
      }
    },
  };
}
