import type { Context, MiddlewareHandler } from "hono";
import { clientAddress } from "../auth/index.ts";
import type { Principal } from "../core/principal.ts";
import { refusedRecord } from "../metering/observe-chat-service.ts";
import type { RequestRecorder } from "../metering/request-recorder.ts";
import type { ServerEnv } from "./server-env.ts";

/** The refusals recorded here, by status: a missing or bad credential, a scope or role, a limit or budget. */
const refusalCodes: Readonly<Record<number, string>> = {
  401: "unauthorized",
  403: "forbidden",
  429: "rate_limited",
};

/**
 * Records every 401, 403 and 429 answer of a protected path (`/v1`, `/api`, `/admin`, `/app/api`,
 * `/metrics`) as a usage row and audit record with status `blocked`, committed before the error
 * response leaves: the auth middleware's refusals (credential, endpoint or policy scope, CSRF,
 * requests/min, tokens/min, concurrency), a hard budget's 429 and an admin route's role check.
 * Mount it outside the auth middleware. A refusal that the chat pipeline recorded itself (a
 * policy block, with its detector counts) is not recorded twice: the recorder tells this
 * middleware which requests it wrote.
 *
 * The record names no model (a refused request's model name is client text) and, for a 401, no
 * principal: who was refused is unknown until a credential is accepted.
 *
 * Refusals of requests without an accepted credential cost the caller nothing, so one client could
 * otherwise fill the database with them: per client address, at most `anonymousPerMinute` of them
 * are recorded in a minute. The rest are counted, and the count is logged (once a minute per
 * address, without the address) and reported through `onUnrecorded`, so that the gap is visible.
 */
export interface RefusalRecordingOptions {
  /** Records of refusals without a principal per client address and minute (default 60). */
  anonymousPerMinute?: number;
  /** The client's address (default: the socket's peer). */
  clientAddress?: (c: Context<ServerEnv>) => string;
  /** Told how many refusals an address had beyond the cap when its minute ends (metrics, tests). */
  onUnrecorded?: (count: number) => void;
  /** Where the count of unrecorded refusals is logged (the server's logger, not one request's). */
  logger?: Pick<ServerEnv["Variables"]["logger"], "warn">;
  /** For tests. */
  now?: () => number;
}

/** Addresses tracked at once; beyond it the oldest windows are dropped (a flood of spoofed sources). */
const maxTrackedAddresses = 10_000;

/** A fixed one-minute window per address: how many were recorded and how many were not. */
function anonymousCap(options: RefusalRecordingOptions, warn: (count: number) => void) {
  const limit = options.anonymousPerMinute ?? 60;
  const now = options.now ?? Date.now;
  const windows = new Map<string, { start: number; recorded: number; skipped: number }>();
  const close = (window: { skipped: number }) => {
    if (window.skipped > 0) warn(window.skipped);
  };
  return {
    /** Whether this refusal from `address` may be recorded now. */
    admit(address: string): boolean {
      const at = now();
      let window = windows.get(address);
      if (window !== undefined && at - window.start >= 60_000) {
        close(window);
        windows.delete(address);
        window = undefined;
      }
      if (window === undefined) {
        if (windows.size >= maxTrackedAddresses) {
          for (const [key, old] of windows) {
            if (windows.size < maxTrackedAddresses / 2) break;
            close(old);
            windows.delete(key);
          }
        }
        window = { start: at, recorded: 0, skipped: 0 };
        windows.set(address, window);
      }
      if (window.recorded < limit) {
        window.recorded++;
        return true;
      }
      window.skipped++;
      return false;
    },
  };
}

export function recordRefusals(
  recorder: RequestRecorder,
  options: RefusalRecordingOptions = {},
): MiddlewareHandler<ServerEnv> {
  const logger = options.logger;
  const cap = anonymousCap(options, (count) => {
    options.onUnrecorded?.(count);
    logger?.warn(
      { unrecorded: count },
      `${count} refusals of requests without a valid credential from one client address were not recorded (over ${options.anonymousPerMinute ?? 60} a minute)`,
    );
  });
  const addressOf = options.clientAddress ?? ((c: Context<ServerEnv>) => clientAddress(c, false));
  // Requests in flight here, by request id (clients choose it, so several may share one), and the
  // principals of the records the pipeline wrote for each.
  const inFlight = new Map<string, Array<{ recorded: Array<Principal | undefined> }>>();
  recorder.addObserver({
    onCompleted(record) {
      for (const state of inFlight.get(record.requestId) ?? []) state.recorded.push(record.principal);
    },
  });
  return async (c, next) => {
    const startedAt = new Date();
    const t0 = performance.now();
    const requestId = c.get("requestId");
    const state = { recorded: [] as Array<Principal | undefined> };
    const sharing = inFlight.get(requestId);
    if (sharing === undefined) inFlight.set(requestId, [state]);
    else sharing.push(state);
    try {
      await next();
      const code = refusalCodes[c.res.status];
      if (code === undefined) return;
      const principal = c.get("principal");
      // The pipeline's own record of this request (a policy block) carries this request's principal.
      if (state.recorded.some((recorded) => recorded === principal)) return;
      if (principal === undefined && !cap.admit(addressOf(c))) return;
      const record = refusedRecord(
        "none",
        { requestId, endpoint: c.req.path, ...(principal === undefined ? {} : { principal }) },
        startedAt,
        performance.now() - t0,
        "blocked",
        code,
      );
      try {
        await recorder.record(record);
      } catch (error) {
        // The refusal still goes out: withholding it would tell the client nothing more.
        c.get("logger")?.error({ err: error }, "could not record a refusal");
      }
    } finally {
      const list = inFlight.get(requestId);
      if (list !== undefined) {
        const left = list.filter((entry) => entry !== state);
        if (left.length === 0) inFlight.delete(requestId);
        else inFlight.set(requestId, left);
      }
    }
  };
}
