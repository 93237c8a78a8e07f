import type { Context } from "hono";
import { BastionError } from "../../core/errors.ts";
import { anonymousPrincipal, type Principal } from "../../core/principal.ts";
import type { ServerEnv } from "../server-env.ts";

/** The tenant whose admins and auditors see every tenant's usage and audit records (the platform team). */
const platformTenant = "default";

/**
 * Who may read usage and audit: admins and auditors. Those of the default (platform) tenant see
 * every tenant; others only their own (asking for another tenant is a 404). With auth off (loopback only, no
 * principal), the caller is the anonymous admin.
 */
export function meteringReader(
  c: Context<ServerEnv>,
  authEnabled: boolean,
): { principal: Principal; tenantId?: string } {
  const principal = c.get("principal") ?? (authEnabled ? undefined : anonymousPrincipal);
  if (principal === undefined)
    throw new BastionError("unauthorized", "Missing API key: send Authorization: Bearer <key>.");
  if (!principal.roles.some((role) => role === "admin" || role === "auditor"))
    throw new BastionError(
      "forbidden",
      `This needs the admin or auditor role; your credential has ${principal.roles.join(", ") || "none"}.`,
    );
  if (principal.tenantId === platformTenant) {
    const asked = c.req.query("tenant_id");
    return { principal, ...(asked === undefined || asked === "" ? {} : { tenantId: asked }) };
  }
  // Another tenant is a 404, as on every other admin route: answering with the reader's own
  // figures under the name asked for would pass them off as that tenant's.
  const asked = c.req.query("tenant_id");
  if (asked !== undefined && asked !== "" && asked !== principal.tenantId)
    throw new BastionError("not_found", `No tenant with id '${asked.slice(0, 100)}'.`, {
      param: "tenant_id",
    });
  return { principal, tenantId: principal.tenantId };
}

/** A query parameter as a date bound, or a 400 that says what to send. */
export function dateParam(c: Context, name: string): string | undefined {
  const value = c.req.query(name);
  if (value === undefined || value === "") return undefined;
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  if (Number.isNaN(new Date(dateOnly ? `${value}T00:00:00Z` : value).getTime()))
    throw new BastionError(
      "invalid_request",
      `Query parameter '${name}' is not a date; use YYYY-MM-DD or an ISO timestamp.`,
      {
        param: name,
      },
    );
  return value;
}
