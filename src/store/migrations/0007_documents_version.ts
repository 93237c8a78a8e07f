import { type Kysely, sql } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../database.ts";

const events = ["insert", "update", "delete"] as const;

/**
 * SQLite: a one-row version that every change to `document_chunks` replaces (triggers), so that
 * the chunk index of src/documents can tell, with one read of one row per search, whether another
 * connection (`bastion documents` in another process, another instance on the same file) added or
 * erased chunks, and drop its in-memory vector copies. `PRAGMA data_version` told that too, but it
 * also changes with every commit of the shared writer's thread (usage rows, audit records), which
 * rebuilt the copies of large stores on almost every search.
 *
 * Only `document_chunks` needs triggers: the vector rows (sqlite-vec tables, which cannot carry
 * triggers) are written in the same transaction as their chunk and erased by its delete trigger.
 * The new version is `random()` rather than a count: a rolled-back transaction puts back the old
 * value, and a later commit of another connection must never reproduce the value that the rolled-
 * back transaction had shown to this one (a count would: it counts up from the same start again).
 * PostgreSQL keeps no in-memory vector copies: nothing to add there.
 */
export function documentsVersionMigration(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      await sql`create table documents_version (id integer primary key check (id = 1), version integer not null)`.execute(
        db,
      );
      await sql`insert into documents_version (id, version) values (1, 0)`.execute(db);
      for (const event of events) {
        await sql
          .raw(
            `create trigger document_chunks_${event}_documents_version after ${event} on document_chunks begin update documents_version set version = random() where id = 1; end`,
          )
          .execute(db);
      }
    },
    async down(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      for (const event of events)
        await sql.raw(`drop trigger if exists document_chunks_${event}_documents_version`).execute(db);
      await sql`drop table if exists documents_version`.execute(db);
    },
  };
}
