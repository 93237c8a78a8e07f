import { type Kysely, sql } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../database.ts";
import { dropIdentityVersionTriggers, identityVersionTriggers } from "./0005_identity_version.ts";

/**
 * SQLite: `identity_version` (migration 0005) takes a new `random()` value on every change to
 * tenants, users or API keys instead of counting up, as `documents_version` (0007) does. A count
 * can come back: the key cache of src/auth reads the version on the store's own connection, which
 * also sees that connection's uncommitted writes; a transaction that changed a key and rolled back
 * leaves rows cached under version N+1 that hold what it undid, the count goes back to N, and the
 * next commit of any other connection (a `bastion keys revoke`) makes it N+1 again: the cache then
 * took the undone rows for current ones (a revoked key still let in, for up to the cache's second).
 * A random 64-bit value repeats with odds of 2^-64. SQLite integers are 64-bit: the authenticator
 * reads the version as a BigInt (`safeIntegers`), never a lossy double. PostgreSQL has no such row
 * (it caches no keys, every request reads the key), so nothing changes there.
 */
export function identityVersionRandomMigration(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      for (const statement of dropIdentityVersionTriggers) await sql.raw(statement).execute(db);
      for (const statement of identityVersionTriggers(
        "update identity_version set version = random() where id = 1",
      ))
        await sql.raw(statement).execute(db);
      await sql`update identity_version set version = random() where id = 1`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      for (const statement of dropIdentityVersionTriggers) await sql.raw(statement).execute(db);
      for (const statement of identityVersionTriggers(
        "update identity_version set version = version + 1 where id = 1",
      ))
        await sql.raw(statement).execute(db);
    },
  };
}
