import { describe, expect, it } from "vitest";
import { BastionError } from "../core/errors.ts";
import { createBackendGuard } from "./backend-guard.ts";

function guard(overrides: { maxAttempts?: number; firstByteMs?: number; breakerFailures?: number } = {}) {
  return createBackendGuard({
    id: "up",
    maxAttempts: overrides.maxAttempts ?? 3,
    initialBackoffMs: 1,
    maxBackoffMs: 2,
    breakerFailures: overrides.breakerFailures ?? 100,
    breakerOpenMs: 60_000,
    firstByteMs: overrides.firstByteMs ?? 5_000,
    healthIntervalMs: 0,
    probe: async () => {},
  });
}

const retryable = () => new BastionError("upstream_error", "reset", { isRetryable: true });

describe("backend guard", () => {
  it("retries a retryable failure up to maxAttempts, then gives the last error", async () => {
    const g = guard({ maxAttempts: 3 });
    let calls = 0;
    await expect(
      g.execute(async () => {
        calls++;
        throw retryable();
      }, new AbortController().signal),
    ).rejects.toThrow("reset");
    expect(calls).toBe(3);
    g.dispose();
  });

  it("returns the first success and does not retry a refused request", async () => {
    const g = guard();
    let calls = 0;
    const value = await g.execute(async () => {
      calls++;
      if (calls === 1) throw retryable();
      return "ok";
    }, new AbortController().signal);
    expect(value).toBe("ok");
    expect(calls).toBe(2);
    calls = 0;
    await expect(
      g.execute(async () => {
        calls++;
        throw new BastionError("invalid_request", "bad");
      }, new AbortController().signal),
    ).rejects.toThrow("bad");
    expect(calls).toBe(1);
    g.dispose();
  });

  it("times out an attempt that gives no first part, aborts its signal, and keeps an opened one running", async () => {
    const g = guard({ maxAttempts: 1, firstByteMs: 20 });
    let attemptSignal: AbortSignal | undefined;
    const error = await g
      .execute((signal) => {
        attemptSignal = signal;
        // Ignores the abort, as a hung upstream would: the guard still answers at once.
        return new Promise(() => {});
      }, new AbortController().signal)
      .catch((caught: unknown) => caught);
    expect((error as BastionError).code).toBe("upstream_error");
    expect((error as BastionError).message).toMatch(/no answer within 20 ms/);
    expect(attemptSignal?.aborted).toBe(true);

    let opened: AbortSignal | undefined;
    await g.execute(async (signal) => {
      opened = signal;
      return "first part";
    }, new AbortController().signal);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(opened?.aborted).toBe(false);
    g.dispose();
  });

  it("aborts the attempt when the caller goes away and does not retry", async () => {
    const g = guard({ maxAttempts: 3 });
    const caller = new AbortController();
    let calls = 0;
    let attemptSignal: AbortSignal | undefined;
    const pending = g.execute((signal) => {
      calls++;
      attemptSignal = signal;
      return new Promise(() => {});
    }, caller.signal);
    caller.abort();
    await expect(pending).rejects.toBeInstanceOf(BastionError);
    expect(attemptSignal?.aborted).toBe(true);
    expect(calls).toBe(1);
    g.dispose();
  });

  it("with complete: retries a failure after the first part, counts it once, and no first-part timeout cuts it", async () => {
    const g = guard({ maxAttempts: 2, firstByteMs: 20, breakerFailures: 2 });
    let opens = 0;
    let completes = 0;
    const value = await g.execute(
      async () => ++opens,
      new AbortController().signal,
      async (opened) => {
        completes++;
        // Longer than the first-part timeout: the rest of an answer is not under it.
        await new Promise((resolve) => setTimeout(resolve, 50));
        if (opened === 1) throw retryable();
        return `whole answer of attempt ${opened}`;
      },
    );
    expect(value).toBe("whole answer of attempt 2");
    expect([opens, completes]).toEqual([2, 2]);
    // One failure, then a success: the circuit is closed and its count starts again.
    expect(g.health().state).toBe("closed");
    const failing = () =>
      g.execute(
        async () => "opened",
        new AbortController().signal,
        async () => {
          throw new BastionError("upstream_error", "cut mid-answer", { isRetryable: false });
        },
      );
    await expect(failing()).rejects.toThrow("cut mid-answer");
    expect(g.health().state).toBe("closed");
    await expect(failing()).rejects.toThrow("cut mid-answer");
    expect(g.health()).toMatchObject({ state: "open", lastError: "cut mid-answer" });
    g.dispose();
  });

  it("opens the circuit after consecutive backend failures and then refuses without calling", async () => {
    const g = guard({ maxAttempts: 1, breakerFailures: 2 });
    let calls = 0;
    const fail = () =>
      g.execute(async () => {
        calls++;
        throw retryable();
      }, new AbortController().signal);
    await expect(fail()).rejects.toThrow("reset");
    await expect(fail()).rejects.toThrow("reset");
    await expect(fail()).rejects.toThrow(/circuit open/);
    expect(calls).toBe(2);
    expect(g.health().state).toBe("open");
    g.dispose();
  });
});
