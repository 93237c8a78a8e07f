import type SQLite from "better-sqlite3";

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

/** Synchronous writes to one SQLite database, batched into shared transactions. */
export interface SqliteWriter {
  /** Runs `job` (one write statement) inside the next write transaction; resolves once that transaction committed. */
  run<R>(job: () => R): Promise<R>;
}

const writers = new WeakMap<object, SqliteWriter>();

/**
 * One writer per SQLite database, shared by the modules that write on every request (audit
 * records, usage rows): jobs that arrive while a transaction runs share the next one, a single
 * `BEGIN IMMEDIATE ... COMMIT`, never inside a Kysely transaction (`hold` waits for Kysely's
 * connection when one is open). A job must make a single write statement: SQLite undoes a
 * failed statement by itself, so a job that throws leaves nothing behind and is rejected alone,
 * without the cost of a savepoint per job.
 */
export function sharedSqliteWriter(
  sqlite: SQLite.Database,
  hold: <T>(work: () => Promise<T>) => Promise<T>,
): SqliteWriter {
  const existing = writers.get(sqlite);
  if (existing !== undefined) return existing;
  type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };
  const batch = sqlite.transaction((jobs: Array<() => unknown>) =>
    jobs.map((job): Outcome => {
      try {
        return { ok: true, value: job() };
      } catch (error) {
        return { ok: false, error };
      }
    }),
  );
  const commit = createGroupCommit<() => unknown, Outcome>(async (jobs) => {
    // The batch runs synchronously, so nothing can interleave with it; the only conflict is a
    // Kysely transaction already open on the connection (between two of its awaits), which
    // `inTransaction` shows. Then wait for Kysely's connection, which such a transaction holds.
    if (!sqlite.inTransaction) return batch.immediate(jobs);
    return hold(async () => batch.immediate(jobs));
  }, 200);
  const writer: SqliteWriter = {
    async run<R>(job: () => R): Promise<R> {
      const outcome = await commit.add(job);
      if (!outcome.ok) throw outcome.error;
      return outcome.value as R;
    },
  };
  writers.set(sqlite, writer);
  return writer;
}
