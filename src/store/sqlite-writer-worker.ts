/**
 * The SQLite writer's thread (see `sharedSqliteWriter`): its own connection on the database's WAL
 * file, running the batches the main thread sends in IMMEDIATE transactions and answering each
 * batch after its commit. Batches that are already waiting when one starts go into the same
 * transaction, so under load one commit carries several turns' worth of writes.
 */
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import SQLite from "better-sqlite3";
import {
  configureSqliteConnection,
  runBatch,
  type WriterMessage,
  type WriterReply,
} from "./sqlite-writer.ts";

const port = parentPort;
if (port === null) throw new Error("sqlite-writer-worker runs as a worker thread");

const sqlite = new SQLite((workerData as { path: string }).path);
configureSqliteConnection(sqlite);

const prepared: Array<(args: unknown) => unknown> = [];
const run = runBatch(sqlite, (job) => {
  const fn = prepared[job];
  if (fn === undefined) throw new Error(`unknown SQLite writer job ${job}`);
  return fn;
});

type Batch = Extract<WriterMessage, { batch: number }>;
let closing = false;
let chain: Promise<void> = Promise.resolve();

async function define(batches: Batch[]): Promise<void> {
  for (const { define: jobs } of batches) {
    for (const [id, module, exportName] of jobs ?? []) {
      const loaded = (await import(module)) as Record<string, unknown>;
      const prepare = loaded[exportName] as (db: SQLite.Database) => (args: unknown) => unknown;
      prepared[id] = prepare(sqlite);
    }
  }
}

async function handle(first: WriterMessage): Promise<void> {
  const batches: Batch[] = [];
  const take = (message: WriterMessage) => {
    if ("close" in message) closing = true;
    else batches.push(message);
  };
  take(first);
  // Everything already waiting goes into this transaction too.
  for (let more = receiveMessageOnPort(port!); more !== undefined; more = receiveMessageOnPort(port!))
    take(more.message as WriterMessage);
  if (batches.length > 0) {
    const ids = batches.map((batch) => batch.batch);
    try {
      await define(batches);
      const jobs = batches.length === 1 ? batches[0]!.jobs : batches.flatMap((batch) => batch.jobs);
      const outcomes = run(jobs);
      port!.postMessage({ batches: ids, outcomes } satisfies WriterReply);
    } catch (error) {
      port!.postMessage({
        failed: ids,
        error: error instanceof Error ? error.message : String(error),
      } satisfies WriterReply);
    }
  }
  if (closing) {
    sqlite.close();
    port!.close();
  }
}

port.on("message", (message: WriterMessage) => {
  chain = chain.then(() => handle(message));
});
