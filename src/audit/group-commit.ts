/**
 * Group commit: callers add items one by one and each waits for its own result, but items that
 * arrive in the same turn of the event loop, or while a write is in progress, go out together in
 * the next one. A lone item waits only for the end of the current turn (`setImmediate`, no timer);
 * under load, one transaction carries many items, which is what keeps a per-request audit record
 * and usage row cheap.
 */
export interface GroupCommit<T, R> {
  add(item: T): Promise<R>;
  /** Resolves once everything added so far is written (or failed). */
  drain(): Promise<void>;
}

interface Pending<T, R> {
  item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

export function createGroupCommit<T, R>(
  write: (items: T[]) => Promise<R[]>,
  maxBatch = 100,
): GroupCommit<T, R> {
  let queue: Pending<T, R>[] = [];
  let running: Promise<void> | undefined;

  async function run(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        const results = await write(batch.map((entry) => entry.item));
        for (const [index, entry] of batch.entries()) entry.resolve(results[index]!);
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    running = undefined;
  }

  return {
    add(item) {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        // Start on the next turn of the event loop, so that what else arrives in this one (the
        // usage row and audit record of one request, other requests finishing now) shares it.
        running ??= new Promise<void>((resolve) => setImmediate(resolve)).then(run);
      });
    },
    async drain() {
      while (running !== undefined) await running;
    },
  };
}
