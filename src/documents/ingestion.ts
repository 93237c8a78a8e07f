import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { DocumentsConfig } from "../config/documents-config.ts";
import { BastionError } from "../core/errors.ts";
import type { Database } from "../store/schema.ts";
import { type Chunk, chunkDocument } from "./chunker.ts";
import type { Embedder, ResolvedEmbedder } from "./embedder.ts";
import { DocumentError } from "./errors.ts";
import { nowSeconds } from "./ids.ts";
import type { ChunkIndex } from "./index/chunk-index.ts";
import type { ParsedDocument } from "./parse/parsed-document.ts";
import { findFileRow, findStoreRow } from "./rows.ts";
import { approximateTokenizer } from "./tokenizer.ts";

export interface ChunkingStrategy {
  maxTokens: number;
  overlapTokens: number;
}

/** Ingestion progress, for the CLI and logs. */
export type IngestionEvent =
  | { type: "started"; vectorStoreId: string; fileId: string; chunks: number }
  | { type: "embedded"; vectorStoreId: string; fileId: string; done: number; total: number }
  | { type: "completed"; vectorStoreId: string; fileId: string; reused: boolean }
  | { type: "failed"; vectorStoreId: string; fileId: string; message: string }
  | { type: "cancelled"; vectorStoreId: string; fileId: string };

export interface IngestionJob {
  tenantId: string;
  vectorStoreId: string;
  fileId: string;
  /** Re-embed even when the content and model are unchanged. */
  force: boolean;
}

interface Job extends IngestionJob {
  controller: AbortController;
}

/** Files waiting to be indexed into vector stores, worked one at a time in the background. */
export interface IngestionQueue {
  /** Queues a file (replacing, and cancelling, a queued or running job for the same store and file). */
  enqueue(job: IngestionJob): void;
  /** Drops a queued job, or aborts a running one before it commits. */
  cancel(vectorStoreId: string, fileId: string): void;
  /** Resolves when nothing is queued or running. */
  idle(): Promise<void>;
  dispose(): Promise<void>;
}

export interface IngestionQueueOptions {
  db: Kysely<Database>;
  index: ChunkIndex;
  embedder: Embedder;
  config: DocumentsConfig;
  logger: Logger;
  onEvent?: (event: IngestionEvent) => void;
}

/**
 * Chunks, embeds and indexes files, one at a time: the chunks of a file, its vectors and its
 * keyword entries are committed in one transaction, only if the job was neither cancelled nor
 * overtaken by a deletion meanwhile. A failure is recorded as the store file's `last_error`.
 */
export function createIngestionQueue(options: IngestionQueueOptions): IngestionQueue {
  const { db, index, embedder, config, logger } = options;

  const queue: Job[] = [];
  const running = new Map<string, Job>();
  let worker: Promise<void> | undefined;
  let idleWaiters: Array<() => void> = [];
  let disposed = false;
  const emit = (event: IngestionEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // A progress listener never breaks ingestion.
    }
  };
  const jobKey = (vectorStoreId: string, fileId: string) => `${vectorStoreId}/${fileId}`;

  function enqueue(job: IngestionJob): void {
    if (disposed) return;
    const key = jobKey(job.vectorStoreId, job.fileId);
    running.get(key)?.controller.abort();
    const existing = queue.findIndex((queued) => jobKey(queued.vectorStoreId, queued.fileId) === key);
    if (existing >= 0) queue.splice(existing, 1);
    queue.push({ ...job, controller: new AbortController() });
    worker ??= runWorker().finally(() => {
      worker = undefined;
      if (queue.length > 0) enqueue(queue.shift()!);
      else {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    });
  }

  async function runWorker(): Promise<void> {
    while (queue.length > 0 && !disposed) {
      const job = queue.shift()!;
      const key = jobKey(job.vectorStoreId, job.fileId);
      running.set(key, job);
      try {
        await ingest(job);
      } catch (error) {
        logger.error({ err: error, fileId: job.fileId }, "ingestion failed unexpectedly");
      } finally {
        if (running.get(key) === job) running.delete(key);
      }
    }
  }

  async function setStatus(job: Job, status: string, lastError: { code: string; message: string } | null) {
    await db
      .updateTable("vector_store_files")
      .set({ status, last_error: lastError === null ? null : JSON.stringify(lastError) })
      .where("vector_store_id", "=", job.vectorStoreId)
      .where("file_id", "=", job.fileId)
      .where("status", "=", "in_progress")
      .execute();
  }

  /** Indexes one file into one store: chunks, embeddings and both indexes, committed together. */
  async function ingest(job: Job): Promise<void> {
    const { signal } = job.controller;
    const vsFile = await db
      .selectFrom("vector_store_files")
      .selectAll()
      .where("vector_store_id", "=", job.vectorStoreId)
      .where("file_id", "=", job.fileId)
      .executeTakeFirst();
    if (vsFile === undefined || vsFile.status !== "in_progress") return;
    try {
      const file = await findFileRow(db, job.tenantId, job.fileId);
      if (file.parsed === null)
        throw new DocumentError("invalid_file", file.status_details ?? "The file could not be parsed.");
      const vectorStore = await findStoreRow(db, job.tenantId, job.vectorStoreId);
      const resolved = await embedder.resolve();
      const model = resolved?.model ?? null;
      if (vectorStore.embedding_model !== null && model !== null && vectorStore.embedding_model !== model) {
        throw new DocumentError(
          "invalid_file",
          `Vector store ${vectorStore.id} holds embeddings of '${vectorStore.embedding_model}' (${vectorStore.embedding_dimensions} dimensions) but the embedding model is now '${model}'. Run \`bastion documents reindex ${vectorStore.id}\` to re-embed the store.`,
        );
      }
      const chunking = { maxTokens: vsFile.chunk_tokens, overlapTokens: vsFile.chunk_overlap };
      if (
        !job.force &&
        vsFile.indexed_hash === file.content_hash &&
        vsFile.indexed_model === (model ?? "none")
      ) {
        await setStatus(job, "completed", null);
        emit({ type: "completed", vectorStoreId: job.vectorStoreId, fileId: job.fileId, reused: true });
        return;
      }
      const reused = job.force
        ? undefined
        : await reusableChunks(job, file.content_hash, model ?? "none", chunking);
      let chunks: Chunk[];
      let vectors: Float32Array[];
      if (reused !== undefined) {
        ({ chunks, vectors } = reused);
      } else {
        const document = JSON.parse(file.parsed) as ParsedDocument;
        chunks = chunkDocument(document, chunking, resolved?.tokenizer ?? approximateTokenizer);
        emit({
          type: "started",
          vectorStoreId: job.vectorStoreId,
          fileId: job.fileId,
          chunks: chunks.length,
        });
        vectors = resolved === undefined ? [] : await embedAll(resolved, chunks, job, signal);
      }
      if (signal.aborted) throw signal.reason ?? new Error("cancelled");
      const dimensions = vectors[0]?.length ?? null;
      const usageBytes = chunks.reduce((sum, chunk) => sum + Buffer.byteLength(chunk.text), 0);
      const committed = await db.transaction().execute(async (trx) => {
        // The file or the store may have been deleted, or the job cancelled, while we embedded.
        const still = await trx
          .selectFrom("vector_store_files")
          .select("status")
          .where("vector_store_id", "=", job.vectorStoreId)
          .where("file_id", "=", job.fileId)
          .executeTakeFirst();
        if (still?.status !== "in_progress" || signal.aborted) return false;
        await index.removeFile(trx, job.vectorStoreId, job.fileId);
        await index.insert(
          trx,
          { tenantId: job.tenantId, vectorStoreId: job.vectorStoreId, fileId: job.fileId },
          chunks,
          vectors,
        );
        await trx
          .updateTable("vector_store_files")
          .set({
            status: "completed",
            last_error: null,
            usage_bytes: usageBytes,
            indexed_hash: file.content_hash,
            indexed_model: model ?? "none",
          })
          .where("vector_store_id", "=", job.vectorStoreId)
          .where("file_id", "=", job.fileId)
          .execute();
        if (model !== null && dimensions !== null) {
          await trx
            .updateTable("vector_stores")
            .set({ embedding_model: model, embedding_dimensions: dimensions, last_active_at: nowSeconds() })
            .where("id", "=", job.vectorStoreId)
            .where("embedding_model", "is", null)
            .execute();
        }
        return true;
      });
      if (committed)
        emit({
          type: "completed",
          vectorStoreId: job.vectorStoreId,
          fileId: job.fileId,
          reused: reused !== undefined,
        });
      else if (signal.aborted)
        emit({ type: "cancelled", vectorStoreId: job.vectorStoreId, fileId: job.fileId });
    } catch (error) {
      if (signal.aborted) {
        emit({ type: "cancelled", vectorStoreId: job.vectorStoreId, fileId: job.fileId });
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      const code = error instanceof DocumentError ? error.openaiCode : "server_error";
      if (!(error instanceof BastionError))
        logger.error({ err: error, fileId: job.fileId }, "ingestion error");
      await setStatus(job, "failed", { code, message });
      emit({ type: "failed", vectorStoreId: job.vectorStoreId, fileId: job.fileId, message });
    }
  }

  async function embedAll(resolved: ResolvedEmbedder, chunks: Chunk[], job: Job, signal: AbortSignal) {
    const vectors: Float32Array[] = [];
    for (let at = 0; at < chunks.length; at += config.embedBatch) {
      if (signal.aborted) throw signal.reason ?? new Error("cancelled");
      const batch = chunks.slice(at, at + config.embedBatch).map((chunk) => chunk.text);
      vectors.push(...(await resolved.embed(batch, signal)));
      emit({
        type: "embedded",
        vectorStoreId: job.vectorStoreId,
        fileId: job.fileId,
        done: vectors.length,
        total: chunks.length,
      });
    }
    return vectors;
  }

  /**
   * Chunks already built from the same content with the same model and chunking (the same
   * document uploaded again, or added to a second store): copied, not re-embedded.
   */
  async function reusableChunks(job: Job, hash: string, model: string, chunking: ChunkingStrategy) {
    const source = await db
      .selectFrom("vector_store_files")
      .select(["vector_store_id", "file_id"])
      .where("tenant_id", "=", job.tenantId)
      .where("indexed_hash", "=", hash)
      .where("indexed_model", "=", model)
      .where("status", "=", "completed")
      .where("chunk_tokens", "=", chunking.maxTokens)
      .where("chunk_overlap", "=", chunking.overlapTokens)
      .executeTakeFirst();
    if (source === undefined) return undefined;
    const rows = await db
      .selectFrom("document_chunks")
      .selectAll()
      .where("vector_store_id", "=", source.vector_store_id)
      .where("file_id", "=", source.file_id)
      .orderBy("seq")
      .execute();
    if (rows.length === 0) return undefined;
    const stored =
      model === "none"
        ? new Map<number, Float32Array>()
        : await index.readVectors(rows.map((row) => Number(row.id)));
    const vectors: Float32Array[] = [];
    if (model !== "none") {
      for (const row of rows) {
        const vector = stored.get(Number(row.id));
        if (vector === undefined) return undefined;
        vectors.push(vector);
      }
    }
    const chunks: Chunk[] = rows.map((row) => ({
      seq: row.seq,
      text: row.text,
      start: row.start_char,
      end: row.end_char,
      page: row.page,
      tokens: row.token_count,
    }));
    return { chunks, vectors };
  }

  return {
    enqueue,
    cancel(vectorStoreId, fileId) {
      const key = jobKey(vectorStoreId, fileId);
      running.get(key)?.controller.abort();
      const queued = queue.findIndex((job) => jobKey(job.vectorStoreId, job.fileId) === key);
      if (queued >= 0) queue.splice(queued, 1);
    },
    idle() {
      if (worker === undefined && queue.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    async dispose() {
      disposed = true;
      queue.length = 0;
      for (const job of running.values()) job.controller.abort();
      await worker?.catch(() => undefined);
    },
  };
}
