import type SQLite from "better-sqlite3";
import { sql } from "kysely";
import * as sqliteVec from "sqlite-vec";
import type { ChunkIndex, IndexHit, IndexScope } from "./chunk-index.ts";
import { queryTerms } from "./chunk-index.ts";

const loaded = new WeakSet<SQLite.Database>();

function vectorTable(dimensions: number): string {
  return `document_vectors_${dimensions}`;
}

function vectorBytes(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

function placeholders(count: number): string {
  return new Array(count).fill("?").join(", ");
}

/**
 * SQLite: FTS5 (`unicode61 remove_diacritics 2`, BM25) for keywords and sqlite-vec `vec0` tables
 * for vectors, one per dimension, partitioned by vector store so a search reads only its stores.
 * Triggers on `document_chunks` delete the matching FTS5 and vector rows, so erasing a chunk
 * erases it everywhere in the same transaction.
 */
export function createSqliteChunkIndex(sqlite: SQLite.Database): ChunkIndex {
  if (!loaded.has(sqlite)) {
    sqliteVec.load(sqlite);
    loaded.add(sqlite);
  }
  const knownTables = new Set<number>();

  function ensureVectorTable(dimensions: number): void {
    if (knownTables.has(dimensions)) return;
    const table = vectorTable(dimensions);
    sqlite.exec(
      `create virtual table if not exists ${table} using vec0(vector_store_id text partition key, embedding float[${dimensions}] distance_metric=cosine)`,
    );
    sqlite.exec(
      `create trigger if not exists ${table}_erase after delete on document_chunks begin delete from ${table} where rowid = old.id; end`,
    );
    knownTables.add(dimensions);
  }

  function existingDimensions(): number[] {
    const rows = sqlite
      .prepare("select name from sqlite_master where type = 'table' and name like 'document_vectors_%'")
      .all() as Array<{ name: string }>;
    return rows
      .map((row) => Number(/^document_vectors_(\d+)$/.exec(row.name)?.[1]))
      .filter((value) => Number.isInteger(value) && value > 0);
  }

  function fileClause(scope: IndexScope, column: string): { clause: string; params: string[] } {
    if (scope.fileIds === undefined) return { clause: "", params: [] };
    return {
      clause: ` and ${column} in (select id from document_chunks where file_id in (${placeholders(scope.fileIds.length)}) and vector_store_id in (${placeholders(scope.vectorStoreIds.length)}))`,
      params: [...scope.fileIds, ...scope.vectorStoreIds],
    };
  }

  return {
    async insert(trx, rows, chunks, vectors) {
      const dimensions = vectors[0]?.length;
      if (dimensions !== undefined) ensureVectorTable(dimensions);
      for (const [index, chunk] of chunks.entries()) {
        const inserted = await trx
          .insertInto("document_chunks")
          .values({
            tenant_id: rows.tenantId,
            vector_store_id: rows.vectorStoreId,
            file_id: rows.fileId,
            seq: chunk.seq,
            text: chunk.text,
            page: chunk.page,
            start_char: chunk.start,
            end_char: chunk.end,
            token_count: chunk.tokens,
            embedding: null,
          })
          .returning("id")
          .executeTakeFirstOrThrow();
        const vector = vectors[index];
        if (vector !== undefined && dimensions !== undefined) {
          await sql`insert into ${sql.table(vectorTable(dimensions))} (rowid, vector_store_id, embedding) values (cast(${inserted.id} as integer), ${rows.vectorStoreId}, ${vectorBytes(vector)})`.execute(
            trx,
          );
        }
      }
    },
    async removeFile(trx, vectorStoreId, fileId) {
      await trx
        .deleteFrom("document_chunks")
        .where("vector_store_id", "=", vectorStoreId)
        .where("file_id", "=", fileId)
        .execute();
    },
    async removeStore(trx, vectorStoreId) {
      await trx.deleteFrom("document_chunks").where("vector_store_id", "=", vectorStoreId).execute();
    },
    async readVectors(ids) {
      const out = new Map<number, Float32Array>();
      for (const dimensions of existingDimensions()) {
        const statement = sqlite.prepare(
          `select rowid as id, embedding from ${vectorTable(dimensions)} where rowid = ?`,
        );
        for (const id of ids) {
          if (out.has(id)) continue;
          const row = statement.get(id) as { id: number; embedding: Buffer } | undefined;
          if (row !== undefined)
            out.set(
              id,
              new Float32Array(
                row.embedding.buffer.slice(
                  row.embedding.byteOffset,
                  row.embedding.byteOffset + row.embedding.byteLength,
                ),
              ),
            );
        }
      }
      return out;
    },
    async keyword(scope, query, limit): Promise<IndexHit[]> {
      const terms = queryTerms(query);
      if (terms.length === 0 || scope.vectorStoreIds.length === 0) return [];
      const match = terms.map((term) => `"${term}"`).join(" OR ");
      const files = fileClause(scope, "rowid");
      const rows = sqlite
        .prepare(
          `select rowid as id, bm25(document_chunks_fts) as rank from document_chunks_fts where document_chunks_fts match ? and vector_store_id in (${placeholders(scope.vectorStoreIds.length)})${files.clause} order by rank limit ?`,
        )
        .all(match, ...scope.vectorStoreIds, ...files.params, limit) as Array<{ id: number; rank: number }>;
      // FTS5's bm25() is lower-is-better and negative; flip it.
      return rows.map((row) => ({ id: row.id, score: -row.rank }));
    },
    async vector(scope, vector, limit): Promise<IndexHit[]> {
      if (scope.vectorStoreIds.length === 0) return [];
      if (!existingDimensions().includes(vector.length)) return [];
      const table = vectorTable(vector.length);
      let rows: Array<{ id: number; distance: number }>;
      if (scope.fileIds === undefined) {
        rows = sqlite
          .prepare(
            `select rowid as id, distance from ${table} where embedding match ? and k = ? and vector_store_id in (${placeholders(scope.vectorStoreIds.length)}) order by distance`,
          )
          .all(vectorBytes(vector), limit, ...scope.vectorStoreIds) as Array<{
          id: number;
          distance: number;
        }>;
      } else {
        // Filtered: exact distances over the allowed files only (a KNN then a filter could return too few).
        const files = fileClause(scope, "rowid");
        rows = sqlite
          .prepare(
            `select rowid as id, vec_distance_cosine(embedding, ?) as distance from ${table} where vector_store_id in (${placeholders(scope.vectorStoreIds.length)})${files.clause} order by distance limit ?`,
          )
          .all(vectorBytes(vector), ...scope.vectorStoreIds, ...files.params, limit) as Array<{
          id: number;
          distance: number;
        }>;
      }
      return rows.map((row) => ({ id: row.id, score: 1 - row.distance }));
    },
  };
}

/** Loads sqlite-vec into a SQLite handle (idempotent). */
export function loadSqliteVec(sqlite: SQLite.Database): void {
  if (loaded.has(sqlite)) return;
  sqliteVec.load(sqlite);
  loaded.add(sqlite);
}
