import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { Database } from "../../store/schema.ts";
import type { ChunkIndex, IndexHit, IndexScope } from "./chunk-index.ts";
import { foldText, queryTerms } from "./chunk-index.ts";

function cosine(a: Float32Array, b: number[]): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const x = a[index]!;
    const y = b[index]!;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

/**
 * PostgreSQL: full-text search (`simple` configuration over diacritic-folded text, `ts_rank`) for
 * keywords. This server has no pgvector, so vectors are stored as JSON text and scored by exact
 * cosine in process over the stores in scope: correct, but linear in the number of chunks (the
 * documented gap; with pgvector this becomes an HNSW index).
 */
export function createPostgresChunkIndex(db: Kysely<Database>): ChunkIndex {
  return {
    async insert(trx, rows, chunks, vectors) {
      for (const [index, chunk] of chunks.entries()) {
        const vector = vectors[index];
        await sql`insert into document_chunks (tenant_id, vector_store_id, file_id, seq, text, page, start_char, end_char, token_count, embedding, tsv)
          values (${rows.tenantId}, ${rows.vectorStoreId}, ${rows.fileId}, ${chunk.seq}, ${chunk.text}, ${chunk.page}, ${chunk.start}, ${chunk.end}, ${chunk.tokens},
          ${vector === undefined ? null : JSON.stringify(Array.from(vector))}, to_tsvector('simple', ${foldText(chunk.text)}))`.execute(
          trx,
        );
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
      if (ids.length === 0) return out;
      const rows = await db
        .selectFrom("document_chunks")
        .select(["id", "embedding"])
        .where("id", "in", ids)
        .execute();
      for (const row of rows) {
        if (row.embedding !== null)
          out.set(Number(row.id), Float32Array.from(JSON.parse(row.embedding) as number[]));
      }
      return out;
    },
    async keyword(scope: IndexScope, query: string, limit: number): Promise<IndexHit[]> {
      const terms = queryTerms(query);
      if (terms.length === 0 || scope.vectorStoreIds.length === 0) return [];
      const tsquery = terms.join(" | ");
      const files =
        scope.fileIds === undefined
          ? sql``
          : sql` and file_id in (${sql.join(scope.fileIds.length === 0 ? [""] : scope.fileIds)})`;
      const result = await sql<{ id: string; score: number }>`select id, ts_rank(tsv, q) as score
        from document_chunks, to_tsquery('simple', ${tsquery}) q
        where tsv @@ q and vector_store_id in (${sql.join(scope.vectorStoreIds)})${files}
        order by score desc limit ${limit}`.execute(db);
      return result.rows.map((row) => ({ id: Number(row.id), score: Number(row.score) }));
    },
    async vector(scope: IndexScope, vector: Float32Array, limit: number): Promise<IndexHit[]> {
      if (scope.vectorStoreIds.length === 0) return [];
      let query = db
        .selectFrom("document_chunks")
        .select(["id", "embedding"])
        .where("vector_store_id", "in", scope.vectorStoreIds)
        .where("embedding", "is not", null);
      if (scope.fileIds !== undefined) {
        if (scope.fileIds.length === 0) return [];
        query = query.where("file_id", "in", scope.fileIds);
      }
      const rows = await query.execute();
      return rows
        .map((row) => ({
          id: Number(row.id),
          score: cosine(vector, JSON.parse(row.embedding ?? "[]") as number[]),
        }))
        .sort((a, b) => b.score - a.score)
        .slice(0, limit);
    },
  };
}
