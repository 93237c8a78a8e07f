import { BastionError } from "../core/errors.ts";
import type { Principal } from "../core/principal.ts";

/** The tenant every fresh install starts with; its admins administer every tenant. */
export const defaultTenantId = "default";

/**
 * A "super admin" is an admin of the default tenant: the platform team. Admins of any other tenant
 * see and manage only their own tenant, and everything else answers 404 as if it did not exist.
 */
export function isSuperAdmin(actor: Principal): boolean {
  return actor.tenantId === defaultTenantId && actor.roles.includes("admin");
}

/** Throws 403 unless the actor holds one of `roles`. */
export function requireRoles(actor: Principal, roles: readonly string[]): void {
  if (!actor.roles.some((role) => roles.includes(role))) {
    throw new BastionError(
      "forbidden",
      `This needs the ${roles.join(" or ")} role; your credential has ${actor.roles.join(", ") || "none"}.`,
    );
  }
}

/** Whether the actor may see objects of `tenantId`. */
export function canSeeTenant(actor: Principal, tenantId: string): boolean {
  return isSuperAdmin(actor) || actor.tenantId === tenantId;
}

/** The tenant a create call acts on: the body's `tenant_id` (super admins only), else the actor's own. */
export function targetTenant(actor: Principal, requested: string | undefined): string {
  if (requested === undefined || requested === actor.tenantId) return actor.tenantId;
  if (!isSuperAdmin(actor)) throw notFound("tenant", requested);
  return requested;
}

export function notFound(kind: string, id: string): BastionError {
  return new BastionError("not_found", `No ${kind} with id '${id.slice(0, 100)}'.`);
}

export const nowIso = (): string => new Date().toISOString();
