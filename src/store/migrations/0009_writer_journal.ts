import { type Kysely, sql } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../database.ts";

/**
 * SQLite: the highest write-ahead journal sequence number that a committed transaction of the
 * shared writer carried (see src/store/write-journal.ts). One row; written in the same transaction
 * as the calls it covers, so that what the journal holds past it is exactly what must run again
 * after a crash. PostgreSQL has no journal (its writes commit before the caller is answered).
 */
export function writerJournalMigration(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      await sql`create table writer_journal (id integer primary key check (id = 1), seq integer not null)`.execute(
        db,
      );
      await sql`insert into writer_journal (id, seq) values (1, 0)`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      await sql`drop table writer_journal`.execute(db);
    },
  };
}
