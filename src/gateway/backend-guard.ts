import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  IsolatedCircuitError,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from "cockatiel";
import { BastionError, isBastionError } from "../core/errors.ts";

export interface BackendGuardOptions {
  id: string;
  /** Attempts on one backend (the first included) for retryable errors before the first part. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Consecutive failures that open the circuit. */
  breakerFailures: number;
  /** How long the circuit stays open before a probe may close it. */
  breakerOpenMs: number;
  /** Time allowed until the first part. */
  firstByteMs: number;
  /** Health check; run through the breaker so that its result opens or closes the circuit. */
  probe: (signal: AbortSignal) => Promise<void>;
  /** Probe a closed circuit this often too (0: only probe an open one). */
  healthIntervalMs: number;
  onStateChange?: (state: BackendHealth["state"]) => void;
}

export interface BackendHealth {
  state: "closed" | "open" | "half-open";
  /** False while the circuit is open. */
  healthy: boolean;
  /** The last failure's message (upstream text, never request content), if any. */
  lastError?: string;
  lastCheckedAt?: string;
}

/** Per-backend resilience: retry with backoff, timeout to the first part, circuit breaker with probing. */
export interface BackendGuard {
  /**
   * Runs `open` (start a stream and await its first part) under retry, breaker and timeout. The
   * signal `open` receives is aborted when the attempt times out; the caller links it to the rest.
   * With `complete`, each attempt goes on to `complete(opened)` (read the rest of the answer) inside
   * the same retry and breaker but past the first-part timeout: a failure there is retried and
   * counted like one before the first part (for an answer nobody has seen yet).
   */
  execute<T, R = T>(
    open: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal,
    complete?: (opened: T) => Promise<R>,
  ): Promise<R>;
  /** Counts a failure that happened after the first part (mid-stream), which no retry covers. */
  recordFailure(error: unknown): void;
  health(): BackendHealth;
  dispose(): void;
}

/** Failures that say the backend is unwell; a refused request or a client cancel says nothing. */
export function isBackendFailure(error: unknown): boolean {
  if (error instanceof TaskCancelledError) return true;
  if (!isBastionError(error)) return false;
  return error.code === "upstream_error" || error.code === "not_ready" || error.code === "internal_error";
}

function isRetryable(error: unknown): boolean {
  if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError) return false;
  if (error instanceof TaskCancelledError) return true;
  return isBastionError(error) && error.isRetryable && error.code !== "cancelled";
}

/** cockatiel's errors, in Bastion's vocabulary, so the gateway and the client see one kind. */
export function toGuardError(id: string, error: unknown, firstByteMs: number): unknown {
  if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError) {
    return new BastionError(
      "upstream_error",
      `Backend '${id}' is unavailable (circuit open after repeated failures).`,
      {
        isRetryable: true,
        cause: error,
      },
    );
  }
  if (error instanceof TaskCancelledError) {
    return new BastionError("upstream_error", `Backend '${id}': no answer within ${firstByteMs} ms.`, {
      isRetryable: true,
      cause: error,
    });
  }
  return error;
}

const stateNames: Record<CircuitState, BackendHealth["state"]> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Isolated]: "open",
};

export function createBackendGuard(options: BackendGuardOptions): BackendGuard {
  const breaker = circuitBreaker(handleWhen(isBackendFailure), {
    halfOpenAfter: options.breakerOpenMs,
    breaker: new ConsecutiveBreaker(options.breakerFailures),
  });
  const retries = retry(handleWhen(isRetryable), {
    maxAttempts: options.maxAttempts - 1,
    backoff: new ExponentialBackoff({
      initialDelay: options.initialBackoffMs,
      maxDelay: options.maxBackoffMs,
    }),
  });
  // Aggressive: the caller gets the timeout at once even if the upstream ignores the abort;
  // abortOnReturn false: the stream that opened in time keeps running after `execute` returns.
  const firstByte = timeout(options.firstByteMs, {
    strategy: TimeoutStrategy.Aggressive,
    abortOnReturn: false,
  });
  // Retry around the breaker around the first-part timeout: the breaker counts each attempt (a
  // timeout included); a retryable error is tried again after a backoff while attempts are left.
  // The timeout runs inside the attempt rather than in `wrap`, so that an attempt may go on past
  // its first part (see `complete`) under the retry and breaker alone.
  const policy = wrap(retries, breaker);

  let lastError: string | undefined;
  let lastCheckedAt: string | undefined;
  let probeTimer: NodeJS.Timeout | undefined;
  let disposed = false;
  const probeController = new AbortController();

  // What the admin API shows: the failure's kind, not the upstream's own words after it, which
  // may quote the request (and so personal data).
  const message = (error: unknown) =>
    (error instanceof Error ? error.message : String(error))
      .replace(/(HTTP \d+|error inside the stream|error event):.*$/s, "$1")
      .slice(0, 300);

  breaker.onFailure(({ reason }) => {
    if ("error" in reason) lastError = message(toGuardError(options.id, reason.error, options.firstByteMs));
  });
  breaker.onStateChange((state) => options.onStateChange?.(stateNames[state]));

  /** One health probe through the breaker: in half-open state its success closes the circuit. */
  async function probeOnce(): Promise<void> {
    try {
      await breaker.execute(() =>
        options.probe(AbortSignal.any([probeController.signal, AbortSignal.timeout(10_000)])),
      );
    } catch {
      // The breaker has counted it; lastError holds the reason.
    } finally {
      lastCheckedAt = new Date().toISOString();
    }
  }

  function schedule(ms: number): void {
    if (disposed) return;
    clearTimeout(probeTimer);
    probeTimer = setTimeout(() => {
      void probeOnce().finally(() => {
        const open = breaker.state === CircuitState.Open || breaker.state === CircuitState.HalfOpen;
        if (open) schedule(options.breakerOpenMs);
        else if (options.healthIntervalMs > 0) schedule(options.healthIntervalMs);
      });
    }, ms);
    probeTimer.unref();
  }

  // An open circuit is probed once its wait is over, so it comes back without client traffic.
  breaker.onBreak(() => schedule(options.breakerOpenMs + 10));
  if (options.healthIntervalMs > 0) schedule(options.healthIntervalMs);

  return {
    async execute<T, R>(
      open: (signal: AbortSignal) => Promise<T>,
      signal: AbortSignal,
      complete?: (opened: T) => Promise<R>,
    ): Promise<R> {
      try {
        return await policy.execute(async ({ signal: attemptSignal }) => {
          const opened = await firstByte.execute(
            ({ signal: firstSignal }) => open(firstSignal),
            attemptSignal,
          );
          return complete === undefined ? (opened as unknown as R) : complete(opened);
        }, signal);
      } catch (error) {
        throw toGuardError(options.id, error, options.firstByteMs);
      }
    },
    recordFailure(error) {
      if (!isBackendFailure(error)) return;
      // Feeding the failure through the breaker is how cockatiel counts it.
      void breaker
        .execute(() => {
          throw error;
        })
        .catch(() => {});
    },
    health() {
      const state = stateNames[breaker.state];
      return {
        state,
        healthy: state !== "open",
        ...(lastError === undefined ? {} : { lastError }),
        ...(lastCheckedAt === undefined ? {} : { lastCheckedAt }),
      };
    },
    dispose() {
      disposed = true;
      clearTimeout(probeTimer);
      probeController.abort();
    },
  };
}
