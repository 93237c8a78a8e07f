import { BastionError } from "../core/errors.ts";
import type { DocumentContext } from "./document-context.ts";
import type { BatchObject, DocumentService, VectorStoreFileObject } from "./document-service.ts";
import { type Attributes, attributesSchema } from "./filters.ts";
import { newId, nowSeconds, parseJson } from "./ids.ts";
import type { ChunkingStrategy } from "./ingestion.ts";
import { paginate } from "./pagination.ts";
import { batchFileIds, findFileRow, findStoreRow, findVectorStoreFileRow, notFound } from "./rows.ts";
import { countStatuses, toBatchObject, toVectorStoreFileObject } from "./wire.ts";

export type VectorStoreFileOperations = Pick<
  DocumentService,
  | "addFile"
  | "listVectorStoreFiles"
  | "getVectorStoreFile"
  | "updateVectorStoreFile"
  | "removeVectorStoreFile"
  | "vectorStoreFileContent"
  | "createBatch"
  | "getBatch"
  | "cancelBatch"
>;

/**
 * A store's files and file batches: adding one queues its ingestion, removing one takes its
 * chunks out of both indexes (the file itself stays).
 */
export function createVectorStoreFileOperations(context: DocumentContext): VectorStoreFileOperations {
  const { db, index, ingestion, chunkingOf, eraseFromStores } = context;
  const enqueue = ingestion.enqueue;
  const fileRow = (tenantId: string, fileId: string) => findFileRow(db, tenantId, fileId);
  const storeRow = (tenantId: string, id: string) => findStoreRow(db, tenantId, id);
  const vsFileRow = (tenantId: string, vectorStoreId: string, fileId: string) =>
    findVectorStoreFileRow(db, tenantId, vectorStoreId, fileId);

  async function addFile(
    tenantId: string,
    vectorStoreId: string,
    input: { fileId: string; attributes?: Attributes; chunking?: ChunkingStrategy; batchId?: string },
  ): Promise<VectorStoreFileObject> {
    await storeRow(tenantId, vectorStoreId);
    const file = await fileRow(tenantId, input.fileId);
    const attributes = attributesSchema.parse(input.attributes ?? {});
    const chunking = chunkingOf(input.chunking);
    const now = nowSeconds();
    const failed = file.parsed === null;
    const lastError = failed
      ? JSON.stringify({
          code: "invalid_file",
          message: file.status_details ?? "The file could not be parsed.",
        })
      : null;
    const existing = await db
      .selectFrom("vector_store_files")
      .selectAll()
      .where("vector_store_id", "=", vectorStoreId)
      .where("file_id", "=", file.id)
      .executeTakeFirst();
    const values = {
      status: failed ? "failed" : "in_progress",
      last_error: lastError,
      attributes: JSON.stringify(attributes),
      chunk_tokens: chunking.maxTokens,
      chunk_overlap: chunking.overlapTokens,
      batch_id: input.batchId ?? null,
    };
    if (existing === undefined) {
      await db
        .insertInto("vector_store_files")
        .values({
          vector_store_id: vectorStoreId,
          file_id: file.id,
          tenant_id: tenantId,
          usage_bytes: 0,
          created_at: now,
          indexed_hash: null,
          indexed_model: null,
          ...values,
        })
        .execute();
    } else {
      await db
        .updateTable("vector_store_files")
        .set(values)
        .where("vector_store_id", "=", vectorStoreId)
        .where("file_id", "=", file.id)
        .execute();
    }
    await db
      .updateTable("vector_stores")
      .set({ last_active_at: now })
      .where("id", "=", vectorStoreId)
      .execute();
    if (!failed) enqueue({ tenantId, vectorStoreId, fileId: file.id, force: false });
    return toVectorStoreFileObject(await vsFileRow(tenantId, vectorStoreId, file.id));
  }

  async function batchObject(tenantId: string, vectorStoreId: string, batchId: string): Promise<BatchObject> {
    const batch = await db
      .selectFrom("vector_store_file_batches")
      .selectAll()
      .where("tenant_id", "=", tenantId)
      .where("vector_store_id", "=", vectorStoreId)
      .where("id", "=", batchId)
      .executeTakeFirst();
    if (batch === undefined) throw notFound("file batch", batchId);
    const ids = parseJson<string[]>(batch.file_ids, []);
    const rows =
      ids.length === 0
        ? []
        : await db
            .selectFrom("vector_store_files")
            .select(["status", "batch_id"])
            .where("vector_store_id", "=", vectorStoreId)
            .where("file_id", "in", ids)
            .execute();
    return toBatchObject(batch, countStatuses(rows.map((row) => row.status)));
  }

  const storeFiles: VectorStoreFileOperations = {
    addFile,

    async listVectorStoreFiles(tenantId, vectorStoreId, params) {
      await storeRow(tenantId, vectorStoreId);
      let query = db
        .selectFrom("vector_store_files")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("vector_store_id", "=", vectorStoreId);
      if (params.filter !== undefined) query = query.where("status", "=", params.filter);
      if (params.batchId !== undefined) {
        const batch = await batchObject(tenantId, vectorStoreId, params.batchId);
        const ids = await batchFileIds(db, batch.id);
        if (ids.length === 0) return paginate([], params);
        query = query.where("file_id", "in", ids);
      }
      const rows = await query.orderBy("created_at").orderBy("file_id").execute();
      return paginate(rows.map(toVectorStoreFileObject), params);
    },

    async getVectorStoreFile(tenantId, vectorStoreId, fileId) {
      await storeRow(tenantId, vectorStoreId);
      return toVectorStoreFileObject(await vsFileRow(tenantId, vectorStoreId, fileId));
    },

    async updateVectorStoreFile(tenantId, vectorStoreId, fileId, attributes) {
      await storeRow(tenantId, vectorStoreId);
      await vsFileRow(tenantId, vectorStoreId, fileId);
      const checked = attributesSchema.parse(attributes);
      await db
        .updateTable("vector_store_files")
        .set({ attributes: JSON.stringify(checked) })
        .where("vector_store_id", "=", vectorStoreId)
        .where("file_id", "=", fileId)
        .execute();
      return storeFiles.getVectorStoreFile(tenantId, vectorStoreId, fileId);
    },

    async removeVectorStoreFile(tenantId, vectorStoreId, fileId) {
      await storeRow(tenantId, vectorStoreId);
      await vsFileRow(tenantId, vectorStoreId, fileId);
      eraseFromStores(fileId, [vectorStoreId]);
      await db.transaction().execute(async (trx) => {
        await index.removeFile(trx, vectorStoreId, fileId);
        await trx
          .deleteFrom("vector_store_files")
          .where("vector_store_id", "=", vectorStoreId)
          .where("file_id", "=", fileId)
          .execute();
      });
      return { id: fileId, object: "vector_store.file.deleted", deleted: true };
    },

    async vectorStoreFileContent(tenantId, vectorStoreId, fileId) {
      await storeRow(tenantId, vectorStoreId);
      await vsFileRow(tenantId, vectorStoreId, fileId);
      const rows = await db
        .selectFrom("document_chunks")
        .select(["text", "start_char", "end_char"])
        .where("vector_store_id", "=", vectorStoreId)
        .where("file_id", "=", fileId)
        .orderBy("seq")
        .execute();
      return rows.map((row) => ({ type: "text" as const, text: row.text }));
    },

    async createBatch(tenantId, vectorStoreId, input) {
      await storeRow(tenantId, vectorStoreId);
      if (input.fileIds.length === 0)
        throw new BastionError("invalid_request", "'file_ids' must list at least one file.", {
          param: "file_ids",
        });
      for (const fileId of input.fileIds) await fileRow(tenantId, fileId);
      const id = newId("vsfb");
      await db
        .insertInto("vector_store_file_batches")
        .values({
          id,
          vector_store_id: vectorStoreId,
          tenant_id: tenantId,
          status: "in_progress",
          created_at: nowSeconds(),
          file_ids: JSON.stringify([...new Set(input.fileIds)]),
        })
        .execute();
      for (const fileId of new Set(input.fileIds)) {
        await addFile(tenantId, vectorStoreId, {
          fileId,
          batchId: id,
          ...(input.attributes === undefined ? {} : { attributes: input.attributes }),
          ...(input.chunking === undefined ? {} : { chunking: input.chunking }),
        });
      }
      return batchObject(tenantId, vectorStoreId, id);
    },

    getBatch: batchObject,

    async cancelBatch(tenantId, vectorStoreId, batchId) {
      await batchObject(tenantId, vectorStoreId, batchId);
      const ids = await batchFileIds(db, batchId);
      for (const fileId of ids) ingestion.cancel(vectorStoreId, fileId);
      if (ids.length > 0) {
        await db
          .updateTable("vector_store_files")
          .set({ status: "cancelled" })
          .where("vector_store_id", "=", vectorStoreId)
          .where("file_id", "in", ids)
          .where("status", "=", "in_progress")
          .execute();
      }
      await db
        .updateTable("vector_store_file_batches")
        .set({ status: "cancelled" })
        .where("id", "=", batchId)
        .execute();
      return batchObject(tenantId, vectorStoreId, batchId);
    },
  };
  return storeFiles;
}
