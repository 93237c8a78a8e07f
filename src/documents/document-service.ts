import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { pino } from "pino";
import type { DocumentsConfig } from "../config/documents-config.ts";
import type { ModelRegistry } from "../core/backend.ts";
import { BastionError } from "../core/errors.ts";
import type { Ranker } from "../engine/ranker.ts";
import type { PolicyEngine } from "../policy/types.ts";
import type { Store } from "../store/database.ts";
import { createEmbedder, type Embedder } from "./embedder.ts";
import { DocumentError } from "./errors.ts";
import { type Attributes, attributesSchema, type Filter } from "./filters.ts";
import { newId, nowSeconds, parseJson } from "./ids.ts";
import type { ChunkIndex } from "./index/chunk-index.ts";
import { createPostgresChunkIndex } from "./index/postgres-index.ts";
import { createSqliteChunkIndex } from "./index/sqlite-index.ts";
import { type ChunkingStrategy, createIngestionQueue, type IngestionEvent } from "./ingestion.ts";
import { type ListPage, type ListParams, paginate } from "./pagination.ts";
import { detectFormat, mimeTypes, parseDocument } from "./parse/parse-document.ts";
import type { ParsedDocument } from "./parse/parsed-document.ts";
import { createRetriever, type Retriever, type SearchHit, type SearchOptions } from "./retrieval.ts";
import {
  batchFileIds,
  fileColumns,
  findFileRow,
  findStoreRow,
  findVectorStoreFileRow,
  notFound,
} from "./rows.ts";
import type { VectorStoreFileTable, VectorStoreTable } from "./tables.ts";
import {
  countStatuses,
  isExpired,
  toBatchObject,
  toFileObject,
  toVectorStoreFileObject,
  toVectorStoreObject,
} from "./wire.ts";

export type FileObject = ReturnType<typeof toFileObject>;
export type VectorStoreObject = ReturnType<typeof toVectorStoreObject>;
export type VectorStoreFileObject = ReturnType<typeof toVectorStoreFileObject>;
export type BatchObject = ReturnType<typeof toBatchObject>;

export type { ChunkingStrategy, IngestionEvent };

export interface DocumentServiceOptions {
  store: Store;
  registry: ModelRegistry;
  config: DocumentsConfig;
  policy?: PolicyEngine;
  /** The cross-encoder for reranking, loaded on first use; none when absent. */
  ranker?: () => Promise<Ranker | undefined>;
  logger?: Logger;
  onEvent?: (event: IngestionEvent) => void;
}

/**
 * Files, vector stores and their ingestion, scoped by tenant: every read and write names the
 * tenant, and another tenant's object answers 404 exactly as a missing one does.
 */
export interface DocumentService {
  readonly store: Store;
  readonly retriever: Retriever;
  readonly embedder: Embedder;
  createFile(
    tenantId: string,
    input: { filename: string; purpose: string; content: Uint8Array },
  ): Promise<FileObject>;
  listFiles(tenantId: string, params: ListParams & { purpose?: string }): Promise<ListPage<FileObject>>;
  getFile(tenantId: string, fileId: string): Promise<FileObject>;
  fileContent(
    tenantId: string,
    fileId: string,
  ): Promise<{ filename: string; mime: string; content: Uint8Array }>;
  /** Erases the file, and its chunks from every vector store's keyword and vector index. */
  deleteFile(tenantId: string, fileId: string): Promise<{ id: string; object: "file"; deleted: true }>;

  createVectorStore(
    tenantId: string,
    input: {
      name?: string;
      metadata?: Record<string, string>;
      fileIds?: string[];
      expiresAfter?: { anchor: "last_active_at"; days: number };
      chunking?: ChunkingStrategy;
    },
  ): Promise<VectorStoreObject>;
  getVectorStore(tenantId: string, id: string): Promise<VectorStoreObject>;
  listVectorStores(tenantId: string, params: ListParams): Promise<ListPage<VectorStoreObject>>;
  updateVectorStore(
    tenantId: string,
    id: string,
    input: {
      name?: string;
      metadata?: Record<string, string> | null;
      expiresAfter?: { anchor: "last_active_at"; days: number } | null;
    },
  ): Promise<VectorStoreObject>;
  deleteVectorStore(
    tenantId: string,
    id: string,
  ): Promise<{ id: string; object: "vector_store.deleted"; deleted: true }>;

  addFile(
    tenantId: string,
    vectorStoreId: string,
    input: { fileId: string; attributes?: Attributes; chunking?: ChunkingStrategy; batchId?: string },
  ): Promise<VectorStoreFileObject>;
  listVectorStoreFiles(
    tenantId: string,
    vectorStoreId: string,
    params: ListParams & { filter?: string; batchId?: string },
  ): Promise<ListPage<VectorStoreFileObject>>;
  getVectorStoreFile(tenantId: string, vectorStoreId: string, fileId: string): Promise<VectorStoreFileObject>;
  updateVectorStoreFile(
    tenantId: string,
    vectorStoreId: string,
    fileId: string,
    attributes: Attributes,
  ): Promise<VectorStoreFileObject>;
  /** Removes the file from the store (its chunks leave both indexes); the file itself stays. */
  removeVectorStoreFile(
    tenantId: string,
    vectorStoreId: string,
    fileId: string,
  ): Promise<{ id: string; object: "vector_store.file.deleted"; deleted: true }>;
  vectorStoreFileContent(
    tenantId: string,
    vectorStoreId: string,
    fileId: string,
  ): Promise<Array<{ type: "text"; text: string }>>;

  createBatch(
    tenantId: string,
    vectorStoreId: string,
    input: { fileIds: string[]; attributes?: Attributes; chunking?: ChunkingStrategy },
  ): Promise<BatchObject>;
  getBatch(tenantId: string, vectorStoreId: string, batchId: string): Promise<BatchObject>;
  cancelBatch(tenantId: string, vectorStoreId: string, batchId: string): Promise<BatchObject>;

  search(tenantId: string, vectorStoreIds: string[], options: SearchOptions): Promise<SearchHit[]>;
  /**
   * Re-embeds every file of a store whose chunks were embedded with another model (or all with
   * `force`), file by file: interrupted, it resumes where it stopped.
   */
  reindex(
    tenantId: string | undefined,
    vectorStoreId: string,
    options?: { force?: boolean; signal?: AbortSignal },
  ): Promise<{ files: number; reembedded: number; failed: number }>;
  /** Resolves when no ingestion is queued or running. */
  idle(): Promise<void>;
  /** Requeues files left `in_progress` by a previous process (called at start). */
  resume(): Promise<number>;
  /**
   * Builds the in-memory vector search copies of large stores now (at start), so that no request
   * waits for one; returns the vectors loaded.
   */
  warm(): Promise<number>;
  dispose(): Promise<void>;
}

const storedParse = (document: ParsedDocument) => JSON.stringify(document);

/** Creates the document service over a store; ingestion runs in the background, one file at a time. */
export function createDocumentService(options: DocumentServiceOptions): DocumentService {
  const { store, config } = options;
  const db = store.db;
  const logger = options.logger ?? pino({ level: "silent" });
  const index: ChunkIndex =
    store.dialect === "sqlite" && store.sqlite !== undefined
      ? createSqliteChunkIndex(store.sqlite, { quantizeAbove: config.vectorQuantizeAbove })
      : createPostgresChunkIndex(db);
  const embedder = createEmbedder({
    registry: options.registry,
    ...(config.embeddingModel === undefined ? {} : { model: config.embeddingModel }),
    ...(options.policy === undefined ? {} : { policy: options.policy }),
  });
  const retriever = createRetriever({
    store,
    index,
    embedder,
    config,
    ...(options.ranker === undefined ? {} : { ranker: options.ranker }),
  });
  const defaultChunking: ChunkingStrategy = {
    maxTokens: config.chunkTokens,
    overlapTokens: Math.min(config.chunkOverlapTokens, Math.floor(config.chunkTokens / 2)),
  };

  const ingestion = createIngestionQueue({
    db,
    index,
    embedder,
    config,
    logger,
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
  });
  const enqueue = ingestion.enqueue;

  const fileRow = (tenantId: string, fileId: string) => findFileRow(db, tenantId, fileId);
  const storeRow = (tenantId: string, id: string) => findStoreRow(db, tenantId, id);
  const vsFileRow = (tenantId: string, vectorStoreId: string, fileId: string) =>
    findVectorStoreFileRow(db, tenantId, vectorStoreId, fileId);

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

  function chunkingOf(input: ChunkingStrategy | undefined): ChunkingStrategy {
    const chosen = input ?? defaultChunking;
    if (chosen.overlapTokens > chosen.maxTokens / 2)
      throw new BastionError(
        "invalid_request",
        "'chunk_overlap_tokens' must not exceed half of 'max_chunk_size_tokens'.",
        { param: "chunking_strategy" },
      );
    return chosen;
  }

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

  function eraseFromStores(fileId: string, vectorStoreIds: string[]): void {
    for (const vectorStoreId of vectorStoreIds) ingestion.cancel(vectorStoreId, fileId);
  }

  const service: DocumentService = {
    store,
    retriever,
    embedder,

    async createFile(tenantId, input) {
      if (input.purpose !== "assistants" && input.purpose !== "user_data")
        throw new BastionError("invalid_request", "'purpose' must be 'assistants' or 'user_data'.", {
          param: "purpose",
        });
      const filename = input.filename.trim() === "" ? "upload" : input.filename.slice(0, 255);
      const content = input.content;
      let status = "processed";
      let details: string | null = null;
      let parsed: string | null = null;
      let pages: number | null = null;
      let mime = "application/octet-stream";
      let personal: Record<string, number> = {};
      try {
        mime = mimeTypes[detectFormat(filename, content)];
        if (content.length > config.maxFileBytes)
          throw new DocumentError(
            "too_large",
            `The file is ${content.length} bytes; documents.maxFileBytes allows ${config.maxFileBytes}. Split it, or raise the limit.`,
          );
        const document = await parseDocument(filename, content);
        if (document.text.length > config.maxTextChars)
          throw new DocumentError(
            "too_large",
            `The file holds ${document.text.length} characters of text; documents.maxTextChars allows ${config.maxTextChars}. Split it.`,
          );
        pages = document.pages;
        if (options.policy !== undefined) {
          try {
            personal = options.policy.inspectText(document.text).counts;
          } catch (error) {
            throw new DocumentError(
              "invalid_file",
              `Personal-data detection failed (${(error as Error).message}); the file is not indexed.`,
            );
          }
        }
        parsed = storedParse(document);
      } catch (error) {
        if (!(error instanceof DocumentError)) throw error;
        status = "error";
        details = error.message;
        parsed = null;
      }
      const id = newId("file-");
      await db
        .insertInto("document_files")
        .values({
          id,
          tenant_id: tenantId,
          filename,
          purpose: input.purpose,
          bytes: content.length,
          content_hash: createHash("sha256").update(content).digest("hex"),
          mime,
          created_at: nowSeconds(),
          status,
          status_details: details,
          content: Buffer.from(content),
          parsed,
          pages,
          personal_data: JSON.stringify(personal),
        })
        .execute();
      return service.getFile(tenantId, id);
    },

    async listFiles(tenantId, params) {
      let query = db.selectFrom("document_files").select(fileColumns).where("tenant_id", "=", tenantId);
      if (params.purpose !== undefined) query = query.where("purpose", "=", params.purpose);
      const rows = await query.orderBy("created_at").orderBy("id").execute();
      return paginate(rows.map(toFileObject), params, 10_000);
    },

    async getFile(tenantId, fileId) {
      const row = await db
        .selectFrom("document_files")
        .select(fileColumns)
        .where("tenant_id", "=", tenantId)
        .where("id", "=", fileId)
        .executeTakeFirst();
      if (row === undefined) throw notFound("file", fileId);
      return toFileObject(row);
    },

    async fileContent(tenantId, fileId) {
      const row = await fileRow(tenantId, fileId);
      return { filename: row.filename, mime: row.mime, content: new Uint8Array(row.content) };
    },

    async deleteFile(tenantId, fileId) {
      await fileRow(tenantId, fileId);
      const memberships = await db
        .selectFrom("vector_store_files")
        .select("vector_store_id")
        .where("file_id", "=", fileId)
        .where("tenant_id", "=", tenantId)
        .execute();
      const storeIds = memberships.map((row) => row.vector_store_id);
      eraseFromStores(fileId, storeIds);
      await db.transaction().execute(async (trx) => {
        for (const vectorStoreId of storeIds) await index.removeFile(trx, vectorStoreId, fileId);
        await trx
          .deleteFrom("vector_store_files")
          .where("file_id", "=", fileId)
          .where("tenant_id", "=", tenantId)
          .execute();
        await trx
          .deleteFrom("document_files")
          .where("id", "=", fileId)
          .where("tenant_id", "=", tenantId)
          .execute();
      });
      return { id: fileId, object: "file", deleted: true };
    },

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
      return service.getVectorStore(tenantId, id);
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
      return service.getVectorStore(tenantId, id);
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
      return service.getVectorStoreFile(tenantId, vectorStoreId, fileId);
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
        await service.idle();
        const after = await vsFileRow(row.tenant_id, vectorStoreId, file.file_id).catch(() => undefined);
        if (after?.status === "completed") reembedded++;
        else failed++;
      }
      return { files: files.length, reembedded, failed };
    },

    idle: () => ingestion.idle(),

    warm: async () => (await index.warm?.()) ?? 0,

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

    async dispose() {
      await ingestion.dispose();
      await embedder.dispose();
    },
  };
  return service;
}

export type { Filter, SearchHit, SearchOptions };
