import { BastionError } from "../core/errors.ts";
import type { DocumentContext } from "./document-context.ts";
import type { DocumentService } from "./document-service.ts";
import { nowSeconds } from "./ids.ts";
import { findStoreRow, findVectorStoreFileRow, notFound } from "./rows.ts";
import type { VectorStoreFileTable, VectorStoreTable } from "./tables.ts";
import { isExpired } from "./wire.ts";

export type IndexOperations = Pick<DocumentService, "search" | "reindex" | "resume">;

/** Search over stores, and the upkeep of their indexes: re-embedding, resuming after a restart. */
export function createIndexOperations(context: DocumentContext): IndexOperations {
  const { db, ingestion, embedder, retriever } = context;
  const enqueue = ingestion.enqueue;
  const storeRow = (tenantId: string, id: string) => findStoreRow(db, tenantId, id);
  const vsFileRow = (tenantId: string, vectorStoreId: string, fileId: string) =>
    findVectorStoreFileRow(db, tenantId, vectorStoreId, fileId);

  return {
    async search(tenantId, vectorStoreIds, searchOptions) {
      const rows: VectorStoreTable[] = [];
      for (const id of vectorStoreIds) {
        const row = await storeRow(tenantId, id);
        if (isExpired(row))
          throw new BastionError(
            "invalid_request",
            `Vector store ${id} has expired (expires_after ${row.expires_after}); create a new one or extend it with an update.`,
            { param: "vector_store_ids" },
          );
        rows.push(row);
      }
      await db
        .updateTable("vector_stores")
        .set({ last_active_at: nowSeconds() })
        .where("id", "in", vectorStoreIds)
        .execute();
      return retriever.search(rows, searchOptions);
    },

    async reindex(tenantId, vectorStoreId, reindexOptions = {}) {
      let query = db.selectFrom("vector_stores").selectAll().where("id", "=", vectorStoreId);
      if (tenantId !== undefined) query = query.where("tenant_id", "=", tenantId);
      const row = await query.executeTakeFirst();
      if (row === undefined) throw notFound("vector store", vectorStoreId);
      const resolved = await embedder.resolve();
      const model = resolved?.model ?? "none";
      const files = await db
        .selectFrom("vector_store_files")
        .selectAll()
        .where("vector_store_id", "=", vectorStoreId)
        .orderBy("created_at")
        .orderBy("file_id")
        .execute();
      const todo = files.filter(
        (file: VectorStoreFileTable) =>
          reindexOptions.force === true || file.indexed_model !== model || file.status !== "completed",
      );
      // The store takes the new model now: files still to do are re-embedded one by one, and an
      // interrupted run picks up the rest next time (they still carry the old model).
      await db
        .updateTable("vector_stores")
        .set({ embedding_model: null, embedding_dimensions: null })
        .where("id", "=", vectorStoreId)
        .where("embedding_model", "!=", model)
        .execute();
      let failed = 0;
      let reembedded = 0;
      for (const file of todo) {
        if (reindexOptions.signal?.aborted) break;
        await db
          .updateTable("vector_store_files")
          .set({ status: "in_progress", last_error: null })
          .where("vector_store_id", "=", vectorStoreId)
          .where("file_id", "=", file.file_id)
          .execute();
        enqueue({
          tenantId: row.tenant_id,
          vectorStoreId,
          fileId: file.file_id,
          force: reindexOptions.force === true,
        });
        await ingestion.idle();
        const after = await vsFileRow(row.tenant_id, vectorStoreId, file.file_id).catch(() => undefined);
        if (after?.status === "completed") reembedded++;
        else failed++;
      }
      return { files: files.length, reembedded, failed };
    },

    async resume() {
      const pending = await db
        .selectFrom("vector_store_files")
        .selectAll()
        .where("status", "=", "in_progress")
        .execute();
      for (const row of pending)
        enqueue({
          tenantId: row.tenant_id,
          vectorStoreId: row.vector_store_id,
          fileId: row.file_id,
          force: false,
        });
      return pending.length;
    },
  };
}
