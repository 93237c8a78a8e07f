import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
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
