import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "./database.ts";
import { laterMs, sharedSqliteWriter } from "./sqlite-writer.ts";
import { testInsertManyJob } from "./sqlite-writer-test-job.ts";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "bastion-journal-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function open(path: string): Promise<Store> {
  const store = await openStore({ sqlitePath: path });
  store.sqlite!.exec("create table if not exists writer_test (value integer primary key)");
  cleanups.push(() => store.destroy());
  return store;
}

const values = (store: Store): number[] =>
  store.sqlite!.prepare("select value from writer_test order by value").pluck().all() as number[];
const fold = (queued: number[], more: number[]) => void queued.push(...more);

/**
 * A process that journals `count` writes, waits until each is journaled (what a request waits for
 * before its answer goes out), and kills itself with SIGKILL before their transaction can commit.
 */
function journalThenDie(path: string, count: number): Promise<number | null> {
  const script = `
    import { openStore } from ${JSON.stringify(new URL("./database.ts", import.meta.url).href)};
    import { sharedSqliteWriter } from ${JSON.stringify(new URL("./sqlite-writer.ts", import.meta.url).href)};
    import { testInsertManyJob } from ${JSON.stringify(new URL("./sqlite-writer-test-job.ts", import.meta.url).href)};
    const store = await openStore({ sqlitePath: ${JSON.stringify(path)} });
    store.sqlite.exec("create table if not exists writer_test (value integer primary key)");
    const writer = sharedSqliteWriter(store.sqlite);
    const calls = Array.from({ length: ${count} }, (_, index) =>
      writer.runLater(testInsertManyJob, [1000 + index], (queued, more) => queued.push(...more)).journaled);
    await Promise.all(calls);
    process.kill(process.pid, "SIGKILL");
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "inherit" });
  return new Promise((resolve) =>
    child.once("exit", (_code, signal) => resolve(signal === "SIGKILL" ? 9 : null)),
  );
}

describe("the SQLite writer's write-ahead journal", () => {
  it("runs again, once, what a process killed after journaling and before committing left behind", async () => {
    const path = join(tempDir(), "bastion.db");
    // The schema first, so that the dying process only journals.
    await (await open(path)).destroy();
    expect(await journalThenDie(path, 25)).toBe(9);
    // Killed before its commit: nothing in the table, everything in the journal, a stale lock.
    expect(readFileSync(`${path}.writes.jsonl`, "utf8").trim().split("\n")).toHaveLength(25);
    expect(existsSync(`${path}.writes.lock`)).toBe(true);

    const store = await open(path);
    const writer = sharedSqliteWriter(store.sqlite!);
    expect(writer.replayed).toBe(25);
    await writer.flushed();
    expect(values(store)).toEqual(Array.from({ length: 25 }, (_, index) => 1000 + index));
    await store.destroy();
    // A clean stop leaves an empty journal and no lock; the next start runs nothing again.
    expect(statSync(`${path}.writes.jsonl`).size).toBe(0);
    expect(existsSync(`${path}.writes.lock`)).toBe(false);
    const again = await open(path);
    expect(sharedSqliteWriter(again.sqlite!).replayed).toBe(0);
    expect(values(again)).toHaveLength(25);
  });

  it("answers a journaled call before its commit, and commits it within its wait with the others", async () => {
    const store = await open(join(tempDir(), "bastion.db"));
    const writer = sharedSqliteWriter(store.sqlite!);
    const calls = [1, 2, 3].map((value) => writer.runLater(testInsertManyJob, [value], fold));
    await Promise.all(calls.map((call) => call.journaled));
    // Folded into one call: all three rows in one job.
    expect(await calls[0]!.committed).toBe(3);
    expect(values(store)).toEqual([1, 2, 3]);
    // A call someone waits for (`run`) takes the waiting journaled calls along at once.
    const later = writer.runLater(testInsertManyJob, [4], fold);
    await writer.run(testInsertManyJob, [5]);
    expect(values(store)).toEqual([1, 2, 3, 4, 5]);
    await later.committed;
    // The mark moved with the commits: nothing is left to run again.
    expect(store.sqlite!.prepare("select seq from writer_journal").pluck().get()).toBe(4);
    expect(laterMs).toBeGreaterThan(0);
  });

  it("journals in one process at a time: a second writer on the same file waits for its commits", async () => {
    const path = join(tempDir(), "bastion.db");
    const first = await open(path);
    const firstWriter = sharedSqliteWriter(first.sqlite!);
    await firstWriter.runLater(testInsertManyJob, [1], fold).journaled;
    const second = await open(path);
    const secondWriter = sharedSqliteWriter(second.sqlite!);
    // No journal for the second: journaled means committed there.
    await secondWriter.runLater(testInsertManyJob, [2], fold).journaled;
    expect(values(second)).toContain(2);
    await firstWriter.flushed();
    expect(values(first)).toEqual([1, 2]);
  });

  it("takes over a lock whose process is gone, and ignores a write the kill cut short", async () => {
    const path = join(tempDir(), "bastion.db");
    await (await open(path)).destroy();
    // A lock left by a process that no longer exists, and a journal whose last line is torn.
    writeFileSync(`${path}.writes.lock`, "2147483646");
    writeFileSync(
      `${path}.writes.jsonl`,
      `${JSON.stringify([1, "sqlite-writer-test-job#prepareTestInsertMany", [7]])}\n[2, "sqlite-wr`,
    );
    const store = await open(path);
    const writer = sharedSqliteWriter(store.sqlite!);
    expect(writer.replayed).toBe(1);
    await writer.flushed();
    expect(values(store)).toEqual([7]);
    expect(readFileSync(`${path}.writes.lock`, "utf8")).toBe(String(process.pid));
  });
});
