import type { Logger } from "pino";
import { pino } from "pino";
import type { DocumentsConfig } from "../config/documents-config.ts";
import type { ModelRegistry } from "../core/backend.ts";
import { BastionError } from "../core/errors.ts";
import type { Ranker } from "../engine/ranker.ts";
import type { PolicyEngine } from "../policy/types.ts";
import type { Store } from "../store/database.ts";
import type { DocumentContext } from "./document-context.ts";
import { createEmbedder, type Embedder } from "./embedder.ts";
import { createFileOperations } from "./file-operations.ts";
import type { Attributes, Filter } from "./filters.ts";
import type { ChunkIndex } from "./index/chunk-index.ts";
import { createPostgresChunkIndex } from "./index/postgres-index.ts";
import { createSqliteChunkIndex } from "./index/sqlite-index.ts";
import { createIndexOperations } from "./index-operations.ts";
import { type ChunkingStrategy, createIngestionQueue, type IngestionEvent } from "./ingestion.ts";
import type { ListPage, ListParams } from "./pagination.ts";
import { createRetriever, type Retriever, type SearchHit, type SearchOptions } from "./retrieval.ts";
import { createVectorStoreFileOperations } from "./vector-store-file-operations.ts";
import { createVectorStoreOperations } from "./vector-store-operations.ts";
import type { toBatchObject, toFileObject, toVectorStoreFileObject, toVectorStoreObject } from "./wire.ts";

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

/**
 * Creates the document service over a store; ingestion runs in the background, one file at a time.
 * The operations live in their own files (files, vector stores, store files and batches, search
 * and reindexing) over one shared context.
 */
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

  function eraseFromStores(fileId: string, vectorStoreIds: string[]): void {
    for (const vectorStoreId of vectorStoreIds) ingestion.cancel(vectorStoreId, fileId);
  }

  const context: DocumentContext = {
    db,
    index,
    ingestion,
    embedder,
    retriever,
    config,
    policy: options.policy,
    chunkingOf,
    eraseFromStores,
  };
  const storeFiles = createVectorStoreFileOperations(context);
  return {
    store,
    retriever,
    embedder,
    ...createFileOperations(context),
    ...createVectorStoreOperations(context, storeFiles),
    ...storeFiles,
    ...createIndexOperations(context),

    idle: () => ingestion.idle(),

    warm: async () => (await index.warm?.()) ?? 0,

    async dispose() {
      await ingestion.dispose();
      await embedder.dispose();
    },
  };
}

export type { Filter, SearchHit, SearchOptions };
