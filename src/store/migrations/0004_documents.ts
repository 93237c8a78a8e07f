import { type Kysely, sql } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../database.ts";

/**
 * Files, vector stores, chunks, assistants and stored responses. On SQLite the keyword index is an
 * FTS5 table kept in step with `document_chunks` by triggers (so a deleted chunk can never stay
 * findable); the sqlite-vec tables are made per dimension at first use (see documents/sqlite-index).
 * On PostgreSQL a `tsvector` column with a GIN index serves keywords, and vectors are JSON text
 * scored in process: this server has no pgvector.
 */
export function documentsMigration(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const blob = dialect === "postgres" ? sql`bytea` : sql`blob`;
      await db.schema
        .createTable("document_files")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("tenant_id", "text", (c) => c.notNull())
        .addColumn("filename", "text", (c) => c.notNull())
        .addColumn("purpose", "text", (c) => c.notNull())
        .addColumn("bytes", "bigint", (c) => c.notNull())
        .addColumn("content_hash", "text", (c) => c.notNull())
        .addColumn("mime", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("status_details", "text")
        .addColumn("content", blob, (c) => c.notNull())
        .addColumn("parsed", "text")
        .addColumn("pages", "integer")
        .addColumn("personal_data", "text", (c) => c.notNull().defaultTo("{}"))
        .execute();
      await db.schema
        .createIndex("document_files_tenant")
        .on("document_files")
        .columns(["tenant_id", "created_at"])
        .execute();

      await db.schema
        .createTable("vector_stores")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("tenant_id", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("metadata", "text", (c) => c.notNull().defaultTo("{}"))
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("last_active_at", "bigint", (c) => c.notNull())
        .addColumn("expires_after", "text")
        .addColumn("embedding_model", "text")
        .addColumn("embedding_dimensions", "integer")
        .execute();
      await db.schema
        .createIndex("vector_stores_tenant")
        .on("vector_stores")
        .columns(["tenant_id", "created_at"])
        .execute();

      await db.schema
        .createTable("vector_store_files")
        .addColumn("vector_store_id", "text", (c) => c.notNull())
        .addColumn("file_id", "text", (c) => c.notNull())
        .addColumn("tenant_id", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("last_error", "text")
        .addColumn("attributes", "text", (c) => c.notNull().defaultTo("{}"))
        .addColumn("chunk_tokens", "integer", (c) => c.notNull())
        .addColumn("chunk_overlap", "integer", (c) => c.notNull())
        .addColumn("usage_bytes", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("indexed_hash", "text")
        .addColumn("indexed_model", "text")
        .addColumn("batch_id", "text")
        .addPrimaryKeyConstraint("vector_store_files_pk", ["vector_store_id", "file_id"])
        .execute();
      await db.schema
        .createIndex("vector_store_files_file")
        .on("vector_store_files")
        .column("file_id")
        .execute();

      await db.schema
        .createTable("vector_store_file_batches")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("vector_store_id", "text", (c) => c.notNull())
        .addColumn("tenant_id", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("file_ids", "text", (c) => c.notNull())
        .execute();

      let chunks = db.schema.createTable("document_chunks");
      chunks =
        dialect === "postgres"
          ? chunks.addColumn("id", "bigserial", (c) => c.primaryKey())
          : chunks.addColumn("id", "integer", (c) => c.primaryKey().autoIncrement());
      chunks = chunks
        .addColumn("tenant_id", "text", (c) => c.notNull())
        .addColumn("vector_store_id", "text", (c) => c.notNull())
        .addColumn("file_id", "text", (c) => c.notNull())
        .addColumn("seq", "integer", (c) => c.notNull())
        .addColumn("text", "text", (c) => c.notNull())
        .addColumn("page", "integer")
        .addColumn("start_char", "integer", (c) => c.notNull())
        .addColumn("end_char", "integer", (c) => c.notNull())
        .addColumn("token_count", "integer", (c) => c.notNull())
        .addColumn("embedding", "text");
      if (dialect === "postgres") chunks = chunks.addColumn("tsv", sql`tsvector`);
      await chunks.execute();
      await db.schema
        .createIndex("document_chunks_store_file")
        .on("document_chunks")
        .columns(["vector_store_id", "file_id"])
        .execute();

      if (dialect === "postgres") {
        await sql`create index document_chunks_tsv on document_chunks using gin (tsv)`.execute(db);
      } else {
        await sql`create virtual table document_chunks_fts using fts5(text, vector_store_id unindexed, tokenize = "unicode61 remove_diacritics 2")`.execute(
          db,
        );
        await sql`create trigger document_chunks_fts_insert after insert on document_chunks begin
          insert into document_chunks_fts(rowid, text, vector_store_id) values (new.id, new.text, new.vector_store_id);
        end`.execute(db);
        await sql`create trigger document_chunks_fts_delete after delete on document_chunks begin
          delete from document_chunks_fts where rowid = old.id;
        end`.execute(db);
      }

      await db.schema
        .createTable("assistants")
        .addColumn("id", "text", (c) => c.notNull())
        .addColumn("tenant_id", "text", (c) => c.notNull())
        .addColumn("model", "text", (c) => c.notNull())
        .addColumn("instructions", "text", (c) => c.notNull())
        .addColumn("vector_store_ids", "text", (c) => c.notNull())
        .addColumn("max_num_results", "integer", (c) => c.notNull())
        .addColumn("policy", "text")
        .addColumn("description", "text")
        .addColumn("source", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("assistants_pk", ["tenant_id", "id"])
        .execute();

      await db.schema
        .createTable("stored_responses")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("tenant_id", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("body", "text", (c) => c.notNull())
        .addColumn("history", "text", (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const table of [
        "stored_responses",
        "assistants",
        "document_chunks",
        "vector_store_file_batches",
        "vector_store_files",
        "vector_stores",
        "document_files",
      ]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
      if (dialect === "sqlite") await sql`drop table if exists document_chunks_fts`.execute(db);
    },
  };
}
