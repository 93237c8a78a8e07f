import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/** Usage records, the hash-chained audit log, its signed checkpoints and pseudonym secrets (issue 8). */
export const meteringAuditMigration: Migration = {
  async up(db: Kysely<unknown>) {
    let usage = db.schema
      .createTable("usage_records")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("created_at", "text", (column) => column.notNull())
      .addColumn("day", "text", (column) => column.notNull())
      .addColumn("tenant_id", "text")
      .addColumn("user_id", "text")
      .addColumn("key_id", "text");
    for (const name of [
      "endpoint",
      "requested_model",
      "model",
      "backend",
      "backend_kind",
      "country",
      "zone",
      "status",
    ])
      usage = usage.addColumn(name, "text", (column) => column.notNull());
    usage = usage
      .addColumn("error_code", "text")
      .addColumn("policy", "text", (column) => column.notNull())
      .addColumn("data_class", "text", (column) => column.notNull())
      .addColumn("policy_action", "text", (column) => column.notNull())
      .addColumn("detections", "text", (column) => column.notNull());
    for (const name of [
      "input_tokens",
      "output_tokens",
      "reasoning_tokens",
      "cached_tokens",
      "queue_ms",
      "ttft_ms",
      "total_ms",
      "busy_ms",
    ])
      usage = usage.addColumn(name, "integer", (column) => column.notNull());
    for (const name of ["concurrency", "cost_eur", "energy_wh", "co2e_g", "reference_cost_eur", "saved_eur"])
      usage = usage.addColumn(name, "double precision", (column) => column.notNull());
    await usage.execute();
    await db.schema.createIndex("usage_records_created").on("usage_records").column("created_at").execute();
    await db.schema
      .createIndex("usage_records_tenant")
      .on("usage_records")
      .columns(["tenant_id", "created_at"])
      .execute();

    await db.schema
      .createTable("audit_log")
      .addColumn("seq", "bigint", (column) => column.primaryKey())
      .addColumn("created_at", "text", (column) => column.notNull())
      .addColumn("kind", "text", (column) => column.notNull())
      .addColumn("tenant_id", "text")
      .addColumn("actor", "text")
      .addColumn("model", "text")
      .addColumn("body", "text", (column) => column.notNull())
      .addColumn("prev_hash", "text", (column) => column.notNull())
      .addColumn("hash", "text", (column) => column.notNull())
      .execute();
    await db.schema.createIndex("audit_log_created").on("audit_log").column("created_at").execute();
    await db.schema
      .createTable("audit_checkpoints")
      .addColumn("size", "bigint", (column) => column.primaryKey())
      .addColumn("created_at", "text", (column) => column.notNull())
      .addColumn("root_hash", "text", (column) => column.notNull())
      .addColumn("note", "text", (column) => column.notNull())
      .execute();
    await db.schema
      .createTable("audit_subjects")
      .addColumn("user_id", "text", (column) => column.primaryKey())
      .addColumn("secret", "text", (column) => column.notNull())
      .addColumn("created_at", "text", (column) => column.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>) {
    for (const table of ["audit_subjects", "audit_checkpoints", "audit_log", "usage_records"])
      await db.schema.dropTable(table).execute();
  },
};
