import { randomUUID } from "node:crypto";
import { BastionError } from "../core/errors.ts";
import type { Principal, Role } from "../core/principal.ts";
import type { Store } from "../store/database.ts";
import {
  canSeeTenant,
  defaultTenantId,
  isSuperAdmin,
  notFound,
  nowIso,
  requireRoles,
  targetTenant,
} from "./actor.ts";
import {
  keyCreateSchema,
  keyUpdateSchema,
  tenantCreateSchema,
  tenantUpdateSchema,
  userCreateSchema,
  userUpdateSchema,
} from "./admin-schemas.ts";
import { generateApiKey } from "./api-keys.ts";
import { hashPassword } from "./passwords.ts";
import {
  type KeyRecord,
  parseRoles,
  type TenantRecord,
  toKeyRecord,
  toTenantRecord,
  toUserRecord,
  type UserRecord,
} from "./records.ts";

/** Called when a user is erased (GDPR Art. 17), so that other modules (audit, usage) drop their personal data. */
export type ErasureHook = (user: { id: string; tenantId: string }, actor: Principal) => Promise<void> | void;

export interface AdminService {
  listTenants(actor: Principal): Promise<TenantRecord[]>;
  getTenant(actor: Principal, id: string): Promise<TenantRecord>;
  createTenant(actor: Principal, body: unknown): Promise<TenantRecord>;
  updateTenant(actor: Principal, id: string, body: unknown): Promise<TenantRecord>;
  deleteTenant(actor: Principal, id: string): Promise<void>;
  listUsers(actor: Principal, tenantId?: string): Promise<UserRecord[]>;
  getUser(actor: Principal, id: string): Promise<UserRecord>;
  createUser(actor: Principal, body: unknown): Promise<UserRecord>;
  updateUser(actor: Principal, id: string, body: unknown): Promise<UserRecord>;
  deleteUser(actor: Principal, id: string, options?: { erase?: boolean }): Promise<void>;
  listKeys(actor: Principal, tenantId?: string): Promise<KeyRecord[]>;
  getKey(actor: Principal, id: string): Promise<KeyRecord>;
  /** The new key's record plus its secret, which is never retrievable again. */
  createKey(actor: Principal, body: unknown): Promise<KeyRecord & { secret: string }>;
  updateKey(actor: Principal, id: string, body: unknown): Promise<KeyRecord>;
  revokeKey(actor: Principal, id: string): Promise<KeyRecord>;
  /** Registers a hook run when a user is erased. */
  onErase(hook: ErasureHook): void;
}

const isUniqueViolation = (error: unknown): boolean =>
  /unique|duplicate key/i.test(String((error as Error)?.message ?? ""));

/**
 * Tenants, users and keys, with the access rules in one place: admin role required; a tenant's
 * admin sees only that tenant (anything else is a 404, never a 403, so ids do not leak); admins of
 * the default tenant manage all tenants. Both the admin API and the CLI go through here.
 */
export function createAdminService(
  store: Store,
  options: { policyNames?: readonly string[] } = {},
): AdminService {
  const { db } = store;
  /** A tenant's or key's policy must exist, or every request it makes would fail. */
  const checkPolicy = (policy: string | null | undefined): void => {
    const known = options.policyNames;
    if (policy === null || policy === undefined || known === undefined || known.includes(policy)) return;
    throw new BastionError(
      "invalid_request",
      `No policy named '${policy.slice(0, 100)}'; known policies: ${known.join(", ")}.`,
      { param: "policy" },
    );
  };
  /** A key's policy scope names policies it may pick; a misspelt one would never match. */
  const checkScopePolicies = (scopes: { policies?: readonly string[] | undefined } | undefined): void => {
    const known = options.policyNames;
    if (known === undefined) return;
    for (const name of scopes?.policies ?? []) {
      if (name.endsWith("*") || known.includes(name)) continue;
      throw new BastionError(
        "invalid_request",
        `No policy named '${name.slice(0, 100)}' in scopes.policies; known policies: ${known.join(", ")} (or a prefix ending in *).`,
        { param: "scopes.policies" },
      );
    }
  };
  const erasureHooks: ErasureHook[] = [];
  const admin = (actor: Principal) => requireRoles(actor, ["admin"]);
  /**
   * A tenant's own admin may not change its policy (the platform's decision), so neither may they
   * hand a key another one: a key's `policy` and `scopes.policies` override the tenant's. They may
   * name the tenant's policy, or keep what the key already has.
   */
  const checkKeyPolicyRights = (
    actor: Principal,
    tenantPolicy: string | null,
    input: {
      policy?: string | null | undefined;
      scopes?: { policies?: readonly string[] | undefined } | undefined;
    },
    current?: { policy: string | null; scopes: { policies?: readonly string[] | undefined } },
  ): void => {
    if (isSuperAdmin(actor)) return;
    const allowed = new Set<string>();
    if (tenantPolicy !== null) allowed.add(tenantPolicy);
    if (current?.policy !== null && current?.policy !== undefined) allowed.add(current.policy);
    const chosen = input.policy;
    if (chosen !== undefined && chosen !== null && !allowed.has(chosen))
      throw new BastionError(
        "forbidden",
        `Only admins of the default tenant can give a key a policy other than its tenant's (${tenantPolicy ?? "the default"}).`,
        { param: "policy" },
      );
    const scoped = new Set(current?.scopes.policies ?? []);
    if (tenantPolicy !== null) scoped.add(tenantPolicy);
    const extra = (input.scopes?.policies ?? []).filter((name) => !scoped.has(name));
    if (extra.length > 0)
      throw new BastionError(
        "forbidden",
        `Only admins of the default tenant can let a key choose other policies (${extra.join(", ").slice(0, 200)}).`,
        { param: "scopes.policies" },
      );
  };

  async function tenantRow(actor: Principal, id: string) {
    const row = canSeeTenant(actor, id)
      ? await db.selectFrom("tenants").selectAll().where("id", "=", id).executeTakeFirst()
      : undefined;
    if (row === undefined) throw notFound("tenant", id);
    return row;
  }
  async function userRow(actor: Principal, id: string) {
    const row = await db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
    if (row === undefined || !canSeeTenant(actor, row.tenant_id)) throw notFound("user", id);
    return row;
  }
  async function keyRow(actor: Principal, id: string) {
    const row = await db.selectFrom("api_keys").selectAll().where("id", "=", id).executeTakeFirst();
    if (row === undefined || !canSeeTenant(actor, row.tenant_id)) throw notFound("key", id);
    return row;
  }
  const listScope = (actor: Principal, tenantId: string | undefined): string | undefined => {
    if (tenantId !== undefined && !canSeeTenant(actor, tenantId)) throw notFound("tenant", tenantId);
    return tenantId ?? (isSuperAdmin(actor) ? undefined : actor.tenantId);
  };
  const emailTaken = (email: string) =>
    new BastionError("conflict", `A user with email ${email} already exists.`, { param: "email" });

  return {
    onErase: (hook) => void erasureHooks.push(hook),

    async listTenants(actor) {
      admin(actor);
      let query = db.selectFrom("tenants").selectAll().orderBy("created_at").orderBy("id");
      if (!isSuperAdmin(actor)) query = query.where("id", "=", actor.tenantId);
      return (await query.execute()).map(toTenantRecord);
    },
    async getTenant(actor, id) {
      admin(actor);
      return toTenantRecord(await tenantRow(actor, id));
    },
    async createTenant(actor, body) {
      admin(actor);
      if (!isSuperAdmin(actor))
        throw new BastionError("forbidden", "Only admins of the default tenant can create tenants.");
      const input = tenantCreateSchema.parse(body);
      checkPolicy(input.policy);
      const now = nowIso();
      const row = {
        id: input.id ?? `ten_${randomUUID().replaceAll("-", "").slice(0, 16)}`,
        name: input.name,
        policy: input.policy ?? null,
        limits: JSON.stringify(input.limits ?? {}),
        created_at: now,
        updated_at: now,
      };
      try {
        await db.insertInto("tenants").values(row).execute();
      } catch (error) {
        if (isUniqueViolation(error))
          throw new BastionError("conflict", `Tenant '${row.id}' already exists.`, { param: "id" });
        throw error;
      }
      return toTenantRecord(row);
    },
    async updateTenant(actor, id, body) {
      admin(actor);
      const row = await tenantRow(actor, id);
      // A tenant's own admin must not raise its own limits or budgets, nor swap its policy.
      if (!isSuperAdmin(actor))
        throw new BastionError("forbidden", "Only admins of the default tenant can change a tenant.");
      const input = tenantUpdateSchema.parse(body);
      checkPolicy(input.policy);
      const updated = {
        ...row,
        ...(input.name === undefined ? {} : { name: input.name }),
        ...(input.policy === undefined ? {} : { policy: input.policy }),
        ...(input.limits === undefined ? {} : { limits: JSON.stringify(input.limits) }),
        updated_at: nowIso(),
      };
      await db.updateTable("tenants").set(updated).where("id", "=", id).execute();
      return toTenantRecord(updated);
    },
    async deleteTenant(actor, id) {
      admin(actor);
      await tenantRow(actor, id);
      if (!isSuperAdmin(actor))
        throw new BastionError("forbidden", "Only admins of the default tenant can delete a tenant.");
      if (id === defaultTenantId)
        throw new BastionError("invalid_request", "The default tenant cannot be deleted.");
      await db.transaction().execute(async (trx) => {
        // Explicit order rather than ON DELETE CASCADE alone: SQLite enforces it only with foreign_keys on.
        await trx.deleteFrom("sessions").where("tenant_id", "=", id).execute();
        await trx.deleteFrom("api_keys").where("tenant_id", "=", id).execute();
        await trx.deleteFrom("users").where("tenant_id", "=", id).execute();
        await trx.deleteFrom("tenants").where("id", "=", id).execute();
      });
    },

    async listUsers(actor, tenantId) {
      admin(actor);
      let query = db.selectFrom("users").selectAll().orderBy("created_at").orderBy("id");
      const scope = listScope(actor, tenantId);
      if (scope !== undefined) query = query.where("tenant_id", "=", scope);
      return (await query.execute()).map(toUserRecord);
    },
    async getUser(actor, id) {
      admin(actor);
      return toUserRecord(await userRow(actor, id));
    },
    async createUser(actor, body) {
      admin(actor);
      const input = userCreateSchema.parse(body);
      const tenantId = targetTenant(actor, input.tenant_id);
      await tenantRow(actor, tenantId);
      const now = nowIso();
      const row = {
        id: `usr_${randomUUID().replaceAll("-", "").slice(0, 20)}`,
        tenant_id: tenantId,
        email: input.email,
        name: input.name ?? null,
        password_hash: input.password === undefined ? null : await hashPassword(input.password),
        roles: JSON.stringify(input.roles),
        disabled: 0,
        created_at: now,
        updated_at: now,
      };
      try {
        await db.insertInto("users").values(row).execute();
      } catch (error) {
        if (isUniqueViolation(error)) throw emailTaken(input.email);
        throw error;
      }
      return toUserRecord(row);
    },
    async updateUser(actor, id, body) {
      admin(actor);
      const row = await userRow(actor, id);
      const input = userUpdateSchema.parse(body);
      const updated = {
        ...row,
        ...(input.email === undefined ? {} : { email: input.email }),
        ...(input.name === undefined ? {} : { name: input.name }),
        ...(input.roles === undefined ? {} : { roles: JSON.stringify(input.roles) }),
        ...(input.disabled === undefined ? {} : { disabled: input.disabled ? 1 : 0 }),
        ...(input.password === undefined
          ? {}
          : { password_hash: input.password === null ? null : await hashPassword(input.password) }),
        updated_at: nowIso(),
      };
      try {
        await db.transaction().execute(async (trx) => {
          await trx.updateTable("users").set(updated).where("id", "=", id).execute();
          // A new password or a disabled account ends the user's web sessions.
          if (input.password !== undefined || input.disabled === true)
            await trx.deleteFrom("sessions").where("user_id", "=", id).execute();
        });
      } catch (error) {
        if (isUniqueViolation(error) && input.email !== undefined) throw emailTaken(input.email);
        throw error;
      }
      return toUserRecord(updated);
    },
    async deleteUser(actor, id, options = {}) {
      admin(actor);
      const row = await userRow(actor, id);
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom("sessions").where("user_id", "=", id).execute();
        await trx.deleteFrom("api_keys").where("user_id", "=", id).execute();
        await trx.deleteFrom("users").where("id", "=", id).execute();
      });
      if (options.erase === true) {
        for (const hook of erasureHooks) await hook({ id, tenantId: row.tenant_id }, actor);
      }
    },

    async listKeys(actor, tenantId) {
      admin(actor);
      let query = db.selectFrom("api_keys").selectAll().orderBy("created_at").orderBy("id");
      const scope = listScope(actor, tenantId);
      if (scope !== undefined) query = query.where("tenant_id", "=", scope);
      return (await query.execute()).map(toKeyRecord);
    },
    async getKey(actor, id) {
      admin(actor);
      return toKeyRecord(await keyRow(actor, id));
    },
    async createKey(actor, body) {
      admin(actor);
      const input = keyCreateSchema.parse(body);
      checkPolicy(input.policy);
      checkScopePolicies(input.scopes);
      const tenantId = targetTenant(actor, input.tenant_id);
      const tenant = await tenantRow(actor, tenantId);
      checkKeyPolicyRights(actor, tenant.policy, input);
      let roles: Role[] = input.roles ?? ["member"];
      if (input.user_id !== undefined && input.user_id !== null) {
        const user = await userRow(actor, input.user_id);
        if (user.tenant_id !== tenantId) throw notFound("user", input.user_id);
        const userRoles = parseRoles(user.roles);
        roles = input.roles ?? userRoles;
        const extra = roles.filter((role) => !userRoles.includes(role));
        if (extra.length > 0)
          throw new BastionError(
            "invalid_request",
            `A user's key cannot hold roles the user lacks (${extra.join(", ")}).`,
            { param: "roles" },
          );
      }
      const generated = generateApiKey();
      const row = {
        id: `key_${randomUUID().replaceAll("-", "").slice(0, 20)}`,
        tenant_id: tenantId,
        user_id: input.user_id ?? null,
        name: input.name,
        prefix: generated.prefix,
        hash: generated.hash,
        roles: JSON.stringify(roles),
        scopes: JSON.stringify(input.scopes ?? {}),
        policy: input.policy ?? null,
        limits: JSON.stringify(input.limits ?? {}),
        expires_at:
          input.expires_at === undefined || input.expires_at === null
            ? null
            : new Date(input.expires_at).toISOString(),
        revoked_at: null,
        last_used_at: null,
        created_at: nowIso(),
      };
      await db.insertInto("api_keys").values(row).execute();
      return { ...toKeyRecord(row), secret: generated.secret };
    },
    async updateKey(actor, id, body) {
      admin(actor);
      const row = await keyRow(actor, id);
      const input = keyUpdateSchema.parse(body);
      checkPolicy(input.policy);
      checkScopePolicies(input.scopes);
      if (!isSuperAdmin(actor)) {
        const tenant = await tenantRow(actor, row.tenant_id);
        checkKeyPolicyRights(actor, tenant.policy, input, toKeyRecord(row));
      }
      const updated = {
        ...row,
        ...(input.name === undefined ? {} : { name: input.name }),
        ...(input.scopes === undefined ? {} : { scopes: JSON.stringify(input.scopes) }),
        ...(input.policy === undefined ? {} : { policy: input.policy }),
        ...(input.limits === undefined ? {} : { limits: JSON.stringify(input.limits) }),
        ...(input.expires_at === undefined
          ? {}
          : { expires_at: input.expires_at === null ? null : new Date(input.expires_at).toISOString() }),
      };
      await db.updateTable("api_keys").set(updated).where("id", "=", id).execute();
      return toKeyRecord(updated);
    },
    async revokeKey(actor, id) {
      admin(actor);
      const row = await keyRow(actor, id);
      const revoked = { ...row, revoked_at: row.revoked_at ?? nowIso() };
      await db.transaction().execute(async (trx) => {
        await trx
          .updateTable("api_keys")
          .set({ revoked_at: revoked.revoked_at })
          .where("id", "=", id)
          .execute();
        await trx.deleteFrom("sessions").where("key_id", "=", id).execute();
      });
      return toKeyRecord(revoked);
    },
  };
}
