import { BastionError } from "../core/errors.ts";

/** What the pool needs to know about a slot to pick the one that already holds a prompt's prefix. */
export interface PooledSlot {
  /** How many leading tokens of `tokens` this slot already has evaluated in its KV cache. */
  sharedPrefixLength(tokens: readonly number[]): number;
}

export interface SlotPoolOptions<Slot extends PooledSlot> {
  slots: readonly Slot[];
  /** Requests allowed to wait for a slot; one more is refused with `queue_full`. */
  maxQueue: number;
  /** Retry-After hint for refused requests, in seconds. */
  retryAfterSeconds?: number;
}

interface Waiter<Slot> {
  resolve: (slot: Slot) => void;
  reject: (error: unknown) => void;
}

export interface SlotLease<Slot> {
  slot: Slot;
  /** Milliseconds spent waiting in the queue. */
  waitedMs: number;
  release(): void;
}

export interface SlotPool<Slot> {
  acquire(tokens: readonly number[], signal: AbortSignal): Promise<SlotLease<Slot>>;
}

/**
 * A fixed set of llama.cpp sequences shared by concurrent requests. A free request gets the idle
 * slot whose KV cache shares the longest prefix with its prompt (so a follow-up turn or a shared
 * system prompt is not recomputed); the rest wait in a bounded FIFO queue.
 */
export function createSlotPool<Slot extends PooledSlot>(options: SlotPoolOptions<Slot>): SlotPool<Slot> {
  const idle = new Set<Slot>(options.slots);
  const queue: Waiter<Slot>[] = [];

  function pickFor(tokens: readonly number[]): Slot {
    let best: Slot | undefined;
    let bestShared = -1;
    for (const slot of idle) {
      const shared = slot.sharedPrefixLength(tokens);
      if (shared > bestShared) {
        best = slot;
        bestShared = shared;
      }
    }
    idle.delete(best!);
    return best!;
  }

  function release(slot: Slot): void {
    const next = queue.shift();
    if (next === undefined) idle.add(slot);
    else next.resolve(slot);
  }

  function lease(slot: Slot, startedAt: number): SlotLease<Slot> {
    let released = false;
    return {
      slot,
      waitedMs: performance.now() - startedAt,
      release() {
        if (released) return;
        released = true;
        release(slot);
      },
    };
  }

  return {
    acquire(tokens, signal) {
      const startedAt = performance.now();
      if (signal.aborted) return Promise.reject(new BastionError("cancelled", "The request was cancelled."));
      if (idle.size > 0) return Promise.resolve(lease(pickFor(tokens), startedAt));
      if (queue.length >= options.maxQueue) {
        return Promise.reject(
          new BastionError(
            "queue_full",
            `All ${options.slots.length} generation slots are busy and ${queue.length} requests are already waiting; retry shortly.`,
            { retryAfterSeconds: options.retryAfterSeconds ?? 1 },
          ),
        );
      }
      return new Promise<SlotLease<Slot>>((resolve, reject) => {
        const onAbort = () => {
          const index = queue.indexOf(waiter);
          if (index >= 0) queue.splice(index, 1);
          reject(new BastionError("cancelled", "The request was cancelled while waiting for a slot."));
        };
        const waiter: Waiter<Slot> = {
          resolve: (slot) => {
            signal.removeEventListener("abort", onAbort);
            resolve(lease(slot, startedAt));
          },
          reject,
        };
        signal.addEventListener("abort", onAbort, { once: true });
        queue.push(waiter);
      });
    },
  };
}
