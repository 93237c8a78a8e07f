import { type Kysely, sql } from "kysely";
import type { Migration } from "kysely/migration";

/** Tenants, users, API keys, web sessions and the budget ledger (issue 8, src/auth/). */
export const identityMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("tenants")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("name", "text", (column) => column.notNull())
      .addColumn("policy", "text")
      .addColumn("limits", "text", (column) => column.notNull().defaultTo("{}"))
      .addColumn("created_at", "text", (column) => column.notNull())
      .addColumn("updated_at", "text", (column) => column.notNull())
      .execute();
    await db.schema
      .createTable("users")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("tenant_id", "text", (column) =>
        column.notNull().references("tenants.id").onDelete("cascade"),
      )
      .addColumn("email", "text", (column) => column.unique())
      .addColumn("name", "text")
      .addColumn("password_hash", "text")
      .addColumn("roles", "text", (column) => column.notNull())
      .addColumn("disabled", "integer", (column) => column.notNull().defaultTo(0))
      .addColumn("created_at", "text", (column) => column.notNull())
      .addColumn("updated_at", "text", (column) => column.notNull())
      .execute();
    await db.schema.createIndex("users_tenant").on("users").column("tenant_id").execute();
    await db.schema
      .createTable("api_keys")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("tenant_id", "text", (column) =>
        column.notNull().references("tenants.id").onDelete("cascade"),
      )
      .addColumn("user_id", "text", (column) => column.references("users.id").onDelete("cascade"))
      .addColumn("name", "text", (column) => column.notNull())
      .addColumn("prefix", "text", (column) => column.notNull().unique())
      .addColumn("hash", "text", (column) => column.notNull())
      .addColumn("roles", "text", (column) => column.notNull())
      .addColumn("scopes", "text", (column) => column.notNull().defaultTo("{}"))
      .addColumn("policy", "text")
      .addColumn("limits", "text", (column) => column.notNull().defaultTo("{}"))
      .addColumn("expires_at", "text")
      .addColumn("revoked_at", "text")
      .addColumn("last_used_at", "text")
      .addColumn("created_at", "text", (column) => column.notNull())
      .execute();
    await db.schema.createIndex("api_keys_tenant").on("api_keys").column("tenant_id").execute();
    await db.schema
      .createTable("sessions")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("tenant_id", "text", (column) =>
        column.notNull().references("tenants.id").onDelete("cascade"),
      )
      .addColumn("user_id", "text", (column) => column.references("users.id").onDelete("cascade"))
      .addColumn("key_id", "text", (column) => column.references("api_keys.id").onDelete("cascade"))
      .addColumn("csrf_token", "text", (column) => column.notNull())
      .addColumn("created_at", "text", (column) => column.notNull())
      .addColumn("expires_at", "text", (column) => column.notNull())
      .execute();
    await db.schema
      .createTable("budget_ledger")
      .addColumn("scope", "text", (column) => column.notNull())
      .addColumn("month", "text", (column) => column.notNull())
      // Double precision on both: euros to a fraction of a cent, summed over a month.
      .addColumn("spent_eur", sql`double precision`, (column) => column.notNull().defaultTo(0))
      .addColumn("reserved_eur", sql`double precision`, (column) => column.notNull().defaultTo(0))
      .addPrimaryKeyConstraint("budget_ledger_pk", ["scope", "month"])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    for (const table of ["budget_ledger", "sessions", "api_keys", "users", "tenants"]) {
      await db.schema.dropTable(table).ifExists().execute();
    }
  },
};
