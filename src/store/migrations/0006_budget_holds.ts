import { type Kysely, sql } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * What each running instance holds reserved in `budget_ledger` (budget leases and running
 * requests' estimates), per scope and month, with an owner and an expiry that the owner keeps
 * moving forward. An instance that crashed stops moving it: the next start (or any other instance)
 * takes its expired holds out of the ledger's reservations, instead of keeping that money reserved
 * until the month ends.
 */
export const budgetHoldsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("budget_holds")
      .addColumn("scope", "text", (column) => column.notNull())
      .addColumn("month", "text", (column) => column.notNull())
      .addColumn("owner", "text", (column) => column.notNull())
      .addColumn("amount", sql`double precision`, (column) => column.notNull().defaultTo(0))
      // Milliseconds since the epoch.
      .addColumn("expires_at", "bigint", (column) => column.notNull())
      .addPrimaryKeyConstraint("budget_holds_pk", ["scope", "month", "owner"])
      .execute();
    await db.schema.createIndex("budget_holds_expiry").on("budget_holds").column("expires_at").execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable("budget_holds").ifExists().execute();
  },
};
