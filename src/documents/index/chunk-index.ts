import type { Kysely } from "kysely";
import type { Database } from "../../store/schema.ts";
import type { Chunk } from "../chunker.ts";

/** A chunk found by one retriever; higher scores are better within one list only. */
export interface IndexHit {
  id: number;
  score: number;
}

export interface IndexScope {
  vectorStoreIds: string[];
  /** Restrict to these files (from attribute filters); undefined means every file of the stores. */
  fileIds?: string[];
}

/**
 * The keyword and vector indexes behind vector stores, one implementation per database. Writes
 * run inside the caller's transaction, so a file is indexed whole or not at all.
 */
export interface ChunkIndex {
  insert(
    trx: Kysely<Database>,
    rows: { tenantId: string; vectorStoreId: string; fileId: string },
    chunks: Chunk[],
    vectors: Float32Array[],
  ): Promise<void>;
  /** Removes a file's chunks from the table, the keyword index and the vector index. */
  removeFile(trx: Kysely<Database>, vectorStoreId: string, fileId: string): Promise<void>;
  removeStore(trx: Kysely<Database>, vectorStoreId: string): Promise<void>;
  /** Stored vectors of chunks (for reuse when the same content is indexed again), by chunk id. */
  readVectors(ids: number[]): Promise<Map<number, Float32Array>>;
  /** Prepares in-memory search structures ahead of the first query; returns the vectors loaded. */
  warm?(): Promise<number>;
  keyword(scope: IndexScope, query: string, limit: number): Promise<IndexHit[]>;
  vector(scope: IndexScope, vector: Float32Array, limit: number): Promise<IndexHit[]>;
}

/** Letters and digits, lower-cased and without diacritics: the same folding as FTS5's `remove_diacritics 2`. */
export function foldText(text: string): string {
  return text
    .normalize("NFD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase();
}

/** Distinct search terms of a query (at most 64), folded. */
export function queryTerms(query: string): string[] {
  const terms = new Set<string>();
  for (const match of foldText(query).matchAll(/[\p{L}\p{N}]+/gu)) {
    if (match[0].length >= 2 || /\d/.test(match[0])) terms.add(match[0]);
    if (terms.size >= 64) break;
  }
  return [...terms];
}
