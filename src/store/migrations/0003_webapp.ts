import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * The web app's conversations: one row per conversation, one per message. Messages form a tree
 * (`parent_id`) so that "edit and resend" and "regenerate" add a branch instead of overwriting;
 * the conversation remembers which leaf is shown. Timestamps are integer milliseconds, ids text,
 * so the same SQL runs on SQLite and PostgreSQL.
 */
export const webappMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("web_conversations")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("tenant_id", "text", (column) => column.notNull())
      .addColumn("owner_id", "text", (column) => column.notNull())
      .addColumn("title", "text", (column) => column.notNull())
      .addColumn("model", "text")
      .addColumn("active_leaf_id", "text")
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .addColumn("updated_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex("web_conversations_owner")
      .on("web_conversations")
      .columns(["tenant_id", "owner_id", "updated_at"])
      .execute();
    await db.schema
      .createTable("web_messages")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("conversation_id", "text", (column) =>
        column.notNull().references("web_conversations.id").onDelete("cascade"),
      )
      .addColumn("parent_id", "text")
      .addColumn("role", "text", (column) => column.notNull())
      .addColumn("content", "text", (column) => column.notNull())
      .addColumn("reasoning", "text")
      .addColumn("model", "text")
      .addColumn("meta", "text")
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex("web_messages_conversation")
      .on("web_messages")
      .columns(["conversation_id", "created_at"])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable("web_messages").execute();
    await db.schema.dropTable("web_conversations").execute();
  },
};
