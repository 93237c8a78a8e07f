import { randomUUID } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import type { Store } from "../store/database.ts";
import { defaultTenantId, nowIso } from "./actor.ts";
import { displayPrefix, generateApiKey } from "./api-keys.ts";

/** Advisory lock id for the first-start key ("bstk"). */
const bootstrapLockKey = 0x6273746b;

export interface BootstrapResult {
  /** Set when this start created the first admin key: the secret to show once, and where it was saved. */
  created?: { secret: string; prefix: string; file: string };
}

/** Makes sure the default tenant exists. */
export async function ensureDefaultTenant(store: Store): Promise<void> {
  const now = nowIso();
  await store.db
    .insertInto("tenants")
    .values({
      id: defaultTenantId,
      name: "Default",
      policy: null,
      limits: "{}",
      created_at: now,
      updated_at: now,
    })
    .onConflict((conflict) => conflict.column("id").doNothing())
    .execute();
}

/**
 * First start: creates the default tenant and, unless `BASTION_ADMIN_KEY` is set or an admin key
 * already exists, one admin key. Only its hash is stored; the secret is returned to be shown once
 * and written to `<dataDir>/admin-key` (mode 0600) so that the README's quick start works.
 */
export async function bootstrapAdminKey(options: {
  store: Store;
  dataDir: string;
  env?: NodeJS.ProcessEnv;
}): Promise<BootstrapResult> {
  const env = options.env ?? process.env;
  await ensureDefaultTenant(options.store);
  if (env.BASTION_ADMIN_KEY !== undefined && env.BASTION_ADMIN_KEY !== "") return {};
  const generated = generateApiKey();
  const created = await options.store.db.transaction().execute(async (trx) => {
    // Instances starting together on one PostgreSQL: one creates the key, the others see it.
    if (options.store.dialect === "postgres")
      await sql`select pg_advisory_xact_lock(${bootstrapLockKey})`.execute(trx);
    const existing = await trx
      .selectFrom("api_keys")
      .select("id")
      .where("tenant_id", "=", defaultTenantId)
      .where("revoked_at", "is", null)
      .where("roles", "like", '%"admin"%')
      .executeTakeFirst();
    if (existing !== undefined) return false;
    await trx
      .insertInto("api_keys")
      .values({
        id: `key_${randomUUID().replaceAll("-", "").slice(0, 20)}`,
        tenant_id: defaultTenantId,
        user_id: null,
        name: "bootstrap admin",
        prefix: generated.prefix,
        hash: generated.hash,
        roles: JSON.stringify(["admin"]),
        scopes: "{}",
        policy: null,
        limits: "{}",
        expires_at: null,
        revoked_at: null,
        last_used_at: null,
        created_at: nowIso(),
      })
      .execute();
    return true;
  });
  if (!created) return {};
  const file = join(options.dataDir, "admin-key");
  writeFileSync(file, `${generated.secret}\n`, { mode: 0o600 });
  // writeFileSync keeps the mode of a file that already existed: make sure it is private.
  chmodSync(file, 0o600);
  return { created: { secret: generated.secret, prefix: displayPrefix(generated.prefix), file } };
}
