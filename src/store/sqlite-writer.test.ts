import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { usageColumns } from "../metering/usage-writes.ts";
import { openStore, type Store } from "./database.ts";
import { sharedSqliteWriter } from "./sqlite-writer.ts";
import { testInsertJob as testInsert, testInsertManyJob } from "./sqlite-writer-test-job.ts";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fileStore(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), "bastion-writer-"));
  const store = await openStore({ sqlitePath: join(dir, "bastion.db") });
  // The table must exist before the worker's job prepares its statement on its own connection.
  store.sqlite!.exec("create table writer_test (value integer primary key)");
  cleanups.push(async () => {
    await store.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

async function memoryStore(): Promise<Store> {
  const store = await openStore({ sqlitePath: ":memory:" });
  store.sqlite!.exec("create table writer_test (value integer primary key)");
  cleanups.push(() => store.destroy());
  return store;
}

describe("the shared SQLite writer", () => {
  it("commits a file database's jobs in its thread before it answers, and a failing job fails alone", async () => {
    const store = await fileStore();
    const writer = sharedSqliteWriter(store.sqlite!);
    const results = await Promise.allSettled([1, 2, -3, 4].map((value) => writer.run(testInsert, value)));
    expect(results.map((result) => result.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({
      name: "RangeError",
      message: "negative: -3",
    });
    // Answered means committed: this thread's own connection sees the rows at once.
    const rows = store.sqlite!.prepare("select value from writer_test order by value").pluck().all();
    expect(rows).toEqual([1, 2, 4]);
    // Many jobs over several turns (more than one transaction carries): every one is answered.
    const more = await Promise.all(
      Array.from({ length: 1200 }, (_, index) =>
        new Promise<void>((resolve) => setTimeout(resolve, index % 7)).then(() =>
          writer.run(testInsert, 100 + index),
        ),
      ),
    );
    expect(more).toEqual(Array.from({ length: 1200 }, (_, index) => 100 + index));
    await writer.drain();
  });

  it.each([
    ["in its thread", fileStore],
    ["inline (in-memory database)", memoryStore],
  ])("folds the calls of a foldable job made in one turn into one job (%s)", async (_name, open) => {
    const store = await open();
    const writer = sharedSqliteWriter(store.sqlite!);
    const fold = (queued: number[], more: number[]) => void queued.push(...more);
    // One turn: three calls become one job of three values, and each caller gets that job's result.
    const first = await Promise.all([
      writer.runFolded(testInsertManyJob, [1], fold),
      writer.runFolded(testInsertManyJob, [2], fold),
      writer.run(testInsert, 3),
      writer.runFolded(testInsertManyJob, [4, 5], fold),
    ]);
    expect(first).toEqual([4, 4, 3, 4]);
    // A later turn's call is a job of its own.
    expect(await writer.runFolded(testInsertManyJob, [6], fold)).toBe(1);
    const rows = store.sqlite!.prepare("select value from writer_test order by value").pluck().all();
    expect(rows).toEqual([1, 2, 3, 4, 5, 6]);
    await writer.drain();
  });

  it("waits for a Kysely transaction of the main connection instead of failing it", async () => {
    const store = await fileStore();
    const writer = sharedSqliteWriter(store.sqlite!);
    await writer.run(testInsert, 1);
    // A transaction that reads, lets the writer's thread commit meanwhile, then writes: with a
    // deferred `begin` its write would fail with SQLITE_BUSY.
    const written = writer.run(testInsert, 2);
    await store.db.transaction().execute(async (trx) => {
      await trx.selectFrom("tenants").selectAll().execute();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await trx
        .insertInto("tenants")
        .values({ id: "t-busy", name: "t", policy: null, limits: "{}", created_at: "x", updated_at: "x" })
        .execute();
    });
    expect(await written).toBe(2);
  });

  it("lets a process with nothing else to do close the store after a write (regression: close hung)", async () => {
    // An idle writer thread is unref'd; closing it must hold it until it exited, or a CLI command
    // ending with `store.destroy()` ended with that promise unsettled (exit code 13).
    const dir = mkdtempSync(join(tmpdir(), "bastion-writer-close-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const here = import.meta.dirname;
    const script = `
      import { openStore } from ${JSON.stringify(join(here, "database.ts"))};
      import { sharedSqliteWriter } from ${JSON.stringify(join(here, "sqlite-writer.ts"))};
      import { auditAppendJob } from ${JSON.stringify(join(here, "..", "audit", "audit-writes.ts"))};
      const store = await openStore({ sqlitePath: ${JSON.stringify(join(dir, "bastion.db"))} });
      const [seq] = await sharedSqliteWriter(store.sqlite).run(auditAppendJob, ["admin", null, null, null, "{}"]);
      await store.destroy();
      console.log("closed after", seq);
    `;
    const file = join(dir, "close.mjs");
    writeFileSync(file, script);
    const { execFile } = await import("node:child_process");
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [file], (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : (child.exitCode ?? 1), stdout, stderr }),
      );
    });
    expect(result.stderr).toBe("");
    expect(result).toMatchObject({ code: 0, stdout: "closed after 1\n" });
  });

  it("runs an in-memory database's jobs on this thread, with the same answers", async () => {
    const store = await openStore({ sqlitePath: ":memory:" });
    cleanups.push(() => store.destroy());
    store.sqlite!.exec("create table writer_test (value integer primary key)");
    const writer = sharedSqliteWriter(store.sqlite!);
    const results = await Promise.allSettled([5, -1].map((value) => writer.run(testInsert, value)));
    expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected"]);
  });

  it("lists the usage columns in the table's order of toRow", async () => {
    const { toRow } = await import("../metering/usage-store.ts");
    const row = toRow(
      {
        requestId: "r",
        startedAt: new Date(),
        endpoint: "/v1/chat/completions",
        requestedModel: "m",
        model: "m",
        backend: "b",
        backendKind: "local",
        jurisdiction: { country: "local", zone: "local", operator: "o" },
        policy: { policy: "p", dataClass: "public", action: "allow", detections: {}, summary: "" },
        usage: { promptTokens: 1, completionTokens: 1, reasoningTokens: 0, cachedPromptTokens: 0 },
        timings: { queueMs: 0, ttftMs: 0, totalMs: 0, busyMs: 0 },
        status: "ok",
      },
      { costEur: 0, energyWh: 0, co2eG: 0, referenceCostEur: 0, savedEur: 0 },
    );
    expect(Object.keys(row)).toEqual([...usageColumns]);
  });
});
