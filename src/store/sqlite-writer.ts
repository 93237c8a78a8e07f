import { dirname, extname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type SQLite from "better-sqlite3";
import { openWriteJournal } from "./write-journal.ts";

/**
 * A write job that the shared SQLite writer can run: `prepare` builds the job's function from a
 * connection once (its prepared statements), and that function runs one write inside the writer's
 * transaction. The job must make a single write statement, or undo its own partial work before it
 * throws: a job that throws is rejected alone, and the transaction commits the other jobs.
 *
 * `module` and `exportName` name `prepare` for the writer's worker thread, which imports it there:
 * arguments and results cross threads by structured clone, so they are plain data.
 */
export interface SqliteJob<Args, Result> {
  readonly module: string;
  readonly exportName: string;
  readonly prepare: (sqlite: SQLite.Database) => (args: Args) => Result;
}

/** Declares a job whose `prepare` is exported as `exportName` from the module at `moduleUrl` (its `import.meta.url`). */
export function sqliteJob<Args, Result>(
  moduleUrl: string,
  exportName: string,
  prepare: (sqlite: SQLite.Database) => (args: Args) => Result,
): SqliteJob<Args, Result> {
  return { module: moduleUrl, exportName, prepare };
}

/**
 * The settings of every connection to Bastion's SQLite database, the store's and the writer
 * thread's alike: WAL (readers beside one writer), NORMAL sync (a commit survives the process
 * being killed; an OS crash may lose the last ones, never corrupt the file), foreign keys, and 5 s
 * of waiting for another connection's write lock.
 */
export function configureSqliteConnection(sqlite: SQLite.Database): void {
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
}

/** The per-request writes of one SQLite database (usage rows, audit records, budget settlements), batched into shared transactions. */
export interface SqliteWriter {
  /** Runs `job` inside the next write transaction; resolves once that transaction committed. */
  run<Args, Result>(job: SqliteJob<Args, Result>, args: Args): Promise<Result>;
  /**
   * As `run`, but while a call of the same job is still queued (not yet handed to the transaction),
   * `fold` adds these arguments to that call's instead, and this call resolves with it: a write
   * that many requests make in one turn (budget settlements) becomes one job, with its statements
   * run once per scope rather than once per request.
   */
  runFolded<Args, Result>(
    job: SqliteJob<Args, Result>,
    args: Args,
    fold: (queued: Args, args: Args) => void,
  ): Promise<Result>;
  /**
   * For writes that must survive a crash but that the caller need not see committed (usage rows,
   * audit records, budget settlements of answered requests): as `runFolded`, but `journaled`
   * resolves once the call is in the database's write-ahead journal (see write-journal.ts), at the
   * end of this turn, and the call commits up to `laterMs` later with many others in one
   * transaction. `committed` settles with the job's result after its commit. Without a journal (an
   * in-memory database, another process holding it) `journaled` waits for the commit too.
   */
  runLater<Args, Result>(
    job: SqliteJob<Args, Result>,
    args: Args,
    fold: (queued: Args, args: Args) => void,
  ): { journaled: Promise<void>; committed: Promise<Result> };
  /** Resolves once everything added before this call is committed (lazy calls are sent at once). */
  flushed(): Promise<void>;
  /** How many journaled calls that a killed process left uncommitted this writer ran again at start. */
  readonly replayed: number;
  /** Resolves once everything added so far is committed (or failed). */
  drain(): Promise<void>;
  /** Drains, then stops the worker thread, if there is one. */
  close(): Promise<void>;
}

/** How long journaled calls (`runLater`) wait for company before their transaction. */
export const laterMs = 20;

/** One item's outcome in a job over several items (see `eachItem`): its result, or why it failed. */
export type ItemOutcome<Result> = { ok: Result } | { error: string };

/**
 * A job's function over several items, from its function over one: the items run in order, and
 * one that throws (its single statement undone by SQLite) fails alone while the others go on.
 */
export function eachItem<Item, Result>(
  run: (item: Item) => Result,
): (items: Item[]) => Array<ItemOutcome<Result>> {
  return (items) =>
    items.map((item) => {
      try {
        return { ok: run(item) };
      } catch (error) {
        return { error: error instanceof Error ? error.message : String(error) };
      }
    });
}

/**
 * One item's share of a call of a job over items (see `eachItem`): `fold` puts the item into the
 * call queued in this turn, if any, and remembers its place; `take` picks its outcome from the
 * call's outcome list, or throws its failure, named by `what`.
 */
function itemOfCall<Item, Result>(what: string) {
  let index = 0;
  return {
    fold(queued: Item[], more: Item[]): void {
      index = queued.length;
      queued.push(...more);
    },
    take(outcomes: Array<ItemOutcome<Result>>): Result {
      const outcome = outcomes[index];
      if (outcome === undefined || "error" in outcome)
        throw new Error(`${what} not written: ${outcome?.error ?? "no outcome"}`);
      return outcome.ok;
    },
  };
}

/**
 * Runs one item in a job over items (see `eachItem`): the items queued in one turn fold into one
 * call of the job, in order (one promise and one outcome list per turn, not per item). Resolves
 * with this item's result, or rejects with its failure, named by `what`.
 */
export async function runItem<Item, Result>(
  writer: SqliteWriter,
  job: SqliteJob<Item[], Array<ItemOutcome<Result>>>,
  item: Item,
  what: string,
): Promise<Result> {
  const share = itemOfCall<Item, Result>(what);
  return share.take(await writer.runFolded(job, [item], share.fold));
}

/**
 * `runItem` for a journaled write (see `runLater`): resolves once the item is in the journal;
 * `committed` settles with its own result, or its failure named by `what`, after the commit.
 */
export function runItemLater<Item, Result>(
  writer: SqliteWriter,
  job: SqliteJob<Item[], Array<ItemOutcome<Result>>>,
  item: Item,
  what: string,
): { journaled: Promise<void>; committed: Promise<Result> } {
  const share = itemOfCall<Item, Result>(what);
  const { journaled, committed } = writer.runLater(job, [item], share.fold);
  return { journaled, committed: committed.then(share.take) };
}

/**
 * `runLater` without a journal (a database in memory, one another process journals, or after
 * close): `journaled` is the commit.
 */
function runCommitted<Args, Result>(
  writer: SqliteWriter,
  job: SqliteJob<Args, Result>,
  args: Args,
  fold: (queued: Args, args: Args) => void,
): { journaled: Promise<void>; committed: Promise<Result> } {
  const committed = writer.runFolded(job, args, fold);
  return { journaled: committed.then(() => undefined), committed };
}

/** A batch's outcome per job, in order: `[true, value]` or `[false, error]`. */
export type JobOutcome = [true, unknown] | [false, { message: string; code?: unknown; name?: string }];

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * The most jobs one transaction carries: a long transaction holds the write lock (other processes,
 * the main thread's own writes) and delays every acknowledgement in it.
 */
const maxBatch = 500;

/** A job that writes nothing: its commit means that everything queued before it is committed. */
export function prepareBarrier(): () => null {
  return () => null;
}
const barrierJob = sqliteJob<null, null>(import.meta.url, "prepareBarrier", prepareBarrier);

/** Stores the highest journal sequence number a transaction carries, in that transaction. */
export function prepareJournalMark(sqlite: SQLite.Database): (seq: number) => void {
  const mark = sqlite.prepare("update writer_journal set seq = ? where id = 1 and seq < ?");
  return (seq) => void mark.run(seq, seq);
}
const journalMarkJob = sqliteJob<number, void>(import.meta.url, "prepareJournalMark", prepareJournalMark);

/**
 * A job as its journal entry names it: its module's path relative to this directory without its
 * extension (the same in a checkout's .ts and a package's compiled .js), and the export.
 */
const writerDir = dirname(fileURLToPath(import.meta.url));
const journalNames = new WeakMap<SqliteJob<never, unknown>, string>();
function journalName(job: SqliteJob<never, unknown>): string {
  let name = journalNames.get(job);
  if (name === undefined) {
    const path = fileURLToPath(job.module);
    name = `${relative(writerDir, path.slice(0, path.length - extname(path).length))
      .split(sep)
      .join("/")}#${job.exportName}`;
    journalNames.set(job, name);
  }
  return name;
}
/** The job a journal entry names (the worker imports its module). */
function journaledJob(name: string): SqliteJob<unknown, unknown> {
  const at = name.lastIndexOf("#");
  const module = pathToFileURL(
    `${join(writerDir, name.slice(0, at))}${extname(fileURLToPath(import.meta.url))}`,
  ).href;
  return sqliteJob(module, name.slice(at + 1), () => {
    throw new Error(`the journaled job ${name} runs in the writer's thread only`);
  });
}

const writers = new WeakMap<SQLite.Database, SqliteWriter>();

/**
 * The one writer of a SQLite database in this process, shared by the modules that write on every
 * request. A database in a file gets a worker thread with its own connection on the same WAL
 * database: the jobs that arrive in one turn of the event loop go to it in one message, it runs
 * them (and whatever else is waiting by then) in one `BEGIN IMMEDIATE ... COMMIT`, and answers the
 * whole batch in one message, after the commit. The event loop pays for building the rows and one
 * structured clone; SQLite, the chain's hashing and the commit run beside it. An in-memory
 * database (tests) cannot be opened twice: its jobs run on this thread, batched the same way.
 *
 * Either way a job's promise resolves only after its transaction committed, so what a request
 * awaits before answering is on disk: a crash loses no acknowledged write.
 */
export function sharedSqliteWriter(sqlite: SQLite.Database): SqliteWriter {
  let writer = writers.get(sqlite);
  if (writer === undefined) {
    const inline = sqlite.memory || process.env.BASTION_SQLITE_WRITER === "inline";
    writer = inline ? inlineWriter(sqlite) : workerWriter(sqlite);
    writers.set(sqlite, writer);
  }
  return writer;
}

/** Closes the database's shared writer, if it has one (before the connection closes). */
export async function closeSqliteWriter(sqlite: SQLite.Database): Promise<void> {
  const writer = writers.get(sqlite);
  if (writer === undefined) return;
  writers.delete(sqlite);
  await writer.close();
}

/** Runs one batch of jobs in one IMMEDIATE transaction; a job that throws fails alone. */
export function runBatch(
  sqlite: SQLite.Database,
  prepared: (job: number) => (args: unknown) => unknown,
): (jobs: Array<[number, unknown]>) => JobOutcome[] {
  const transaction = sqlite.transaction((jobs: Array<[number, unknown]>) => {
    const outcomes: JobOutcome[] = new Array(jobs.length);
    for (let index = 0; index < jobs.length; index++) {
      const [job, args] = jobs[index]!;
      try {
        outcomes[index] = [true, prepared(job)(args)];
      } catch (error) {
        outcomes[index] = [false, describeError(error)];
      }
    }
    return outcomes;
  });
  return (jobs) => transaction.immediate(jobs);
}

function describeError(error: unknown): { message: string; code?: unknown; name?: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { message: error.message, name: error.name, ...(code === undefined ? {} : { code }) };
  }
  return { message: String(error) };
}

function toError(described: { message: string; code?: unknown; name?: string }): Error {
  const error = new Error(described.message) as Error & { code?: unknown };
  if (described.name !== undefined) error.name = described.name;
  if (described.code !== undefined) error.code = described.code;
  return error;
}

/** How a call joins the queue: `lazy` calls wait up to `lazyMs` for company; `seq` is its journal entry's (0: none). */
interface CallOptions {
  lazy?: boolean;
  seq?: number;
}

/**
 * Jobs queued in this turn, sent (or run) together at its end, or, while `busy()` says the previous
 * batch is not answered yet, together with everything else that arrives until it is (`resume`).
 * Lazy calls (journaled, see `runLater`) wait up to `lazyMs` (or until `lazyMax` calls are queued)
 * unless a call that someone waits for (`run`, `runFolded`) comes first: they then go with it.
 */
function createQueue(
  flush: (jobs: Array<[number, unknown]>, pending: Pending[], seqs: number[]) => void,
  busy: () => boolean = () => false,
  lazyMs = 0,
  lazyMax = 256,
) {
  let jobs: Array<[number, unknown]> = [];
  let pending: Pending[] = [];
  let seqs: number[] = [];
  /** Foldable calls in `jobs` (not sent yet), by job id: their arguments, their promise and position. */
  let foldable = new Map<number, { args: unknown; result: Promise<unknown>; index: number }>();
  let scheduled = false;
  let timer: NodeJS.Timeout | undefined;
  /** A queued call that someone waits for: the queue goes at the end of this turn. */
  let urgent = false;
  const send = () => {
    scheduled = false;
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (jobs.length === 0 || busy()) return;
    urgent = false;
    const batchJobs = jobs;
    const batchPending = pending;
    const batchSeqs = seqs;
    jobs = [];
    pending = [];
    seqs = [];
    if (foldable.size > 0) foldable = new Map();
    flush(batchJobs, batchPending, batchSeqs);
  };
  const schedule = () => {
    // While a batch is in flight, `resume` sends what waited.
    if (busy() || scheduled) return;
    if (urgent || lazyMs <= 0) {
      scheduled = true;
      // At the end of this turn, so that what else arrives in it (the usage row, audit record and
      // budget settlement of one request, other requests finishing now) goes with it.
      setImmediate(send);
    } else if (timer === undefined) timer = setTimeout(send, lazyMs);
  };
  const add = (job: number, args: unknown, options: CallOptions = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      jobs.push([job, args]);
      pending.push({ resolve, reject });
      seqs.push(options.seq ?? 0);
      if (options.lazy !== true || jobs.length >= lazyMax) urgent = true;
      schedule();
    });
  return {
    add,
    /** Folds `args` into the queued call of `job`, if there is one; else queues it as foldable. */
    addFolded(
      job: number,
      args: unknown,
      fold: (queued: unknown, args: unknown) => void,
      options: CallOptions = {},
    ): Promise<unknown> {
      const queued = foldable.get(job);
      if (queued !== undefined) {
        fold(queued.args, args);
        if (options.seq !== undefined && options.seq > seqs[queued.index]!) seqs[queued.index] = options.seq;
        if (options.lazy !== true) urgent = true;
        schedule();
        return queued.result;
      }
      const index = jobs.length;
      const result = add(job, args, options);
      foldable.set(job, { args, result, index });
      return result;
    },
    /** Sends what is queued at the end of this turn, lazy calls included. */
    hurry() {
      if (jobs.length === 0) return;
      urgent = true;
      schedule();
    },
    /** The previous batch was answered: send what waited for it (lazy calls: after their wait). */
    resume() {
      if (jobs.length === 0) return;
      if (urgent || lazyMs <= 0) send();
      else schedule();
    },
  };
}

function settle(pending: Pending[], outcomes: JobOutcome[]): void {
  for (let index = 0; index < pending.length; index++) {
    const outcome = outcomes[index];
    if (outcome === undefined) pending[index]!.reject(new Error("the SQLite writer lost a job"));
    else if (outcome[0]) pending[index]!.resolve(outcome[1]);
    else pending[index]!.reject(toError(outcome[1]));
  }
}

/** Job ids: one per job declaration, the same in this thread and in the worker. */
function jobRegistry() {
  const ids = new Map<SqliteJob<never, unknown>, number>();
  const list: Array<SqliteJob<never, unknown>> = [];
  return {
    list,
    /** The job's id, and whether it is new (the worker must learn it). */
    id(job: SqliteJob<never, unknown>): [number, boolean] {
      const known = ids.get(job);
      if (known !== undefined) return [known, false];
      const id = list.length;
      ids.set(job, id);
      list.push(job);
      return [id, true];
    },
  };
}

function inlineWriter(sqlite: SQLite.Database): SqliteWriter {
  const registry = jobRegistry();
  const prepared: Array<(args: unknown) => unknown> = [];
  const run = runBatch(sqlite, (job) => {
    let fn = prepared[job];
    if (fn === undefined) {
      fn = registry.list[job]!.prepare(sqlite) as (args: unknown) => unknown;
      prepared[job] = fn;
    }
    return fn;
  });
  let inFlight = 0;
  const idle: Array<() => void> = [];
  const queue = createQueue((jobs, pending) => {
    // A Kysely transaction of this connection may be open between two of its awaits: this batch
    // waits until it ends (it cannot nest in it, and must not commit with it).
    const attempt = () => {
      if (sqlite.inTransaction) {
        setTimeout(attempt, 1);
        return;
      }
      for (let start = 0; start < jobs.length; start += maxBatch) {
        const slice = jobs.slice(start, start + maxBatch);
        const slicePending = pending.slice(start, start + maxBatch);
        let outcomes: JobOutcome[];
        try {
          outcomes = run(slice);
        } catch (error) {
          for (const entry of slicePending) entry.reject(error);
          continue;
        }
        settle(slicePending, outcomes);
      }
      inFlight -= jobs.length;
      if (inFlight === 0) for (const done of idle.splice(0)) done();
    };
    attempt();
  });
  const writer: SqliteWriter = {
    run<Args, Result>(job: SqliteJob<Args, Result>, args: Args): Promise<Result> {
      inFlight++;
      return queue.add(registry.id(job as SqliteJob<never, unknown>)[0], args) as Promise<Result>;
    },
    runFolded<Args, Result>(
      job: SqliteJob<Args, Result>,
      args: Args,
      fold: (queued: Args, args: Args) => void,
    ): Promise<Result> {
      inFlight++;
      return queue.addFolded(registry.id(job as SqliteJob<never, unknown>)[0], args, (queued, more) => {
        fold(queued as Args, more as Args);
        // Folded into a queued call: not a job of its own.
        inFlight--;
      }) as Promise<Result>;
    },
    runLater<Args, Result>(
      job: SqliteJob<Args, Result>,
      args: Args,
      fold: (queued: Args, args: Args) => void,
    ): { journaled: Promise<void>; committed: Promise<Result> } {
      // No journal for a database in memory: the call commits at the end of this turn.
      return runCommitted(writer, job, args, fold);
    },
    async flushed() {
      await writer.run(barrierJob, null);
    },
    replayed: 0,
    drain() {
      if (inFlight === 0) return Promise.resolve();
      return new Promise((resolve) => idle.push(resolve));
    },
    close() {
      return writer.drain();
    },
  };
  return writer;
}

/** What the worker thread is told: the database, then batches (with the jobs it has not seen yet). */
export type WriterMessage =
  | { batch: number; jobs: Array<[number, unknown]>; define?: Array<[number, string, string]> }
  | { close: true };
/** What it answers: the batches its transaction committed, and one outcome per job of them, in order. */
export type WriterReply = { batches: number[]; outcomes: JobOutcome[] } | { failed: number[]; error: string };

function workerWriter(sqlite: SQLite.Database): SqliteWriter {
  const registry = jobRegistry();
  const announced: boolean[] = [];
  let worker: Worker | undefined;
  let closed: Promise<void> | undefined;
  let nextBatch = 0;
  /** Batches sent and not answered yet, with their callers. */
  const inFlight = new Map<number, Pending[]>();
  /** Jobs added and not answered yet (queued in this turn or in flight). */
  let open = 0;
  const idle: Array<() => void> = [];
  /** The journal sequence number each batch in flight stores, if it carries journaled calls. */
  const marks = new Map<number, number>();
  const journal = openJournal(sqlite);

  const answered = (batch: number, count: number, ok = false) => {
    inFlight.delete(batch);
    const mark = marks.get(batch);
    if (mark !== undefined) {
      marks.delete(batch);
      if (ok) journal?.journal.committed(mark);
    }
    open -= count;
    if (inFlight.size === 0) {
      // What arrived meanwhile goes now, as one batch: one message (one wake-up of the thread) per
      // transaction, however many requests finish while it runs.
      queue.resume();
      // Idle: the thread must not keep the process alive by itself.
      if (inFlight.size === 0) worker?.unref();
    }
    if (open === 0) for (const resolve of idle.splice(0)) resolve();
  };
  let lastError: Error | undefined;
  const failAll = (error: Error) => {
    for (const [batch, pending] of inFlight) {
      for (const entry of pending) entry.reject(error);
      answered(batch, pending.length);
    }
  };
  const start = (): Worker => {
    const here = import.meta.url;
    const started = new Worker(new URL(`./sqlite-writer-worker${extname(new URL(here).pathname)}`, here), {
      workerData: { path: sqlite.name },
    });
    started.on("message", (reply: WriterReply) => {
      if ("failed" in reply) {
        const error = new Error(`SQLite writer: ${reply.error}`);
        for (const batch of reply.failed) {
          const pending = inFlight.get(batch) ?? [];
          for (const entry of pending) entry.reject(error);
          answered(batch, pending.length);
        }
        return;
      }
      let offset = 0;
      for (const batch of reply.batches) {
        const pending = inFlight.get(batch) ?? [];
        const outcomes =
          reply.batches.length === 1 ? reply.outcomes : reply.outcomes.slice(offset, offset + pending.length);
        settle(pending, outcomes);
        offset += pending.length;
        answered(batch, pending.length, true);
      }
    });
    started.on("error", (error) => {
      lastError = error instanceof Error ? error : new Error(String(error));
    });
    started.on("exit", (code) => {
      // A thread that died takes its unanswered batches with it (their transaction rolled back or
      // never ran): they fail, and the next batch starts a new thread, which must learn the jobs again.
      if (worker === started) worker = undefined;
      announced.length = 0;
      failAll(lastError ?? new Error(`the SQLite writer thread exited with ${code}`));
      lastError = undefined;
    });
    return started;
  };

  const queue = createQueue(
    (jobs, pending, seqs) => {
      worker ??= start();
      // Each transaction that carries journaled calls stores the highest of their numbers.
      const markId = journal === undefined ? -1 : registry.id(journalMarkJob as SqliteJob<never, unknown>)[0];
      const define: Array<[number, string, string]> = [];
      for (const [job] of jobs) {
        if (announced[job] !== true) {
          announced[job] = true;
          const declared = registry.list[job]!;
          define.push([job, declared.module, declared.exportName]);
        }
      }
      if (markId >= 0 && announced[markId] !== true && seqs.some((seq) => seq > 0)) {
        announced[markId] = true;
        define.push([markId, journalMarkJob.module, journalMarkJob.exportName]);
      }
      for (let begin = 0; begin < jobs.length; begin += maxBatch) {
        const batch = nextBatch++;
        if (inFlight.size === 0) worker.ref();
        const whole = begin === 0 && jobs.length <= maxBatch;
        let batchJobs = whole ? jobs : jobs.slice(begin, begin + maxBatch);
        let batchPending = whole ? pending : pending.slice(begin, begin + maxBatch);
        let mark = 0;
        for (let index = begin; index < begin + batchJobs.length; index++)
          mark = Math.max(mark, seqs[index]!);
        if (mark > 0) {
          batchJobs = [...batchJobs, [markId, mark]];
          batchPending = [...batchPending, { resolve() {}, reject() {} }];
          open++;
          marks.set(batch, mark);
        }
        inFlight.set(batch, batchPending);
        const message: WriterMessage = {
          batch,
          jobs: batchJobs,
          ...(begin === 0 && define.length > 0 ? { define } : {}),
        };
        worker.postMessage(message);
      }
    },
    () => inFlight.size > 0,
    journal === undefined ? 0 : laterMs,
  );
  // What a killed process journaled and never committed runs first, in order.
  if (journal !== undefined && journal.pending.length > 0) {
    const replayed = new Map<string, SqliteJob<unknown, unknown>>();
    for (const [seq, name, args] of journal.pending) {
      let job = replayed.get(name);
      if (job === undefined) {
        job = journaledJob(name);
        replayed.set(name, job);
      }
      open++;
      void queue.add(registry.id(job as SqliteJob<never, unknown>)[0], args, { seq }).catch(() => undefined);
    }
  }

  const writer: SqliteWriter = {
    run<Args, Result>(job: SqliteJob<Args, Result>, args: Args): Promise<Result> {
      if (closed !== undefined) return Promise.reject(new Error("the SQLite writer is closed"));
      open++;
      return queue.add(registry.id(job as SqliteJob<never, unknown>)[0], args) as Promise<Result>;
    },
    runFolded<Args, Result>(
      job: SqliteJob<Args, Result>,
      args: Args,
      fold: (queued: Args, args: Args) => void,
    ): Promise<Result> {
      if (closed !== undefined) return Promise.reject(new Error("the SQLite writer is closed"));
      open++;
      return queue.addFolded(registry.id(job as SqliteJob<never, unknown>)[0], args, (queued, more) => {
        fold(queued as Args, more as Args);
        // Folded into a queued call: not a job of its own.
        open--;
      }) as Promise<Result>;
    },
    runLater<Args, Result>(
      job: SqliteJob<Args, Result>,
      args: Args,
      fold: (queued: Args, args: Args) => void,
    ): { journaled: Promise<void>; committed: Promise<Result> } {
      if (journal === undefined || closed !== undefined) return runCommitted(writer, job, args, fold);
      const { seq, written } = journal.journal.add(journalName(job as SqliteJob<never, unknown>), args);
      open++;
      const committed = queue.addFolded(
        registry.id(job as SqliteJob<never, unknown>)[0],
        args,
        (queued, more) => {
          fold(queued as Args, more as Args);
          open--;
        },
        { lazy: true, seq },
      ) as Promise<Result>;
      // The caller may only wait for `journaled`: a failed commit must not go unhandled.
      committed.catch(() => undefined);
      return { journaled: written, committed };
    },
    async flushed() {
      await writer.run(barrierJob, null);
    },
    replayed: journal?.pending.length ?? 0,
    drain() {
      if (open === 0) return Promise.resolve();
      queue.hurry();
      return new Promise((resolve) => idle.push(resolve));
    },
    close() {
      closed ??= writer.drain().then(async () => {
        const running = worker;
        journal?.journal.close();
        if (running === undefined) return;
        const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
        // Held while it closes its connection: an idle thread is unref'd, and a process with
        // nothing else to do would otherwise end with this promise unsettled.
        running.ref();
        running.postMessage({ close: true } satisfies WriterMessage);
        await exited;
      });
      return closed;
    },
  };
  return writer;
}

/**
 * The write-ahead journal of a database file, if this process can take it (see write-journal.ts),
 * with what a killed process left in it. None where the table of its mark is missing (a store
 * opened without migrations) or `BASTION_SQLITE_JOURNAL=off`.
 */
function openJournal(sqlite: SQLite.Database): ReturnType<typeof openWriteJournal> {
  if (process.env.BASTION_SQLITE_JOURNAL === "off") return undefined;
  let committed: number;
  try {
    committed = Number(sqlite.prepare("select seq from writer_journal where id = 1").pluck().get() ?? 0);
  } catch {
    return undefined;
  }
  return openWriteJournal(sqlite.name, committed);
}
