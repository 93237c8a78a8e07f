import type { Logger } from "pino";
import type { AssistantConfig, DocumentsConfig } from "../config/documents-config.ts";
import type { ModelRegistry } from "../core/backend.ts";
import { loadRanker, type Ranker } from "../engine/ranker.ts";
import type { PolicyEngine } from "../policy/types.ts";
import type { Store } from "../store/database.ts";
import { type Assistants, createAssistants } from "./assistants.ts";
import { createDocumentService, type DocumentService, type IngestionEvent } from "./document-service.ts";

export type { Assistants } from "./assistants.ts";
export type { DocumentService, IngestionEvent } from "./document-service.ts";

/** The documents module as the server mounts it. */
export interface Documents {
  service: DocumentService;
  assistants: Assistants;
  /** Largest multipart upload `POST /v1/files` takes. */
  maxUploadBytes: number;
  dispose(): Promise<void>;
}

export interface CreateDocumentsOptions {
  store: Store;
  registry: ModelRegistry;
  config: {
    documents: DocumentsConfig;
    assistants: readonly AssistantConfig[];
    /** The reranker runs with the chat models' thread count when it is a number. */
    engine?: { threads: "auto" | number };
  };
  /** The policy engine: personal data is detected at ingestion, and chunks bound for a remote embedder are checked. */
  policy?: PolicyEngine;
  logger?: Logger;
  onEvent?: (event: IngestionEvent) => void;
  /** Requeue ingestions a previous process left unfinished (default true). */
  resume?: boolean;
}

/**
 * Builds files, vector stores and assistants over the store: the config file's assistants are
 * written to the assistants table, interrupted ingestions resume, and the reranker (when
 * `documents.rerankerModel` is set) loads on first use.
 */
export async function createDocuments(options: CreateDocumentsOptions): Promise<Documents> {
  const { config } = options;
  let ranker: Promise<Ranker | undefined> | undefined;
  const rerankerPath = config.documents.rerankerModel;
  const rerankerThreads = typeof config.engine?.threads === "number" ? config.engine.threads : undefined;
  const service = createDocumentService({
    store: options.store,
    registry: options.registry,
    config: config.documents,
    ...(options.policy === undefined ? {} : { policy: options.policy }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
    ...(rerankerPath === undefined
      ? {}
      : {
          ranker: () => {
            if (ranker === undefined) {
              const started = performance.now();
              ranker = loadRanker({
                path: rerankerPath,
                ...(rerankerThreads === undefined ? {} : { threads: rerankerThreads }),
              }).then(
                (loaded) => {
                  // Operators see that searches now rerank, and with which model.
                  options.logger?.info(
                    { path: rerankerPath, ms: Math.round(performance.now() - started) },
                    "reranker loaded",
                  );
                  return loaded;
                },
                (error: unknown) => {
                  ranker = undefined;
                  throw error;
                },
              );
            }
            return ranker;
          },
        }),
  });
  const assistants = createAssistants(options.store, (id) => options.registry.get(id) !== undefined);
  await assistants.syncFromConfig(config.assistants);
  if (options.resume !== false) {
    await service.resume();
    const started = performance.now();
    const vectors = await service.warm();
    if (vectors > 0)
      options.logger?.info(
        { vectors, ms: Math.round(performance.now() - started) },
        "vector search copies built",
      );
  }
  return {
    service,
    assistants,
    maxUploadBytes: config.documents.maxUploadBytes,
    async dispose() {
      await service.dispose();
      await (await ranker?.catch(() => undefined))?.dispose();
    },
  };
}
