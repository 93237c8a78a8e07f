import type { Kysely } from "kysely";
import type { DocumentsConfig } from "../config/documents-config.ts";
import type { PolicyEngine } from "../policy/types.ts";
import type { Database } from "../store/schema.ts";
import type { Embedder } from "./embedder.ts";
import type { ChunkIndex } from "./index/chunk-index.ts";
import type { ChunkingStrategy, IngestionQueue } from "./ingestion.ts";
import type { Retriever } from "./retrieval.ts";

/** What the document service's parts (files, stores, store files, search) share. */
export interface DocumentContext {
  db: Kysely<Database>;
  index: ChunkIndex;
  ingestion: IngestionQueue;
  embedder: Embedder;
  retriever: Retriever;
  config: DocumentsConfig;
  policy: PolicyEngine | undefined;
  /** The chunking asked for, else the configured one; an overlap over half a chunk is refused. */
  chunkingOf(input: ChunkingStrategy | undefined): ChunkingStrategy;
  /** Stops any queued or running ingestion of the file into these stores, before it is erased. */
  eraseFromStores(fileId: string, vectorStoreIds: string[]): void;
}
