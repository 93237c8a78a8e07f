import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createAuditLog } from "../../audit/audit-log.ts";
import { loadOrCreateSigner } from "../../audit/signer.ts";
import { openStore, type Store } from "../../store/database.ts";
import type { Chunk } from "../chunker.ts";
import { createSqliteChunkIndex } from "./sqlite-index.ts";

describe("SQLite chunk index at size", () => {
  let store: Store;
  beforeEach(async () => {
    store = await openStore({ sqlitePath: ":memory:" });
  });
  afterEach(async () => {
    await store.destroy();
  });

  it("leaves terms found in most chunks out of a large keyword query without losing the match", async () => {
    const index = createSqliteChunkIndex(store.sqlite!);
    const chunks: Chunk[] = Array.from({ length: 2500 }, (_, seq) => {
      const text = seq === 1234 ? "common words and the zebracode" : `common words number ${seq}`;
      return { seq, text, start: 0, end: text.length, page: null, tokens: 5 };
    });
    await store.db.transaction().execute(async (trx) => {
      await index.insert(trx, { tenantId: "t", vectorStoreId: "vs", fileId: "f" }, chunks, []);
    });
    const scope = { vectorStoreIds: ["vs"] };
    const hits = await index.keyword(scope, "common words zebracode", 5);
    expect(hits.length).toBe(1);
    const [row] = await store.db
      .selectFrom("document_chunks")
      .select("text")
      .where("id", "=", hits[0]!.id)
      .execute();
    expect(row?.text).toContain("zebracode");
    // Only common terms: the rarest ones still run, so there are results.
    expect((await index.keyword(scope, "common words", 5)).length).toBe(5);
    // A term that arrives later is found at once (no stale zero count).
    await index.keyword(scope, "common lateword", 5);
    const late = "common words and the lateword";
    await store.db.transaction().execute(async (trx) => {
      await index.insert(
        trx,
        { tenantId: "t", vectorStoreId: "vs", fileId: "g" },
        [{ seq: 0, text: late, start: 0, end: late.length, page: null, tokens: 5 }],
        [],
      );
    });
    const after = await index.keyword(scope, "common lateword", 5);
    expect(after.length).toBe(1);
    const [found] = await store.db
      .selectFrom("document_chunks")
      .select("text")
      .where("id", "=", after[0]!.id)
      .execute();
    expect(found?.text).toBe(late);
  });
});

describe("a SQLite database that holds sqlite-vec tables", () => {
  it("reopens and migrates (regression: 'no such module: vec0' on the migrator's introspection)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bastion-vec-"));
    try {
      const first = await openStore({ sqlitePath: join(dir, "bastion.db") });
      const index = createSqliteChunkIndex(first.sqlite!);
      await first.db.transaction().execute(async (trx) => {
        await index.insert(
          trx,
          { tenantId: "t", vectorStoreId: "vs", fileId: "f" },
          [{ seq: 0, text: "hello", start: 0, end: 5, page: null, tokens: 1 }],
          [Float32Array.from([1, 0, 0, 0])],
        );
      });
      await first.destroy();
      const second = await openStore({ sqlitePath: join(dir, "bastion.db") });
      // A large index (here: any) builds its quantized copies up front.
      expect(await createSqliteChunkIndex(second.sqlite!, { quantizeAbove: 0 }).warm?.()).toBe(1);
      const rows = await second.db.selectFrom("document_chunks").select("text").execute();
      expect(rows).toEqual([{ text: "hello" }]);
      await second.db.deleteFrom("document_chunks").execute();
      await second.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the quantized vector copies of a SQLite chunk index", () => {
  const chunk = (text: string, seq = 0): Chunk => ({
    seq,
    text,
    start: 0,
    end: text.length,
    page: null,
    tokens: 1,
  });
  const scope = { vectorStoreIds: ["vs"] };
  let dir: string;
  let path: string;
  let store: Store;
  let builds: () => number;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "bastion-vec-cache-"));
    path = join(dir, "bastion.db");
    // A file, not :memory:, so that the shared writer commits on its own thread and connection.
    store = await openStore({ sqlitePath: path });
    // A copy is built by reading the store's chunk ids: count those reads.
    const prepare = vi.spyOn(store.sqlite!, "prepare");
    builds = () =>
      prepare.mock.calls.filter(
        ([text]) => text === "select id, file_id from document_chunks where vector_store_id = ?",
      ).length;
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await store.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  async function insert(
    index: ReturnType<typeof createSqliteChunkIndex>,
    target: Store,
    fileId: string,
    vector: number[],
  ) {
    await target.db.transaction().execute(async (trx) => {
      await index.insert(
        trx,
        { tenantId: "t", vectorStoreId: "vs", fileId },
        [chunk(`text of ${fileId}`)],
        [Float32Array.from(vector)],
      );
    });
  }

  async function top(index: ReturnType<typeof createSqliteChunkIndex>, vector: number[]) {
    const [hit] = await index.vector(scope, Float32Array.from(vector), 1);
    const row =
      hit === undefined
        ? undefined
        : await store.db
            .selectFrom("document_chunks")
            .select("file_id")
            .where("id", "=", hit.id)
            .executeTakeFirst();
    return { fileId: row?.file_id, score: hit?.score ?? 0 };
  }

  it("survives audit records committed by the shared writer's connection (its usage rows alike)", async () => {
    const index = createSqliteChunkIndex(store.sqlite!, { quantizeAbove: 0 });
    await insert(index, store, "f", [1, 0, 0, 0]);
    await insert(index, store, "g", [0, 1, 0, 0]);
    expect((await top(index, [1, 0, 0, 0])).fileId).toBe("f");
    expect(builds()).toBe(1);
    const dataVersion = store.sqlite!.pragma("data_version", { simple: true });
    const audit = createAuditLog({
      store,
      signer: loadOrCreateSigner(join(dir, "audit-key.pem"), "test"),
      origin: "test",
      checkpointEvery: 1000,
      checkpointSeconds: 0,
    });
    for (let at = 0; at < 3; at++)
      await audit.appendEvent({ action: "key.revoked", target: { type: "key", id: `k${at}` } });
    await audit.close();
    // The writes did come from another connection (the old signal for dropping the copies).
    expect(store.sqlite!.pragma("data_version", { simple: true })).not.toBe(dataVersion);
    expect((await top(index, [0, 1, 0, 0])).fileId).toBe("g");
    expect(builds()).toBe(1);
    // This process's own chunk writes update the copy in place.
    await insert(index, store, "h", [0, 0, 1, 0]);
    expect((await top(index, [0, 0, 1, 0])).fileId).toBe("h");
    await store.db.transaction().execute(async (trx) => index.removeFile(trx, "vs", "h"));
    expect((await top(index, [0, 0, 1, 0])).fileId).not.toBe("h");
    expect(builds()).toBe(1);
  });

  it("keeps what warm() built for the first search", async () => {
    await insert(createSqliteChunkIndex(store.sqlite!), store, "f", [1, 0, 0, 0]);
    const index = createSqliteChunkIndex(store.sqlite!, { quantizeAbove: 0 });
    expect(await index.warm?.()).toBe(1);
    expect(builds()).toBe(1);
    expect((await top(index, [1, 0, 0, 0])).fileId).toBe("f");
    expect(builds()).toBe(1);
  });

  it("drops them when another connection inserts or deletes chunks", async () => {
    const index = createSqliteChunkIndex(store.sqlite!, { quantizeAbove: 0 });
    await insert(index, store, "f", [1, 0, 0, 0]);
    expect((await top(index, [0, 0, 1, 0])).fileId).toBe("f");
    const other = await openStore({ sqlitePath: path });
    try {
      const otherIndex = createSqliteChunkIndex(other.sqlite!);
      await insert(otherIndex, other, "g", [0, 0, 1, 0]);
      expect(await top(index, [0, 0, 1, 0])).toEqual({ fileId: "g", score: expect.closeTo(1, 5) });
      await other.db.transaction().execute(async (trx) => otherIndex.removeFile(trx, "vs", "g"));
      expect((await top(index, [0, 0, 1, 0])).fileId).toBe("f");
      expect(builds()).toBe(3);
    } finally {
      await other.destroy();
    }
  });

  it("forgets rows of a write that rolled back, whose ids the next insert takes again", async () => {
    const index = createSqliteChunkIndex(store.sqlite!, { quantizeAbove: 0 });
    await insert(index, store, "f", [1, 0, 0, 0]);
    expect((await top(index, [1, 0, 0, 0])).fileId).toBe("f");
    // Rolled back after the index's write completed.
    await expect(
      store.db.transaction().execute(async (trx) => {
        await index.insert(
          trx,
          { tenantId: "t", vectorStoreId: "vs", fileId: "gone" },
          [chunk("gone")],
          [Float32Array.from([0, 0, 0, 1])],
        );
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    expect((await top(index, [0, 0, 0, 1])).score).toBeLessThan(0.5);
    // Failed inside the index's write: the first chunk (and its vector) went in, the second fails.
    await expect(
      store.db.transaction().execute(async (trx) => {
        await index.insert(
          trx,
          { tenantId: "t", vectorStoreId: "vs", fileId: "broken" },
          [chunk("first"), { ...chunk("second", 1), text: null as unknown as string }],
          [Float32Array.from([0, 0, 0, 1]), Float32Array.from([0, 0, 0, 1])],
        );
      }),
    ).rejects.toThrow(/NOT NULL/);
    // The next insert reuses the rolled-back chunk id with another vector.
    await insert(index, store, "next", [0, 1, 0, 0]);
    expect((await top(index, [0, 0, 0, 1])).score).toBeLessThan(0.5);
    expect((await top(index, [0, 1, 0, 0])).fileId).toBe("next");
  });
});
