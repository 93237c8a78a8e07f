import type { DocumentContext } from "./document-context.ts";
import type { DocumentService, VectorStoreObject } from "./document-service.ts";
import { newId, nowSeconds, parseJson } from "./ids.ts";
import { paginate } from "./pagination.ts";
import { findFileRow, findStoreRow } from "./rows.ts";
import type { VectorStoreTable } from "./tables.ts";
import { countStatuses, toVectorStoreObject } from "./wire.ts";

export type VectorStoreOperations = Pick<
  DocumentService,
  "createVectorStore" | "getVectorStore" | "listVectorStores" | "updateVectorStore" | "deleteVectorStore"
>;

/** Vector stores themselves; their files come in through `addFile` of the store-file operations. */
export function createVectorStoreOperations(
  context: DocumentContext,
  storeFiles: Pick<DocumentService, "addFile">,
): VectorStoreOperations {
  const { db, index, chunkingOf, eraseFromStores } = context;
  const { addFile } = storeFiles;
  const fileRow = (tenantId: string, fileId: string) => findFileRow(db, tenantId, fileId);
  const storeRow = (tenantId: string, id: string) => findStoreRow(db, tenantId, id);

  async function vectorStoreObject(row: VectorStoreTable): Promise<VectorStoreObject> {
    const files = await db
      .selectFrom("vector_store_files")
      .innerJoin("document_files", "document_files.id", "vector_store_files.file_id")
      .select(["vector_store_files.status", "vector_store_files.usage_bytes", "document_files.personal_data"])
      .where("vector_store_files.vector_store_id", "=", row.id)
      .execute();
    const personal: Record<string, number> = {};
    for (const file of files) {
      if (file.status !== "completed") continue;
      for (const [type, count] of Object.entries(parseJson<Record<string, number>>(file.personal_data, {})))
        personal[type] = (personal[type] ?? 0) + count;
    }
    const usage = files.reduce((sum, file) => sum + Number(file.usage_bytes), 0);
    return toVectorStoreObject(row, countStatuses(files.map((file) => file.status)), usage, personal);
  }

  const stores: VectorStoreOperations = {
    async createVectorStore(tenantId, input) {
      const now = nowSeconds();
      const id = newId("vs");
      const fileIds = input.fileIds ?? [];
      for (const fileId of fileIds) await fileRow(tenantId, fileId);
      const chunking = chunkingOf(input.chunking);
      await db
        .insertInto("vector_stores")
        .values({
          id,
          tenant_id: tenantId,
          name: input.name ?? "",
          metadata: JSON.stringify(input.metadata ?? {}),
          created_at: now,
          last_active_at: now,
          expires_after: input.expiresAfter === undefined ? null : JSON.stringify(input.expiresAfter),
          embedding_model: null,
          embedding_dimensions: null,
        })
        .execute();
      for (const fileId of fileIds) await addFile(tenantId, id, { fileId, chunking });
      return stores.getVectorStore(tenantId, id);
    },

    async getVectorStore(tenantId, id) {
      return vectorStoreObject(await storeRow(tenantId, id));
    },

    async listVectorStores(tenantId, params) {
      const rows = await db
        .selectFrom("vector_stores")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .orderBy("created_at")
        .orderBy("id")
        .execute();
      const page = paginate(rows, params);
      return { ...page, data: await Promise.all(page.data.map(vectorStoreObject)) };
    },

    async updateVectorStore(tenantId, id, input) {
      await storeRow(tenantId, id);
      const set: Partial<VectorStoreTable> = { last_active_at: nowSeconds() };
      if (input.name !== undefined) set.name = input.name;
      if (input.metadata !== undefined) set.metadata = JSON.stringify(input.metadata ?? {});
      if (input.expiresAfter !== undefined)
        set.expires_after = input.expiresAfter === null ? null : JSON.stringify(input.expiresAfter);
      await db
        .updateTable("vector_stores")
        .set(set)
        .where("id", "=", id)
        .where("tenant_id", "=", tenantId)
        .execute();
      return stores.getVectorStore(tenantId, id);
    },

    async deleteVectorStore(tenantId, id) {
      await storeRow(tenantId, id);
      const files = await db
        .selectFrom("vector_store_files")
        .select("file_id")
        .where("vector_store_id", "=", id)
        .execute();
      for (const file of files) eraseFromStores(file.file_id, [id]);
      await db.transaction().execute(async (trx) => {
        await index.removeStore(trx, id);
        await trx.deleteFrom("vector_store_files").where("vector_store_id", "=", id).execute();
        await trx.deleteFrom("vector_store_file_batches").where("vector_store_id", "=", id).execute();
        await trx
          .deleteFrom("vector_stores")
          .where("id", "=", id)
          .where("tenant_id", "=", tenantId)
          .execute();
      });
      return { id, object: "vector_store.deleted", deleted: true };
    },
  };
  return stores;
}
