import type { Context, Hono } from "hono";
import type { Auth } from "../../auth/index.ts";
import { BastionError } from "../../core/errors.ts";
import { anonymousPrincipal, type Principal } from "../../core/principal.ts";
import type { ServerEnv } from "../server-env.ts";
import { registerKeyRoutes } from "./keys-route.ts";
import { registerTenantRoutes } from "./tenants-route.ts";
import { registerUserRoutes } from "./users-route.ts";

/** The caller of an admin route, as the auth middleware resolved it (anonymous admin when auth is off). */
export function actorOf(c: Context<ServerEnv>, auth: Auth): Principal {
  const principal = c.get("principal");
  if (principal !== undefined) return principal;
  if (!auth.enabled) return anonymousPrincipal;
  throw new BastionError("unauthorized", "Missing API key.");
}

/** `?tenant_id=` of a list call, if given. */
export function tenantFilter(c: Context): string | undefined {
  const value = c.req.query("tenant_id");
  return value === undefined || value === "" ? undefined : value;
}

/** Tenants, users and keys under `/admin/v1/` (usage, audit, policies and backends are mounted by their modules). */
export function registerAdminApi(app: Hono<ServerEnv>, auth: Auth): void {
  registerTenantRoutes(app, auth);
  registerUserRoutes(app, auth);
  registerKeyRoutes(app, auth);
}
