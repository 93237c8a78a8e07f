import type { Generated } from "kysely";

/**
 * The documents module's tables, as Kysely sees them. Timestamps are integer seconds (OpenAI's
 * `created_at`), JSON columns are text, ids are OpenAI-style text ids.
 */

export interface DocumentFileTable {
  id: string;
  tenant_id: string;
  filename: string;
  purpose: string;
  bytes: number;
  /** SHA-256 of the content: an unchanged file is never re-embedded. */
  content_hash: string;
  mime: string;
  created_at: number;
  /** `processed` or `error` (OpenAI's file statuses). */
  status: string;
  status_details: string | null;
  content: Uint8Array;
  /** The parsed document (text and blocks) as JSON; null when parsing failed. */
  parsed: string | null;
  pages: number | null;
  /** Personal data found at ingestion, counts by type as JSON (never the values). */
  personal_data: string;
}

export interface VectorStoreTable {
  id: string;
  tenant_id: string;
  name: string;
  metadata: string;
  created_at: number;
  last_active_at: number;
  expires_after: string | null;
  /** Set by the first ingestion; a store never mixes embedding spaces. */
  embedding_model: string | null;
  embedding_dimensions: number | null;
}

export interface VectorStoreFileTable {
  vector_store_id: string;
  file_id: string;
  tenant_id: string;
  /** in_progress | completed | cancelled | failed */
  status: string;
  last_error: string | null;
  attributes: string;
  chunk_tokens: number;
  chunk_overlap: number;
  usage_bytes: number;
  created_at: number;
  /** Content hash the chunks were built from; equal to the file's hash means nothing to redo. */
  indexed_hash: string | null;
  /** Embedding model the chunks were embedded with. */
  indexed_model: string | null;
  batch_id: string | null;
}

export interface VectorStoreFileBatchTable {
  id: string;
  vector_store_id: string;
  tenant_id: string;
  status: string;
  created_at: number;
  file_ids: string;
}

export interface DocumentChunkTable {
  /** Integer, so that SQLite's FTS5 and sqlite-vec rows share it as their rowid. */
  id: Generated<number>;
  tenant_id: string;
  vector_store_id: string;
  file_id: string;
  seq: number;
  text: string;
  page: number | null;
  start_char: number;
  end_char: number;
  token_count: number;
  /** PostgreSQL only (no pgvector here): the vector as JSON text; SQLite keeps it in sqlite-vec. */
  embedding: string | null;
}

export interface AssistantTable {
  id: string;
  tenant_id: string;
  model: string;
  instructions: string;
  vector_store_ids: string;
  max_num_results: number;
  policy: string | null;
  description: string | null;
  /** `config` (from the config file, rewritten at start) or `api`. */
  source: string;
  created_at: number;
}

export interface StoredResponseTable {
  id: string;
  tenant_id: string;
  created_at: number;
  /** The response object as returned. */
  body: string;
  /** The conversation that led to it (core messages, JSON), so `previous_response_id` can continue it. */
  history: string;
}

export interface DocumentsTables {
  document_files: DocumentFileTable;
  vector_stores: VectorStoreTable;
  vector_store_files: VectorStoreFileTable;
  vector_store_file_batches: VectorStoreFileBatchTable;
  document_chunks: DocumentChunkTable;
  assistants: AssistantTable;
  stored_responses: StoredResponseTable;
}
