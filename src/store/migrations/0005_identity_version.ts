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
export function identityVersionMigration(dialect: StoreDialect): Migration {
  const keyColumns =
    "tenant_id, user_id, name, prefix, hash, roles, scopes, policy, limits, expires_at, revoked_at";
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      await sql`create table identity_version (id integer primary key check (id = 1), version integer not null)`.execute(
        db,
      );
      await sql`insert into identity_version (id, version) values (1, 0)`.execute(db);
      const bump = "update identity_version set version = version + 1 where id = 1";
      for (const table of ["tenants", "users", "api_keys"]) {
        for (const event of ["insert", "delete", "update"]) {
          const on = table === "api_keys" && event === "update" ? `update of ${keyColumns}` : event;
          await sql
            .raw(
              `create trigger ${table}_${event}_identity_version after ${on} on ${table} begin ${bump}; end`,
            )
            .execute(db);
        }
      }
    },
    async down(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      for (const table of ["tenants", "users", "api_keys"])
        for (const event of ["insert", "delete", "update"])
          await sql.raw(`drop trigger if exists ${table}_${event}_identity_version`).execute(db);
      await sql`drop table if exists identity_version`.execute(db);
    },
  };
}
