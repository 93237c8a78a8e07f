import { randomBytes } from "node:crypto";
import type { LimitSettings } from "../config/auth-config.ts";
import { BastionError } from "../core/errors.ts";
import type { Principal, Role } from "../core/principal.ts";
import type { Store } from "../store/database.ts";
import { defaultTenantId } from "./actor.ts";
import { hashApiKey, parseApiKey, sameHash } from "./api-keys.ts";
import { verifyPassword } from "./passwords.ts";
import { type KeyScopes, parseLimits, parseRoles, parseScopes } from "./records.ts";

/** Everything the auth layer knows about a request's credential; the secret itself is not kept. */
export interface AuthContext {
  principal: Principal;
  scopes: KeyScopes;
  keyLimits: LimitSettings;
  tenantLimits: LimitSettings;
  via: "key" | "session" | "bootstrap" | "anonymous";
  /** Set for session (cookie) credentials: state-changing requests must echo the CSRF token. */
  session?: { csrfToken: string };
  user?: { id: string; email: string | null; name: string | null };
  keyName?: string;
}

export interface Authenticator {
  /** Resolves `Authorization: Bearer` / `x-api-key`; throws 401 with a reason a client can act on. */
  fromKey(secret: string): Promise<AuthContext>;
  /** Resolves the `bastion_session` cookie; throws 401 when unknown or expired. */
  fromSession(token: string): Promise<AuthContext>;
  /** Checks an email and password; undefined when they do not match (same time either way). */
  checkPassword(email: string, password: string): Promise<{ userId: string; tenantId: string } | undefined>;
  /** Starts a web session; the token goes into the cookie and only its hash into the store. */
  createSession(
    owner: { tenantId: string; userId?: string; keyId?: string },
    hours: number,
  ): Promise<{ token: string; csrfToken: string }>;
  deleteSession(token: string): Promise<void>;
  /**
   * Forgets every cached key and tenant row. The admin service calls it after each change to
   * tenants, users or keys, so that a revoked key fails on its very next request.
   */
  invalidate(): void;
}

/**
 * How long a key's row is reused without reading the store again. Within it, a change still
 * applies on the next request: changes made through this process invalidate the cache, and on
 * SQLite a change by any other connection (`bastion keys revoke` in another process) bumps the
 * `identity_version` row (triggers on tenants, users and keys give it a new random value), read once per turn of the event
 * loop, before the first request of the turn that uses the cache.
 */
export const keyCacheMs = 1000;

const unauthorized = (message: string) => new BastionError("unauthorized", message);

/**
 * Resolves credentials against the store. A revoked or expired key fails on its very next request,
 * on every instance: on SQLite the key's row is cached for at most `keyCacheMs` and dropped as soon
 * as this process changes an identity or another connection changes tenants, users or keys; on
 * PostgreSQL (several instances, no cheap change signal) every request does its one indexed lookup.
 */
export function createAuthenticator(options: { store: Store; bootstrapAdminKey?: string }): Authenticator {
  const { db } = options.store;
  const bootstrapHash =
    options.bootstrapAdminKey === undefined || options.bootstrapAdminKey === ""
      ? undefined
      : hashApiKey(options.bootstrapAdminKey);
  const lastUsedWritten = new Map<string, number>();
  const sqlite = options.store.sqlite;

  // The row cache (SQLite only). An entry is valid while it is younger than keyCacheMs, no
  // invalidate() came since (generation), and no connection changed an identity (version). The
  // version is one read of one row: unlike `PRAGMA data_version`, the shared writer's commits
  // (usage rows, audit records: every request) leave it alone. It is read once per turn of the
  // event loop: every request read in a turn had started arriving before that read, so a change
  // committed before a request was sent is seen by that request. A read costs more than the
  // statement: another connection's commit (the writer's, each batch) makes this connection drop
  // its page cache and read the pages again.
  const cache = new Map<string, { value: unknown; at: number; generation: number; version: bigint }>();
  let generation = 0;
  // A random 64-bit value per change (migration 0008), read as a BigInt: a double would round it.
  const identityVersion = sqlite
    ?.prepare("select version from identity_version where id = 1")
    .pluck()
    .safeIntegers();
  let versionThisTurn: bigint | undefined;
  const forgetVersion = () => {
    versionThisTurn = undefined;
  };
  function currentVersion(statement: NonNullable<typeof identityVersion>): bigint {
    if (versionThisTurn === undefined) {
      versionThisTurn = statement.get() as bigint;
      setImmediate(forgetVersion);
    }
    return versionThisTurn;
  }
  function cached<T>(key: string, load: () => T | undefined): T | undefined {
    if (identityVersion === undefined) return load();
    const version = currentVersion(identityVersion);
    const now = performance.now();
    const hit = cache.get(key);
    if (
      hit !== undefined &&
      now - hit.at < keyCacheMs &&
      hit.generation === generation &&
      hit.version === version
    )
      return hit.value as T | undefined;
    const value = load();
    // Misses are not kept: a key created by another path (bootstrap) works at once.
    if (value === undefined) return value;
    if (cache.size >= 10_000) cache.clear();
    cache.set(key, { value, at: now, generation, version });
    return value;
  }

  const tenantQuery = db.selectFrom("tenants").select("limits").where("id", "=", "").compile();
  const tenantStatement = sqlite?.prepare(tenantQuery.sql);
  async function tenantLimits(tenantId: string): Promise<LimitSettings> {
    const tenant =
      tenantStatement === undefined
        ? (await db.executeQuery<{ limits: string }>({ ...tenantQuery, parameters: [tenantId] })).rows[0]
        : cached(`tenant:${tenantId}`, () => tenantStatement.get(tenantId) as { limits: string } | undefined);
    return tenant === undefined ? {} : parseLimits(tenant.limits);
  }

  // The key lookup runs on every request: its SQL is compiled once, and on SQLite prepared once
  // too (better-sqlite3 would otherwise re-prepare the join each time, most of the lookup's cost).
  const keyQuery = db
    .selectFrom("api_keys as k")
    .innerJoin("tenants as t", "t.id", "k.tenant_id")
    .leftJoin("users as u", "u.id", "k.user_id")
    .select([
      "k.id",
      "k.tenant_id",
      "k.user_id",
      "k.name",
      "k.hash",
      "k.roles",
      "k.scopes",
      "k.policy",
      "k.limits",
      "k.expires_at",
      "k.revoked_at",
      "t.policy as tenant_policy",
      "t.limits as tenant_limits",
      "u.roles as user_roles",
      "u.disabled as user_disabled",
      "u.email as user_email",
      "u.name as user_name",
    ]);
  type KeyRow = Awaited<ReturnType<typeof keyQuery.executeTakeFirstOrThrow>>;
  const compiled = {
    prefix: keyQuery.where("k.prefix", "=", "").compile(),
    id: keyQuery.where("k.id", "=", "").compile(),
  };
  const prepared =
    sqlite === undefined
      ? undefined
      : { prefix: sqlite.prepare(compiled.prefix.sql), id: sqlite.prepare(compiled.id.sql) };
  async function findKey(by: "prefix" | "id", value: string): Promise<KeyRow | undefined> {
    if (prepared !== undefined)
      return cached(`${by}:${value}`, () => prepared[by].get(value) as KeyRow | undefined);
    const result = await db.executeQuery<KeyRow>({ ...compiled[by], parameters: [value] });
    return result.rows[0];
  }

  /** What a key row grants, worked out once per cached row: a request copies it. */
  interface Granted {
    principal: Principal;
    scopes: KeyScopes;
    keyLimits: LimitSettings;
    tenantLimits: LimitSettings;
    user?: { id: string; email: string | null; name: string | null };
    expiresAt: number;
  }
  const granted = new WeakMap<KeyRow, Granted>();
  function grantOf(row: KeyRow): Granted {
    const known = granted.get(row);
    if (known !== undefined) return known;
    let roles: Role[] = parseRoles(row.roles);
    // A user's key never holds more than the user does now: demoting the user demotes their keys.
    if (row.user_roles !== null) {
      const userRoles = parseRoles(row.user_roles);
      roles = roles.filter((role) => userRoles.includes(role));
    }
    const scopes = parseScopes(row.scopes);
    const policy = row.policy ?? row.tenant_policy;
    const grant: Granted = {
      principal: {
        tenantId: row.tenant_id,
        keyId: row.id,
        roles,
        ...(row.user_id === null ? {} : { userId: row.user_id }),
        ...(policy === null ? {} : { policy }),
        ...(scopes.models === undefined ? {} : { models: scopes.models }),
      },
      scopes,
      keyLimits: parseLimits(row.limits),
      tenantLimits: parseLimits(row.tenant_limits),
      ...(row.user_id === null
        ? {}
        : { user: { id: row.user_id, email: row.user_email, name: row.user_name } }),
      expiresAt: row.expires_at === null ? Number.POSITIVE_INFINITY : Date.parse(row.expires_at),
    };
    granted.set(row, grant);
    return grant;
  }

  async function keyContext(where: { prefix: string } | { id: string }, hash?: string): Promise<AuthContext> {
    const row = "prefix" in where ? await findKey("prefix", where.prefix) : await findKey("id", where.id);
    if (row === undefined || (hash !== undefined && !sameHash(row.hash, hash)))
      throw unauthorized("Invalid API key. Check the key, or ask an admin for a new one.");
    if (row.revoked_at !== null) throw unauthorized(`This API key was revoked at ${row.revoked_at}.`);
    const now = Date.now();
    const grant = grantOf(row);
    // expires_at is ISO text; an unparsable one (NaN) compares as text, as before.
    if (
      row.expires_at !== null &&
      (Number.isNaN(grant.expiresAt) ? row.expires_at <= new Date(now).toISOString() : grant.expiresAt <= now)
    )
      throw unauthorized(`This API key expired at ${row.expires_at}.`);
    if (row.user_id !== null && (row.user_roles === null || Number(row.user_disabled) !== 0))
      throw unauthorized("The user this API key belongs to is disabled.");
    // last_used_at is informational: write it at most once a minute per key, off the request path.
    if (now - (lastUsedWritten.get(row.id) ?? 0) > 60_000) {
      lastUsedWritten.set(row.id, now);
      void db
        .updateTable("api_keys")
        .set({ last_used_at: new Date(now).toISOString() })
        .where("id", "=", row.id)
        .execute()
        .catch(() => {});
    }
    // A principal of its own per request: the limits keep per-request state keyed by it.
    return {
      principal: { ...grant.principal },
      scopes: grant.scopes,
      keyLimits: grant.keyLimits,
      tenantLimits: grant.tenantLimits,
      via: "key",
      keyName: row.name,
      ...(grant.user === undefined ? {} : { user: grant.user }),
    };
  }

  return {
    async fromKey(secret) {
      if (bootstrapHash !== undefined && sameHash(hashApiKey(secret), bootstrapHash)) {
        return {
          principal: { tenantId: defaultTenantId, keyId: "bootstrap", roles: ["admin"] },
          scopes: {},
          keyLimits: {},
          tenantLimits: await tenantLimits(defaultTenantId),
          via: "bootstrap",
          keyName: "BASTION_ADMIN_KEY",
        };
      }
      const parsed = parseApiKey(secret);
      if (parsed === undefined)
        throw unauthorized("Invalid API key: Bastion keys look like bst_live_<prefix>_<secret>.");
      return keyContext({ prefix: parsed.prefix }, hashApiKey(secret));
    },

    async fromSession(token) {
      const row = await db
        .selectFrom("sessions")
        .selectAll()
        .where("id", "=", hashApiKey(token))
        .executeTakeFirst();
      if (row === undefined || row.expires_at <= new Date().toISOString()) {
        if (row !== undefined) await db.deleteFrom("sessions").where("id", "=", row.id).execute();
        throw unauthorized("Your session has ended; sign in again.");
      }
      if (row.key_id !== null) {
        const context = await keyContext({ id: row.key_id });
        return { ...context, via: "session", session: { csrfToken: row.csrf_token } };
      }
      const user = await db
        .selectFrom("users")
        .selectAll()
        .where("id", "=", row.user_id ?? "")
        .executeTakeFirst();
      if (user === undefined || Number(user.disabled) !== 0)
        throw unauthorized("Your session has ended; sign in again.");
      const tenant = await db
        .selectFrom("tenants")
        .select(["policy", "limits"])
        .where("id", "=", user.tenant_id)
        .executeTakeFirst();
      return {
        principal: {
          tenantId: user.tenant_id,
          userId: user.id,
          roles: parseRoles(user.roles),
          ...(tenant?.policy == null ? {} : { policy: tenant.policy }),
        },
        scopes: {},
        keyLimits: {},
        tenantLimits: tenant === undefined ? {} : parseLimits(tenant.limits),
        via: "session",
        session: { csrfToken: row.csrf_token },
        user: { id: user.id, email: user.email, name: user.name },
      };
    },

    async checkPassword(email, password) {
      const user = await db
        .selectFrom("users")
        .select(["id", "tenant_id", "password_hash", "disabled"])
        .where("email", "=", email.toLowerCase())
        .executeTakeFirst();
      const ok = await verifyPassword(user?.password_hash, password);
      if (!ok || user === undefined || Number(user.disabled) !== 0) return undefined;
      return { userId: user.id, tenantId: user.tenant_id };
    },

    async createSession(owner, hours) {
      const token = randomBytes(32).toString("base64url");
      const csrfToken = randomBytes(24).toString("base64url");
      const now = Date.now();
      await db
        .insertInto("sessions")
        .values({
          id: hashApiKey(token),
          tenant_id: owner.tenantId,
          user_id: owner.userId ?? null,
          key_id: owner.keyId ?? null,
          csrf_token: csrfToken,
          created_at: new Date(now).toISOString(),
          expires_at: new Date(now + hours * 3_600_000).toISOString(),
        })
        .execute();
      // Expired sessions are swept here rather than by a timer: sign-ins are rare and this is one indexed delete.
      await db.deleteFrom("sessions").where("expires_at", "<=", new Date(now).toISOString()).execute();
      return { token, csrfToken };
    },

    async deleteSession(token) {
      await db.deleteFrom("sessions").where("id", "=", hashApiKey(token)).execute();
    },

    invalidate() {
      generation++;
      cache.clear();
    },
  };
}
