import { type Kysely, sql } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../database.ts";

/**
 * SQLite: a counter that every change to tenants, users or API keys bumps (triggers), so that the
 * key cache of src/auth can tell, with one read of one row per request, whether another
 * connection (`bastion keys revoke` in another process, another instance on the same file) changed
 * an identity. `PRAGMA data_version` told that too, but it also changes with every commit of the
 * shared writer's thread (usage rows, audit records), which emptied the cache on every request.
 * A key's `last_used_at` (written at most once a minute) does not count as a change.
 * PostgreSQL does not cache keys: nothing to add there.
 */
const tables = ["tenants", "users", "api_keys"] as const;
const events = ["insert", "delete", "update"] as const;
const keyColumns =
  "tenant_id, user_id, name, prefix, hash, roles, scopes, policy, limits, expires_at, revoked_at";

/** The triggers that run `bump` on every identity change (0008 recreates them with another bump). */
export function identityVersionTriggers(bump: string): string[] {
  return tables.flatMap((table) =>
    events.map((event) => {
      const on = table === "api_keys" && event === "update" ? `update of ${keyColumns}` : event;
      return `create trigger ${table}_${event}_identity_version after ${on} on ${table} begin ${bump}; end`;
    }),
  );
}

export const dropIdentityVersionTriggers = tables.flatMap((table) =>
  events.map((event) => `drop trigger if exists ${table}_${event}_identity_version`),
);

export function identityVersionMigration(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      await sql`create table identity_version (id integer primary key check (id = 1), version integer not null)`.execute(
        db,
      );
      await sql`insert into identity_version (id, version) values (1, 0)`.execute(db);
      for (const statement of identityVersionTriggers(
        "update identity_version set version = version + 1 where id = 1",
      ))
        await sql.raw(statement).execute(db);
    },
    async down(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      for (const statement of dropIdentityVersionTriggers) await sql.raw(statement).execute(db);
      await sql`drop table if exists identity_version`.execute(db);
    },
  };
}
