import type { Principal } from "../core/principal.ts";
import type { AuditLog } from "./audit-log.ts";

/** The admin service's mutating methods, as far as the audit log needs to know them. */
type Mutation = (actor: Principal, ...rest: never[]) => Promise<unknown>;

/** Method name -> the audited action and the kind of object it acts on. */
const audited: Record<string, { action: string; target: string }> = {
  createTenant: { action: "tenant.created", target: "tenant" },
  updateTenant: { action: "tenant.updated", target: "tenant" },
  deleteTenant: { action: "tenant.deleted", target: "tenant" },
  createUser: { action: "user.created", target: "user" },
  updateUser: { action: "user.updated", target: "user" },
  deleteUser: { action: "user.deleted", target: "user" },
  createKey: { action: "key.created", target: "key" },
  updateKey: { action: "key.updated", target: "key" },
  revokeKey: { action: "key.revoked", target: "key" },
};

/**
 * Records every successful change made through an admin service (tenants, users, keys) in the
 * audit log, after it is committed: who did it (pseudonymised), on which object, in which tenant.
 * Fields of the request body are not recorded (they may hold names, emails or passwords). The
 * service's methods are wrapped in place, so routes and CLI commands that hold it are covered.
 * Erasure is recorded by the erasure hook itself (`user.erased`), not here.
 *
 * `operator` names who acted when no credential does: the CLI working on the data directory
 * directly acts as the anonymous admin, so its records say `operator: "cli:<os user>"` instead.
 */
export function auditAdminActions<T extends object>(
  admin: T,
  log: AuditLog,
  options: { operator?: string } = {},
): T {
  const details = options.operator === undefined ? {} : { details: { operator: options.operator } };
  const methods = admin as unknown as Record<string, Mutation | undefined>;
  for (const [name, { action, target }] of Object.entries(audited)) {
    const original = methods[name];
    if (typeof original !== "function") continue;
    methods[name] = async (actor: Principal, ...rest: never[]) => {
      const result = (await original.call(admin, actor, ...rest)) as
        | { id?: unknown; tenant_id?: unknown }
        | undefined;
      const erased = name === "deleteUser" && (rest[1] as { erase?: boolean } | undefined)?.erase === true;
      if (erased) return result;
      const id =
        typeof result?.id === "string" ? result.id : typeof rest[0] === "string" ? (rest[0] as string) : "";
      const tenantId =
        target === "tenant" ? id : typeof result?.tenant_id === "string" ? result.tenant_id : actor.tenantId;
      await log.appendEvent({
        action,
        principal: actor,
        tenantId,
        target: { type: target, id },
        ...details,
      });
      return result;
    };
  }
  return admin;
}
